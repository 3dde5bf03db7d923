package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Target is where a seat can be reached: its registered Contact, and the
// address and transport its REGISTER came from (a softphone behind NAT is
// reached at that address, a TCP one over the same connection).
type Target struct {
	Contact   string
	Source    netip.AddrPort
	Transport string // "UDP", "TCP"
	// Via is the advertised SIP URI (ClusterConfig.Advertise) of the node
	// whose socket holds the seat's flow, when that is another node; ""
	// is this node. With Via set, Dial sends the INVITE to that node with a
	// top Route <Via;lr;hlflow=TOKEN>, TOKEN naming Transport and Source
	// and signed with the cluster secret for this call's Call-ID; the node
	// forwards the dialog to and from the seat (RFC 3261 §16, RFC 3327),
	// and the media stays here. It needs Config.Cluster.
	Via string
}

// DialOptions describe an INVITE to a seat.
type DialOptions struct {
	Target Target
	// FromUser and FromDisplay are the caller as the seat's phone shows it.
	FromUser, FromDisplay string
	// ToUser is the seat id (the To header: sip:<seat>@domain).
	ToUser  string
	SDP     []byte
	Headers []sip.Header
	// OnOffer answers offers the seat makes later in the dialog (hold).
	OnOffer OfferFunc
	// Seat is the seat rung ("" for an outside number): its REFER in
	// this dialog is honoured through Config.Refer.
	Seat string
	Log  *slog.Logger
}

// Result is the final outcome of an INVITE to a seat.
type Result struct {
	Code   int    // final status code (200, 486, 603, 487 ...); 0 when none came
	Reason string // reason phrase
	Answer []byte // the seat's SDP answer, on 2xx
	// LateAnswer: the seat's 200 arrived after we had sent CANCEL (RFC 3261
	// §9.1: the CANCEL crossed the answer). The dialog exists; the caller of
	// Wait decides to keep it or to hang it up.
	LateAnswer bool
}

// ErrNoProvisional: we had to give up on a seat that never sent even 100
// Trying, so it could not be cancelled (RFC 3261 §9.1); the transaction
// simply timed out or was abandoned.
var ErrNoProvisional = errors.New("sip: seat never answered the INVITE at all")

// OutboundCall is a call from the switch to a seat (a UAC dialog).
type OutboundCall struct {
	*peer
	sess *sipgo.DialogClientSession

	ringing     chan struct{}
	ringOnce    sync.Once
	provisional chan struct{} // closed at the first 1xx: CANCEL is allowed from then on
	provOnce    sync.Once

	mu         sync.Mutex
	answered   bool
	dialogID   string
	cancelSent bool

	// source is the seat's registered address when its flow is this
	// node's (Target.Via empty).
	source netip.Addr
}

// peerSource: a seat's requests come from the address it registered from,
// unless it is reached through another node.
func (c *OutboundCall) peerSource() (netip.Addr, bool) { return c.source, c.source.IsValid() }

