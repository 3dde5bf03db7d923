package stats

import (
	"math"
	"math/big"
	"testing"
)

// Published values. Each is also re-derived below by exact summation of
// the textbook formula (erlangCExact), which shares no code with ErlangC.
func TestErlangCPublishedValues(t *testing.T) {
	for _, tc := range []struct {
		source          string
		n               int
		a, aht, target  float64
		wantC, wantSL   float64 // -1: not published
		wantASA         float64 // -1: not published
		tolC, tolSL     float64
		seatsFor        float64 // service level asked of SeatsFor (0: skip)
		wantSeats       int
		seatsForTargetT float64
	}{
		{
			// R package ErlangC 0.1.0, README (rdocumentation.org/packages/ErlangC/versions/0.1.0),
			// the Call Centre Helper worked example "Erlang C Formula – Made Simple": 100 calls
			// in 30 min, AHT 180 s → A = 10 Erlangs; with 14 agents: wait_probability 0.1741319,
			// service_level (20 s) 0.88835, average_speed_of_answer 7.83593701177724 s; and
			// calculate_agents(…, 20 s, 80 %) → agents 14.
			source: "ErlangC R package / Call Centre Helper, A=10 N=14",
			n:      14, a: 10, aht: 180, target: 20,
			wantC: 0.1741319, wantSL: 0.88835, wantASA: 7.83593701177724, tolC: 5e-8, tolSL: 5e-6,
			seatsFor: 0.80, wantSeats: 14, seatsForTargetT: 20,
		},
		{
			// Same README, the search's first step: 11 agents → wait_probability 0.6821182.
			source: "ErlangC R package, A=10 N=11",
			n:      11, a: 10, aht: 180, target: 20,
			wantC: 0.6821182, wantSL: -1, wantASA: -1, tolC: 5e-8,
		},
		{
			// 刘剑, 《呼叫中心接通率分析》 (Huawei call-centre note, copy at
			// r1worldwide.com/shtml/view-7563919.html), table of §4: 1000 calls/hour, 120 s
			// per call (A = 33.33 Erlangs), 15 s target: 35 seats → must queue 69.65 %,
			// answered within 15 s 43.4 %, mean wait 50.1 s.
			source: "刘剑 呼叫中心接通率分析, 35 seats",
			n:      35, a: 1000.0 * 120 / 3600, aht: 120, target: 15,
			wantC: 0.6965, wantSL: 0.434, wantASA: 50.1, tolC: 5e-5, tolSL: 5e-4,
		},
		{
			// Same table: 36 seats → 55.19 %, 60.5 %, 24.8 s.
			source: "刘剑 呼叫中心接通率分析, 36 seats",
			n:      36, a: 1000.0 * 120 / 3600, aht: 120, target: 15,
			wantC: 0.5519, wantSL: 0.605, wantASA: 24.8, tolC: 5e-5, tolSL: 5e-4,
		},
		{
			// Same table: 37 seats → 43.18 %, 72.7 %, 14.1 s.
			source: "刘剑 呼叫中心接通率分析, 37 seats",
			n:      37, a: 1000.0 * 120 / 3600, aht: 120, target: 15,
			wantC: 0.4318, wantSL: 0.727, wantASA: 14.1, tolC: 5e-5, tolSL: 5e-4,
		},
		{
			// CC-Excel forum, thread "CCXLService", Tom Howard, 12 January 2021 (Westbay
			// Traffic Calculators): 21 agents, 57 calls of 1110 s an hour (A = 17.575), target
			// 180 s → service level 80.7 %; "changed the target time to twenty seconds …
			// estimated agents required from 21 to 23" (for 80 %).
			source: "CC-Excel / Westbay, 57 calls × 1110 s, 21 agents",
			n:      21, a: 57.0 * 1110 / 3600, aht: 1110, target: 180,
			wantC: -1, wantSL: 0.807, wantASA: -1, tolSL: 5e-4,
			seatsFor: 0.80, wantSeats: 23, seatsForTargetT: 20,
		},
	} {
		t.Run(tc.source, func(t *testing.T) {
			c := ErlangC(tc.n, tc.a)
			if exact := erlangCExact(tc.n, tc.a); math.Abs(c-exact) > 1e-12 {
				t.Errorf("ErlangC(%d, %g) = %.15f, exact summation %.15f", tc.n, tc.a, c, exact)
			}
			if tc.wantC >= 0 && math.Abs(c-tc.wantC) > tc.tolC {
				t.Errorf("ErlangC(%d, %g) = %.7f, published %.7f", tc.n, tc.a, c, tc.wantC)
			}
			if tc.wantSL >= 0 {
				if sl := ServiceLevel(tc.n, tc.a, tc.aht, tc.target); math.Abs(sl-tc.wantSL) > tc.tolSL {
					t.Errorf("ServiceLevel = %.6f, published %.6f", sl, tc.wantSL)
				}
			}
			if tc.wantASA >= 0 {
				// Published to 0.1 s (the R README to 1e-14).
				if asa := ASA(tc.n, tc.a, tc.aht); math.Abs(asa-tc.wantASA) > 0.05 {
					t.Errorf("ASA = %.6f, published %.6f", asa, tc.wantASA)
				}
			}
			if tc.seatsFor > 0 {
				if n := SeatsFor(tc.a, tc.aht, tc.seatsForTargetT, tc.seatsFor); n != tc.wantSeats {
					t.Errorf("SeatsFor = %d, published %d", n, tc.wantSeats)
				}
			}
		})
	}
}

