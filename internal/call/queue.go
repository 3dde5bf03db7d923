package call

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// Ringback is the prompt name of the ringback tone a caller hears while a
// seat rings (China: 450 Hz, 1 s on, 4 s off — YD/T 1970).
const Ringback = "ringback"

// queueAndConnect waits in the ACD's queue (hearing legal information and
// the position), rings the seats the ACD offers, and connects the first one
// that answers; with nobody logged in, or after max_wait, voicemail.
func (c *callRun) queueAndConnect(ctx, cctx context.Context, ch *channel) {
	if c.s.ACD == nil || c.s.ACD.LoggedIn() == 0 {
		c.neverQueued = true
		c.voicemail(ctx, cctx, ch)
		return
	}
	events, err := c.s.ACD.Enqueue(c.t.ID, c.queue, c.t.Priority, c.queuedAt)
	if err != nil {
		c.log.Error("enqueue failed: voicemail instead", "error", err)
		c.neverQueued = true
		c.voicemail(ctx, cctx, ch)
		return
	}
	c.s.Metrics.waiting(c.queue, 1)
	waitingCounted := true
	leaveQueue := func() {
		if waitingCounted {
			c.s.Metrics.waiting(c.queue, -1)
			waitingCounted = false
		}
	}
	defer leaveQueue()

	ann := c.startAnnouncements(cctx, ch)
	defer ann.stop()
	// Events that arrived while a seat rang (the ACD may offer the next
	// seat the moment it withdraws one) are handled before new ones.
	var pending []acd.Event
	next := func() <-chan acd.Event {
		if len(pending) == 0 {
			return events
		}
		ch := make(chan acd.Event, 1)
		ch <- pending[0]
		pending = pending[1:]
		return ch
	}
	for {
		select {
		case <-cctx.Done():
			ann.stop()
			c.reported(c.log, "abandon", c.s.ACD.Abandon(c.t.ID))
			leaveQueue()
			c.s.Metrics.waited(vocab.OutcomeAbandoned, c.s.Now().Sub(c.queuedAt))
			c.finish(ctx, vocab.OutcomeAbandoned, nil)
			return
		case ev, open := <-next():
			if !open || ev.Kind == 0 {
				// The ACD let go of the call without a word (it dropped
				// it, or closed): no seat will come. Voicemail.
				ann.stop()
				leaveQueue()
				c.s.Metrics.waited(vocab.OutcomeVoicemail, c.s.Now().Sub(c.queuedAt))
				c.log.Warn("the ACD let go of the call: voicemail instead")
				c.voicemail(ctx, cctx, ch)
				return
			}
			switch ev.Kind {
			case acd.NoSeats, acd.MaxWait:
				ann.stop()
				leaveQueue()
				c.leftQueueAt = c.s.Now()
				c.s.Metrics.waited(vocab.OutcomeVoicemail, c.leftQueueAt.Sub(c.queuedAt))
				c.log.Info("leaving the queue for voicemail", "why", ev.Kind.String())
				c.voicemail(ctx, cctx, ch)
				return
			case acd.Offer:
				outcome, more := c.ring(ctx, cctx, ch, offer{seat: string(ev.Seat), token: ev.Token, ring: ev.Ring}, events, ann)
				switch outcome {
				case ringConnected, ringCallerGone:
					leaveQueue()
					return
				}
				pending = append(pending, more...)
				// Not answered: back in the queue, announcements again.
				ann = c.startAnnouncements(cctx, ch)
			case acd.Withdrawn, acd.RingTimeout:
				// The end of an offer outside ring() is about one that is
				// over already: nothing to do.
			}
		}
	}
}

// announcer runs the queue announcements until stopped.
type announcer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func (c *callRun) startAnnouncements(cctx context.Context, ch *channel) *announcer {
	actx, cancel := context.WithCancel(cctx)
	a := &announcer{cancel: cancel}
	id := c.t.ID
	a.wg.Go(func() {
		c.s.Menu.Queue.Run(actx, ch, func() int { return max(c.s.ACD.Position(id)-1, 0) })
	})
	return a
}

// stop ends the announcements and waits until their playback has stopped.
func (a *announcer) stop() {
	a.once.Do(func() {
		a.cancel()
		a.wg.Wait()
	})
}

