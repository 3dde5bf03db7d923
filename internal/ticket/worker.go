package ticket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerConfig configures the delivery of the outbox.
type WorkerConfig struct {
	Workers       int           // parallel pushes (different tickets); default 4
	MaxAttempts   int           // then dead; default 20
	BaseBackoff   time.Duration // first retry waits up to this; default 1s
	MaxBackoff    time.Duration // retries wait at most this (before Retry-After); default 5m
	MaxRetryAfter time.Duration // a receiver's Retry-After is honoured up to this; default 1h
}

// Worker delivers the outbox: each ticket's revisions in order, many
// tickets in parallel, retries with exponential backoff and full jitter.
type Worker struct {
	cfg     WorkerConfig
	store   *Store
	push    *Pusher
	log     *slog.Logger
	wake    chan struct{}
	rand    func() float64
	result  *prometheus.CounterVec
	latency prometheus.Histogram

	mu       sync.Mutex
	inflight map[ID]bool
}

// NewWorker builds the worker and registers its metrics
// (hotline_workorder_*) on reg.
func NewWorker(cfg WorkerConfig, s *Store, p *Pusher, log *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = time.Hour
	}
	w := &Worker{
		cfg: cfg, store: s, push: p, log: log, wake: make(chan struct{}, 1), rand: rand.Float64,
		inflight: map[ID]bool{},
		result: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_workorder_deliveries_total", Help: "Push attempts to the work-order system, by result (delivered, retry, dead).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hotline_workorder_push_seconds", Help: "Duration of push attempts to the work-order system.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}),
	}
	for _, r := range []string{"delivered", "retry", "dead"} {
		w.result.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{w.result, w.latency} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ticket: worker metrics: %w", err)
			}
		}
	}
	s.OnRevision(func(*Ticket, string) { w.Wake() })
	return w, nil
}

// RegisterOutboxMetrics registers the backlog gauges, read from SQLite at
// scrape time so they survive restarts and cannot drift. They exist with
// or without a worker (an empty workorder.url still has a backlog).
func RegisterOutboxMetrics(s *Store, reg prometheus.Registerer, log *slog.Logger) error {
	stats := func() OutboxStats {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := s.Outbox(ctx)
		if err != nil {
			log.Error("outbox metrics", "error", err)
		}
		return st
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotline_workorder_outbox_pending", Help: "Ticket revisions waiting to reach the work-order system.",
		}, func() float64 { return float64(stats().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotline_workorder_outbox_dead", Help: "Ticket revisions the work-order system refused for good (dead letters).",
		}, func() float64 { return float64(stats().Dead) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotline_workorder_outbox_oldest_pending_seconds", Help: "Age of the oldest revision still waiting (0 when none).",
		}, func() float64 {
			st := stats()
			if st.OldestPending.IsZero() {
				return 0
			}
			return s.now().Sub(st.OldestPending).Seconds()
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("ticket: outbox metrics: %w", err)
		}
	}
	return nil
}

// Wake makes the worker look for due rows now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for pushes in flight.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, w.cfg.Workers)
	for {
		n := w.dispatch(ctx, &wg, sem, false)
		if ctx.Err() != nil {
			return
		}
		wait := time.Second
		if n == 0 {
			if next, err := w.store.NextDue(ctx); err == nil && !next.IsZero() {
				wait = min(max(time.Until(next), 10*time.Millisecond), wait)
			}
		} else {
			wait = 10 * time.Millisecond // more may be due behind these
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Flush pushes everything pending once more, ignoring backoff (SIGTERM: a
// clean stop should not leave a backlog it could have delivered), until
// nothing is left or ctx ends. It returns what is still pending.
func (w *Worker) Flush(ctx context.Context) int {
	var wg sync.WaitGroup
	sem := make(chan struct{}, w.cfg.Workers)
	tried := map[string]bool{}
	for ctx.Err() == nil {
		rows, err := w.store.Due(ctx, time.Now(), 4*w.cfg.Workers, true)
		if err != nil || len(rows) == 0 {
			break
		}
		progress := false
		for _, r := range rows {
			key := fmt.Sprintf("%s/%d", r.TicketID, r.Revision)
			if tried[key] || !w.claim(r.TicketID) {
				continue
			}
			tried[key] = true
			progress = true
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem; w.release(r.TicketID) }()
				w.deliver(ctx, r, true)
			})
		}
		wg.Wait()
		if !progress {
			break // every due row was tried once in this flush
		}
	}
	wg.Wait()
	st, _ := w.store.Outbox(context.WithoutCancel(ctx))
	return st.Pending
}

