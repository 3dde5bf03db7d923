package demo

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// What the simulated people do, decided up front from a random source so
// that it can be tested with a fixed seed. Nothing here touches the network.

// Abandon says where a caller gives up, if at all.
type Abandon int

// The caller's patience.
const (
	// Patient callers wait in the queue for a long time (patience 2–5 min)
	// and are normally answered.
	Patient Abandon = iota
	// AbandonIVR callers hang up during the welcome or the menu, some of them
	// within acd.short_abandon_seconds (short abandons: wrong numbers).
	AbandonIVR
	// AbandonQueue callers are impatient: 10–45 s after choosing they hang
	// up if nobody has answered yet (abandoned in the queue, or while ringing).
	AbandonQueue
)

func (a Abandon) String() string {
	switch a {
	case AbandonIVR:
		return "ivr"
	case AbandonQueue:
		return "queue"
	}
	return "patient"
}

// DTMF is how a caller sends its key presses: SIP INFO with one of the two
// bodies SPEC §4 names. (RFC 4733 events would have to come from the RTP
// socket, which media.Leg keeps to itself; INFO is what many SBCs send.)
type DTMF string

// The INFO bodies.
const (
	DTMFRelay DTMF = "application/dtmf-relay" // "Signal=1\r\nDuration=160\r\n"
	DTMFPlain DTMF = "application/dtmf"       // "1"
)

// CallerPlan is one simulated citizen's call.
type CallerPlan struct {
	Number string // 11-digit mobile number, e.g. 13812345678
	// Key is the menu key pressed (0 = none: the general queue after the
	// menu's timeout), KeyAfter when, from the answer (barge-in during the
	// welcome, as people do once they know the menu).
	Key      rune
	KeyAfter time.Duration
	DTMF     DTMF
	Abandon  Abandon
	// HangUpAfter: AbandonIVR callers hang up this long after the answer.
	HangUpAfter time.Duration
	// Patience: how long after the key (or the answer, without a key plus
	// the menu) the caller waits for a seat before hanging up.
	Patience time.Duration
	// Rating is the survey key (1, 2, 3; 0 = hangs up without rating),
	// pressed RateAfter the seat has hung up (during the question: barge-in).
	Rating    int
	RateAfter time.Duration
}

// SeatAnswer is what a simulated operator does with one call that rings.
type SeatAnswer struct {
	Ring time.Duration // 2–6 s of ringing before picking up
	Talk time.Duration // 20–90 s of conversation
	// SeatHangsUp: the operator ends the call (the citizen then hears the
	// survey); otherwise the citizen says goodbye and hangs up after Talk.
	SeatHangsUp bool
}

// mobilePrefixes are real Chinese mobile prefixes, so the numbers look like
// callers' numbers (masked in every log: 138****5678).
var mobilePrefixes = []string{
	"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
	"150", "151", "152", "153", "155", "156", "157", "158", "159",
	"166", "173", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199",
}

// PickNumber returns a random 11-digit mobile number.
func PickNumber(r *rand.Rand) string {
	return mobilePrefixes[r.IntN(len(mobilePrefixes))] + fmt.Sprintf("%08d", r.IntN(100_000_000))
}

// weighted picks an index with the given weights (summing to anything > 0).
func weighted(r *rand.Rand, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// between returns a uniform duration in [lo, hi], to the millisecond.
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	ms := int64((hi - lo) / time.Millisecond)
	return lo + time.Duration(r.Int64N(ms+1))*time.Millisecond
}

// menuKeys is the mix of choices: mostly 法律咨询 (1), then 法律援助 (2),
// 人民调解 (3), the green channel for unpaid migrant workers (9), the
// operator (0), or no key at all.
var menuKeys = []struct {
	key    rune
	weight int
}{{'1', 34}, {'2', 16}, {'3', 10}, {'9', 8}, {'0', 12}, {0, 20}}

// PickCaller decides one caller's call.
func PickCaller(r *rand.Rand) CallerPlan {
	p := CallerPlan{Number: PickNumber(r), DTMF: DTMFRelay}
	ws := make([]int, len(menuKeys))
	for i, k := range menuKeys {
		ws[i] = k.weight
	}
	p.Key = menuKeys[weighted(r, ws...)].key
	p.KeyAfter = between(r, 2*time.Second, 9*time.Second)
	if r.IntN(4) == 0 {
		p.DTMF = DTMFPlain
	}
	switch weighted(r, 80, 8, 12) {
	case 1:
		p.Abandon = AbandonIVR
		// Half of them within 5 s: short abandons, which the answer rate ignores.
		p.HangUpAfter = between(r, 1500*time.Millisecond, 12*time.Second)
		p.Key, p.KeyAfter = 0, 0 // gone before choosing
	case 2:
		p.Abandon = AbandonQueue
		p.Patience = between(r, 10*time.Second, 45*time.Second)
	default:
		p.Patience = between(r, 2*time.Minute, 5*time.Minute)
	}
	p.Rating = []int{1, 2, 3, 0}[weighted(r, 65, 22, 8, 5)]
	p.RateAfter = between(r, 1500*time.Millisecond, 5*time.Second)
	return p
}

// PickSeatAnswer decides how an operator handles a call that rings.
func PickSeatAnswer(r *rand.Rand) SeatAnswer {
	return SeatAnswer{
		Ring:        between(r, 2*time.Second, 6*time.Second),
		Talk:        between(r, 20*time.Second, 90*time.Second),
		SeatHangsUp: r.IntN(5) != 0, // 4 in 5: the operator ends the call
	}
}

// NextArrival is the time to the next call of a Poisson process with
// perMinute calls a minute on average (exponential inter-arrival times).
func NextArrival(r *rand.Rand, perMinute float64) time.Duration {
	if perMinute <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(r.ExpFloat64() * float64(time.Minute) / perMinute)
}

// BreakPlan is the simulated shift manager's next break: after Wait, one
// seat goes not_ready ("break", 小休 on the console) for Length.
type BreakPlan struct {
	Wait   time.Duration
	Length time.Duration
}

// PickBreak decides when the next break starts and how long it lasts.
func PickBreak(r *rand.Rand, first bool) BreakPlan {
	b := BreakPlan{Wait: between(r, 2*time.Minute, 5*time.Minute), Length: between(r, 50*time.Second, 70*time.Second)}
	if first {
		b.Wait = between(r, 40*time.Second, 80*time.Second)
	}
	return b
}

// infoBody is the SIP INFO body for a key (SPEC §4 names both types).
func infoBody(t DTMF, key rune) string {
	if t == DTMFPlain {
		return string(key)
	}
	return "Signal=" + string(key) + "\r\nDuration=160\r\n"
}