// Erlang B against published trunk tables (the recurrence ErlangC builds on).
func TestErlangBPublishedValues(t *testing.T) {
	// erlang.com calculator manual, "How much traffic can a trunk group handle":
	// 15 lines at 1 % blocking carry 8.108 Erlangs.
	if b := ErlangB(15, 8.108); math.Abs(b-0.01) > 5e-5 {
		t.Errorf("ErlangB(15, 8.108) = %.6f, want 0.0100", b)
	}
	// erlang.com forum "Trunk Engineering" (5 Dec 2001): 1200 calls of 3 minutes an hour
	// (33.333 Erlangs) at 1 % blocking need 45 lines: 45 are within 1 %, 44 are not.
	if b := ErlangB(45, 100.0/3); b > 0.01 {
		t.Errorf("ErlangB(45, 33.33) = %.5f, want ≤ 0.01", b)
	}
	if b := ErlangB(44, 100.0/3); b <= 0.01 {
		t.Errorf("ErlangB(44, 33.33) = %.5f, want > 0.01", b)
	}
	for _, tc := range []struct {
		n int
		a float64
	}{{1, 0.5}, {15, 8.108}, {45, 100.0 / 3}, {200, 180}} {
		if b, exact := ErlangB(tc.n, tc.a), erlangBExact(tc.n, tc.a); math.Abs(b-exact) > 1e-12 {
			t.Errorf("ErlangB(%d, %g) = %.15f, exact %.15f", tc.n, tc.a, b, exact)
		}
	}
}

// The independent method over a wide range, including sizes where A^n/n!
// overflows float64 (n > 170): the recurrence must stay exact there.
func TestErlangCMatchesExactSummation(t *testing.T) {
	for _, n := range []int{1, 2, 3, 6, 10, 50, 171, 300} {
		for _, rho := range []float64{0.01, 0.3, 0.7, 0.9, 0.99} {
			a := rho * float64(n)
			got, want := ErlangC(n, a), erlangCExact(n, a)
			if math.Abs(got-want) > 1e-11 || math.IsNaN(got) {
				t.Errorf("ErlangC(%d, %g) = %.15g, exact %.15g", n, a, got, want)
			}
		}
	}
	// M/M/1 by hand: the chance to wait is the utilisation.
	if c := ErlangC(1, 0.25); math.Abs(c-0.25) > 1e-15 {
		t.Errorf("ErlangC(1, 0.25) = %g, want 0.25", c)
	}
}

func TestErlangEdges(t *testing.T) {
	if c := ErlangC(5, 5); c != 1 {
		t.Errorf("ErlangC at a = n: %g, want 1 (no steady state)", c)
	}
	if c := ErlangC(5, 0); c != 0 {
		t.Errorf("ErlangC with no traffic: %g", c)
	}
	if sl := ServiceLevel(5, 6, 180, 15); sl != 0 {
		t.Errorf("ServiceLevel overloaded: %g", sl)
	}
	if asa := ASA(5, 6, 180); !math.IsInf(asa, 1) {
		t.Errorf("ASA overloaded: %g", asa)
	}
	if n := SeatsFor(0, 180, 15, 0.95); n != 0 {
		t.Errorf("SeatsFor no traffic: %d", n)
	}
	for _, target := range []float64{0, 1, -0.5, math.NaN()} {
		if n := SeatsFor(10, 180, 15, target); n != -1 {
			t.Errorf("SeatsFor target %g: %d, want -1", target, n)
		}
	}
	if n := SeatsFor(math.NaN(), 180, 15, 0.9); n != -1 {
		t.Errorf("SeatsFor NaN traffic: %d", n)
	}
	// Large traffic: monotone, and just enough.
	n := SeatsFor(500, 300, 15, 0.95)
	if n <= 500 || ServiceLevel(n, 500, 300, 15) < 0.95 || ServiceLevel(n-1, 500, 300, 15) >= 0.95 {
		t.Errorf("SeatsFor(500 E) = %d, not the fewest that reach 95 %%", n)
	}
}

// erlangBExact is Erlang's loss formula summed term by term in exact
// rational arithmetic: B = (A^n/n!) / Σ_{k=0..n} A^k/k!.
func erlangBExact(n int, a float64) float64 {
	terms, sum := termsExact(n, a)
	b, _ := new(big.Rat).Quo(terms[n], sum).Float64()
	return b
}

// erlangCExact is the textbook Erlang C formula in exact rational
// arithmetic: C = (A^n/n! · n/(n−A)) / (Σ_{k=0..n−1} A^k/k! + A^n/n! · n/(n−A)).
func erlangCExact(n int, a float64) float64 {
	terms, _ := termsExact(n, a)
	A := new(big.Rat).SetFloat64(a)
	N := new(big.Rat).SetInt64(int64(n))
	last := new(big.Rat).Mul(terms[n], new(big.Rat).Quo(N, new(big.Rat).Sub(N, A)))
	sum := new(big.Rat)
	for k := range n {
		sum.Add(sum, terms[k])
	}
	sum.Add(sum, last)
	c, _ := new(big.Rat).Quo(last, sum).Float64()
	return c
}

// termsExact returns A^k/k! for k = 0..n and their sum, exactly.
func termsExact(n int, a float64) ([]*big.Rat, *big.Rat) {
	A := new(big.Rat).SetFloat64(a)
	terms := []*big.Rat{big.NewRat(1, 1)}
	sum := big.NewRat(1, 1)
	for k := 1; k <= n; k++ {
		t := new(big.Rat).Mul(terms[k-1], A)
		t.Quo(t, big.NewRat(int64(k), 1))
		terms = append(terms, t)
		sum.Add(sum, t)
	}
	return terms, sum
}
