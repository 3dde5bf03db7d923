package sip

import (
	"context"

	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ReferHandler decides and runs a seat's REFER (RFC 3515): a seat phone's
// own transfer button. A REFER from anyone else (the citizen's leg, an
// outside party) is refused 403.
type ReferHandler interface {
	// Allowed reports whether seat may transfer its call to the user part
	// of Refer-To (only configured targets: 403 otherwise).
	Allowed(seat, user string) bool
	// Transfer transfers seat's call; accepted is called (once) when the
	// call has taken the transfer on, before the seat's leg is hung up.
	Transfer(ctx context.Context, seat, user string, replaces bool, accepted func()) error
}

// onRefer answers REFER in a dialog: 403 unless it comes from a seat's leg
// and names a configured target; else 202, NOTIFY "100 Trying", the
// transfer, and a final NOTIFY with its outcome (RFC 3515 §2.4.4-5).
func (p *peer) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	h := p.s.cfg.Refer
	refs := req.GetHeaders("Refer-To")
	if len(refs) != 1 {
		respond(tx, req, sip.StatusBadRequest, "Bad Request: one Refer-To")
		return
	}
	referTo := refs[0].Value()
	user, replaces := referParts(referTo)
	if h == nil || p.seat == "" || !h.Allowed(p.seat, user) {
		p.log.Warn("REFER refused: not a seat's leg, or not a configured transfer target", "seat", p.seat, "refer_to_user_len", len(user))
		respond(tx, req, sip.StatusForbidden, "Forbidden")
		return
	}
	respond(tx, req, sip.StatusAccepted, "Accepted")
	ctx := context.WithoutCancel(p.d.Context())
	go func() {
		p.notifyRefer(ctx, "SIP/2.0 100 Trying", false)
		sent := false
		err := h.Transfer(ctx, p.seat, user, replaces, func() {
			sent = true
			p.notifyRefer(ctx, "SIP/2.0 200 OK", true)
		})
		if err != nil && !sent {
			p.log.Info("REFER transfer failed", "error", err)
			p.notifyRefer(ctx, "SIP/2.0 503 Service Unavailable", true)
		}
	}()
}

// notifyRefer sends the implicit subscription's NOTIFY with a sipfrag.
func (p *peer) notifyRefer(ctx context.Context, frag string, final bool) {
	req := sip.NewRequest(sip.NOTIFY, sip.Uri{})
	req.Recipient = p.remoteTarget()
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(frag + "\r\n"))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := p.d.Do(ctx, req)
	if err != nil {
		p.log.Info("REFER NOTIFY failed", "error", err)
		return
	}
	if !res.IsSuccess() {
		p.log.Info("REFER NOTIFY answered", "code", res.StatusCode)
	}
}

// referParts: the user part of a Refer-To ("<sip:12348001@host?Replaces=…>")
// and whether it carries Replaces (RFC 3891: an attended transfer).
func referParts(v string) (user string, replaces bool) {
	s := strings.TrimSpace(v)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		replaces = strings.Contains(strings.ToLower(s[i:]), "replaces=")
		s = s[:i]
	}
	for _, pre := range []string{"sips:", "sip:", "tel:"} {
		if strings.HasPrefix(strings.ToLower(s), pre) {
			s = s[len(pre):]
			break
		}
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	return s, replaces
}
