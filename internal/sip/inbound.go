package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/internal/pii"
)

func maskNumber(n string) string { return pii.Mask(n) }

// EventKind says what happened on a call's signalling.
type EventKind int

// Events delivered on InboundCall.Events.
const (
	EventBye            EventKind = iota + 1 // the caller hung up (BYE)
	EventCancel                              // the caller gave up before we answered (CANCEL)
	EventDigit                               // a DTMF digit by SIP INFO
	EventSessionExpired                      // RFC 4028: no refresh in time, or our refresh failed
	EventNoAck                               // our 200 OK was never acknowledged (RFC 3261 §13.3.1.4)
)

func (k EventKind) String() string {
	switch k {
	case EventBye:
		return "bye"
	case EventCancel:
		return "cancel"
	case EventDigit:
		return "digit"
	case EventSessionExpired:
		return "session_expired"
	case EventNoAck:
		return "no_ack"
	}
	return "unknown"
}

// Event is one signalling event of a call.
type Event struct {
	Kind  EventKind
	Digit rune
}

// OfferFunc answers a new SDP offer received in the dialog (re-INVITE or
// UPDATE: hold, resume, session refresh, address change). It returns the SDP
// answer; an error wrapping ErrNotAcceptable is answered 488.
type OfferFunc func(offer []byte) (answer []byte, err error)

// ErrNotAcceptable marks an offer we cannot accept (no common codec).
var ErrNotAcceptable = errors.New("sip: offer not acceptable")

// InboundCall is one call from the trunk, as a UAS dialog.
type InboundCall struct {
	*peer
	req  *sip.Request
	tx   sip.ServerTransaction
	sess *sipgo.DialogServerSession

	// CallID is the SIP Call-ID.
	CallID string
	// Caller is the calling party (P-Asserted-Identity / From / Privacy).
	Caller Identity
	// Called is the user part of the Request-URI: the number dialled.
	Called string
	// Source is the address the INVITE came from.
	Source netip.Addr

	answered bool // behind peer.mu

	// RFC 4028 state, behind peer.mu.
	seInterval  time.Duration
	weRefresh   bool
	refreshed   chan struct{}
	timerCancel context.CancelFunc

	finished atomic.Bool
	done     chan struct{} // closed by finish
	doneOnce sync.Once
}

