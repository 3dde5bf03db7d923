package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/pii"
)

// seatPhone is one simulated operator seat: a softphone that registers
// with digest authentication, rings, answers, talks and hangs up, on its
// own UDP port, exactly as a desk phone on the LAN would.
type seatPhone struct {
	id, password string
	env          *env
	log          *slog.Logger
	ua           *phoneUA
	dialogs      *sipgo.DialogServerCache

	busy       atomic.Bool
	registered atomic.Bool
	firstReg   chan struct{}
	firstOnce  sync.Once

	rmu sync.Mutex
	rnd *rand.Rand

	// Registration state, used by the registration loop only.
	callID  string
	fromTag string
	cseq    uint32
	dig     *digestState
	alg     string

	// The dialog in progress (for a re-INVITE or UPDATE from the switch).
	mu       sync.Mutex
	localSDP []byte
}

const seatUserAgent = "hotline-demo simulated seat phone"

func newSeatPhone(e *env, id, password string) (*seatPhone, error) {
	log := e.log.With("seat", id)
	ua, err := newPhoneUA(seatUserAgent, log)
	if err != nil {
		return nil, err
	}
	p := &seatPhone{
		id: id, password: password, env: e, log: log, ua: ua,
		dialogs:  sipgo.NewDialogServerCache(ua.client, *ua.contact(id)),
		firstReg: make(chan struct{}),
		rnd:      e.rnd.child(),
		callID:   fmt.Sprintf("demo-seat-%s-%d@127.0.0.1", id, e.rnd.child().Uint64()),
		fromTag:  sip.GenerateTagN(12),
		cseq:     1,
	}
	ua.srv.OnInvite(p.onInvite)
	ua.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dialogs.ReadAck(req, tx) })
	ua.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := p.dialogs.ReadBye(req, tx); err != nil {
			respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		}
	})
	// Key presses the switch relays, session refreshes: acknowledged.
	ua.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) { respond(tx, req, sip.StatusOK, "OK") })
	ua.srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) { p.answerInDialog(req, tx) })
	ua.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	return p, nil
}

func (p *seatPhone) pick() SeatAnswer {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return PickSeatAnswer(p.rnd)
}

// run registers, keeps the registration fresh and, when ctx ends,
// unregisters (Expires: 0) so the seat goes offline on the wallboard.
func (p *seatPhone) run(ctx context.Context) {
	for {
		granted, err := p.register(ctx, 300)
		wait := granted * 8 / 10
		switch {
		case ctx.Err() != nil:
		case err != nil:
			wait = 30 * time.Second
			if errors.Is(err, errAuthRefused) {
				// Never hammer the registrar: every failure counts toward
				// banning 127.0.0.1, which would lock out all six phones.
				wait = 2 * time.Minute
			}
			p.log.Warn("simulated seat phone: REGISTER failed, retrying", "error", err, "retry_in", wait)
			p.registered.Store(false)
		default:
			if !p.registered.Swap(true) {
				p.log.Info("simulated seat phone registered", "digest", p.alg, "expires", granted, "contact", p.ua.contact(p.id).Address.String())
				p.firstOnce.Do(func() { close(p.firstReg) })
			}
		}
		select {
		case <-ctx.Done():
			if p.env.switchGone.Load() {
				// The switch has stopped first (demo stop): the registration
				// ended with it; nobody is there to answer an unregister.
				p.log.Info("simulated seat phone off: the switch has stopped")
				return
			}
			uctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if _, err := p.register(uctx, 0); err != nil {
				p.log.Debug("simulated seat phone: unregister failed", "error", err)
			} else {
				p.log.Info("simulated seat phone unregistered")
			}
			cancel()
			return
		case <-time.After(wait):
		}
	}
}

var errAuthRefused = errors.New("the registrar refused the password")

