package call

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/pii"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"

	"github.com/hotline12348/hotline/internal/vocab"
)

// Service runs calls. Its fields are set once by internal/app.
type Service struct {
	Tickets        Tickets
	Media          MediaFactory
	Menu           *ivr.Menu
	ACD            Distributor
	Dialer         SeatDialer
	HotlineNumbers []string
	// RecordingPath gives the WAV path of a ticket's recording; "" disables recording.
	RecordingPath func(id ticket.ID, opened time.Time) string
	Metrics       *Metrics
	Now           func() time.Time
	Log           *slog.Logger

	// live: the connected calls, for call control (control.go).
	live liveCalls
	// Transfer: transfers of connected calls (transfer.go; nil: none).
	Transfer *Transfers
	// Supervision lets managers join connected calls (supervise.go); nil: none.
	Supervision *Supervision
}

// ticketTimeout bounds one ticket write; it runs on a context that outlives
// the call's so a hang-up never aborts the closing write.
const ticketTimeout = 15 * time.Second

// Handle runs one inbound call to its end. ctx is cancelled on a hard shutdown.
func (s *Service) Handle(ctx context.Context, in Inbound) {
	c := &callRun{s: s, in: in, log: in.Logger(), started: s.Now()}
	s.Metrics.active.Inc()
	defer s.Metrics.active.Dec()
	c.run(ctx)
}

// callRun is the state of one call. Its fields are touched by the call's
// goroutine only, except those behind mu.
type callRun struct {
	s       *Service
	in      Inbound
	log     *slog.Logger
	started time.Time
	t       *ticket.Ticket
	media   Media

	stage string // where an abandon would count: ivr, queue
	queue string // the category queue, once known
	// offeredCounted: hotline_calls_offered_total has this call.
	offeredCounted bool
	queuedAt       time.Time
	// leftQueueAt: when the call left the queue for voicemail; neverQueued:
	// it went to voicemail without entering the queue (nobody logged in).
	// Either way the wait is not the time until the end of the message.
	leftQueueAt time.Time
	neverQueued bool

	mu        sync.Mutex
	endReason string
	// seat is the connected seat's leg while bridged: SIP INFO keys from
	// the caller go there.
	seat SeatCall
}

func (c *callRun) setEnd(reason string) {
	c.mu.Lock()
	if c.endReason == "" {
		c.endReason = reason
	}
	c.mu.Unlock()
}

func (c *callRun) end() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endReason
}

func (c *callRun) isHotline(n string) bool {
	for _, h := range c.s.HotlineNumbers {
		if h == n {
			return true
		}
	}
	return false
}

// update writes a change to the ticket; failures are logged, never fatal to
// the call (the citizen is still served).
func (c *callRun) update(ctx context.Context, fn func(t *ticket.Ticket)) {
	if c.t == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ticketTimeout)
	defer cancel()
	t, err := c.s.Tickets.Update(wctx, c.t.ID, func(t *ticket.Ticket) error { fn(t); return nil })
	if err != nil {
		c.log.Error("ticket update failed", "error", err)
		return
	}
	c.t = t
}

