package acd

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// Config is the acd section of SPEC §3.
type Config struct {
	// RingTimeout is how long a seat rings before the ACD ends the offer
	// (RONA: the seat goes not_ready, reason no_answer; the call gets Event
	// RingTimeout and waits again). The ACD is the one place that decides
	// it; the call layer CANCELs when told. <= 0: no ring watchdog.
	RingTimeout time.Duration
	// WrapUp is how long a seat stays in wrap_up after a call; 0: ready at once.
	WrapUp time.Duration
	// MaxWait is the longest a call waits, from EnqueuedAt, before it is sent
	// to voicemail (Event MaxWait); <= 0: no limit.
	MaxWait time.Duration
	// SkillFallback is the wait after which any ready seat may take a call,
	// not only one with its skill; 0: at once (skilled seats are still tried
	// first).
	SkillFallback time.Duration
	// DeclinePause: a seat that declined a call (486/603) is not offered
	// that call again sooner than this, even when it is the only seat that
	// could take it — a phone on do-not-disturb would otherwise get the
	// same INVITE again at once, forever. 0: no pause.
	DeclinePause time.Duration
	// Logger receives errors of the timer goroutine, which has no caller to
	// return them to; nil: discarded.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now (tests use testing/synctest). A test
	// that moves a clock of its own calls Settle after each move: the timer
	// goroutine waits in real time.
	Now func() time.Time
}

// Call is what the call layer queues.
type Call struct {
	ID string
	// Skill is the category (consult, legal_aid, mediation, notary,
	// complaint): the FIFO it waits in and the skill a seat needs.
	Skill string
	// Priority is PriorityGreen or PriorityNormal ("" is normal).
	Priority string
	// EnqueuedAt is when the call joined the queue; MaxWait, SkillFallback
	// and the FIFO order count from it. Zero (or a time in the future): now.
	EnqueuedAt time.Time
}

// EventKind is what the ACD tells a call's goroutine.
type EventKind int

// The events on a call's channel; see the package comment.
const (
	Offer       EventKind = iota + 1 // ring Event.Seat
	Withdrawn                        // stop ringing Event.Seat: its registration went away; the call waits again
	RingTimeout                      // stop ringing Event.Seat: it rang Config.RingTimeout (RONA); the call waits again
	MaxWait                          // waited Config.MaxWait: voicemail (the call has left the queue)
	NoSeats                          // no seat logged in: voicemail at once (the call was never queued)
)

