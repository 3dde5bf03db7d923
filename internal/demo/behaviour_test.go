package demo

import (
	"math"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/pii"
)

func fixed() *rand.Rand { return rand.New(rand.NewPCG(12348, 2026)) }

// The same seed gives the same people: the pickers use nothing but the
// random source they are given.
func TestPickersAreDeterministic(t *testing.T) {
	a, b := fixed(), fixed()
	for range 50 {
		if pa, pb := PickCaller(a), PickCaller(b); pa != pb {
			t.Fatalf("same seed, different callers: %+v vs %+v", pa, pb)
		}
		if sa, sb := PickSeatAnswer(a), PickSeatAnswer(b); sa != sb {
			t.Fatalf("same seed, different seat answers: %+v vs %+v", sa, sb)
		}
	}
}

func TestPickCallerMix(t *testing.T) {
	r := fixed()
	mobile := regexp.MustCompile(`^1[3-9]\d{9}$`)
	const n = 20000
	keys := map[rune]int{}
	abandons := map[Abandon]int{}
	ratings := map[int]int{}
	dtmf := map[DTMF]int{}
	short := 0
	for range n {
		p := PickCaller(r)
		if !mobile.MatchString(p.Number) {
			t.Fatalf("number %q is not an 11-digit mobile number", p.Number)
		}
		if m := pii.Mask(p.Number); m != p.Number[:3]+"****"+p.Number[7:] {
			t.Fatalf("mask of %s is %s", p.Number, m)
		}
		abandons[p.Abandon]++
		ratings[p.Rating]++
		dtmf[p.DTMF]++
		switch p.Abandon {
		case AbandonIVR:
			if p.Key != 0 {
				t.Fatalf("an IVR abandon presses %q", p.Key)
			}
			if p.HangUpAfter < 1500*time.Millisecond || p.HangUpAfter > 12*time.Second {
				t.Fatalf("IVR hang-up after %s", p.HangUpAfter)
			}
			if p.HangUpAfter < 5*time.Second {
				short++
			}
		case AbandonQueue:
			if p.Patience < 10*time.Second || p.Patience > 45*time.Second {
				t.Fatalf("impatient caller waits %s", p.Patience)
			}
			keys[p.Key]++
		case Patient:
			if p.Patience < 2*time.Minute || p.Patience > 5*time.Minute {
				t.Fatalf("patient caller waits %s", p.Patience)
			}
			keys[p.Key]++
		}
		if p.Abandon != AbandonIVR && p.Key != 0 && (p.KeyAfter < 2*time.Second || p.KeyAfter > 9*time.Second) {
			t.Fatalf("key after %s", p.KeyAfter)
		}
		if p.RateAfter < 1500*time.Millisecond || p.RateAfter > 5*time.Second {
			t.Fatalf("rates after %s", p.RateAfter)
		}
	}
	near := func(what string, got int, want float64) {
		t.Helper()
		if f := float64(got) / n; math.Abs(f-want) > 0.02 {
			t.Errorf("%s: %.3f of the calls, want about %.2f", what, f, want)
		}
	}
	near("patient", abandons[Patient], 0.80)
	near("hang up in the IVR", abandons[AbandonIVR], 0.08)
	near("hang up in the queue", abandons[AbandonQueue], 0.12)
	if short == 0 || short == abandons[AbandonIVR] {
		t.Errorf("%d of %d IVR hang-ups are short (< 5 s): want some, not all", short, abandons[AbandonIVR])
	}
	chose := n - abandons[AbandonIVR]
	for k, want := range map[rune]float64{'1': 0.34, '2': 0.16, '3': 0.10, '9': 0.08, '0': 0.12, 0: 0.20} {
		if f := float64(keys[k]) / float64(chose); math.Abs(f-want) > 0.02 {
			t.Errorf("key %q: %.3f, want about %.2f", k, f, want)
		}
	}
	for k := range keys {
		if k != 0 && k != '1' && k != '2' && k != '3' && k != '9' && k != '0' {
			t.Errorf("unexpected key %q", k)
		}
	}
	near("rating 1", ratings[1], 0.65)
	near("rating 2", ratings[2], 0.22)
	near("rating 3", ratings[3], 0.08)
	near("no rating", ratings[0], 0.05)
	near("INFO dtmf-relay", dtmf[DTMFRelay], 0.75)
}

