package ivr

import (
	"context"
	"time"
)

// QueueAnnouncer is what a waiting caller hears instead of silence (SPEC §5):
// legal information in a loop and, every PositionEvery, their position.
type QueueAnnouncer struct {
	Wait           []string `yaml:"wait"`            // once, on entering the queue
	Announcements  []string `yaml:"announcements"`   // legal information, looped
	PositionBefore []string `yaml:"position_before"` // "您前面还有"
	PositionAfter  []string `yaml:"position_after"`  // "位,请耐心等待"
	// AllBusy and Connecting are not played by Run: the call plays AllBusy
	// before voicemail and Connecting when a seat answers.
	AllBusy    []string `yaml:"all_busy"`
	Connecting []string `yaml:"connecting"`
	// PositionEvery is how often the position is read out. It is not in
	// ivr.yaml: the application sets it from acd.position_every. Zero means 30 s.
	PositionEvery time.Duration `yaml:"-"`
}

// defaultPositionEvery is SPEC §5's cadence.
const defaultPositionEvery = 30 * time.Second

// minCycle guards against a player that finishes every prompt at once (missing
// files): a whole loop of announcements quicker than this waits for the next
// position announcement instead of spinning.
const minCycle = time.Second

// PositionPrompts is what is said for a caller with n callers ahead:
// PositionBefore, the number (NumberPrompts), PositionAfter; nil when n < 1.
func (q *QueueAnnouncer) PositionPrompts(n int) []string {
	num := NumberPrompts(n)
	if n < 1 || num == nil {
		return nil
	}
	return concat(q.PositionBefore, num, q.PositionAfter)
}

// Run plays Wait and the caller's position, then loops Announcements. Once
// PositionEvery has passed since the position was last read out, it is read
// out again at the next prompt boundary, never cutting a sentence. position
// returns the number of callers ahead (< 1: nothing to announce). Keys are
// left in the channel. Run returns when ctx is done, after stopping its
// playback: wait for it before playing anything else on ch.
func (q *QueueAnnouncer) Run(ctx context.Context, ch Channel, position func() int) {
	every := q.PositionEvery
	if every <= 0 {
		every = defaultPositionEvery
	}
	lastPos := time.Now()
	if !play(ctx, ch, concat(q.Wait, q.PositionPrompts(position()))...) {
		return
	}
	cycleStart := time.Now()
	for i := 0; ; i++ {
		if time.Since(lastPos) >= every {
			lastPos = time.Now()
			if !play(ctx, ch, q.PositionPrompts(position())...) {
				return
			}
		}
		n := len(q.Announcements)
		if n > 0 && i%n == 0 {
			if i > 0 && time.Since(cycleStart) < minCycle && !q.sleepUntil(ctx, lastPos.Add(every)) {
				return
			}
			cycleStart = time.Now()
		}
		if n == 0 {
			if !q.sleepUntil(ctx, lastPos.Add(every)) {
				return
			}
			continue
		}
		if !play(ctx, ch, q.Announcements[i%n]) {
			return
		}
	}
}

// sleepUntil waits until t or ctx's end; false means ctx ended.
func (q *QueueAnnouncer) sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