type ringOutcome int

const (
	ringNotAnswered ringOutcome = iota // back to the queue
	ringConnected                      // talked; the call is over
	ringCallerGone                     // the caller hung up while the seat rang
)

// Why we cancel an INVITE to a seat.
const (
	cancelNone        = iota
	cancelCallerGone  // the caller hung up
	cancelWithdrawn   // the ACD withdrew the offer (the seat's registration went away)
	cancelRingTimeout // the ACD's ring watchdog ended the offer
	cancelACDGone     // the ACD let go of the call
	cancelBackstop    // the ACD said nothing long past its ring deadline
)

// ringBackstop: a seat still ringing this long after the ACD's ring
// deadline (acd.Event.Ring) without a word from the ACD — the shared state
// unreachable — is given up by the call itself and reported NoAnswer. The
// ACD decides the ring timeout; this is only the slack before we stop
// trusting that it can tell us.
const ringBackstop = 5 * time.Second

// Late answers: the seat's 200 for an offer the ACD no longer makes it
// (hotline_acd_late_answers_total{reason}). The 200 is ACKed and the leg
// hung up at once (BYE); the caller stays in the queue, or is gone.
const (
	LateWithdrawn   = "withdrawn"    // its registration went away while it rang
	LateRingTimeout = "ring_timeout" // the ACD's ring watchdog had ended the offer
	LateCallerGone  = "caller_gone"  // the caller had hung up (our CANCEL crossed its 200)
	LateNotOffered  = "not_offered"  // the ACD had given the call or the seat to another offer
)

// LateReasons are the reasons of a late answer, in order.
var LateReasons = []string{LateWithdrawn, LateRingTimeout, LateCallerGone, LateNotOffered}

// offer is one offer of the call to a seat: the seat and the offer's
// fencing token, which every report about it carries back to the ACD.
type offer struct {
	seat  string
	token uint64
	ring  time.Duration // the ACD's ring timeout (0: none)
}

// endedBy says how the ACD ended offer o, from its events: a cancel reason,
// or cancelNone if no event about o is among them.
func (o offer) endedBy(evs []acd.Event) int {
	for _, ev := range evs {
		if string(ev.Seat) != o.seat || ev.Token != o.token {
			continue
		}
		switch ev.Kind {
		case acd.Withdrawn:
			return cancelWithdrawn
		case acd.RingTimeout:
			return cancelRingTimeout
		}
	}
	return cancelNone
}

// lateReason names, for the metric and the log, why an answer came late.
func lateReason(why int) string {
	switch why {
	case cancelWithdrawn:
		return LateWithdrawn
	case cancelRingTimeout:
		return LateRingTimeout
	case cancelCallerGone:
		return LateCallerGone
	}
	return LateNotOffered
}