func (k EventKind) String() string {
	switch k {
	case Offer:
		return "offer"
	case Withdrawn:
		return "withdrawn"
	case RingTimeout:
		return "ring_timeout"
	case MaxWait:
		return "max_wait"
	case NoSeats:
		return "no_seats"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one message to a call's goroutine.
type Event struct {
	Kind EventKind
	Seat agent.SeatID // Offer, Withdrawn, RingTimeout
	// Token is the offer's fencing token (Offer, Withdrawn, RingTimeout): the call layer
	// passes it back with every report about that offer (Answered,
	// NoAnswer, Declined, Hangup), and a report whose token is not the
	// seat's current one is refused with ErrNotOffered (SPEC §11).
	Token uint64
	// Ring (Offer) is how long the ACD lets the seat ring before its ring
	// watchdog ends the offer (Config.RingTimeout; 0: no watchdog). The call
	// layer does not time the ringing itself; it gives up on its own only
	// well past this, if the ACD cannot tell it (the shared state is
	// unreachable).
	Ring time.Duration
}

const (
	// eventBuffer bounds the events waiting for a call's goroutine. A live
	// call has at most Offer plus Withdrawn pairs pending (each Withdrawn
	// needs a seat to register and go away again), so 8 is never reached by a
	// goroutine that reads; the ACD drops a call whose buffer is full rather
	// than block.
	eventBuffer = 8
	// changeBuffer is each subscriber's buffer.
	changeBuffer = 256
)

// ACD is the automatic call distributor. Its methods are safe for concurrent
// use; each is one atomic step (see the package comment).
type ACD struct {
	cfg   Config
	log   *slog.Logger
	store Store

	mu     sync.Mutex
	closed bool
	calls  map[string]chan Event // the queued calls' channels
	subs   Fanout
	timer  *time.Timer
	due    time.Time // when timer fires; zero: stopped
	// wakes are the ends of decline pauses still to come (Config.DeclinePause).
	wakes []time.Time
	// fence numbers the offers: each gets the next value as its token.
	fence uint64
	stop  chan struct{}
	done  chan struct{}
	// Scratch buffers reused under mu, so that a step does not allocate.
	seatBuf  []agent.Seat
	queueBuf []QueueLen
	page     []Entry
	readyBuf []int
	// verify, set by tests, runs after every settle step, under mu.
	verify func(now time.Time)
}

// maxPage is the most waiting entries of a FIFO read at a time. Walks read
// the head alone first (most stop there), then pages 8 times larger.
const maxPage = 64

// seats reads every seat; the slice is valid until the next call.
func (a *ACD) seats() ([]agent.Seat, error) {
	s, err := a.store.Seats(a.seatBuf[:0])
	a.seatBuf = s
	return s, err
}

// queues lists the FIFOs; the slice is valid until the next call.
func (a *ACD) queues() ([]QueueLen, error) {
	q, err := a.store.Queues(a.queueBuf[:0])
	a.queueBuf = q
	return q, err
}

// walk calls fn with the waiting entries of FIFO q from its head until fn
// returns false. fn must not change the store nor walk; e is valid only
// during the call.
func (a *ACD) walk(q QueueKey, fn func(e *Entry) bool) error {
	for skip, n := 0, 1; ; skip, n = skip+n, min(n*8, maxPage) {
		page, err := a.store.Waiting(q, skip, n, a.page[:0])
		a.page = page
		if err != nil {
			return err
		}
		for i := range page {
			if !fn(&page[i]) {
				return nil
			}
		}
		if len(page) < n {
			return nil
		}
	}
}

// New returns an ACD over store (nil: a new MemoryStore) with the configured
// seats. A seat the store does not know yet starts offline; one it knows (a
// shared store, another node running) keeps its state and takes the
// configured name and skills. Close it when done.
func New(cfg Config, seats []agent.Seat, store Store) (*ACD, error) {
	if store == nil {
		store = NewMemoryStore()
	}
	seen := make(map[agent.SeatID]bool, len(seats))
	for _, c := range seats {
		if c.ID == "" || seen[c.ID] {
			return nil, fmt.Errorf("acd: new: seat ID %q empty or repeated", c.ID)
		}
		seen[c.ID] = true
		s, err := store.Seat(c.ID)
		switch {
		case err == nil:
			s.Name, s.Skills = c.Name, slices.Clone(c.Skills)
		case errors.Is(err, ErrUnknownSeat):
			s = agent.New(c.ID, c.Name, c.Skills)
		default:
			return nil, fmt.Errorf("acd: new: %w", err)
		}
		if err := store.PutSeat(s); err != nil {
			return nil, fmt.Errorf("acd: new: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &ACD{
		cfg:   cfg,
		log:   log,
		store: store,
		calls: make(map[string]chan Event),
		timer: time.NewTimer(time.Hour),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	a.timer.Stop()
	a.mu.Lock()
	err := a.settle(a.now())
	a.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("acd: new: %w", err)
	}
	go a.run()
	return a, nil
}

// Close stops the timer goroutine and waits for it, and closes every queued
// call's channel and every subscription. The store is left as it is. Every
// change called afterwards returns ErrClosed (the views still answer). Close
// is safe to call twice.
func (a *ACD) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	a.closed = true
	for id, ch := range a.calls {
		close(ch)
		delete(a.calls, id)
	}
	a.subs.Close()
	a.timer.Stop()
	close(a.stop)
	a.mu.Unlock()
	<-a.done
	return nil
}

// run wakes at each deadline.
func (a *ACD) run() {
	defer close(a.done)
	for {
		select {
		case <-a.stop:
			return
		case <-a.timer.C:
			a.tick()
		}
	}
}

func (a *ACD) tick() {
	if err := a.Settle(); err != nil && !errors.Is(err, ErrClosed) {
		a.log.Error("acd: timer", "err", err)
	}
}

// Settle brings the state up to now: the wrap-ups, waits and pauses that
// are due end, and waiting calls are offered. The timer goroutine does
// this at every deadline; only a test with its own Config.Now calls it.
func (a *ACD) Settle() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("acd: settle: %w", ErrClosed)
	}
	a.due = time.Time{}
	return a.settle(a.now())
}

func (a *ACD) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}

