package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RFC 4028 session timers: without them a call whose BYE was lost (an SBC
// restart, a NAT timeout) would hold a line until the RTP timeout, and a
// carrier that insists on them would drop our calls.

type errIntervalTooSmall struct{ got time.Duration }

func (e errIntervalTooSmall) Error() string {
	return fmt.Sprintf("sip: session interval %s below Min-SE %s", e.got, MinSE)
}

// negotiateSessionTimer decides the interval and refresher of the initial
// INVITE and returns the headers of our 200 (RFC 4028 §9).
func (c *InboundCall) negotiateSessionTimer() (time.Duration, string, []sip.Header, error) {
	req := c.req
	uacSupports := hasOptionTag(req, "Supported", "timer") || hasOptionTag(req, "Require", "timer")
	se := c.s.cfg.SessionExpires
	refresher := ""
	if h := req.GetHeader("Session-Expires"); h != nil {
		got, r, ok := parseSessionExpires(h.Value())
		if ok {
			if got < MinSE {
				return 0, "", nil, errIntervalTooSmall{got}
			}
			se = min(got, se)
			refresher = r
		}
	}
	if h := req.GetHeader("Min-SE"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(strings.Split(h.Value(), ";")[0])); err == nil {
			se = max(se, time.Duration(v)*time.Second)
		}
	}
	if refresher != "uac" && refresher != "uas" {
		if uacSupports {
			refresher = "uac"
		} else {
			refresher = "uas"
		}
	}
	hdrs := []sip.Header{
		sip.NewHeader("Supported", "timer"),
		sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(se.Seconds()), refresher)),
	}
	if refresher == "uac" {
		hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
	}
	return se, refresher, hdrs, nil
}

// refreshHeaders are the session timer headers of our 2xx to a refresh.
func (c *InboundCall) sessionRefreshHeaders(req *sip.Request) []sip.Header {
	c.mu.Lock()
	se, weRefresh := c.seInterval, c.weRefresh
	c.mu.Unlock()
	if se == 0 {
		return nil
	}
	if h := req.GetHeader("Session-Expires"); h != nil {
		if got, r, ok := parseSessionExpires(h.Value()); ok && got >= MinSE {
			se = got
			if r == "uas" || r == "uac" {
				weRefresh = r == "uas"
			}
		}
	}
	c.mu.Lock()
	c.seInterval, c.weRefresh = se, weRefresh
	c.mu.Unlock()
	refresher := "uac"
	if weRefresh {
		refresher = "uas"
	}
	hdrs := []sip.Header{sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(se.Seconds()), refresher))}
	if !weRefresh {
		hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
	}
	return hdrs
}

func (c *InboundCall) markRefreshed() {
	select {
	case c.refreshed <- struct{}{}:
	default:
	}
}

// startSessionTimer runs the timer: as refresher we send UPDATE every half
// interval; otherwise we expect a refresh and end the call if none comes
// before the interval minus min(32 s, interval/3) (RFC 4028 §10).
func (c *InboundCall) startSessionTimer() {
	ctx, cancel := context.WithCancel(c.sess.Context())
	c.mu.Lock()
	c.timerCancel = cancel
	c.mu.Unlock()
	go func() {
		defer cancel()
		for {
			c.mu.Lock()
			se, weRefresh := c.seInterval, c.weRefresh
			c.mu.Unlock()
			if se == 0 {
				return
			}
			wait := se - min(32*time.Second, se/3)
			if weRefresh {
				wait = se / 2
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-c.refreshed:
				t.Stop()
				continue
			case <-t.C:
			}
			if !weRefresh {
				c.log.Info("session expired: no refresh from the caller (RFC 4028)")
				c.emit(Event{Kind: EventSessionExpired})
				return
			}
			if err := c.sendRefresh(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Info("session refresh failed (RFC 4028)", "error", err)
				c.emit(Event{Kind: EventSessionExpired})
				return
			}
		}
	}()
}

// sendRefresh sends an UPDATE without SDP (RFC 4028 §7.4, RFC 3311) when the
// peer allows UPDATE, else a re-INVITE with our current SDP.
func (c *InboundCall) sendRefresh(ctx context.Context) error {
	c.mu.Lock()
	se, sdp := c.seInterval, c.localSDP
	c.mu.Unlock()
	method := sip.INVITE
	if hasOptionTag(c.req, "Allow", "UPDATE") {
		method = sip.UPDATE
	}
	req := sip.NewRequest(method, c.req.Contact().Address)
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uas", int(se.Seconds()))))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	req.AppendHeader(c.s.contactHeader(c.req.Transport(), c.Called))
	if method == sip.INVITE {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(sdp)
	}
	rctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	res, err := c.sess.Do(rctx, req)
	if err != nil {
		return err
	}
	if method == sip.INVITE && res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, req.Recipient)
		ack.AppendHeader(sip.NewHeader("CSeq", fmt.Sprintf("%d ACK", req.CSeq().SeqNo)))
		_ = c.sess.WriteRequest(ack)
	}
	switch {
	case res.IsSuccess():
		return nil
	case res.StatusCode == sip.StatusRequestPending:
		return nil // a re-INVITE of theirs crossed ours: it refreshes too
	default:
		return fmt.Errorf("refresh answered %d", res.StatusCode)
	}
}