// register sends one REGISTER (answering the digest challenge) and returns
// the expiry the registrar granted.
func (p *seatPhone) register(ctx context.Context, expires int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fresh := false // the last Authorization answered a challenge just received
	for range 4 {
		req := p.newRegister(expires)
		if p.dig != nil {
			h, err := p.dig.authorization(string(sip.REGISTER), req.Recipient.String(), p.id, p.password)
			if err != nil {
				return 0, err
			}
			req.AppendHeader(sip.NewHeader("Authorization", h))
			if len(p.dig.chal.QOP) == 0 {
				p.dig = nil // a qop-less nonce is good for one answer only
			}
		}
		res, err := p.ua.client.Do(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("REGISTER: %w", err)
		}
		switch res.StatusCode {
		case sip.StatusOK:
			return grantedExpiry(res, expires), nil
		case sip.StatusUnauthorized:
			var vals []string
			for _, h := range res.GetHeaders("WWW-Authenticate") {
				vals = append(vals, h.Value())
			}
			chal, err := PickChallenge(vals, p.env.domain)
			if err != nil {
				return 0, fmt.Errorf("REGISTER: %w", err)
			}
			if fresh && !chal.Stale {
				p.dig = nil
				return 0, errAuthRefused
			}
			p.dig, p.alg, fresh = newDigestState(chal), chal.Algorithm, true
		case sip.StatusIntervalToBrief:
			if h := res.GetHeader("Min-Expires"); h != nil {
				if v, err := strconv.Atoi(h.Value()); err == nil && v > expires {
					expires = v
					continue
				}
			}
			return 0, fmt.Errorf("REGISTER: %d %s", res.StatusCode, res.Reason)
		default:
			return 0, fmt.Errorf("REGISTER: %d %s", res.StatusCode, res.Reason)
		}
	}
	return 0, fmt.Errorf("REGISTER: no success after several challenges")
}

