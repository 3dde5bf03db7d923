package adapt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/pii"
	sipsrv "github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"

	"github.com/hotline12348/hotline/internal/vocab"
)

// SeatDialer rings a seat's registered phone (call.SeatDialer).
type SeatDialer struct {
	Server    *sipsrv.Server
	Registrar *sipsrv.Registrar
	Node      *cluster.Node // nil on one node
	FullID    bool          // acd.caller_id: full
	Menu      *ivr.Menu
	GreenNote string // before the display name of a green-channel call
}

// label is what the caller chose, as the menu names it ("法律援助",
// "农民工欠薪绿色通道"): the route of the last key pressed, else the
// general queue's.
func (d *SeatDialer) label(t *ticket.Ticket) string {
	if n := len(t.IVRPath); n > 0 {
		if r, ok := d.Menu.Routes[t.IVRPath[n-1:]]; ok && r.Label != "" {
			return r.Label
		}
	}
	return d.Menu.General.Label
}

// ErrSeatNotRegistered: the ACD offered a seat whose binding just went away.
var ErrSeatNotRegistered = errors.New("adapt: seat not registered")

func (d *SeatDialer) Dial(ctx context.Context, seat string, offer []byte, onOffer func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (call.SeatCall, error) {
	b, ok := d.Registrar.Lookup(seat)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSeatNotRegistered, seat)
	}
	target := sipsrv.Target{Contact: b.Contact, Source: b.Source, Transport: b.Transport}
	if d.Node != nil && b.Node != "" && b.Node != d.Node.Self() {
		// Registered through another node: the INVITE goes through it, on
		// the seat's own flow (SPEC §11); media stays here.
		via, alive := d.Node.NodeSIP(ctx, b.Node)
		if !alive {
			return nil, fmt.Errorf("%w: seat %s is registered through node %s, which is not alive", call.ErrSeatUnreachable, seat, b.Node)
		}
		target.Via = via
	}
	if err := clearKeys(offer, b, target.Via); err != nil {
		log.Error("seat has srtp: true but is not registered over TLS to this node: not ringing it (SRTP keys go only over TLS); register the phone over TLS",
			"seat", seat, "error", err)
		return nil, err
	}
	shown := t.Caller
	if !d.FullID {
		shown = pii.Mask(shown)
	}
	// What the operator's phone shows: "[绿色通道] 法律援助 138****0000".
	display := strings.TrimSpace(d.label(t) + " " + shown)
	if t.Priority == vocab.PriorityGreen {
		display = d.GreenNote + " " + display
	}
	oc, err := d.Server.Dial(ctx, sipsrv.DialOptions{
		Target:      target,
		FromUser:    shown,
		FromDisplay: display,
		ToUser:      seat,
		SDP:         offer,
		OnOffer:     onOffer,
		Seat:        seat,
		Headers: []sip.Header{
			sip.NewHeader("X-Hotline-Ticket", t.ID),
			sip.NewHeader("X-Hotline-Category", t.Category),
			sip.NewHeader("X-Hotline-Priority", t.Priority),
		},
		Log: log,
	})
	if err != nil {
		if target.Via != "" {
			return nil, fmt.Errorf("%w: %w", call.ErrSeatUnreachable, err)
		}
		return nil, err
	}
	done := make(chan struct{})
	return &seatCall{oc: oc, source: b.Source.Addr(), done: done, events: mapEvents(oc.Events(), done)}, nil
}

// clearKeys refuses an offer with SDES keys (a=crypto) that would travel
// in clear: they go to the seat over its own TLS flow from this node, or
// not at all (a hop through another node is not TLS, and a seat on UDP or
// TCP would be sent them readable).
func clearKeys(offer []byte, b sipsrv.Binding, via string) error {
	if !bytes.Contains(offer, []byte("a=crypto:")) {
		return nil
	}
	switch {
	case via != "":
		return fmt.Errorf("%w: seat %s needs TLS for SRTP, registered through node %s", call.ErrSeatUnreachable, b.Seat, b.Node)
	case !strings.EqualFold(b.Transport, "TLS"):
		return fmt.Errorf("%w: seat %s needs TLS for SRTP, registered over %s", call.ErrSeatUnreachable, b.Seat, b.Transport)
	}
	return nil
}

// seatCall adapts sip.OutboundCall to call.SeatCall.
type seatCall struct {
	oc *sipsrv.OutboundCall
	// source is where the seat registered from (through whichever node):
	// the address its RTP comes from when the phone is behind NAT.
	source netip.Addr
	events <-chan call.Event
	done   chan struct{}
	once   sync.Once
}

func (s *seatCall) Ringing() <-chan struct{}         { return s.oc.Ringing() }
func (s *seatCall) Events() <-chan call.Event        { return s.events }
func (s *seatCall) Hangup(ctx context.Context) error { return s.oc.Hangup(ctx) }
func (s *seatCall) Close() {
	s.once.Do(func() { close(s.done) })
	s.oc.Close()
}
func (s *seatCall) SendDigit(ctx context.Context, d rune) error {
	return s.oc.SendDigit(ctx, d, 160*time.Millisecond)
}

func (s *seatCall) Wait(cancel <-chan struct{}) (call.SeatAnswer, error) {
	r, err := s.oc.Wait(cancel)
	if err != nil {
		return call.SeatAnswer{}, err
	}
	return call.SeatAnswer{Code: r.Code, SDP: r.Answer, Late: r.LateAnswer, Source: s.source}, nil
}

// mapEvents turns the sip package's events into the call package's.
func mapEvents(in <-chan sipsrv.Event, done <-chan struct{}) <-chan call.Event {
	out := make(chan call.Event, 16)
	go func() {
		for {
			select {
			case ev := <-in:
				var k call.EventKind
				switch ev.Kind {
				case sipsrv.EventBye:
					k = call.EventHangup
				case sipsrv.EventCancel:
					k = call.EventCancel
				case sipsrv.EventDigit:
					k = call.EventDigit
				case sipsrv.EventSessionExpired:
					k = call.EventSessionExpired
				case sipsrv.EventNoAck:
					k = call.EventNoAck
				default:
					continue
				}
				select {
				case out <- call.Event{Kind: k, Digit: ev.Digit}:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out
}