func (c *callRun) run(ctx context.Context) {
	in := c.in
	// The ticket exists before anything else happens to the call (SPEC §7).
	c.t = &ticket.Ticket{CallID: in.CallID(), Caller: in.Caller(), Called: in.Called(), OpenedAt: c.started}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ticketTimeout)
	err := c.s.Tickets.Open(octx, c.t)
	cancel()
	if err != nil {
		// Without a ticket we must not take the call: 500 with Retry-After
		// lets the SBC try another node.
		c.log.Error("ticket open failed; refusing the call", "error", err)
		c.t = nil
		_ = in.Reject(500, "Server Internal Error")
		return
	}
	c.log = c.log.With("ticket_id", c.t.ID)
	c.log.Info("call arrived", "to", in.Called())

	if !c.isHotline(in.Called()) {
		_ = in.Reject(404, "Not Found")
		c.reject(ctx, vocab.EndUnknownNumber)
		return
	}
	media, answer, err := c.s.Media.Answer(in.Offer(), in.Source(), c.log)
	if err != nil {
		if errors.Is(err, ErrNoCommonCodec) {
			_ = in.Reject(488, "Not Acceptable Here")
			c.reject(ctx, vocab.EndNoCommonCodec)
			return
		}
		c.log.Error("media setup failed", "error", err)
		_ = in.Reject(503, "Service Unavailable")
		c.reject(ctx, vocab.EndMediaError)
		return
	}
	c.media = media
	defer media.Close()

	cctx, stop := context.WithCancel(ctx)
	defer stop()
	ch := newChannel(media)
	c.stage = vocab.StageIVR
	var watch sync.WaitGroup
	watch.Go(func() { c.watch(cctx, stop, ch) })
	watch.Go(func() { ch.pump(cctx.Done()) })
	defer watch.Wait()
	defer stop()

	if err := in.Answer(answer, media.Reoffer); err != nil {
		c.log.Info("caller gone before answer", "error", err)
		c.setEnd(vocab.EndCallerCancel)
		c.close(ctx, vocab.OutcomeAbandoned, nil)
		return
	}
	c.s.Metrics.answeredByIVR.Inc()

	res, err := c.s.Menu.Run(cctx, ch)
	if err != nil {
		c.queue = string(c.s.Menu.General.Category) // no choice made: the general queue
		c.finish(ctx, vocab.OutcomeAbandoned, func(t *ticket.Ticket) { t.IVRPath = res.Path })
		return
	}
	c.queue = string(res.Category)
	c.queuedAt = c.s.Now()
	c.stage = vocab.StageQueue
	c.countOffered(c.queue)
	c.update(ctx, func(t *ticket.Ticket) {
		t.Category, t.Priority, t.IVRPath = string(res.Category), string(res.Priority), res.Path
		t.QueuedAt = ticket.TimePtr(c.queuedAt)
	})
	c.log.Info("caller chose", "category", res.Category, "priority", res.Priority, "ivr_path", res.Path, "reason", res.Reason)

	c.queueAndConnect(ctx, cctx, ch)
}

// watch turns signalling and media events into the end of the call.
func (c *callRun) watch(ctx context.Context, stop context.CancelFunc, ch *channel) {
	for {
		select {
		case <-ctx.Done():
			c.setEnd(vocab.EndShutdown) // no-op when a real reason came first
			return
		case <-c.media.Done():
			c.setEnd(vocab.EndRTPTimeout)
			c.log.Info("media ended", "error", c.media.Err())
			stop()
			return
		case ev := <-c.in.Events():
			switch ev.Kind {
			case EventDigit:
				c.mu.Lock()
				seat := c.seat
				c.mu.Unlock()
				if seat != nil {
					go func() { _ = seat.SendDigit(context.WithoutCancel(ctx), ev.Digit) }()
				} else {
					ch.inject(ev.Digit)
				}
				continue
			case EventHangup:
				c.setEnd(vocab.EndCallerHangup)
			case EventCancel:
				c.setEnd(vocab.EndCallerCancel)
			case EventSessionExpired:
				c.setEnd(vocab.EndSessionExpired)
			case EventNoAck:
				c.setEnd(vocab.EndNoAck)
			}
			stop()
			return
		}
	}
}

// voicemail records a message for a callback.
func (c *callRun) voicemail(ctx, cctx context.Context, ch *channel) {
	if c.s.RecordingPath == nil {
		c.finish(ctx, vocab.OutcomeAbandoned, nil)
		return
	}
	path := c.s.RecordingPath(c.t.ID, c.t.OpenedAt)
	talked := c.t.AnsweredAt != nil
	if talked {
		// The call was answered and recorded before a transfer sent it
		// back to a queue: that recording stays, the message goes beside
		// it (served by ticket.VoicemailRoute, which the callback task
		// names).
		path = strings.TrimSuffix(path, ".wav") + "-voicemail.wav"
	}
	rc := &recordingChannel{channel: ch, media: c.media, path: path}
	res, err := c.s.Menu.Voicemail.Run(cctx, rc)
	if err != nil {
		// The recordings cannot be written: the caller heard an apology;
		// the ticket still asks for a callback (issue 10).
		c.log.Error("voicemail could not record; callback ticket kept without a message", "error", err)
		c.s.Metrics.recordingFailed()
		c.finish(ctx, vocab.OutcomeVoicemail, func(t *ticket.Ticket) {
			t.Callback, t.RecordingFailed = true, true
		})
		return
	}
	recorded := res.Duration >= time.Second
	c.log.Info("voicemail", "seconds", res.Duration.Seconds(), "ended_by", res.EndedBy)
	if !recorded {
		c.finish(ctx, vocab.OutcomeAbandoned, nil)
		return
	}
	c.finish(ctx, vocab.OutcomeVoicemail, func(t *ticket.Ticket) {
		t.Callback = true
		if !talked {
			u := ticket.RecordingURL(t.ID)
			t.Recording = &u
		}
	})
}

