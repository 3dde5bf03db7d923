package adapt

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

// Inbound adapts a sip.InboundCall to call.Inbound. Its event mapper lives
// as long as the call: Close ends it when the call's handler returns.
type Inbound struct {
	c      *sip.InboundCall
	events <-chan call.Event
	done   chan struct{}
}

func NewInbound(c *sip.InboundCall) *Inbound {
	done := make(chan struct{})
	return &Inbound{c: c, events: mapEvents(c.Events(), done), done: done}
}

// Close ends the event mapper; the call is over.
func (i *Inbound) Close() { close(i.done) }

func (i *Inbound) CallID() string                   { return i.c.CallID }
func (i *Inbound) Caller() string                   { return i.c.Caller.Number }
func (i *Inbound) Called() string                   { return i.c.Called }
func (i *Inbound) Offer() []byte                    { return i.c.Offer() }
func (i *Inbound) Source() netip.Addr               { return i.c.Source }
func (i *Inbound) Reject(code int, r string) error  { return i.c.Reject(code, r) }
func (i *Inbound) Hangup(ctx context.Context) error { return i.c.Hangup(ctx) }
func (i *Inbound) SendDigit(ctx context.Context, d rune) error {
	return i.c.SendDigit(ctx, d, 160*time.Millisecond)
}
func (i *Inbound) Events() <-chan call.Event { return i.events }
func (i *Inbound) Logger() *slog.Logger      { return i.c.Logger() }

func (i *Inbound) Answer(sdp []byte, onOffer func([]byte) ([]byte, error)) error {
	return i.c.Answer(sdp, func(offer []byte) ([]byte, error) {
		ans, err := onOffer(offer)
		if media.Unacceptable(err) {
			return nil, errors.Join(sip.ErrNotAcceptable, err)
		}
		return ans, err
	})
}
