package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// dialogOps is what a peer needs from sipgo's dialog session, server or client side.
type dialogOps interface {
	ReadRequest(req *sip.Request, tx sip.ServerTransaction) error
	ReadBye(req *sip.Request, tx sip.ServerTransaction) error
	Context() context.Context
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
}

// inDialog is a dialog the server routes requests to: an InboundCall (the
// caller's leg) or an OutboundCall (a seat's leg).
type inDialog interface {
	onAck(req *sip.Request)
	onBye(req *sip.Request, tx sip.ServerTransaction)
	onInfo(req *sip.Request, tx sip.ServerTransaction)
	onReinvite(req *sip.Request, tx sip.ServerTransaction)
	onUpdate(req *sip.Request, tx sip.ServerTransaction)
	onRefer(req *sip.Request, tx sip.ServerTransaction) // refer.go
	// peerSource is the address the other side's requests come from; ok
	// is false when it is not known here (a seat reached through another
	// node: its requests come from that node).
	peerSource() (ip netip.Addr, ok bool)
}

// peer is what both directions of a dialog share: the requests the other
// side sends inside the dialog (re-INVITE, UPDATE, INFO, BYE) and the
// events they produce.
type peer struct {
	s       *Server
	d       dialogOps
	log     *slog.Logger
	contact *sip.ContactHeader
	// remoteTarget is the other side's Contact: the Request-URI of our
	// requests in the dialog (RFC 3261 §12.2.1.1).
	remoteTarget func() sip.Uri

	events      chan Event
	reinviteAck chan uint32

	// Session timer hooks (RFC 4028), set on the caller's leg only.
	refreshHeaders func(req *sip.Request) []sip.Header
	noteRefresh    func()

	// seat is the seat whose phone this dialog reaches ("" for the
	// caller's leg and outside numbers): only a seat may REFER (refer.go).
	seat string

	mu         sync.Mutex
	onOffer    OfferFunc
	localSDP   []byte
	ended      bool
	inReinvite bool
}

func newPeer(s *Server, d dialogOps, log *slog.Logger, contact *sip.ContactHeader, remoteTarget func() sip.Uri) *peer {
	return &peer{
		s: s, d: d, log: log, contact: contact, remoteTarget: remoteTarget,
		events:         make(chan Event, 16),
		reinviteAck:    make(chan uint32, 4),
		refreshHeaders: func(*sip.Request) []sip.Header { return nil },
		noteRefresh:    func() {},
	}
}

// Events delivers the dialog's events.
func (p *peer) Events() <-chan Event { return p.events }

// Logger returns the dialog's logger.
func (p *peer) Logger() *slog.Logger { return p.log }

func (p *peer) emit(ev Event) {
	select {
	case p.events <- ev:
	default:
		p.log.Warn("call event dropped: consumer too slow", "event", ev.Kind.String())
	}
}

// markEnded records that the dialog is over; it reports whether it already was.
func (p *peer) markEnded() (already bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	already, p.ended = p.ended, true
	return already
}

func (p *peer) onAck(req *sip.Request) {
	if cseq := req.CSeq(); cseq != nil {
		select {
		case p.reinviteAck <- cseq.SeqNo:
		default:
		}
	}
	if body := req.Body(); len(body) > 0 {
		// Answer to the offer we made in a 200 to an offerless re-INVITE.
		_, _ = p.applyOffer(body)
	}
}

func (p *peer) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := p.d.ReadBye(req, tx); err != nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	p.markEnded()
	p.emit(Event{Kind: EventBye})
}

func (p *peer) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if d, ok := parseInfoDigit(ct, req.Body()); ok {
		respond(tx, req, sip.StatusOK, "OK")
		p.emit(Event{Kind: EventDigit, Digit: d})
		return
	}
	if len(req.Body()) == 0 {
		respond(tx, req, sip.StatusOK, "OK") // keep-alive INFO
		return
	}
	respond(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
}

// applyOffer hands an offer to the dialog's media and returns the answer.
func (p *peer) applyOffer(offer []byte) ([]byte, error) {
	p.mu.Lock()
	fn := p.onOffer
	p.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("%w: call not answered yet", ErrNotAcceptable)
	}
	ans, err := fn(offer)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.localSDP = ans
	p.mu.Unlock()
	return ans, nil
}

// onReinvite handles a re-INVITE: hold/resume, address change, or session
// refresh (RFC 3261 §14.2, RFC 4028 §9).
func (p *peer) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	if p.inReinvite {
		p.mu.Unlock()
		respond(tx, req, sip.StatusRequestPending, "Request Pending") // RFC 3261 §14.2: 491
		return
	}
	p.inReinvite = true
	current := p.localSDP
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inReinvite = false
		p.mu.Unlock()
	}()
	if err := p.d.ReadRequest(req, tx); err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	answer := current
	if offer := req.Body(); len(offer) > 0 {
		ans, err := p.applyOffer(offer)
		if err != nil {
			if errors.Is(err, ErrNotAcceptable) {
				respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			} else {
				p.log.Warn("re-INVITE offer failed", "error", err)
				respond(tx, req, sip.StatusInternalServerError, "Server Internal Error")
			}
			return
		}
		answer = ans
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", answer)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(p.contact)
	for _, h := range p.refreshHeaders(req) {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		return
	}
	p.noteRefresh()
	// The UAS core retransmits the 2xx until the ACK (RFC 3261 §13.3.1.4).
	seq := req.CSeq().SeqNo
	interval := sip.T1
	deadline := time.After(64 * sip.T1)
	for {
		select {
		case got := <-p.reinviteAck:
			if got == seq {
				return
			}
		case <-time.After(interval):
			if err := tx.Respond(res); err != nil {
				return
			}
			interval = min(2*interval, sip.T2)
		case <-deadline:
			p.log.Warn("no ACK for our 200 to a re-INVITE")
			return
		case <-p.d.Context().Done():
			return
		}
	}
}

// onUpdate handles UPDATE (RFC 3311): a session refresh, maybe with an offer.
func (p *peer) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if err := p.d.ReadRequest(req, tx); err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	var body []byte
	if offer := req.Body(); len(offer) > 0 {
		ans, err := p.applyOffer(offer)
		if err != nil {
			respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		body = ans
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(p.contact)
	for _, h := range p.refreshHeaders(req) {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err == nil {
		p.noteRefresh()
	}
}

// SendDigit sends a DTMF key to the other side by SIP INFO
// (application/dtmf-relay): how a key pressed on one leg reaches a phone on
// the other leg when it arrived by INFO.
func (p *peer) SendDigit(ctx context.Context, d rune, duration time.Duration) error {
	req := sip.NewRequest(sip.INFO, sip.Uri{})
	req.Recipient = p.remoteTarget()
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", d, duration.Milliseconds())))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := p.d.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: info: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: info answered %d", res.StatusCode)
	}
	return nil
}
