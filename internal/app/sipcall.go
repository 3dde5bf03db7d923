package app

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/sip"
)

// inbound adapts a sip.InboundCall to call.Inbound. Its event mapper lives
// as long as the call: close ends it when the call's handler returns.
type inbound struct {
	c      *sip.InboundCall
	events <-chan call.Event
	done   chan struct{}
}

func newInbound(c *sip.InboundCall) *inbound {
	done := make(chan struct{})
	return &inbound{c: c, events: mapEvents(c.Events(), done), done: done}
}

// close ends the event mapper; the call is over.
func (i *inbound) close() { close(i.done) }

func (i *inbound) CallID() string                   { return i.c.CallID }
func (i *inbound) Caller() string                   { return i.c.Caller.Number }
func (i *inbound) Called() string                   { return i.c.Called }
func (i *inbound) Offer() []byte                    { return i.c.Offer() }
func (i *inbound) Source() netip.Addr               { return i.c.Source }
func (i *inbound) Reject(code int, r string) error  { return i.c.Reject(code, r) }
func (i *inbound) Hangup(ctx context.Context) error { return i.c.Hangup(ctx) }
func (i *inbound) SendDigit(ctx context.Context, d rune) error {
	return i.c.SendDigit(ctx, d, 160*time.Millisecond)
}
func (i *inbound) Events() <-chan call.Event { return i.events }
func (i *inbound) Logger() *slog.Logger      { return i.c.Logger() }

func (i *inbound) Answer(sdp []byte, onOffer func([]byte) ([]byte, error)) error {
	return i.c.Answer(sdp, func(offer []byte) ([]byte, error) {
		ans, err := onOffer(offer)
		if errors.Is(err, media.ErrNoCommonCodec) || errors.Is(err, media.ErrBadSDP) {
			return nil, errors.Join(sip.ErrNotAcceptable, err)
		}
		return ans, err
	})
}
