package app

import (
	"context"
	"time"

	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/callback"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// callbackPolicy is the worklist's rule book (callback.due, short abandon).
func callbackPolicy(cfg *config.Config) ticket.CallbackPolicy {
	return ticket.CallbackPolicy{
		Due: map[string]time.Duration{
			vocab.CallbackVoicemail:    cfg.Callback.Due.Voicemail.D(),
			vocab.CallbackAbandoned:    cfg.Callback.Due.Abandoned.D(),
			vocab.CallbackDissatisfied: cfg.Callback.Due.Dissatisfied.D(),
		},
		ShortAbandon: time.Duration(cfg.ACD.ShortAbandonSeconds) * time.Second,
		MaxAttempts:  cfg.Callback.MaxAttempts,
	}
}

// buildCallbacks makes the callback service on the SIP server and starts
// the idle assignment.
func (h *hotline) buildCallbacks(ctx context.Context, p *parts, seats *adapt.SeatDialer, mf *adapt.MediaFactory, trunk *adapt.TrunkDialer, recPath func(ticket.ID, time.Time) string) {
	cfg, log := h.cfg, h.log.With("component", "callback")
	svc := &callback.Service{
		Tickets: p.tickets, Media: mf, Seats: seats, Floor: p.floor, Users: p.users,
		RecordingPath: recPath,
		RingSeat:      cfg.ACD.RingTimeout.D(), RingCitizen: 45 * time.Second,
		Metrics: callback.NewMetrics(p.reg, p.tickets, log),
		Log:     log,
	}
	if cfg.Transfer.Trunk != "" {
		// The transfers' trunk dialer (its Server set by now); a callback
		// shows the hotline's own number when transfer.caller_id is unset.
		cb := *trunk
		if cb.CallerID == "" && len(cfg.SIP.HotlineNumbers) > 0 {
			cb.CallerID = cfg.SIP.HotlineNumbers[0]
		}
		svc.Trunk = &cb
	}
	p.callbacks = svc
	// Callback calls end (cleanly, their outcome written) just before the
	// SIP server closes, at the drain or any shutdown.
	sipStep := h.closeSIP
	h.closeSIP = h.steps.add("callbacks", func() error { svc.Close(10 * time.Second); return sipStep.run() })
	if every := cfg.Callback.AssignEvery.D(); every > 0 {
		h.goUntil(ctx, "callback assignment", func(ctx context.Context) { svc.RunAssigner(ctx, every) })
	}
}
