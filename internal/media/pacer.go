package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// shard is one goroutine of the shared pacer. Every 20 ms, on a fixed grid
// (offset per shard so the shards' bursts interleave instead of colliding),
// it walks its legs and sends each one's due frame(s). Legs keep their
// position in the slice, so a leg is sent at the same offset into every
// round and its packet spacing stays even.
//
// Timing rules: the grid time T of a round is the scheduled time, not the
// wake-up time, so a late wake-up does not shift the timestamps; when a
// round wakes a whole frame late or more, T jumps to the latest grid point
// and each leg sends the frames that were due (up to maxCatchUp, the rest
// are skipped but their time still passes in the RTP timestamps).
type shard struct {
	e   *Engine
	idx int
	n   int

	mu      sync.Mutex
	pending []*Leg

	legs  []*Leg // owned by the shard goroutine
	count atomic.Int32
}

func (s *shard) add(l *Leg) {
	s.mu.Lock()
	s.pending = append(s.pending, l)
	s.mu.Unlock()
	s.count.Add(1)
}

func (s *shard) run() {
	e := s.e
	defer e.wg.Done()
	offset := frameNS * int64(s.idx) / int64(s.n)
	now := e.now()
	next := (now/frameNS+1)*frameNS + offset
	timer := time.NewTimer(time.Duration(next - now))
	defer timer.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-timer.C:
		}
		now = e.now()
		T := next
		if late := now - next; late >= frameNS {
			e.m.lateTicks.Inc()
			T = next + late/frameNS*frameNS
		}
		s.round(T)
		e.m.tickSeconds.Observe(time.Duration(e.now() - now).Seconds())
		next = T + frameNS
		timer.Reset(time.Duration(next - e.now()))
	}
}

// round sends one grid round and drops legs that ended.
func (s *shard) round(T int64) {
	s.mu.Lock()
	if len(s.pending) > 0 {
		s.legs = append(s.legs, s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
	}
	s.mu.Unlock()

	var catchUp, skipped int
	j := 0
	for _, l := range s.legs {
		if l.ended.Load() {
			s.count.Add(-1)
			continue
		}
		s.legs[j] = l
		j++
		l.txMu.Lock()
		_, c, sk := l.paceLocked(T)
		l.txMu.Unlock()
		catchUp += c
		skipped += sk
	}
	clear(s.legs[j:])
	s.legs = s.legs[:j]
	if catchUp > 0 {
		s.e.m.catchUp.Add(float64(catchUp))
	}
	if skipped > 0 {
		s.e.m.skipped.Add(float64(skipped))
	}
}

// runOwnPacer is PacerPerLeg: the same grid logic with one goroutine and one
// timer per leg.
func (l *Leg) runOwnPacer() {
	defer l.wg.Done()
	e := l.e
	now := e.now()
	next := now
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-l.stopOwn:
			return
		case <-l.done:
			return
		case <-timer.C:
		}
		now = e.now()
		T := next
		if late := now - next; late >= frameNS {
			e.m.lateTicks.Inc()
			T = next + late/frameNS*frameNS
		}
		l.txMu.Lock()
		_, c, sk := l.paceLocked(T)
		l.txMu.Unlock()
		if c > 0 {
			e.m.catchUp.Add(float64(c))
		}
		if sk > 0 {
			e.m.skipped.Add(float64(sk))
		}
		next = T + frameNS
		timer.Reset(time.Duration(next - e.now()))
	}
}
