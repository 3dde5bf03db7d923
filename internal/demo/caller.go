package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/pii"
)

// trunk plays the carrier's SBC: every simulated citizen's call comes in
// from its one UDP port on 127.0.0.1 (a trusted source), with the caller in
// From and P-Asserted-Identity, offering PCMU and telephone-event.
type trunk struct {
	env     *env
	log     *slog.Logger
	ua      *phoneUA
	dialogs *sipgo.DialogClientCache
	sdps    sync.Map // Call-ID -> our offer, to answer a re-INVITE with
}

const (
	trunkUserAgent = "hotline-demo simulated carrier trunk"
	trunkUser      = "demo-trunk"
	dtmfPT         = 101
	// menuQueueAfter: a caller who presses nothing is queued after the
	// welcome (10 s), the menu (18 s) and the menu's 5 s timeout.
	menuQueueAfter = 35 * time.Second
	maxCallLength  = 20 * time.Minute
)

func newTrunk(e *env) (*trunk, error) {
	log := e.log.With("sim", "callers")
	ua, err := newPhoneUA(trunkUserAgent, log)
	if err != nil {
		return nil, err
	}
	t := &trunk{env: e, log: log, ua: ua, dialogs: sipgo.NewDialogClientCache(ua.client, *ua.contact(trunkUser))}
	ua.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := t.dialogs.ReadBye(req, tx); err != nil {
			respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		}
	})
	ua.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) { respond(tx, req, sip.StatusOK, "OK") })
	ua.srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) { t.answerInDialog(req, tx) })
	ua.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if to := req.To(); to != nil && to.Params.Has("tag") {
			t.answerInDialog(req, tx)
			return
		}
		respond(tx, req, sip.StatusNotFound, "Not Found") // citizens do not take calls here
	})
	ua.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	ua.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	return t, nil
}

// answerInDialog answers the switch's session refresh (re-INVITE, UPDATE).
func (t *trunk) answerInDialog(req *sip.Request, tx sip.ServerTransaction) {
	if _, err := t.dialogs.MatchRequestDialog(req); err != nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	var res *sip.Response
	if v, ok := t.sdps.Load(callID(req)); ok && len(req.Body()) > 0 {
		res = sip.NewSDPResponseFromRequest(req, v.([]byte))
	} else {
		res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	}
	res.AppendHeader(t.ua.contact(trunkUser))
	_ = tx.Respond(res)
}

func callID(m interface{ CallID() *sip.CallIDHeader }) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// call is one citizen's call, from dialling to hanging up.
func (t *trunk) call(ctx context.Context, plan CallerPlan, events <-chan talkEvent, rnd *rand.Rand) {
	log := t.log.With("caller", pii.Mask(plan.Number))
	leg, err := t.env.engine.NewLeg(log)
	if err != nil {
		log.Warn("simulated caller: no RTP port", "error", err)
		return
	}
	defer leg.Close()
	offer := media.OfferSDP(leg.LocalAddr(), []media.Codec{media.CodecPCMU}, dtmfPT, sessionID(rnd), 1, media.SendRecv)

	to := t.env.sipAddr
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: t.env.number, Host: to.Addr().String(), Port: int(to.Port())})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: plan.Number, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: t.env.number, Host: to.Addr().String()}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<sip:"+plan.Number+"@127.0.0.1;user=phone>"))
	req.AppendHeader(t.ua.contact(trunkUser))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", trunkUserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.SetBody(offer)

	what := keyLabel(plan.Key)
	if plan.Key != 0 {
		what = string(plan.Key) + " " + what
	}
	log.Info("simulated caller dials "+t.env.number, "will_press", what, "patience", plan.Abandon.String())
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	sess, err := t.dialogs.WriteInvite(ictx, req)
	if err == nil {
		err = sess.WaitAnswer(ictx, sipgo.AnswerOptions{})
	}
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("simulated caller: the call was not answered", "error", err)
		}
		if sess != nil {
			_ = sess.Close()
		}
		return
	}
	defer sess.Close()
	cid := callID(req)
	t.sdps.Store(cid, offer)
	defer t.sdps.Delete(cid)
	if err := sess.Ack(ctx); err != nil {
		log.Warn("simulated caller: ACK failed", "error", err)
		return
	}
	params, err := media.ParseAnswer(sess.InviteResponse.Body(), []media.Codec{media.CodecPCMU}, dtmfPT)
	if err != nil {
		log.Warn("simulated caller: unusable SDP answer", "error", err)
		t.bye(ctx, sess, log)
		return
	}
	leg.Start(params)
	voiceCtx, stopVoice := context.WithCancel(ctx)
	voiceDone := make(chan struct{})
	go func() { defer close(voiceDone); speak(voiceCtx, leg, []*media.Prompt{t.env.voices.citizen}, 0) }()
	defer func() { stopVoice(); <-voiceDone }()

	t.converse(ctx, sess, leg, plan, events, log)
}