// ring offers the call to one seat: INVITE with the caller's codec, ringback
// for the caller on 180, CANCEL when the ACD ends the offer (withdrawn, rung
// out) or the caller hangs up, and the outcome reported to the ACD. A 200
// for an offer the ACD no longer makes is ACKed and hung up (lateAnswer).
//
// Events for the call that arrive meanwhile and are not about this offer
// are returned, in order, for the queue loop; a zero Event among them means
// the ACD closed the channel.
func (c *callRun) ring(ctx, cctx context.Context, ch *channel, o offer, events <-chan acd.Event, ann *announcer) (outcome ringOutcome, pending []acd.Event) {
	seat := o.seat
	log := c.log.With("seat", seat)
	c.stage = vocab.StageRinging
	defer func() {
		if c.stage == vocab.StageRinging {
			c.stage = vocab.StageQueue
		}
	}()
	seatMedia, offerSDP, err := c.s.Media.Offer(c.media, seat, log)
	if err != nil {
		log.Error("no media for the seat leg", "error", err)
		c.reported(log, "no answer", c.s.ACD.NoAnswer(c.t.ID, seat, o.token))
		return ringNotAnswered, nil
	}
	keepMedia := false
	defer func() {
		if !keepMedia {
			seatMedia.Close()
		}
	}()
	sc, err := c.s.Dialer.Dial(ctx, seat, offerSDP, seatMedia.Reoffer, c.t, log)
	if err != nil {
		log.Warn("cannot ring seat", "error", err)
		if errors.Is(err, ErrSeatUnreachable) {
			c.reported(log, "declined", c.s.ACD.Declined(c.t.ID, seat, o.token))
		} else {
			c.reported(log, "no answer", c.s.ACD.NoAnswer(c.t.ID, seat, o.token))
		}
		return ringNotAnswered, nil
	}
	defer sc.Close()
	log.Info("ringing seat")

	var (
		mu     sync.Mutex
		why    = cancelNone
		cancel = make(chan struct{})
	)
	giveUp := func(reason int) {
		mu.Lock()
		defer mu.Unlock()
		if why == cancelNone {
			why = reason
			close(cancel)
		}
	}
	reason := func() int {
		mu.Lock()
		defer mu.Unlock()
		return why
	}
	if o.ring > 0 {
		timer := time.AfterFunc(o.ring+ringBackstop, func() { giveUp(cancelBackstop) })
		defer timer.Stop()
	}
	watchDone := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		var ringing <-chan struct{} = sc.Ringing()
		var ringback *announcer
		defer func() {
			if ringback != nil {
				ringback.stop()
			}
		}()
		evs := events
		for {
			select {
			case <-ringing:
				// 180: the caller hears ringback instead of announcements.
				ringing = nil
				ann.stop()
				ringback = c.loopPrompt(cctx, ch, Ringback)
			case ev, open := <-evs:
				if !open {
					evs = nil
					mu.Lock()
					pending = append(pending, acd.Event{})
					mu.Unlock()
					giveUp(cancelACDGone)
					continue
				}
				if by := o.endedBy([]acd.Event{ev}); by != cancelNone {
					giveUp(by) // the ACD decided: stop ringing
					continue
				}
				mu.Lock()
				pending = append(pending, ev)
				mu.Unlock()
			case <-cctx.Done():
				giveUp(cancelCallerGone)
				return
			case <-watchDone:
				return
			}
		}
	})
	ans, err := sc.Wait(cancel)
	close(watchDone)
	watch.Wait()
	ann.stop()

	r := reason()
	if cctx.Err() != nil {
		r = cancelCallerGone
	}
	switch {
	case err == nil && ans.Code >= 200 && ans.Code < 300:
		switch r {
		case cancelCallerGone:
			// The seat answered as the caller hung up: nobody to talk to.
			c.lateAnswer(ctx, log, sc, LateCallerGone, nil)
			c.reported(log, "abandon", c.s.ACD.Abandon(c.t.ID))
			c.abandonedRinging(ctx)
			return ringCallerGone, pending
		case cancelWithdrawn, cancelRingTimeout, cancelACDGone:
			// The ACD ended this offer before the 200 came: it stands.
			c.lateAnswer(ctx, log, sc, lateReason(r), nil)
			return ringNotAnswered, pending
		}
		if err := seatMedia.ApplyAnswer(ans.SDP, ans.Source); err != nil {
			log.Warn("seat's SDP answer unusable", "error", err)
			_ = sc.Hangup(context.WithoutCancel(ctx))
			c.reported(log, "no answer", c.s.ACD.NoAnswer(c.t.ID, seat, o.token))
			return ringNotAnswered, pending
		}
		if err := c.s.ACD.Answered(c.t.ID, seat, o.token); err != nil {
			if !errors.Is(err, acd.ErrUnavailable) {
				// A stale offer: ended while the 200 was on its way (its
				// event may be waiting for us), or given to someone else by
				// a node that reaped ours (SPEC §11). The call waits on.
				pending = drainEvents(events, pending)
				c.lateAnswer(ctx, log, sc, lateReason(o.endedBy(pending)), err)
				return ringNotAnswered, pending
			}
			log.Warn("seat answered while the shared ACD state is unreachable: connecting; the node re-asserts it", "error", err)
		}
		if ans.Late {
			log.Info("seat answered as the call gave up on an ACD it could not hear from: connecting")
		}
		keepMedia = true
		c.connected(ctx, cctx, ch, o, sc, seatMedia)
		return ringConnected, pending
	case r == cancelCallerGone:
		c.reported(log, "abandon", c.s.ACD.Abandon(c.t.ID))
		c.abandonedRinging(ctx)
		return ringCallerGone, pending
	case r == cancelWithdrawn, r == cancelRingTimeout, r == cancelACDGone:
		// The ACD ended the offer (the seat is offline, or not_ready
		// no_answer) and the call already waits again at its place.
		log.Info("seat's offer ended by the ACD", "why", lateReason(r), "code", ans.Code, "error", err)
		return ringNotAnswered, pending
	case err == nil && (ans.Code == 486 || ans.Code == 600 || ans.Code == 603):
		log.Info("seat declined", "code", ans.Code)
		c.reported(log, "declined", c.s.ACD.Declined(c.t.ID, seat, o.token)) // the ACD paces re-offering it (acd.Config.DeclinePause)
		return ringNotAnswered, pending
	default:
		// The phone failed or never answered, or rang long past the ACD's
		// deadline with no word from it: RONA, the seat goes not_ready
		// (no_answer).
		log.Info("seat did not answer", "code", ans.Code, "error", err, "backstop", r == cancelBackstop)
		c.reported(log, "no answer", c.s.ACD.NoAnswer(c.t.ID, seat, o.token))
		return ringNotAnswered, pending
	}
}

