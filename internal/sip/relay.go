package sip

// The transactions of a forwarded request (RFC 3261 §16.7-16.10): the
// upstream server transaction, the downstream client transaction, and the
// responses and CANCEL between them. forward.go decides what is forwarded
// and where.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// upstream is where responses go back to: the server transaction's
// connection and the address §18.2.2 picks (received/rport), as sipgo
// computed them for the request.
type upstream struct {
	tx        sip.ServerTransaction
	req       *sip.Request
	conn      sip.Connection
	dest      string
	transport string
}

func newUpstream(tx sip.ServerTransaction, req *sip.Request) *upstream {
	u := &upstream{tx: tx, req: req, transport: req.Transport()}
	u.dest = sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil).Destination()
	if c, ok := tx.(interface{ Connection() sip.Connection }); ok {
		u.conn = c.Connection()
	}
	return u
}

// relayed is a downstream response as it goes upstream: our Via removed
// (§16.7 step 3), sent where the request came from.
func (u *upstream) relayed(res *sip.Response) *sip.Response {
	out := res.Clone()
	out.RemoveHeader("Via")
	out.SetTransport(u.transport)
	out.SetDestination(u.dest)
	return out
}

// write sends a response upstream outside the server transaction's state
// machine: provisional responses, and every 2xx to an INVITE (RFC 3261
// §16.7 step 10: forwarded statelessly, retransmissions included).
func (u *upstream) write(res *sip.Response) error {
	if u.conn != nil {
		return u.conn.WriteMsg(res)
	}
	return errors.New("sip: no upstream connection")
}

func (u *upstream) respond(code int, reason string) {
	respond(u.tx, u.req, code, reason)
}

// relayNonInvite proxies a non-INVITE request statefully (§16.7).
func (f *forwarder) relayNonInvite(tx sip.ServerTransaction, req, out *sip.Request, toFlow bool, log *slog.Logger) {
	up := newUpstream(tx, req)
	ctx, cancel := context.WithCancel(f.s.ctx)
	defer cancel()
	down, err := f.s.client.TransactionRequest(ctx, out, asIs)
	if err != nil {
		f.refused.WithLabelValues(refuseUnreachable).Inc()
		log.Debug("request not forwarded", "error", err)
		up.respond(sendFailedCode(err, toFlow))
		return
	}
	f.countForwarded(req.Method)
	defer down.Terminate()
	for {
		select {
		case res := <-down.Responses():
			if res.IsProvisional() {
				if res.StatusCode > sip.StatusTrying { // 100 is hop-by-hop
					_ = tx.Respond(up.relayed(res))
				}
				continue
			}
			_ = tx.Respond(up.relayed(res))
			return
		case <-down.Done():
			up.respond(noFinalCode(down.Err(), toFlow))
			return
		case <-f.s.ctx.Done():
			up.respond(sip.StatusServiceUnavailable, "Service Unavailable")
			return
		}
	}
}

// inviteRelay is one proxied INVITE transaction.
//
// sipgo answers a CANCEL that matches the INVITE's server transaction
// itself: 200 to the CANCEL, then 487 to the INVITE, calling our OnCancel
// hook in between, inside the transaction's state machine lock. A proxy
// must instead CANCEL downstream and forward whatever final response the
// seat gives (§16.10) — a 200 that crossed the CANCEL included, or the
// dialling node never sees the late answer. So the hook holds sipgo's 487
// until the relay has handled the seat's final response (or
// proxyCancelWait passed), and everything the relay sends upstream while
// the hook may wait goes around the state machine (provisional responses
// and 2xx), or is decided under mu so the hook never waits for a relay
// that waits for the lock the hook holds.
type inviteRelay struct {
	f  *forwarder
	up *upstream

	mu        sync.Mutex
	cancelled bool // the upstream CANCELled; sipgo sends the 487
	finalSent bool // a final response went (or is going) upstream
	sent2xx   bool

	cancelCh   chan struct{} // closed by the hook
	finalDone  chan struct{} // closed when the relay is done with the final response
	hookDone   chan struct{} // closed when the hook returns
	cancelOnce sync.Once
	finalOnce  sync.Once
	hookOnce   sync.Once
}

func (r *inviteRelay) hookReturned() { r.hookOnce.Do(func() { close(r.hookDone) }) }