// do runs one change as one atomic step: under the lock, then settle. Errors
// read "acd: <op> <subject>: …".
func (a *ACD) do(op, subject string, change func(now time.Time) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("acd: %s %s: %w", op, subject, ErrClosed)
	}
	now := a.now()
	// Rings that are due end first: a report that arrives after the
	// deadline, before the timer goroutine woke, finds the offer over.
	if err := a.expireRings(now); err != nil {
		return fmt.Errorf("acd: %s %s: %w", op, subject, err)
	}
	if err := change(now); err != nil {
		return fmt.Errorf("acd: %s %s: %w", op, subject, err)
	}
	if err := a.settle(now); err != nil {
		return fmt.Errorf("acd: %s %s: %w", op, subject, err)
	}
	return nil
}

// settle brings the state up to now after a change: ends the wrap-ups and
// expires the waits that are due, runs the dispatch pass and sets the timer
// for the next deadline.
func (a *ACD) settle(now time.Time) error {
	seats, err := a.seats()
	if err != nil {
		return err
	}
	for i := range seats {
		if s := seats[i]; s.State == agent.WrapUp && !s.WrapUpUntil.After(now) {
			if err := s.EndWrapUp(now); err != nil {
				return err
			}
			if err := a.putSeat(s, now); err != nil {
				return err
			}
			seats[i] = s
		}
	}
	if err := a.expireRingsIn(seats, now); err != nil {
		return err
	}
	if err := a.expire(now); err != nil {
		return err
	}
	if err := a.dispatch(now, seats); err != nil {
		return err
	}
	if err := a.rearm(now, seats); err != nil {
		return err
	}
	if a.verify != nil {
		a.verify(now)
	}
	return nil
}

// expire sends the calls that waited MaxWait to voicemail. Offered calls are
// not waiting: theirs applies when the offer fails and they wait again.
func (a *ACD) expire(now time.Time) error {
	if a.cfg.MaxWait <= 0 {
		return nil
	}
	queues, err := a.queues()
	if err != nil {
		return err
	}
	var due []Entry
	for _, q := range queues {
		err := a.walk(q.Key, func(e *Entry) bool { // oldest first: stop at the first still in time
			if now.Sub(e.EnqueuedAt) < a.cfg.MaxWait {
				return false
			}
			due = append(due, *e)
			return true
		})
		if err != nil {
			return err
		}
	}
	for _, e := range due {
		if err := a.finish(e, &Event{Kind: MaxWait}, CallTimedOut, agent.Seat{}, now); err != nil {
			return err
		}
	}
	return nil
}

// expireRings is the ring watchdog: every seat that has rung
// Config.RingTimeout is RONA — not_ready (no_answer) — and its call, told
// with Event RingTimeout, waits again at its place.
func (a *ACD) expireRings(now time.Time) error {
	if a.cfg.RingTimeout <= 0 {
		return nil
	}
	seats, err := a.seats()
	if err != nil {
		return err
	}
	return a.expireRingsIn(seats, now)
}