// drainEvents appends the call's events that are already there, without
// waiting (a zero Event if the channel is closed).
func drainEvents(events <-chan acd.Event, pending []acd.Event) []acd.Event {
	if n := len(pending); n > 0 && pending[n-1].Kind == 0 {
		return pending // closed already
	}
	for {
		select {
		case ev, open := <-events:
			if !open {
				return append(pending, acd.Event{})
			}
			pending = append(pending, ev)
		default:
			return pending
		}
	}
}

// lateAnswer hangs up (BYE; the 200 was ACKed) a seat that answered an
// offer the ACD no longer makes it, and counts it.
func (c *callRun) lateAnswer(ctx context.Context, log *slog.Logger, sc SeatCall, reason string, err error) {
	c.s.Metrics.lateAnswer(reason)
	log.Warn("late answer: the seat answered an offer the ACD no longer makes it; ACKed, hanging up its leg", "reason", reason, "error", err)
	if herr := sc.Hangup(context.WithoutCancel(ctx)); herr != nil {
		log.Warn("late answer: hanging up the seat's leg failed", "error", herr)
	}
}

// reported logs the ACD's answer to a report. A refusal means the ACD had
// moved on (the offer ended, the call left the queue): what it decided
// reaches the call as an event, and the call obeys that.
func (c *callRun) reported(log *slog.Logger, op string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, acd.ErrNotOffered), errors.Is(err, acd.ErrUnknownCall), errors.Is(err, acd.ErrNotConnected):
		log.Info("acd refused the report: it had moved on", "report", op, "error", err)
	default:
		log.Warn("acd report failed", "report", op, "error", err)
	}
}

// abandonedRinging closes the ticket of a caller who hung up while a seat rang.
func (c *callRun) abandonedRinging(ctx context.Context) {
	c.setEnd(vocab.EndCallerHangup)
	c.s.Metrics.waited(vocab.OutcomeAbandoned, c.s.Now().Sub(c.queuedAt))
	c.finish(ctx, vocab.OutcomeAbandoned, nil)
}

// loopPrompt plays one prompt over and over until stopped.
func (c *callRun) loopPrompt(cctx context.Context, ch *channel, name string) *announcer {
	actx, cancel := context.WithCancel(cctx)
	a := &announcer{cancel: cancel}
	a.wg.Go(func() {
		defer ch.StopPlay()
		for {
			started := time.Now()
			select {
			case <-ch.Play(name):
			case <-actx.Done():
				return
			}
			if time.Since(started) < time.Second {
				// A missing or empty prompt ends at once: do not spin.
				select {
				case <-time.After(time.Second):
				case <-actx.Done():
					return
				}
			}
		}
	})
	return a
}

