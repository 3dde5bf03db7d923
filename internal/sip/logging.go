package sip

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hotline12348/hotline/internal/pii"
)

// sipgo logs whole messages when it cannot parse or route them, at ERROR.
// Those messages carry caller numbers (personal data) and anyone on the
// network can produce them, so everything sipgo logs goes through this
// handler: phone-number-like runs are masked (138****0000, also when
// written 138-1234-5678 or +86 138 1234 5678), long values are cut, and its
// levels are capped at WARN (a bad packet is the sender's problem, not an
// error of ours). The lines an outsider can cause once per packet are not
// written at all: they are counted, and the server logs the counts once a
// minute (guard.go), so a flood of garbage cannot flood the log.

// RedactingLogger returns a logger for sipgo that masks numbers in every
// message and attribute, cuts long values and caps levels at WARN.
func RedactingLogger(base *slog.Logger) *slog.Logger {
	return slog.New(&redactHandler{h: base.Handler()})
}

// redactingLogger is RedactingLogger that counts, instead of writing, the
// lines sipgo writes once per bad packet or connection.
func redactingLogger(base *slog.Logger, noise *atomic.Int64) *slog.Logger {
	return slog.New(&redactHandler{h: base.Handler(), noise: noise})
}

type redactHandler struct {
	h     slog.Handler
	noise *atomic.Int64 // nil: write every line
}

// perPacketMessages are sipgo's messages (v1.7.3) about input from the
// network, written once per datagram or connection: a parse failure (with
// the data), a request too broken for a transaction, a failed read on a
// connection the peer reset.
var perPacketMessages = map[string]bool{
	"failed to parse":                                    true,
	"Server tx failed to handle request":                 true,
	"Failed to send stateless 400 for malformed request": true,
	"Read error":        true,
	"Read filter error": true,
}

const maxLoggedValue = 300

func redactString(s string) string {
	s = pii.MaskText(s)
	if len(s) > maxLoggedValue {
		s = s[:maxLoggedValue] + "…(cut)"
	}
	return s
}

func redactAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redactString(a.Value.String()))
	case slog.KindGroup:
		attrs := a.Value.Group()
		out := make([]any, 0, len(attrs))
		for _, g := range attrs {
			out = append(out, redactAttr(g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, redactString(err.Error()))
		}
		return slog.String(a.Key, redactString(a.Value.String()))
	default:
		return a
	}
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// sipgo writes the per-packet lines at WARN or ERROR: those levels reach
	// Handle to be counted even when the log shows only ERROR.
	return (r.noise != nil && l >= slog.LevelWarn) || r.h.Enabled(ctx, min(l, slog.LevelWarn))
}

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	if r.noise != nil && perPacket(rec) {
		r.noise.Add(1)
		return nil
	}
	if !r.h.Enabled(ctx, min(rec.Level, slog.LevelWarn)) {
		return nil
	}
	out := slog.NewRecord(rec.Time, min(rec.Level, slog.LevelWarn), redactString(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

// perPacket: a line sipgo writes per bad packet, or the read loop ending
// because the UDP gate recycles it (udpgate.go), which is no error.
func perPacket(rec slog.Record) bool {
	if perPacketMessages[rec.Message] {
		return true
	}
	recycled := false
	rec.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, errRecycle) {
			recycled = true
			return false
		}
		return true
	})
	return recycled
}

func (r *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(red), noise: r.noise}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(strings.TrimSpace(name)), noise: r.noise}
}