func (w *Worker) claim(id ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id] {
		return false
	}
	w.inflight[id] = true
	return true
}

func (w *Worker) release(id ID) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
	w.Wake()
}

// dispatch starts pushes for due rows, one per ticket, at most Workers at
// a time; it returns how many it started.
func (w *Worker) dispatch(ctx context.Context, wg *sync.WaitGroup, sem chan struct{}, ignoreBackoff bool) int {
	rows, err := w.store.Due(ctx, time.Now(), 4*w.cfg.Workers, ignoreBackoff)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("outbox: reading due rows", "error", err)
		}
		return 0
	}
	n := 0
	for _, r := range rows {
		if !w.claim(r.TicketID) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			w.release(r.TicketID)
			return n
		}
		n++
		wg.Go(func() {
			defer func() { <-sem; w.release(r.TicketID) }()
			w.deliver(ctx, r, ignoreBackoff)
		})
	}
	return n
}

// deliver makes one attempt and records its result.
func (w *Worker) deliver(ctx context.Context, r OutboxRow, ignoreBackoff bool) {
	log := w.log.With("ticket_id", r.TicketID, "revision", r.Revision)
	// The row was read before we held the ticket: another push may have
	// finished it, or made an attempt and set a backoff, meanwhile. Count
	// from what the outbox says now (max_attempts is exact).
	due, attempts, next, err := w.store.StillDue(ctx, r.TicketID, r.Revision)
	if err != nil || !due || !ignoreBackoff && next.After(time.Now()) {
		return
	}
	r.Attempts = attempts
	start := time.Now()
	retryable, err := w.push.Push(ctx, r)
	w.latency.Observe(time.Since(start).Seconds())
	if ctx.Err() != nil && err != nil {
		return // shutting down: the row stays pending and is pushed after the restart
	}
	var d Delivery
	attempt := r.Attempts + 1
	switch {
	case err == nil:
		d.Delivered = true
		w.result.WithLabelValues("delivered").Inc()
		log.Debug("revision delivered", "attempt", attempt)
	case !retryable || attempt >= w.cfg.MaxAttempts:
		d.Dead = true
		d.Error = err.Error()
		if retryable {
			d.Error = fmt.Sprintf("gave up after %d attempts: %s", attempt, err)
		}
		w.result.WithLabelValues("dead").Inc()
		log.Warn("revision is a dead letter: it needs a redeliver from the console", "attempt", attempt, "error", d.Error)
	default:
		d.Error = err.Error()
		d.NextAt = time.Now().Add(w.backoff(attempt, err))
		w.result.WithLabelValues("retry").Inc()
		log.Info("push failed, will retry", "attempt", attempt, "error", d.Error, "retry_in", time.Until(d.NextAt).Round(time.Millisecond))
	}
	if err := w.store.RecordAttempt(context.WithoutCancel(ctx), r.TicketID, r.Revision, d); err != nil {
		log.Error("outbox: recording the attempt", "error", err)
	}
}

// backoff is exponential with full jitter (a random wait up to
// min(MaxBackoff, BaseBackoff·2^(attempt−1))), or the receiver's
// Retry-After when that is longer.
func (w *Worker) backoff(attempt int, err error) time.Duration {
	ceil := w.cfg.MaxBackoff
	if attempt < 30 {
		ceil = min(ceil, w.cfg.BaseBackoff<<(attempt-1))
	}
	d := time.Duration(w.rand() * float64(ceil))
	var pe *PushError
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = min(pe.RetryAfter, w.cfg.MaxRetryAfter)
	}
	return max(d, 10*time.Millisecond)
}
