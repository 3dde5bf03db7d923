package call

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/ticket"
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
			c.s.ACD.Abandon(c.t.ID)
			leaveQueue()
			c.s.Metrics.waited(ticket.OutcomeAbandoned, c.s.Now().Sub(c.queuedAt))
			c.finish(ctx, ticket.OutcomeAbandoned, nil)
			return
		case ev := <-next():
			switch ev.Kind {
			case acd.NoSeats, acd.MaxWait:
				ann.stop()
				leaveQueue()
				c.leftQueueAt = c.s.Now()
				c.s.Metrics.waited(ticket.OutcomeVoicemail, c.leftQueueAt.Sub(c.queuedAt))
				c.log.Info("leaving the queue for voicemail", "why", ev.Kind.String())
				c.voicemail(ctx, cctx, ch)
				return
			case acd.Offer:
				outcome, more := c.ring(ctx, cctx, ch, offer{seat: string(ev.Seat), token: ev.Token}, events, ann)
				switch outcome {
				case ringConnected, ringCallerGone:
					leaveQueue()
					return
				}
				pending = append(pending, more...)
				// Not answered: back in the queue, announcements again.
				ann = c.startAnnouncements(cctx, ch)
			case acd.Withdrawn:
				// A withdrawal outside ring() is stale: nothing to do.
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
	cancelNone = iota
	cancelTimeout
	cancelCallerGone
	cancelWithdrawn
)

// offer is one offer of the call to a seat: the seat and the offer's
// fencing token, which every report about it carries back to the ACD.
type offer struct {
	seat  string
	token uint64
}

