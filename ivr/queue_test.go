package ivr

import (
	"testing"
	"testing/synctest"
	"time"
)

// Wait 3 s, each legal-information prompt 12 s, a position 3 s (1 + 0.5 per
// number word + 1.5).
var queueLengths = map[string]time.Duration{
	"queue_wait": 3 * s, "legal_info_1": 12 * s, "legal_info_2": 12 * s, "legal_info_3": 12 * s, "legal_info_4": 12 * s,
	"queue_position_before": 1 * s, "queue_position_after": s + s/2,
	"num_0": s / 2, "num_1": s / 2, "num_2": s / 2, "num_3": s / 2, "num_10": s / 2,
}

func TestQueueAnnouncerCadence(t *testing.T) {
	tests := []struct {
		name      string
		positions []int // successive answers of position(); the last repeats
		hangup    time.Duration
		wantLog   []string
	}{
		{
			// The first position (num_10 num_2) makes the opening 6.5 s. The
			// next is due at 30 s and read out at the 30.5 s boundary; the one
			// after is due at 60.5 s, but legal_info_1 runs 57.5-69.5 s: read
			// out at 69.5 s, never mid-sentence.
			name: "position every 30 s at prompt boundaries", positions: []int{12, 3, 2, 1}, hangup: 100 * s,
			wantLog: []string{
				"0s play queue_wait queue_position_before num_10 num_2 queue_position_after",
				"6.5s play legal_info_1",
				"18.5s play legal_info_2",
				"30.5s play queue_position_before num_3 queue_position_after",
				"33.5s play legal_info_3",
				"45.5s play legal_info_4",
				"57.5s play legal_info_1",
				"1m9.5s play queue_position_before num_2 queue_position_after",
				"1m12.5s play legal_info_2",
				"1m24.5s play legal_info_3",
				"1m36.5s play legal_info_4",
				"1m40s stop",
			},
		},
		{
			name: "nobody ahead: legal information only", positions: []int{0}, hangup: 40 * s,
			wantLog: []string{
				"0s play queue_wait",
				"3s play legal_info_1",
				"15s play legal_info_2",
				"27s play legal_info_3",
				"39s play legal_info_4",
				"40s stop",
			},
		},
		{
			name: "hang-up during the first announcement", positions: []int{3}, hangup: 2 * s,
			wantLog: []string{"0s play queue_wait queue_position_before num_3 queue_position_after", "2s stop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := hangupAt(t, tt.hangup)
				f := newFake(t, queueLengths, nil)
				q := testMenu().Queue
				q.PositionEvery = 30 * s
				calls := 0
				position := func() int {
					p := tt.positions[min(calls, len(tt.positions)-1)]
					calls++
					return p
				}
				q.Run(ctx, f, position)
				if at := time.Since(f.t0); at != tt.hangup {
					t.Errorf("Run returned at %v, want %v", at, tt.hangup)
				}
				diffLog(t, f.events(), tt.wantLog)
			})
		})
	}
}

// Prompts that finish at once (missing files) must not make Run spin: it
// waits for the next position announcement instead.
func TestQueueAnnouncerInstantPlayerDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := hangupAt(t, 100*s)
		zero := map[string]time.Duration{}
		for name := range queueLengths {
			zero[name] = 0
		}
		f := newFake(t, zero, nil)
		q := testMenu().Queue // PositionEvery 0: the 30 s default
		q.Run(ctx, f, func() int { return 1 })
		// One play at 0 s, then per 30 s: a position and four announcements.
		if f.plays > 1+4*5+5 {
			t.Errorf("%d plays in 100 s: the loop spins", f.plays)
		}
	})
}

func TestQueueAnnouncerNoAnnouncements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := hangupAt(t, 65*s)
		f := newFake(t, queueLengths, nil)
		q := testMenu().Queue
		q.Announcements = nil
		q.Wait = nil
		q.Run(ctx, f, func() int { return 1 })
		diffLog(t, f.events(), []string{
			"0s play queue_position_before num_1 queue_position_after",
			"30s play queue_position_before num_1 queue_position_after",
			"1m0s play queue_position_before num_1 queue_position_after",
		})
	})
}