func newInboundCall(s *Server, req *sip.Request, tx sip.ServerTransaction, sess *sipgo.DialogServerSession, src netip.Addr, log *slog.Logger) *InboundCall {
	c := &InboundCall{
		req: req, tx: tx, sess: sess,
		CallID:    callID(req),
		Caller:    CallerIdentity(req),
		Called:    req.Recipient.User,
		Source:    src,
		refreshed: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	c.peer = newPeer(s, sess, log.With("caller", maskNumber(c.Caller.Number)), s.contactHeader(req.Transport(), c.Called),
		func() sip.Uri { return req.Contact().Address })
	c.peer.refreshHeaders = c.sessionRefreshHeaders
	c.peer.noteRefresh = c.markRefreshed
	// CANCEL before our final answer ends the dialog's context (sipgo).
	go func() {
		select {
		case <-sess.Context().Done():
		case <-c.done: // the handler returned: nobody is left to tell
			return
		}
		c.mu.Lock()
		answered := c.answered
		c.mu.Unlock()
		if !answered && !c.finished.Load() {
			c.emit(Event{Kind: EventCancel})
		}
	}()
	return c
}

// peerSource: the trunk's requests come from where its INVITE came from.
func (c *InboundCall) peerSource() (netip.Addr, bool) { return c.Source, c.Source.IsValid() }

// Offer returns the SDP of the INVITE, or nil when it carried none.
func (c *InboundCall) Offer() []byte {
	if ct := c.req.ContentType(); ct != nil && !strings.HasPrefix(strings.ToLower(ct.Value()), "application/sdp") {
		return nil
	}
	return c.req.Body()
}

// Context is done when the dialog has ended (BYE either way, CANCEL).
func (c *InboundCall) Context() context.Context { return c.sess.Context() }

// Reject sends a final error response (e.g. 404, 488). Extra headers are
// appended, e.g. a Warning.
func (c *InboundCall) Reject(code int, reason string, hdrs ...sip.Header) error {
	c.markEnded()
	// Built from the dialog's copy of the INVITE so the To tag is the one
	// any earlier provisional response carried. The server transaction
	// retransmits it and absorbs the ACK (RFC 3261 §17.2.1); we do not wait.
	res := sip.NewResponseFromRequest(c.sess.InviteRequest, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := c.tx.Respond(res); err != nil {
		return fmt.Errorf("sip: reject %d: %w", code, err)
	}
	return nil
}

// Answer sends 200 OK with the SDP answer (RFC 3264) and returns at once;
// the 200 is retransmitted until the ACK arrives (EventNoAck if it never
// does). onOffer handles later offers in the dialog. Session timers (RFC
// 4028) are negotiated here.
func (c *InboundCall) Answer(sdp []byte, onOffer OfferFunc) error {
	if err := c.sess.Context().Err(); err != nil {
		return fmt.Errorf("sip: answer: call already ended: %w", context.Cause(c.sess.Context()))
	}
	hdrs := []sip.Header{sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Allow", allowMethods)}
	se, refresher, seHdrs, err := c.negotiateSessionTimer()
	if err != nil {
		var tooSmall errIntervalTooSmall
		if errors.As(err, &tooSmall) {
			_ = c.Reject(422, "Session Interval Too Small", sip.NewHeader("Min-SE", strconv.Itoa(int(MinSE.Seconds()))))
		}
		return err
	}
	hdrs = append(hdrs, seHdrs...)
	c.mu.Lock()
	c.onOffer = onOffer
	c.localSDP = sdp
	c.answered = true
	c.seInterval = se
	c.weRefresh = refresher == "uas"
	c.mu.Unlock()

	res := sip.NewResponseFromRequest(c.sess.InviteRequest, sip.StatusOK, "OK", sdp)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.AppendHeader(c.contact)
	sent := make(chan error, 1)
	go func() {
		// WriteResponse retransmits the 2xx until the ACK (RFC 6026) and
		// returns nil on ACK.
		err := c.sess.WriteResponse(res)
		select {
		case sent <- err:
		default:
		}
		if err != nil && !c.finished.Load() && c.sess.Context().Err() == nil {
			c.log.Warn("no ACK for our 200 OK", "error", err)
			c.emit(Event{Kind: EventNoAck})
		}
	}()
	// Give the transport a moment to report an immediate failure (a CANCEL
	// that raced us ends the transaction first).
	select {
	case err := <-sent:
		if err != nil {
			return fmt.Errorf("sip: answer: %w", err)
		}
	case <-time.After(20 * time.Millisecond):
	}
	c.startSessionTimer()
	return nil
}

// Hangup ends an answered call with BYE (or rejects an unanswered one with
// 480). Safe to call more than once and after the caller hung up.
func (c *InboundCall) Hangup(ctx context.Context) error {
	if c.markEnded() {
		return nil
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return c.sess.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
	}
	if c.sess.Context().Err() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.sess.Bye(ctx); err != nil {
		return fmt.Errorf("sip: bye: %w", err)
	}
	return nil
}

// finish runs when the handler returns: no BYE left unsent, no timer left running.
func (c *InboundCall) finish() {
	c.finished.Store(true)
	c.doneOnce.Do(func() { close(c.done) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Hangup(ctx)
	c.mu.Lock()
	if c.timerCancel != nil {
		c.timerCancel()
	}
	c.mu.Unlock()
	_ = c.sess.Close()
}

func (c *InboundCall) onAck(req *sip.Request) {
	if cseq := req.CSeq(); cseq != nil && cseq.SeqNo != c.sess.InviteRequest.CSeq().SeqNo {
		c.peer.onAck(req) // ACK of a 2xx to a re-INVITE
		return
	}
	if err := c.sess.ReadAck(req, nil); err != nil {
		c.log.Debug("ACK not for this dialog", "error", err)
	}
}