// converse is what the citizen does once the hotline has answered: listen,
// press a key, wait, talk, rate, or give up somewhere on the way.
func (t *trunk) converse(ctx context.Context, sess *sipgo.DialogClientSession, leg *media.Leg, plan CallerPlan, events <-chan talkEvent, log *slog.Logger) {
	answered := time.Now()
	var timers []*time.Timer
	after := func(d time.Duration) <-chan time.Time {
		tm := time.NewTimer(d)
		timers = append(timers, tm)
		return tm.C
	}
	defer func() {
		for _, tm := range timers {
			tm.Stop()
		}
	}()
	var keyC, giveUpC, hangC, rateC <-chan time.Time
	queuedAfter := menuQueueAfter
	switch {
	case plan.Abandon == AbandonIVR:
		hangC = after(plan.HangUpAfter)
	case plan.Key != 0:
		keyC = after(plan.KeyAfter)
		queuedAfter = plan.KeyAfter
		giveUpC = after(queuedAfter + plan.Patience)
	default:
		giveUpC = after(queuedAfter + plan.Patience)
	}
	maxC := after(maxCallLength)
	stage, seat := "", ""
	stageNow := func() string {
		if stage != "" {
			return stage
		}
		if time.Since(answered) >= queuedAfter && plan.Abandon != AbandonIVR {
			return "queue"
		}
		return "ivr"
	}
	for {
		select {
		case <-ctx.Done():
			// Only when the switch did not end the call itself as it stopped.
			log.Info("simulated caller hangs up: the demo is stopping", "stage", stageNow())
			t.bye(context.WithoutCancel(ctx), sess, log)
			return
		case <-sess.Context().Done():
			st := leg.Stats()
			log.Info("simulated caller: the hotline hung up", "stage", stageNow(), "after", time.Since(answered).Round(time.Second),
				"rtp_sent", st.PacketsOut, "rtp_received", st.PacketsIn)
			return
		case <-keyC:
			keyC = nil
			if err := t.sendKey(ctx, sess, plan.DTMF, plan.Key); err != nil {
				log.Warn("simulated caller: key press not delivered", "error", err)
				continue
			}
			log.Info("simulated caller presses "+string(plan.Key)+" ("+keyLabel(plan.Key)+")", "by", "SIP INFO "+string(plan.DTMF))
		case <-giveUpC:
			giveUpC = nil
			if t.env.stopping.Load() {
				// The demo is stopping: its callers wait for the switch to
				// end the call, so that the stop counts no abandon.
				continue
			}
			log.Info("simulated caller gives up waiting and hangs up", "stage", stageNow(), "after", time.Since(answered).Round(time.Second))
			t.bye(ctx, sess, log)
			return
		case <-hangC:
			hangC = nil
			if t.env.stopping.Load() && stage != "talking" && stage != "survey" {
				continue // as above: not an abandon made by the stop
			}
			switch stage {
			case "":
				log.Info("simulated caller hangs up in the voice menu", "after", time.Since(answered).Round(100*time.Millisecond))
			case "talking":
				log.Info("simulated caller says goodbye and hangs up", "seat", seat)
			default:
				log.Info("simulated caller hangs up", "stage", stageNow())
			}
			t.bye(ctx, sess, log)
			return
		case <-rateC:
			rateC = nil
			key := rune('0' + plan.Rating)
			if err := t.sendKey(ctx, sess, plan.DTMF, key); err != nil {
				log.Warn("simulated caller: survey key not delivered", "error", err)
				continue
			}
			log.Info(fmt.Sprintf("simulated caller rates the call %d (1 满意, 2 基本满意, 3 不满意)", plan.Rating), "seat", seat)
		case ev := <-events:
			switch ev.kind {
			case talkAnswered:
				stage, seat, giveUpC, keyC = "talking", ev.seat, nil, nil
				log.Info("simulated caller is talking to an operator", "seat", ev.seat, "waited", time.Since(answered).Round(time.Second))
				if ev.callerEnds {
					hangC = after(ev.talk)
				}
			case talkSeatBye:
				stage = "survey"
				if plan.Rating > 0 {
					rateC = after(plan.RateAfter)
					hangC = after(plan.RateAfter + 30*time.Second) // the hotline hangs up after its thanks
				} else {
					hangC = after(plan.RateAfter)
				}
			}
		case <-maxC:
			if t.env.stopping.Load() {
				maxC = nil
				continue
			}
			log.Info("simulated caller hangs up after the longest call the demo makes", "stage", stageNow())
			t.bye(ctx, sess, log)
			return
		}
	}
}

func (t *trunk) sendKey(ctx context.Context, sess *sipgo.DialogClientSession, typ DTMF, key rune) error {
	target := sess.InviteRequest.Recipient
	if c := sess.InviteResponse.Contact(); c != nil {
		target = c.Address
	}
	req := sip.NewRequest(sip.INFO, target)
	req.AppendHeader(sip.NewHeader("Content-Type", string(typ)))
	req.SetBody([]byte(infoBody(typ, key)))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := sess.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("INFO: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

func (t *trunk) bye(ctx context.Context, sess *sipgo.DialogClientSession, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sess.Bye(ctx); err != nil {
		log.Debug("simulated caller: BYE", "error", err)
	}
}
