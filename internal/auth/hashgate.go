package auth

import (
	"context"
	"sync/atomic"
	"time"
)

// Every Argon2id computation holds argonMemory (19 MiB) for its whole run
// and one core (one lane). Unbounded, N parallel logins cost N × 19 MiB:
// 60 wrong logins from one address took the process to 1.2 GB, a way for
// anyone who reaches the console to kill the hotline. The gate lets a few
// run at once; the others wait a little in line (a person's login behind a
// burst still gets through) and are refused with ErrBusy after that, so
// the memory for hashing stays at DefaultHashSlots × 19 MiB.
//
// Two slots, because Argon2id with one lane is CPU-bound: more at once than
// cores adds memory, not throughput, and the cores are the calls' (RTP)
// first. Two checks of ~50 ms each are still dozens of logins a second,
// far more than a call centre's consoles ever make.
const (
	DefaultHashSlots = 2
	// DefaultHashWait is how long a check waits in line for a slot.
	DefaultHashWait = 3 * time.Second
	// maxHashWaiters bounds the line; beyond it a check is refused at
	// once (the web side's per-source limits keep one address's share of
	// it small).
	maxHashWaiters = 64
)

// hashGate is a semaphore for Argon2id computations that also counts, around
// the computation itself, how many run at once and the most that ever did
// (what a test checks the bound with: it would see the true number even if
// the semaphore were gone).
type hashGate struct {
	slots   chan struct{}
	wait    time.Duration
	waiters atomic.Int32
	running atomic.Int32
	peak    atomic.Int32
}

func newHashGate(slots int, wait time.Duration) *hashGate {
	if slots < 1 {
		slots = 1
	}
	return &hashGate{slots: make(chan struct{}, slots), wait: wait}
}

// run runs f (an Argon2id computation) when a slot is free: at once, or
// after waiting in line at most g.wait; ErrBusy when none came free or the
// line is full, ctx's error when ctx ended first.
func (g *hashGate) run(ctx context.Context, f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiters.Add(1) > maxHashWaiters {
			g.waiters.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
			g.waiters.Add(-1)
		case <-t.C:
			g.waiters.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			t.Stop()
			g.waiters.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	defer g.running.Add(-1)
	f()
	return nil
}

// HashStats says how the Argon2id gate is used.
type HashStats struct {
	Slots   int // computations allowed at once
	Running int // computations running now
	Waiting int // checks waiting in line
	Peak    int // the most that ever ran at once
}

// HashStats returns the gate's figures.
func (s *Store) HashStats() HashStats {
	g := s.gate
	return HashStats{Slots: cap(g.slots), Running: int(g.running.Load()), Waiting: int(g.waiters.Load()), Peak: int(g.peak.Load())}
}

// SetHashLimit changes how many Argon2id computations may run at once and
// how long a check waits for a slot. Call it before the store is used.
func (s *Store) SetHashLimit(slots int, wait time.Duration) { s.gate = newHashGate(slots, wait) }
