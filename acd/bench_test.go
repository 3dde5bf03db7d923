package acd

import (
	"fmt"
	"testing"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// benchACD is an ACD with six seats, all not_ready, and waiting callers
// spread over every skill and both priorities (one in ten green). With
// pastFallback, every call has already waited SkillFallback.
func benchACD(b *testing.B, waiting int, pastFallback bool, seat string) *ACD {
	b.Helper()
	a, err := New(Config{WrapUp: 30 * s, MaxWait: time.Hour, SkillFallback: time.Minute},
		seatSpecs(seat, "8002", "8003", "8004", "8005", "8006"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	for _, st := range a.Seats() {
		if err := a.SeatRegistered(st.ID); err != nil {
			b.Fatal(err)
		}
		if err := a.SetState(st.ID, agent.NotReady, "break"); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	if pastFallback {
		t0 = t0.Add(-2 * time.Minute)
	}
	for i := range waiting {
		prio := PriorityNormal
		if i%10 == 0 {
			prio = PriorityGreen
		}
		c := Call{ID: fmt.Sprintf("c%05d", i), Skill: allSkills[i%len(allSkills)], Priority: prio, EnqueuedAt: t0.Add(time.Duration(i) * time.Millisecond)}
		if _, err := a.Enqueue(c); err != nil {
			b.Fatal(err)
		}
	}
	return a
}

// BenchmarkSeatReady is the pick when a seat becomes free with 10,000
// callers waiting: one op is the seat going ready (dispatch: compare the FIFO
// heads, offer the best call, seat → ringing) plus the call ringing out
// (RONA: seat → not_ready, the call back at the head), which restores the
// queue for the next op.
//
//	go test -run '^$' -bench SeatReady -benchtime 20000x ./acd/
func BenchmarkSeatReady(b *testing.B) {
	for _, bc := range []struct {
		name         string
		waiting      int
		seat         string
		pastFallback bool
	}{
		{"100 waiting, every skill", 100, "8001", false},
		{"10000 waiting, every skill", 10000, "8001", false},
		{"10000 waiting, one skill", 10000, "8001:notary", false},
		{"10000 waiting past fallback, seat without their skills", 10000, "8001:none", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := benchACD(b, bc.waiting, bc.pastFallback, bc.seat)
			ready := func() string {
				if err := a.SetState("8001", agent.Ready, ""); err != nil {
					b.Fatal(err)
				}
				st, _ := a.Seat("8001")
				return st.CallID
			}
			head := ready() // the call each op offers
			if head == "" {
				b.Fatal("nothing offered")
			}
			token := func() uint64 { st, _ := a.Seat("8001"); return st.Token }
			ch := a.calls[head]
			if err := a.NoAnswer(head, "8001", token()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := a.SetState("8001", agent.Ready, ""); err != nil {
					b.Fatal(err)
				}
				if err := a.NoAnswer(head, "8001", token()); err != nil {
					b.Fatal(err)
				}
				<-ch
			}
			b.StopTimer()
			if n := a.Counts().Waiting; n["notary"]+n["consult"]+n["legal_aid"]+n["mediation"]+n["complaint"] != bc.waiting {
				b.Fatalf("queue changed: %v", n)
			}
		})
	}
}

// BenchmarkCallArrives is a call arriving at, and leaving, a queue of 10,000
// waiting callers with every seat busy: Enqueue then Abandon.
//
//	go test -run '^$' -bench CallArrives -benchtime 20000x ./acd/
func BenchmarkCallArrives(b *testing.B) {
	a := benchACD(b, 10000, false, "8001")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("x%d", i)
		if _, err := a.Enqueue(Call{ID: id, Skill: "mediation"}); err != nil {
			b.Fatal(err)
		}
		if err := a.Abandon(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPosition is one waiting caller's position in a queue of 10,000.
func BenchmarkPosition(b *testing.B) {
	a := benchACD(b, 10000, false, "8001")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if p := a.Position("c05003"); p == 0 {
			b.Fatal("not waiting")
		}
	}
}