func TestPickSeatAnswer(t *testing.T) {
	r := fixed()
	const n = 10000
	seatEnds := 0
	for range n {
		a := PickSeatAnswer(r)
		if a.Ring < 2*time.Second || a.Ring > 6*time.Second {
			t.Fatalf("rings %s", a.Ring)
		}
		if a.Talk < 20*time.Second || a.Talk > 90*time.Second {
			t.Fatalf("talks %s", a.Talk)
		}
		if a.SeatHangsUp {
			seatEnds++
		}
	}
	if f := float64(seatEnds) / n; math.Abs(f-0.8) > 0.02 {
		t.Errorf("the operator hangs up first in %.3f of the calls, want about 0.8 (the rest: the caller)", f)
	}
}

// Poisson arrivals: exponential gaps with the asked mean.
func TestNextArrival(t *testing.T) {
	r := fixed()
	const n = 20000
	var sum time.Duration
	for range n {
		d := NextArrival(r, 6)
		if d < 0 {
			t.Fatalf("negative gap %s", d)
		}
		sum += d
	}
	if mean := sum / n; mean < 9500*time.Millisecond || mean > 10500*time.Millisecond {
		t.Errorf("mean gap at 6 calls a minute is %s, want about 10 s", mean)
	}
	if d := NextArrival(r, 0); d < 24*time.Hour {
		t.Errorf("no calls asked, next in %s", d)
	}
}

func TestPickBreak(t *testing.T) {
	r := fixed()
	for range 1000 {
		b := PickBreak(r, true)
		if b.Wait < 40*time.Second || b.Wait > 80*time.Second {
			t.Fatalf("first break after %s", b.Wait)
		}
		b = PickBreak(r, false)
		if b.Wait < 2*time.Minute || b.Wait > 5*time.Minute || b.Length < 50*time.Second || b.Length > 70*time.Second {
			t.Fatalf("break %+v", b)
		}
	}
}

func TestInfoBody(t *testing.T) {
	if got := infoBody(DTMFRelay, '9'); got != "Signal=9\r\nDuration=160\r\n" {
		t.Errorf("dtmf-relay body %q", got)
	}
	if got := infoBody(DTMFPlain, '2'); got != "2" {
		t.Errorf("dtmf body %q", got)
	}
}

func TestWorldMatchesMaskedAndFullNumbers(t *testing.T) {
	w := newWorld()
	ch, ok := w.join("13812345678")
	if !ok {
		t.Fatal("join failed")
	}
	if _, ok := w.join("13899995678"); ok {
		t.Error("a second caller with the same masked number (138****5678) was let in")
	}
	if !w.tell("138****5678", talkEvent{kind: talkAnswered, seat: "8001"}) {
		t.Error("masked number not matched")
	}
	if !w.tell("13812345678", talkEvent{kind: talkSeatBye, seat: "8001"}) {
		t.Error("whole number (acd.caller_id: full) not matched")
	}
	if ev := <-ch; ev.kind != talkAnswered || ev.seat != "8001" {
		t.Errorf("first event %+v", ev)
	}
	if ev := <-ch; ev.kind != talkSeatBye {
		t.Errorf("second event %+v", ev)
	}
	if w.size() != 1 {
		t.Errorf("size %d", w.size())
	}
	w.leave("13812345678")
	if w.tell("138****5678", talkEvent{kind: talkAnswered}) || w.size() != 0 {
		t.Error("a caller who left still gets events")
	}
	if _, ok := w.join("13899995678"); !ok {
		t.Error("the masked number is free again")
	}
}
