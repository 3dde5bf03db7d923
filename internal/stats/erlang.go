package stats

import "math"

// Erlang C (M/M/N queue: Poisson arrivals, exponential handle times, no
// abandonment, first come first served), the staffing model every call-centre
// planning tool uses. A is the offered traffic in Erlangs (calls per second ×
// average handle time in seconds), n the number of seats.
//
// The textbook formula divides A^n/n! by a sum of such terms, which overflows
// float64 near n = 170 and loses precision well before. Instead Erlang B is
// built with its recurrence B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)), every
// step a number in [0, 1], and Erlang C follows from it:
// C = n·B / (n − A·(1 − B)) (ITU-T E.500-series traffic theory; Iversen,
// "Teletraffic Engineering and Network Planning", DTU 2015, chapters 4 and 9).

// ErlangB is the probability that a call finds all n servers busy when
// blocked calls are lost (Erlang's loss formula).
func ErlangB(n int, a float64) float64 {
	if n < 0 || a < 0 || math.IsNaN(a) {
		return math.NaN()
	}
	b := 1.0
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}

// ErlangC is the probability that a call has to wait (all n seats busy) when
// calls queue. It is 1 when a ≥ n: the queue then grows without bound.
func ErlangC(n int, a float64) float64 {
	if n <= 0 || a < 0 || math.IsNaN(a) {
		if a == 0 && n == 0 {
			return 0
		}
		return math.NaN()
	}
	if a == 0 {
		return 0
	}
	if a >= float64(n) {
		return 1
	}
	b := ErlangB(n, a)
	return float64(n) * b / (float64(n) - a*(1-b))
}

// ServiceLevel is the share of calls answered within t seconds by n seats
// with traffic a and average handle time aht seconds:
// 1 − C(n, a) · e^(−(n − a)·t / aht). It is 0 when a ≥ n (no steady state).
func ServiceLevel(n int, a, aht, t float64) float64 {
	if a == 0 {
		return 1
	}
	if a >= float64(n) || aht <= 0 {
		return 0
	}
	return 1 - ErlangC(n, a)*math.Exp(-(float64(n)-a)*t/aht)
}

// ASA is the mean wait in seconds of all calls (those answered at once
// included): C(n, a) · aht / (n − a). It is +Inf when a ≥ n.
func ASA(n int, a, aht float64) float64 {
	if a == 0 {
		return 0
	}
	if a >= float64(n) {
		return math.Inf(1)
	}
	return ErlangC(n, a) * aht / (float64(n) - a)
}

// maxSeats bounds SeatsFor's search; no traffic a hotline sees comes near it.
const maxSeats = 100000

// SeatsFor is the fewest seats that answer at least target (0 < target < 1)
// of the calls within t seconds, for traffic a Erlangs of average handle time
// aht seconds. No traffic needs no seat. It returns -1 for inputs it cannot
// answer (a target outside (0, 1), a negative or NaN traffic, aht ≤ 0 with
// traffic).
func SeatsFor(a, aht, t, target float64) int {
	if !(target > 0 && target < 1) || !(a >= 0) || math.IsInf(a, 0) || t < 0 {
		return -1
	}
	if a == 0 {
		return 0
	}
	if !(aht > 0) {
		return -1
	}
	// Fewer than a seats never reach a steady state; start just above.
	for n := int(math.Floor(a)) + 1; n <= maxSeats; n++ {
		if ServiceLevel(n, a, aht, t) >= target {
			return n
		}
	}
	return -1
}