// connected bridges caller and seat until one hangs up; when the seat hangs
// up first, the caller is asked for the satisfaction survey.
func (c *callRun) connected(ctx, cctx context.Context, ch *channel, o offer, sc SeatCall, seatMedia Media) {
	seat := o.seat
	log := c.log.With("seat", seat)
	answeredAt := c.s.Now()
	wait := answeredAt.Sub(c.queuedAt)
	c.stage = ""
	// A call transferred back to a queue is answered again: its first
	// answer (and wait) stands, the seat is the new one.
	first := c.t.AnsweredAt == nil
	talkFrom := answeredAt
	if first {
		c.s.Metrics.answered(c.queue)
		c.s.Metrics.waited(vocab.OutcomeAnswered, wait)
	} else {
		talkFrom = *c.t.AnsweredAt
	}
	c.update(ctx, func(t *ticket.Ticket) {
		if first {
			t.AnsweredAt = ticket.TimePtr(answeredAt)
			t.WaitSeconds = ticket.Seconds(wait)
		}
		t.SeatID = ticket.Optional(seat)
	})
	log.Info("connected", "wait_seconds", wait.Seconds())

	recPath := ""
	if c.s.RecordingPath != nil {
		recPath = c.s.RecordingPath(c.t.ID, c.t.OpenedAt)
	}
	stopBridge, err := c.s.Media.Bridge(c.media, seatMedia, recPath)
	if err != nil {
		log.Error("bridge failed", "error", err)
	}
	var live *liveCall
	if err == nil {
		live = c.s.Supervision.connected(c.t, c.media, seatMedia, seat)
	}
	c.mu.Lock()
	c.seat = sc
	c.mu.Unlock()
	ctl := &control{c: c, seat: seat, answeredAt: answeredAt, seatMedia: seatMedia, cctx: cctx, hangup: make(chan struct{})}
	c.s.register(ctl)          // call control (control.go)
	xs := c.transferable(seat) // transfer.go
	defer xs.leave()

	seatHungUp := false
	func() {
		for {
			select {
			case <-cctx.Done():
				return
			case <-ctl.hangup:
				log.Info("the operator hung up from the console")
				seatHungUp = true
				return
			case <-seatMedia.Done():
				log.Info("seat media ended", "error", seatMedia.Err())
				seatHungUp = true
				return
			case ev := <-sc.Events():
				switch ev.Kind {
				case EventHangup:
					seatHungUp = true
					return
				case EventDigit:
					go func() { _ = c.in.SendDigit(context.WithoutCancel(ctx), ev.Digit) }()
				}
			case r := <-xs.requests():
				if c.transfer(ctx, cctx, ch, xs, r, operatorLeg{o: o, sc: sc, media: seatMedia, answeredAt: answeredAt, hangup: ctl.hangup}) {
					seatHungUp = xs.partyHungUp
					return
				}
			}
		}
	}()
	c.s.unregister(ctl)
	xs.leave()
	c.mu.Lock()
	c.seat = nil
	c.mu.Unlock()
	c.s.Supervision.ended(live) // the manager's phone is hung up first
	var recorded time.Duration
	if stopBridge != nil {
		if recorded, err = stopBridge(); err != nil {
			log.Error("recording failed", "error", err)
		}
	}
	_ = sc.Hangup(context.WithoutCancel(ctx)) // no-op when the seat hung up
	seatMedia.Close()
	endedAt := c.s.Now()
	talk := endedAt.Sub(answeredAt)
	if xs.isFinished() {
		return // transferred back to a queue: the call went on and is closed
	}
	if !xs.isReleased() { // a transfer reported the operator's hang-up already
		c.reported(log, "hangup", c.s.ACD.Hangup(c.t.ID, seat, o.token))
		c.s.Metrics.handled(talk)
	}
	log.Info("talk ended", "talk_seconds", talk.Seconds(), "seat_hung_up", seatHungUp)

	var score int
	if seatHungUp && cctx.Err() == nil {
		c.setEnd(vocab.EndSeatHangup)
		// SPEC §5: when the seat hangs up first, the caller rates the service.
		score, _ = c.s.Menu.Survey.Run(cctx, ch)
		if score > 0 {
			c.s.Metrics.rated(score)
		}
	}
	c.finish(ctx, vocab.OutcomeAnswered, func(t *ticket.Ticket) {
		t.TalkSeconds = ticket.Seconds(endedAt.Sub(talkFrom))
		if recPath != "" && recorded > 0 {
			u := ticket.RecordingURL(t.ID)
			t.Recording = &u
		}
		if score > 0 {
			s := score
			t.Satisfaction = &s
		}
	})
}
