package ticket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/store"
)

// ErrBacklogFull is returned by Backlog.Open when as many tickets as the
// backlog may hold are waiting for the database: the call must be refused
// (and /healthz says so before it comes to that).
var ErrBacklogFull = errors.New("ticket: write backlog full")

// BacklogConfig bounds the write backlog.
type BacklogConfig struct {
	// MaxTickets is how many tickets may have writes waiting at once
	// (default 1000); a new ticket beyond that is refused. Updates of a
	// ticket already held are always taken (a call makes a handful).
	MaxTickets int
	// Wait is how long Open and Update wait for their write to land before
	// they return anyway, the write still queued (default 250ms): a call
	// never waits for a locked database's busy timeout.
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts of a write
	// that could not land (default 50ms and 2s, doubling).
	MinBackoff, MaxBackoff time.Duration
}

// Backlog writes the tickets of calls through a queue in memory, so that a
// database that cannot take a write now (locked by another process, read
// only, an I/O error, full) never refuses a citizen or loses a revision:
// the write is retried, with backoff, until it lands. Writes land in the
// order they were made, so a ticket's revisions stay in order; each lands
// as one transaction of Store.Insert or Store.Update, so each revision
// reaches the outbox exactly once.
//
// A revision is applied again when it lands (Store.Update), to the ticket as
// the database then has it: update functions must set fields, not toggle
// them (all of the call layer's do). What is still queued when the process
// dies is lost with it; the tickets it opened and had stored are closed
// as interrupted at the next start, as after any crash.
type Backlog struct {
	s   *Store
	cfg BacklogConfig
	log *slog.Logger

	mu      sync.Mutex
	queue   []*backlogOp
	held    map[ID]*backlogTicket
	lastErr error // of the last attempt; nil once a write landed
	wake    chan struct{}

	pendingG prometheus.GaugeFunc
	ticketsG prometheus.GaugeFunc
	oldestG  prometheus.GaugeFunc
	retries  prometheus.Counter
	dropped  prometheus.Counter

	// inject, in tests, fails an attempt before it reaches the database.
	inject func(op *backlogOp) error
}

// backlogTicket is a ticket with writes queued: how it will look once they
// land (what the call sees) and how many there are.
type backlogTicket struct {
	view *Ticket
	ops  int
}

type backlogOp struct {
	id     ID
	open   *Ticket               // set: insert this ticket
	fn     func(t *Ticket) error // else: apply this update
	queued time.Time
	done   chan struct{} // closed once landed or dropped
}

// NewBacklog makes the backlog of s and registers its metrics
// (hotline_ticket_backlog_*) on reg (nil: none). Run writes it.
func NewBacklog(s *Store, cfg BacklogConfig, log *slog.Logger, reg prometheus.Registerer) (*Backlog, error) {
	if cfg.MaxTickets <= 0 {
		cfg.MaxTickets = 1000
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 250 * time.Millisecond
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Second, cfg.MinBackoff)
	}
	b := &Backlog{s: s, cfg: cfg, log: log, held: map[ID]*backlogTicket{}, wake: make(chan struct{}, 1)}
	b.pendingG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotline_ticket_backlog_writes", Help: "Ticket writes (new tickets and revisions) kept in memory because the database could not take them yet.",
	}, func() float64 { return float64(b.Len()) })
	b.ticketsG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotline_ticket_backlog_tickets", Help: "Tickets with writes waiting in memory (new tickets are refused at the bound).",
	}, func() float64 { return float64(b.Tickets()) })
	b.oldestG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotline_ticket_backlog_oldest_seconds", Help: "Age of the oldest ticket write waiting for the database (0 when none).",
	}, func() float64 { return b.Oldest().Seconds() })
	b.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotline_ticket_write_retries_total", Help: "Ticket writes that could not land at once and were tried again.",
	})
	b.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotline_ticket_write_dropped_total", Help: "Ticket writes given up because the database refused them for good (not a storage fault: a bug; see the log).",
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{b.pendingG, b.ticketsG, b.oldestG, b.retries, b.dropped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ticket: backlog metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Len is the number of writes waiting.
func (b *Backlog) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Tickets is the number of tickets with writes waiting.
func (b *Backlog) Tickets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// Full reports whether a new ticket would be refused now.
func (b *Backlog) Full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held) >= b.cfg.MaxTickets
}

// Oldest is how long the oldest waiting write has waited (0: none).
func (b *Backlog) Oldest() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return 0
	}
	return time.Since(b.queue[0].queued)
}

// Open gives t its id (Store.Prepare) and queues its insert. It returns
// once the row is written or after cfg.Wait, whichever comes first: the
// ticket exists for the call either way. ErrBacklogFull when it cannot be
// held.
func (b *Backlog) Open(ctx context.Context, t *Ticket) error {
	b.mu.Lock()
	full := len(b.held) >= b.cfg.MaxTickets
	b.mu.Unlock()
	if full {
		return ErrBacklogFull
	}
	if err := b.s.Prepare(ctx, t); err != nil {
		return err
	}
	op := &backlogOp{id: t.ID, open: t.clone(), queued: time.Now(), done: make(chan struct{})}
	b.mu.Lock()
	b.held[t.ID] = &backlogTicket{view: t.clone(), ops: 1}
	b.queue = append(b.queue, op)
	b.mu.Unlock()
	b.kick()
	b.await(ctx, op)
	return nil
}