// finish hangs up (if the caller has not) and closes the ticket; also, when
// set, applies to the closing revision.
func (c *callRun) finish(ctx context.Context, outcome string, also func(t *ticket.Ticket)) {
	if ctx.Err() != nil {
		c.setEnd(vocab.EndShutdown)
	}
	c.setEnd(vocab.EndCompleted) // no-op when the call already ended for a reason
	switch c.end() {
	case vocab.EndCallerHangup, vocab.EndCallerCancel:
		// the caller's BYE/CANCEL ended the dialog already
	default:
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := c.in.Hangup(hctx); err != nil {
			c.log.Info("hangup", "error", err)
		}
		cancel()
	}
	if c.end() == vocab.EndShutdown && outcome == vocab.OutcomeAbandoned {
		// The switch cut the call: say so rather than blame the caller.
		outcome = vocab.OutcomeInterrupted
	}
	c.close(ctx, outcome, also)
}

func (c *callRun) queueOrGeneral() string {
	if c.queue == "" {
		return string(c.s.Menu.General.Category)
	}
	return c.queue
}

// countOffered counts the call in hotline_calls_offered_total once.
func (c *callRun) countOffered(queue string) {
	if !c.offeredCounted {
		c.offeredCounted = true
		c.s.Metrics.offered(queue)
	}
}

// close writes the final revision of the ticket.
func (c *callRun) close(ctx context.Context, outcome string, also func(t *ticket.Ticket)) {
	now := c.s.Now()
	stage := ""
	if outcome == vocab.OutcomeAbandoned {
		stage = c.stage
		if stage == "" {
			stage = vocab.StageIVR
		}
		c.s.Metrics.abandoned(c.queueOrGeneral(), stage)
	}
	// Every call that is not rejected is offered (SPEC §9: offered counts
	// the tickets); one that never chose a queue counts in the general one.
	c.countOffered(c.queueOrGeneral())
	c.s.Metrics.ended(outcome)
	c.update(ctx, func(t *ticket.Ticket) {
		t.Status = vocab.StatusClosed
		t.Outcome = ticket.Optional(outcome)
		t.AbandonStage = ticket.Optional(stage)
		t.EndReason = ticket.Optional(c.end())
		t.EndedAt = ticket.TimePtr(now)
		switch {
		case c.neverQueued:
			t.QueuedAt, t.WaitSeconds = nil, nil
		case !c.queuedAt.IsZero() && t.WaitSeconds == nil:
			left := now
			if !c.leftQueueAt.IsZero() {
				left = c.leftQueueAt
			}
			t.WaitSeconds = ticket.Seconds(left.Sub(c.queuedAt))
		}
		if also != nil {
			also(t)
		}
	})
	c.log.Info("call ended", "outcome", outcome, "abandon_stage", stage, "end_reason", c.end(), "seconds", now.Sub(c.started).Seconds())
}

// reject closes the ticket of a call we refused (404, 488).
func (c *callRun) reject(ctx context.Context, reason string) {
	c.setEnd(reason)
	c.s.Metrics.ended(vocab.OutcomeRejected)
	c.update(ctx, func(t *ticket.Ticket) {
		t.Status, t.Outcome, t.EndReason = vocab.StatusClosed, vocab.OutcomeRejected, ticket.Optional(reason)
		t.EndedAt = ticket.TimePtr(c.s.Now())
	})
	c.log.Info("call rejected", "reason", reason, "caller", pii.Mask(c.in.Caller()))
}