// ring offers the call to one seat: INVITE with the caller's codec, ringback
// for the caller on 180, ring_timeout, and the outcome reported to the ACD.
//
// Events for the call that arrive meanwhile and are not about this offer
// are returned, in order, for the queue loop.
func (c *callRun) ring(ctx, cctx context.Context, ch *channel, o offer, events <-chan acd.Event, ann *announcer) (outcome ringOutcome, pending []acd.Event) {
	seat := o.seat
	log := c.log.With("seat", seat)
	c.stage = ticket.StageRinging
	defer func() {
		if c.stage == ticket.StageRinging {
			c.stage = ticket.StageQueue
		}
	}()
	seatMedia, offer, err := c.s.Media.Offer(c.media, seat, log)
	if err != nil {
		log.Error("no media for the seat leg", "error", err)
		c.s.ACD.NoAnswer(c.t.ID, seat, o.token)
		return ringNotAnswered, nil
	}
	keepMedia := false
	defer func() {
		if !keepMedia {
			seatMedia.Close()
		}
	}()
	sc, err := c.s.Dialer.Dial(ctx, seat, offer, seatMedia.Reoffer, c.t, log)
	if err != nil {
		log.Warn("cannot ring seat", "error", err)
		if errors.Is(err, ErrSeatUnreachable) {
			c.s.ACD.Declined(c.t.ID, seat, o.token)
		} else {
			c.s.ACD.NoAnswer(c.t.ID, seat, o.token)
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
	timer := time.AfterFunc(c.s.RingTimeout, func() { giveUp(cancelTimeout) })
	defer timer.Stop()
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
		for {
			select {
			case <-ringing:
				// 180: the caller hears ringback instead of announcements.
				ringing = nil
				ann.stop()
				ringback = c.loopPrompt(cctx, ch, Ringback)
			case ev := <-events:
				if ev.Kind == acd.Withdrawn && string(ev.Seat) == seat && ev.Token == o.token {
					giveUp(cancelWithdrawn)
				} else {
					mu.Lock()
					pending = append(pending, ev)
					mu.Unlock()
				}
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

	switch {
	case err == nil && ans.Code >= 200 && ans.Code < 300:
		if reason() == cancelCallerGone || cctx.Err() != nil {
			// The seat answered as the caller hung up: nobody to talk to.
			_ = sc.Hangup(context.WithoutCancel(ctx))
			c.s.ACD.Abandon(c.t.ID)
			c.abandonedRinging(ctx)
			return ringCallerGone, pending
		}
		if err := seatMedia.ApplyAnswer(ans.SDP, ans.Source); err != nil {
			log.Warn("seat's SDP answer unusable", "error", err)
			_ = sc.Hangup(context.WithoutCancel(ctx))
			c.s.ACD.NoAnswer(c.t.ID, seat, o.token)
			return ringNotAnswered, pending
		}
		if err := c.s.ACD.Answered(c.t.ID, seat, o.token); err != nil {
			if !errors.Is(err, acd.ErrUnavailable) {
				// A stale offer: withdrawn while the 200 was on its way, or
				// given to someone else by a node that reaped ours (SPEC §11).
				// The 200 was ACKed; BYE it. The call waits on.
				log.Warn("seat answered an offer that is no longer ours: hanging up its leg", "error", err)
				_ = sc.Hangup(context.WithoutCancel(ctx))
				return ringNotAnswered, pending
			}
			log.Warn("seat answered while the shared ACD state is unreachable: connecting; the node re-asserts it", "error", err)
		}
		if ans.Late {
			log.Info("seat answered as its ring timed out: connecting anyway")
		}
		keepMedia = true
		c.connected(ctx, cctx, ch, o, sc, seatMedia)
		return ringConnected, pending
	case reason() == cancelCallerGone || cctx.Err() != nil:
		c.s.ACD.Abandon(c.t.ID)
		c.abandonedRinging(ctx)
		return ringCallerGone, pending
	case reason() == cancelWithdrawn:
		// The ACD already put the call back at the head.
		return ringNotAnswered, pending
	case err == nil && (ans.Code == 486 || ans.Code == 600 || ans.Code == 603):
		log.Info("seat declined", "code", ans.Code)
		c.s.ACD.Declined(c.t.ID, seat, o.token) // the ACD paces re-offering it (acd.Config.DeclinePause)
		return ringNotAnswered, pending
	default:
		// Ring timeout (487 to our CANCEL), or the phone failed or never
		// answered at all: RONA, the seat goes not_ready (no_answer).
		log.Info("seat did not answer", "code", ans.Code, "error", err)
		c.s.ACD.NoAnswer(c.t.ID, seat, o.token)
		return ringNotAnswered, pending
	}
}

// abandonedRinging closes the ticket of a caller who hung up while a seat rang.
func (c *callRun) abandonedRinging(ctx context.Context) {
	c.setEnd(EndCallerHangup)
	c.s.Metrics.waited(ticket.OutcomeAbandoned, c.s.Now().Sub(c.queuedAt))
	c.finish(ctx, ticket.OutcomeAbandoned, nil)
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
	c.s.Metrics.answered(c.queue)
	c.s.Metrics.waited(ticket.OutcomeAnswered, wait)
	c.update(ctx, func(t *ticket.Ticket) {
		t.AnsweredAt = ticket.TimePtr(answeredAt)
		t.SeatID = ticket.Optional(seat)
		t.WaitSeconds = ticket.Seconds(wait)
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
	c.mu.Lock()
	c.seat = sc
	c.mu.Unlock()

	seatHungUp := false
	func() {
		for {
			select {
			case <-cctx.Done():
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
			}
		}
	}()
	c.mu.Lock()
	c.seat = nil
	c.mu.Unlock()
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
	c.s.ACD.Hangup(c.t.ID, seat, o.token)
	c.s.Metrics.handled(talk)
	log.Info("talk ended", "talk_seconds", talk.Seconds(), "seat_hung_up", seatHungUp)

	var score int
	if seatHungUp && cctx.Err() == nil {
		c.setEnd(EndSeatHangup)
		// SPEC §5: when the seat hangs up first, the caller rates the service.
		score, _ = c.s.Menu.Survey.Run(cctx, ch)
		if score > 0 {
			c.s.Metrics.rated(score)
		}
	}
	c.finish(ctx, ticket.OutcomeAnswered, func(t *ticket.Ticket) {
		t.TalkSeconds = ticket.Seconds(talk)
		if recPath != "" && recorded > 0 {
			u := RecordingURL(t.ID)
			t.Recording = &u
		}
		if score > 0 {
			s := score
			t.Satisfaction = &s
		}
	})
}