// Dial sends an INVITE to a seat and returns at once; Wait gives the outcome.
// Through another node (Target.Via) over TCP, a node that is down fails
// Dial within viaConnectTimeout.
func (s *Server) Dial(ctx context.Context, o DialOptions) (*OutboundCall, error) {
	var uri sip.Uri
	if err := sip.ParseUri(o.Target.Contact, &uri); err != nil {
		return nil, fmt.Errorf("sip: dial: contact %q: %w", o.Target.Contact, err)
	}
	req := sip.NewRequest(sip.INVITE, uri)
	from := &sip.FromHeader{DisplayName: o.FromDisplay, Address: sip.Uri{Scheme: "sip", User: o.FromUser, Host: s.cfg.Domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: o.ToUser, Host: s.cfg.Domain}, Params: sip.NewParams()})
	transport := strings.ToUpper(o.Target.Transport)
	if transport == "" {
		transport = "UDP"
	}
	contact := s.contactHeader(transport, "12348")
	dest := ""
	if o.Target.Source.IsValid() {
		dest = o.Target.Source.String()
	}
	if o.Target.Via != "" {
		hop, err := s.viaHop(o.Target, transport)
		if err != nil {
			return nil, fmt.Errorf("sip: dial %s via %s: %w", o.ToUser, o.Target.Via, err)
		}
		req.AppendHeader(hop.callID)
		req.AppendHeader(hop.route)
		transport, dest, contact = hop.node.transport, hop.node.hostPort(), hop.contact
	}
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range o.Headers {
		req.AppendHeader(h)
	}
	req.SetBody(o.SDP)
	req.SetTransport(transport)
	if dest != "" {
		req.SetDestination(dest)
	}
	log := o.Log
	if log == nil {
		log = s.log
	}
	wctx := ctx
	if o.Target.Via != "" {
		if transport == "UDP" {
			s.preferListener(req, dest)
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, viaConnectTimeout)
		defer cancel()
	}
	sess, err := s.dialog.WriteInvite(wctx, req)
	if err != nil {
		if o.Target.Via != "" {
			return nil, fmt.Errorf("sip: dial %s via %s: node unreachable: %w", o.ToUser, o.Target.Via, err)
		}
		return nil, fmt.Errorf("sip: dial %s: %w", o.ToUser, err)
	}
	c := &OutboundCall{sess: sess, ringing: make(chan struct{}), provisional: make(chan struct{})}
	if o.Target.Via == "" && o.Target.Source.IsValid() {
		c.source = o.Target.Source.Addr().Unmap()
	}
	c.peer = newPeer(s, sess, log, contact.Clone(), func() sip.Uri {
		if r := sess.InviteResponse; r != nil && r.Contact() != nil {
			return r.Contact().Address
		}
		return uri
	})
	c.onOffer = o.OnOffer
	c.localSDP = o.SDP
	c.seat = o.Seat
	return c, nil
}

// viaPlan is how an INVITE reaches a seat through the node holding its flow.
type viaPlan struct {
	node    nodeURI
	route   *sip.RouteHeader
	callID  *sip.CallIDHeader
	contact *sip.ContactHeader
}

// viaHop mints the flow token for a new Call-ID and builds the route to
// the flow's node. Our Contact is our own advertised address: the other
// node sends the seat's requests there.
func (s *Server) viaHop(t Target, seatTransport string) (viaPlan, error) {
	if s.fwd == nil {
		return viaPlan{}, errors.New("this node has no cluster configuration")
	}
	node, err := parseNodeURI(t.Via)
	if err != nil {
		return viaPlan{}, err
	}
	if !t.Source.IsValid() {
		return viaPlan{}, errors.New("the seat's source address is unknown")
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return viaPlan{}, err
	}
	cid := sip.CallIDHeader(hex.EncodeToString(rnd[:]))
	tok, err := mintFlowToken(s.fwd.secret, flow{transport: seatTransport, addr: t.Source}, string(cid), s.fwd.now())
	if err != nil {
		return viaPlan{}, err
	}
	self := s.fwd.self
	contact := &sip.ContactHeader{Address: self.uri(nil)}
	contact.Address.User = "12348"
	return viaPlan{
		node:    node,
		route:   &sip.RouteHeader{Address: node.uri(routeParams(tok))},
		callID:  &cid,
		contact: contact,
	}, nil
}

// Ringing is closed when the seat reports 180 or 183.
func (c *OutboundCall) Ringing() <-chan struct{} { return c.ringing }

