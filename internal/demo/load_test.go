package demo

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/stats"
)

// The good day's arithmetic, for the shipped configuration (6 seats,
// wrap_up 30 s, 80 % within 15 s):
//
//	handle time  = 4 s ring + 55 s talk + 30 s wrap-up      = 89 s
//	Erlang C, 6 seats (5 during the 22 % of breaks), SL ≥ 80 % → A ≈ 3.7 Erl
//	calls reaching a seat = A / 89 s × 60                    ≈ 2.5 a minute
//	offered = that / 0.92 (8 % hang up in the menu)          ≈ 2.7 a minute
//	occupancy = A / 6                                        ≈ 62 %
//
// and 80 % occupancy (4.8 Erl) would give a service level near 58 %: the
// good day cannot be both; it keeps the service level.
func TestGoodDayMath(t *testing.T) {
	g := GoodDay(6, 30*time.Second, 15, 0.8)
	t.Logf("good day: %.2f calls/min, %.2f Erl, handle %.0f s, occupancy %.0f %%, SL %.1f %%",
		g.CallsPerMinute, g.Erlangs, g.HandleSeconds, 100*g.Occupancy, 100*g.ServiceLevel)
	if g.HandleSeconds != 89 {
		t.Errorf("handle time %v s, want 89", g.HandleSeconds)
	}
	if g.Erlangs < 3.6 || g.Erlangs > 4.1 || g.Occupancy < 0.6 || g.Occupancy > 0.7 {
		t.Errorf("good day load %.2f Erl (occupancy %.2f), want 3.6–4.1 (0.6–0.7)", g.Erlangs, g.Occupancy)
	}
	if g.ServiceLevel < 0.8 || g.ServiceLevel > 0.82 {
		t.Errorf("predicted service level %.3f, want just at the 0.8 target", g.ServiceLevel)
	}
	if want := g.Erlangs * 60 / 89 / 0.92; math.Abs(g.CallsPerMinute-want) > 1e-9 {
		t.Errorf("calls per minute %v, want %v", g.CallsPerMinute, want)
	}
	// One step busier misses the target: it is the busiest good day.
	if sl := serviceLevel(6, g.Erlangs+0.02, 89, 15); sl >= 0.8 {
		t.Errorf("at %.2f Erl the service level is still %.3f: not the busiest", g.Erlangs+0.02, sl)
	}
	// 80 % occupancy on 6 seats, for the record.
	if sl := stats.ServiceLevel(6, 4.8, 89, 15); sl < 0.55 || sl > 0.61 {
		t.Errorf("Erlang C at 80 %% occupancy: %.3f, want about 0.58", sl)
	}
	b := Busy(6, 30*time.Second, 15)
	if b.Occupancy != 1.25 || b.ServiceLevel != 0 || b.CallsPerMinute < 2*g.CallsPerMinute-1 {
		t.Errorf("busy hour %+v: want more work than the seats can do", b)
	}
	if z := GoodDay(0, 30*time.Second, 15, 0.8); z.CallsPerMinute != 0 {
		t.Errorf("no seat: %+v", z)
	}
}

// The model's means are those of the simulated people.
func TestLoadModelMatchesBehaviour(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 40000
	var ring, talk time.Duration
	ivr := 0
	for range n {
		a := PickSeatAnswer(r)
		ring += a.Ring
		talk += a.Talk
		if PickCaller(r).Abandon == AbandonIVR {
			ivr++
		}
	}
	if d := (ring / n) - meanRing; d.Abs() > 100*time.Millisecond {
		t.Errorf("mean ring %v, model %v", ring/n, meanRing)
	}
	if d := (talk / n) - meanTalk; d.Abs() > time.Second {
		t.Errorf("mean talk %v, model %v", talk/n, meanTalk)
	}
	if f := 1 - float64(ivr)/n; math.Abs(f-reachShare) > 0.01 {
		t.Errorf("share past the menu %.3f, model %.2f", f, reachShare)
	}
}