func (f *forwarder) relayInvite(tx sip.ServerTransaction, req, out *sip.Request, toFlow bool, log *slog.Logger) {
	up := newUpstream(tx, req)
	// §16.2: a stateful proxy answers an INVITE with 100 at once.
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil))
	r := &inviteRelay{f: f, up: up, cancelCh: make(chan struct{}), finalDone: make(chan struct{}), hookDone: make(chan struct{})}
	defer r.finish()
	if !tx.OnCancel(r.onCancel) {
		r.hookReturned()
		return // cancelled before we got here: sipgo answered 487
	}
	ctx, cancel := context.WithCancel(f.s.ctx)
	defer cancel()
	down, err := f.s.client.TransactionRequest(ctx, out, asIs)
	if err != nil {
		f.refused.WithLabelValues(refuseUnreachable).Inc()
		log.Debug("INVITE not forwarded", "error", err)
		r.giveUp(sendFailedCode(err, toFlow))
		return
	}
	f.countForwarded(req.Method)
	relay := func(res *sip.Response) *sip.Response { return up.relayed(relayRR(res, out, toFlow)) }
	down.OnRetransmission(func(res *sip.Response) {
		if res.IsSuccess() {
			_ = up.write(relay(res))
		}
	})

	var (
		provisional, cancelSent bool
		cancelWG                sync.WaitGroup
		cancelCh                = r.cancelCh
		deadline                <-chan time.Time // after Timer C: how long the CANCEL may take
	)
	defer cancelWG.Wait()
	sendCancel := func() {
		if cancelSent || !provisional { // §9.1: not before a provisional response
			return
		}
		cancelSent = true
		cancelWG.Add(1)
		go func() {
			defer cancelWG.Done()
			f.cancelDownstream(out, log)
		}()
	}
	timerC := time.NewTimer(proxyTimerC)
	defer timerC.Stop()
	for {
		select {
		case res := <-down.Responses():
			if res.IsProvisional() {
				provisional = true
				timerC.Reset(proxyTimerC)
				if r.isCancelled() {
					sendCancel()
				}
				if res.StatusCode > sip.StatusTrying {
					_ = up.write(relay(res))
				}
				continue
			}
			if res.IsSuccess() {
				res = relayRR(res, out, toFlow)
			}
			r.final(res)
			return
		case <-cancelCh:
			cancelCh = nil
			sendCancel()
		case <-timerC.C:
			sendCancel()
			deadline = time.After(64 * sip.T1)
		case <-deadline:
			r.giveUp(sip.StatusRequestTimeout, "Request Timeout")
			down.Terminate()
			return
		case <-down.Done():
			r.giveUp(noFinalCode(down.Err(), toFlow))
			return
		case <-f.s.ctx.Done():
			r.giveUp(sip.StatusServiceUnavailable, "Service Unavailable")
			down.Terminate()
			return
		}
	}
}

// relayRR puts the Record-Route set we sent the seat back into its answer
// when the phone did not echo it (RFC 3261 §12.1.1 says it must; some do
// not): the dialling node's dialog would otherwise reach the phone
// directly, past this node and the phone's NAT flow.
func relayRR(res *sip.Response, out *sip.Request, toFlow bool) *sip.Response {
	if !toFlow || len(res.GetHeaders("Record-Route")) > 0 {
		return res
	}
	res = res.Clone()
	for _, h := range out.GetHeaders("Record-Route") {
		res.AppendHeader(sip.HeaderClone(h))
	}
	return res
}

// onCancel runs inside sipgo's state machine, between its 200 to the
// CANCEL and its 487 to the INVITE.
func (r *inviteRelay) onCancel(*sip.Request) {
	defer r.hookReturned()
	r.mu.Lock()
	if r.finalSent {
		r.mu.Unlock()
		return
	}
	r.cancelled = true
	r.mu.Unlock()
	r.cancelOnce.Do(func() { close(r.cancelCh) })
	t := time.NewTimer(proxyCancelWait)
	defer t.Stop()
	select {
	case <-r.finalDone:
	case <-t.C:
	case <-r.f.s.ctx.Done():
	}
}

func (r *inviteRelay) isCancelled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancelled
}

// final forwards the seat's final response (§16.7 steps 5-10).
func (r *inviteRelay) final(res *sip.Response) {
	out := r.up.relayed(res)
	r.mu.Lock()
	if res.IsSuccess() {
		// Always forwarded, also after a CANCEL (the caller decides on the
		// late answer); written under mu so that sipgo's 487, if a CANCEL
		// is being handled, can only follow it.
		r.finalSent, r.sent2xx = true, true
		_ = r.up.write(out)
		r.mu.Unlock()
		return
	}
	if r.cancelled {
		r.mu.Unlock() // sipgo answers 487 upstream when the hook returns
		return
	}
	r.finalSent = true
	r.mu.Unlock()
	_ = r.up.tx.Respond(out)
}

// giveUp answers upstream when the seat gave no final response.
func (r *inviteRelay) giveUp(code int, reason string) {
	r.mu.Lock()
	if r.cancelled || r.finalSent {
		r.mu.Unlock()
		return
	}
	r.finalSent = true
	r.mu.Unlock()
	r.up.respond(code, reason)
}

// finish lets a waiting hook go and, after it, leaves the server
// transaction in order: a 2xx went around it, so the 487 sipgo sent after
// a crossing CANCEL needs no retransmitting.
func (r *inviteRelay) finish() {
	r.finalOnce.Do(func() { close(r.finalDone) })
	r.mu.Lock()
	cancelled, sent2xx := r.cancelled, r.sent2xx
	r.mu.Unlock()
	if !cancelled {
		return
	}
	<-r.hookDone
	_ = r.up.tx.Err() // waits for sipgo's state machine to finish the CANCEL
	if sent2xx {
		r.up.tx.Terminate()
	}
}

// cancelDownstream sends CANCEL for the forwarded INVITE: same Request-URI,
// top Via, Route, Call-ID, From, To and CSeq number (RFC 3261 §9.1).
func (f *forwarder) cancelDownstream(inv *sip.Request, log *slog.Logger) {
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	for _, h := range inv.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	hops := sip.MaxForwardsHeader(70)
	c.AppendHeader(&hops)
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetBody(nil)
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	ctx, cancel := context.WithTimeout(f.s.ctx, 64*sip.T1)
	defer cancel()
	if _, err := f.s.client.Do(ctx, c, asIs); err != nil {
		log.Debug("CANCEL downstream failed", "error", err)
		return
	}
	f.countForwarded(sip.CANCEL)
}