// Wait waits for the seat's final response. When cancel is closed first
// (ring timeout, caller gone) it sends CANCEL — if the seat has sent a
// provisional response, as RFC 3261 §9.1 requires; a seat that sent nothing
// at all is simply abandoned — and goes on waiting for the final response,
// because the seat may have answered at that very moment (LateAnswer). On
// 2xx it ACKs; the dialog then delivers BYE/INFO/re-INVITE events.
func (c *OutboundCall) Wait(cancel <-chan struct{}) (Result, error) {
	ctx, stop := context.WithCancelCause(c.s.ctx)
	defer stop(nil)
	canceled := make(chan struct{})
	go func() {
		select {
		case <-cancel:
			c.mu.Lock()
			c.cancelSent = true
			c.mu.Unlock()
			close(canceled)
			select {
			case <-c.provisional:
				stop(context.Canceled) // sipgo sends CANCEL and waits for the final response
			default:
				stop(sipgo.WaitAnswerForceCancelErr) // nothing to CANCEL yet
			}
		case <-ctx.Done():
		}
	}()
	done := make(chan error, 1)
	go func() {
		done <- c.sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
			if r.IsProvisional() {
				c.provOnce.Do(func() { close(c.provisional) })
				if r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress {
					c.ringOnce.Do(func() { close(c.ringing) })
				}
			}
			return nil
		}})
	}()
	var err error
	select {
	case err = <-done:
	case <-canceled:
		select {
		case err = <-done:
		case <-time.After(cancelGrace):
			// A phone that neither answers our CANCEL nor sends a final
			// response would hold the call for 64*T1: give up on it now, and
			// hang up whatever it answers later.
			go func() {
				<-done
				if r := c.sess.InviteResponse; r != nil && r.IsSuccess() {
					if _, err := c.established(r); err == nil {
						_ = c.Hangup(context.Background())
					}
					c.Close()
				}
			}()
			return Result{}, ErrNoFinalResponse
		}
	}
	res := c.sess.InviteResponse
	switch {
	case res != nil && res.IsSuccess():
		// Answered — also when the answer crossed our CANCEL (err set then).
		return c.established(res)
	case err == nil:
		return Result{}, fmt.Errorf("sip: dial: no response")
	case res != nil && !res.IsProvisional():
		return Result{Code: res.StatusCode, Reason: res.Reason}, nil
	case errors.Is(context.Cause(ctx), sipgo.WaitAnswerForceCancelErr):
		return Result{}, ErrNoProvisional
	default:
		return Result{}, fmt.Errorf("sip: dial: %w", err)
	}
}

// cancelGrace is how long after our CANCEL we wait for the seat's final
// response (RFC 3261 §9.1 allows 64*T1; a working phone answers in ms).
const cancelGrace = 4 * time.Second

// ErrNoFinalResponse: the seat sent no final response within cancelGrace of our CANCEL.
var ErrNoFinalResponse = errors.New("sip: seat sent no final response after CANCEL")

// established ACKs a 2xx and registers the dialog for in-dialog requests.
func (c *OutboundCall) established(r *sip.Response) (Result, error) {
	c.mu.Lock()
	late := c.cancelSent
	c.answered = true
	c.mu.Unlock()
	id, err := sip.DialogIDFromResponse(r)
	if err != nil {
		return Result{}, fmt.Errorf("sip: dial: %w", err)
	}
	c.sess.ID = id
	c.sess.InviteResponse = r
	// Requests the seat sends carry our tag in To and theirs in From: the id
	// the server's UAS-side lookup computes (RFC 3261 §12.2.2).
	callID := r.CallID().Value()
	remoteTag, _ := r.To().Params.Get("tag")
	localTag, _ := r.From().Params.Get("tag")
	c.dialogID = sip.DialogIDMake(callID, localTag, remoteTag)
	c.s.addDialog(c.dialogID, c)
	if err := c.sess.Ack(context.Background()); err != nil {
		return Result{}, fmt.Errorf("sip: dial: ack: %w", err)
	}
	return Result{Code: r.StatusCode, Reason: r.Reason, Answer: r.Body(), LateAnswer: late}, nil
}

// onAck: the seat acknowledges our 2xx to its re-INVITE.
func (c *OutboundCall) onAck(req *sip.Request) { c.peer.onAck(req) }

// Hangup ends the call to the seat: BYE once answered. Safe to repeat.
func (c *OutboundCall) Hangup(ctx context.Context) error {
	if c.markEnded() {
		return nil
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.sess.Bye(ctx); err != nil {
		return fmt.Errorf("sip: bye to seat: %w", err)
	}
	return nil
}

// Close forgets the dialog; call it when the call is over.
func (c *OutboundCall) Close() {
	c.mu.Lock()
	id := c.dialogID
	c.mu.Unlock()
	if id != "" {
		c.s.removeDialog(id)
	}
	_ = c.sess.Close()
}
