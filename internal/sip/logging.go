package sip

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// sipgo logs whole messages when it cannot parse or route them, at ERROR.
// Those messages carry caller numbers (personal data) and anyone on the
// network can produce them, so everything sipgo logs goes through this
// handler: phone-number-like digit runs are masked (138****0000), long
// values are cut, and its levels are capped at WARN (a bad packet is the
// sender's problem, not an error of ours).

// RedactingLogger returns a logger for sipgo that masks numbers in every
// message and attribute, cuts long values and caps levels at WARN.
func RedactingLogger(base *slog.Logger) *slog.Logger {
	return slog.New(&redactHandler{h: base.Handler()})
}

type redactHandler struct{ h slog.Handler }

// numberRun matches 7 or more digits, optionally after a +: what a phone
// number looks like in a SIP URI or header.
var numberRun = regexp.MustCompile(`\+?\d{7,}`)

const maxLoggedValue = 300

func redactString(s string) string {
	s = numberRun.ReplaceAllStringFunc(s, maskNumber)
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
	return r.h.Enabled(ctx, min(l, slog.LevelWarn))
}

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, min(rec.Level, slog.LevelWarn), redactString(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(red)}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(strings.TrimSpace(name))}
}