func (p *seatPhone) newRegister(expires int) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.env.domain})
	aor := sip.Uri{Scheme: "sip", User: p.id, Host: p.env.domain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", p.fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	callID := sip.CallIDHeader(p.callID)
	req.AppendHeader(&callID)
	p.cseq++ // RFC 3261 §10.2.4: one Call-ID, growing CSeq
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(p.ua.contact(p.id))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.AppendHeader(sip.NewHeader("User-Agent", seatUserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.SetTransport("UDP")
	req.SetDestination(p.env.sipAddr.String())
	return req
}

// grantedExpiry reads the expiry of our binding from a 200 to REGISTER.
func grantedExpiry(res *sip.Response, asked int) time.Duration {
	if c := res.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	if asked <= 0 {
		return 30 * time.Second
	}
	return time.Duration(asked) * time.Second
}

// onInvite: a call rings at the seat (or a re-INVITE in a call).
func (p *seatPhone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		p.answerInDialog(req, tx)
		return
	}
	if !p.env.calls.add() {
		respond(tx, req, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	defer p.env.calls.done()
	if !p.busy.CompareAndSwap(false, true) {
		respond(tx, req, sip.StatusBusyHere, "Busy Here")
		return
	}
	defer p.busy.Store(false)
	p.call(req, tx)
}

// answerInDialog answers a re-INVITE or UPDATE of the call in progress
// (a session refresh) with the SDP we already gave, or plain 200.
func (p *seatPhone) answerInDialog(req *sip.Request, tx sip.ServerTransaction) {
	if _, err := p.dialogs.MatchDialogRequest(req); err != nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	p.mu.Lock()
	sdp := p.localSDP
	p.mu.Unlock()
	if len(req.Body()) > 0 && len(sdp) > 0 {
		res := sip.NewSDPResponseFromRequest(req, sdp)
		res.AppendHeader(p.ua.contact(p.id))
		_ = tx.Respond(res)
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(p.ua.contact(p.id))
	_ = tx.Respond(res)
}

func (p *seatPhone) call(req *sip.Request, tx sip.ServerTransaction) {
	ctx := p.env.ctx
	shown, display := "", ""
	if f := req.From(); f != nil {
		shown, display = f.Address.User, f.DisplayName
	}
	log := p.log.With("caller", pii.Mask(shown))
	dlg, err := p.dialogs.ReadInvite(req, tx)
	if err != nil {
		log.Warn("simulated seat phone: bad INVITE", "error", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	defer dlg.Close()
	params, err := media.Negotiate(req.Body(), []media.Codec{media.CodecPCMU, media.CodecPCMA})
	if err != nil {
		log.Warn("simulated seat phone: cannot take the offer", "error", err)
		_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	leg, err := p.env.engine.NewLeg(log)
	if err != nil {
		_ = dlg.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
		return
	}
	defer leg.Close()
	plan := p.pick()
	if err := dlg.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		return
	}
	log.Info("simulated seat phone rings", "shows", display, "ticket", headerValue(req, "X-Hotline-Ticket"), "picks_up_in", plan.Ring.Round(time.Millisecond))
	select {
	case <-time.After(plan.Ring):
	case <-dlg.Context().Done():
		log.Info("simulated seat phone: the call was withdrawn before the operator picked up (CANCEL)")
		return
	case <-ctx.Done():
		select { // the callers are hanging up: the switch's CANCEL is on its way
		case <-dlg.Context().Done():
			log.Info("simulated seat phone: the call was withdrawn before the operator picked up (CANCEL)")
		case <-time.After(2 * time.Second):
			_ = dlg.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		}
		return
	}

	p.rmu.Lock()
	sess, start := sessionID(p.rnd), p.rnd.IntN(len(p.env.voices.operator))
	p.rmu.Unlock()
	answer := media.AnswerSDP(leg.LocalAddr(), params, sess, 1)
	p.mu.Lock()
	p.localSDP = answer
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.localSDP = nil
		p.mu.Unlock()
	}()
	leg.Start(params)
	talkCtx, stopTalk := context.WithCancel(ctx)
	defer stopTalk()
	voiceDone := make(chan struct{})
	go func() { defer close(voiceDone); speak(talkCtx, leg, p.env.voices.operator, start) }()
	defer func() { stopTalk(); <-voiceDone }()
	if err := dlg.RespondSDP(answer); err != nil {
		log.Warn("simulated seat phone: answer not acknowledged", "error", err)
		return
	}
	answered := time.Now()
	told := p.env.world.tell(shown, talkEvent{kind: talkAnswered, seat: p.id, talk: plan.Talk, callerEnds: !plan.SeatHangsUp})
	ender := "operator"
	limit := plan.Talk
	if !plan.SeatHangsUp && told {
		ender = "caller"
		limit += 30 * time.Second // the citizen hangs up; if not, the operator does eventually
	}
	log.Info("simulated operator picked up and talks", "codec", params.Codec.Name, "talk", plan.Talk.Round(time.Second), "hangs_up_first", ender)

	t := time.NewTimer(limit)
	defer t.Stop()
	callerGone := func() {
		st := leg.Stats()
		log.Info("simulated seat phone: the caller hung up", "talked", time.Since(answered).Round(time.Second),
			"rtp_sent", st.PacketsOut, "rtp_received", st.PacketsIn)
	}
	select {
	case <-dlg.Context().Done():
		callerGone()
		return
	case <-t.C:
	case <-ctx.Done():
		// The demo is stopping: the callers hang up first; the switch's BYE
		// normally follows at once.
		select {
		case <-dlg.Context().Done():
			callerGone()
			return
		case <-time.After(3 * time.Second):
		}
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err = dlg.Bye(bctx)
	cancel()
	st := leg.Stats()
	if err != nil {
		log.Warn("simulated seat phone: BYE failed", "error", err)
		return
	}
	log.Info("simulated operator hung up", "talked", time.Since(answered).Round(time.Second),
		"rtp_sent", st.PacketsOut, "rtp_received", st.PacketsIn)
	if ctx.Err() == nil {
		// The citizen now hears "满意请按1…".
		p.env.world.tell(shown, talkEvent{kind: talkSeatBye, seat: p.id})
	}
}

func headerValue(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}