// Update queues fn as the ticket's next revision and returns the ticket as
// it will be once everything queued for it has landed. Like Open, it waits
// at most cfg.Wait for the write. fn is applied now (to answer) and again
// when the write lands (Store.Update): it must set, not toggle.
func (b *Backlog) Update(ctx context.Context, id ID, fn func(t *Ticket) error) (*Ticket, error) {
	b.mu.Lock()
	h := b.held[id]
	var base *Ticket
	if h != nil {
		base = h.view.clone()
	}
	b.mu.Unlock()
	if base == nil {
		// Nothing queued for it: the database has it as it is.
		t, err := b.s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		t.Feedback = nil
		base = t
	}
	next := base.clone()
	if err := fn(next); err != nil {
		return nil, err
	}
	next.ID, next.Revision, next.Workorder, next.NodeID = base.ID, base.Revision, base.Workorder, base.NodeID
	normalize(next, b.s.loc)
	if reflect.DeepEqual(base, next) {
		return next, nil
	}
	next.Revision++
	op := &backlogOp{id: id, fn: fn, queued: time.Now(), done: make(chan struct{})}
	b.mu.Lock()
	if h := b.held[id]; h != nil {
		h.view, h.ops = next.clone(), h.ops+1
	} else {
		b.held[id] = &backlogTicket{view: next.clone(), ops: 1}
	}
	b.queue = append(b.queue, op)
	b.mu.Unlock()
	b.kick()
	b.await(ctx, op)
	return next, nil
}

func (b *Backlog) await(ctx context.Context, op *backlogOp) {
	t := time.NewTimer(b.cfg.Wait)
	defer t.Stop()
	select {
	case <-op.done:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (b *Backlog) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Err is the error of the last attempt to write (nil once a write landed
// after it): what the database says while the backlog waits.
func (b *Backlog) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// Run writes the queue until ctx ends.
func (b *Backlog) Run(ctx context.Context) {
	b.drain(ctx, false)
}

// Flush writes what is queued until nothing is left or ctx ends (shutdown:
// after the last calls closed their tickets); it returns how many writes
// are still waiting, each logged.
func (b *Backlog) Flush(ctx context.Context) int {
	b.drain(ctx, true)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, op := range b.queue {
		b.log.Error("ticket write lost at shutdown: the database did not take it in time", "ticket_id", op.id, "waited", time.Since(op.queued).Round(time.Millisecond).String())
	}
	return len(b.queue)
}

func (b *Backlog) drain(ctx context.Context, untilEmpty bool) {
	backoff := b.cfg.MinBackoff
	for ctx.Err() == nil {
		b.mu.Lock()
		var op *backlogOp
		if len(b.queue) > 0 {
			op = b.queue[0]
		}
		b.mu.Unlock()
		if op == nil {
			if untilEmpty {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			}
			continue
		}
		err := b.write(ctx, op)
		if err != nil && Transient(err) {
			b.mu.Lock()
			first := b.lastErr == nil
			b.lastErr = err
			b.mu.Unlock()
			b.retries.Inc()
			if first {
				b.log.Warn("ticket writes held in memory: the database cannot take them now; retrying", "ticket_id", op.id, "error", err)
			}
			if hard(err) {
				b.s.db.ResetWriter() // a connection opened while the file was read-only stays read-only
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(2*backoff, b.cfg.MaxBackoff)
			continue
		}
		if err != nil {
			b.dropped.Inc()
			b.log.Error("ticket write refused by the database for good; dropped", "ticket_id", op.id, "error", err)
		}
		backoff = b.cfg.MinBackoff
		b.mu.Lock()
		if b.lastErr != nil && err == nil {
			b.log.Info("ticket writes land again", "waiting", len(b.queue)-1)
			b.lastErr = nil
		}
		b.queue[0] = nil
		b.queue = b.queue[1:]
		if h := b.held[op.id]; h != nil {
			if h.ops--; h.ops <= 0 {
				delete(b.held, op.id)
			}
		}
		b.mu.Unlock()
		close(op.done)
	}
}

// write makes one attempt at op, bounded so that a hung file system cannot
// stall the queue for ever (the busy timeout is 10 s).
func (b *Backlog) write(ctx context.Context, op *backlogOp) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if b.inject != nil {
		if err := b.inject(op); err != nil {
			return err
		}
	}
	if op.open != nil {
		return b.s.Insert(wctx, op.open.clone())
	}
	_, err := b.s.Update(wctx, op.id, op.fn)
	return err
}

// Transient reports whether err is the storage's trouble (locked, read
// only, I/O, full: worth retrying) rather than the write's.
func Transient(err error) bool { return store.Fault(err) != store.FaultNone }

// hard: a fault that a fresh connection may be needed to get over.
func hard(err error) bool {
	k := store.Fault(err)
	return k == store.FaultReadOnly || k == store.FaultIO
}
