package demo

import (
	"math"
	"time"

	"github.com/hotline12348/hotline/internal/stats"
)

// How busy the simulated day is.
//
// A seat is taken by a call from its first ring to the end of its wrap-up:
// ring (PickSeatAnswer: 2–6 s, mean 4 s) + talk (20–90 s, mean 55 s) +
// acd.wrap_up (30 s in the shipped configuration): 89 s a call. Of the
// offered calls, reachShare reach a seat: PickCaller hangs 8 % up in the
// voice menu; the impatient 12 % mostly do not wait long enough to give up
// on a good day.
//
// A good day (the default) is the busiest load with which Erlang C
// (internal/stats/erlang.go) still answers acd.target_service_level of the
// calls within acd.service_level_seconds with the simulated seats, one of
// them on a break part of the time (the simulated shift manager sends one
// operator on a ~60 s break every 2–5 min: about 22 % of one seat's time).
// With 6 seats, wrap-up 30 s, target 80 % in 15 s that is ≈ 3.7 Erlangs,
// 2.7 offered calls a minute, occupancy ≈ 62 % (TestGoodDayMath shows the
// numbers). The busier "80 % occupancy on 6 seats" (4.8 Erlangs) would
// answer only ≈ 58 % within 15 s by Erlang C: a queue that builds up, not a
// good day. So the good day is ≈ 62 % occupied, and the service level is
// near its target.
//
// A busy hour (--busy) offers 1.25 × the seats in Erlangs: more work than
// the seats can do, the queue grows all hour, callers give up or reach
// voicemail after acd.max_wait.
const (
	meanRing   = 4 * time.Second
	meanTalk   = 55 * time.Second
	reachShare = 0.92
	// breakShare is the mean share of one seat's time on a break.
	breakShare = 60.0 / (60 + 210)
	busyLoad   = 1.25
)

// Load is the simulated traffic and what Erlang C predicts of it.
type Load struct {
	CallsPerMinute float64 // offered calls (the Poisson rate of arrivals)
	Erlangs        float64 // seat time demanded: calls reaching a seat × handle time
	HandleSeconds  float64 // ring + talk + wrap-up, mean
	Occupancy      float64 // Erlangs / seats
	// ServiceLevel is Erlang C's share answered within the service level
	// seconds (0 when the seats cannot keep up).
	ServiceLevel float64
}

// HandleTime is the mean seat time of a simulated call with this wrap-up.
func HandleTime(wrapUp time.Duration) time.Duration { return meanRing + meanTalk + wrapUp }

// serviceLevel is Erlang C's service level with one of n seats away
// breakShare of the time.
func serviceLevel(n int, a, aht, t float64) float64 {
	if n <= 1 {
		return stats.ServiceLevel(n, a, aht, t)
	}
	return (1-breakShare)*stats.ServiceLevel(n, a, aht, t) + breakShare*stats.ServiceLevel(n-1, a, aht, t)
}

func loadOf(seats int, a, aht, t float64) Load {
	return Load{
		CallsPerMinute: a * 60 / aht / reachShare, Erlangs: a, HandleSeconds: aht,
		Occupancy: a / float64(seats), ServiceLevel: serviceLevel(seats, a, aht, t),
	}
}

// GoodDay is the busiest load that still meets target within slSeconds on
// seats simulated seats (see above); no seat: no call.
func GoodDay(seats int, wrapUp time.Duration, slSeconds int, target float64) Load {
	if seats <= 0 {
		return Load{}
	}
	aht := HandleTime(wrapUp).Seconds()
	t := float64(slSeconds)
	best := 0.0
	for a := 0.01; a < float64(seats); a += 0.01 {
		if serviceLevel(seats, a, aht, t) < target {
			break // the service level only falls as the load grows
		}
		best = a
	}
	return loadOf(seats, math.Round(best*100)/100, aht, t)
}

// Busy is an overloaded hour: busyLoad × the seats in Erlangs.
func Busy(seats int, wrapUp time.Duration, slSeconds int) Load {
	if seats <= 0 {
		return Load{}
	}
	return loadOf(seats, busyLoad*float64(seats), HandleTime(wrapUp).Seconds(), float64(slSeconds))
}