// expireRingsIn is expireRings over seats, which it updates.
func (a *ACD) expireRingsIn(seats []agent.Seat, now time.Time) error {
	if a.cfg.RingTimeout <= 0 {
		return nil
	}
	for i := range seats {
		s := seats[i]
		if s.State != agent.Ringing || now.Sub(s.Since) < a.cfg.RingTimeout {
			continue
		}
		callID := s.CallID
		if err := s.NoAnswer(callID, now); err != nil {
			return err
		}
		if err := a.putSeat(s, now); err != nil {
			return err
		}
		seats[i] = s
		e, err := a.store.Entry(callID)
		switch {
		case errors.Is(err, ErrUnknownCall):
			continue // no call to tell: the seat rang for nothing, and no longer does
		case err != nil:
			return err
		case e.Seat != s.ID:
			continue
		}
		if err := a.offerFailed(callID, s, CallNoAnswer, now); err != nil {
			return err
		}
		a.log.Info("acd: ring timed out: seat not_ready (no_answer), the call waits again", "seat", s.ID, "call_id", callID)
	}
	return nil
}

// rearm sets the timer for the next deadline after now: the end of a ring
// (Config.RingTimeout), the earliest wrap-up end, the end of a decline pause, the oldest waiting call's MaxWait and,
// while a seat is ready, the next call to reach SkillFallback (a seat
// without its skill may then take it).
func (a *ACD) rearm(now time.Time, seats []agent.Seat) error {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	kept := a.wakes[:0]
	for _, w := range a.wakes {
		if w.After(now) {
			consider(w)
			kept = append(kept, w)
		}
	}
	a.wakes = kept
	anyReady := false
	for i := range seats {
		switch seats[i].State {
		case agent.WrapUp:
			consider(seats[i].WrapUpUntil)
		case agent.Ready:
			anyReady = true
		case agent.Ringing:
			if a.cfg.RingTimeout > 0 {
				consider(seats[i].Since.Add(a.cfg.RingTimeout))
			}
		}
	}
	queues, err := a.queues()
	if err != nil {
		return err
	}
	for _, q := range queues {
		if q.Waiting == 0 {
			continue
		}
		head := true
		err := a.walk(q.Key, func(e *Entry) bool {
			if head && a.cfg.MaxWait > 0 { // the head waited longest
				consider(e.EnqueuedAt.Add(a.cfg.MaxWait))
			}
			head = false
			if !anyReady || a.cfg.SkillFallback <= 0 {
				return false
			}
			// Calls already past the fallback but waiting beside a ready
			// seat are ones that seat declined: few.
			if t := e.EnqueuedAt.Add(a.cfg.SkillFallback); t.After(now) {
				consider(t)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	switch {
	case next.IsZero():
		if !a.due.IsZero() {
			a.timer.Stop()
			a.due = time.Time{}
		}
	case !next.Equal(a.due):
		a.timer.Reset(next.Sub(now))
		a.due = next
	}
	return nil
}

// putSeat stores a seat and tells subscribers.
func (a *ACD) putSeat(s agent.Seat, now time.Time) error {
	if err := a.store.PutSeat(s); err != nil {
		return err
	}
	a.publish(Change{Kind: SeatChanged, At: now, Seat: s})
	return nil
}

// send puts an event on a queued call's channel without blocking; false if
// the call has no channel or its buffer is full.
func (a *ACD) send(callID string, ev Event) bool {
	select {
	case a.calls[callID] <- ev: // a nil channel (no such call) is never ready
		return true
	default:
		return false
	}
}

// finish takes a call out of the ACD: out of the store, its last event (if
// any, and if there is room) sent and its channel closed.
func (a *ACD) finish(e Entry, last *Event, kind ChangeKind, seat agent.Seat, now time.Time) error {
	if err := a.store.Remove(e.ID); err != nil {
		return err
	}
	if last != nil {
		a.send(e.ID, *last)
	}
	if ch, ok := a.calls[e.ID]; ok {
		close(ch)
		delete(a.calls, e.ID)
	}
	a.publish(Change{Kind: kind, At: now, Seat: seat, Call: view(e, 0, now)})
	return nil
}
