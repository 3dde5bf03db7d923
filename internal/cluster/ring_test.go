package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

// TestRingWatchdog: the shared ACD times the ringing on the Redis server's
// clock, as acd does on one node: a seat that rang ring_timeout goes
// not_ready (no_answer), the owning node tells its call (RingTimeout) and
// the call is offered to the next seat; the first seat's late 200 is
// refused, also when it comes after the deadline but before any settle.
func TestRingWatchdog(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	seats := seatSpecs("8001", "8002", "8003")
	a := manualNode(t, rdb, "a", clk, testACD, seats)
	b := manualNode(t, rdb, "b", clk, testACD, seats)
	bind(t, b, clk, "8001")
	elapse(t, clk, time.Second, a, b)
	bind(t, b, clk, "8002")
	ch, err := a.Enqueue(acd.Call{ID: "c1", Skill: "consult"})
	ok(t, err)
	pump(t, a, b)
	first := next(t, ch)
	if first.Kind != acd.Offer || first.Seat != "8001" {
		t.Fatalf("event %+v, want an offer to 8001", first)
	}
	elapse(t, clk, testACD.RingTimeout-time.Second, a, b)
	noEvent(t, ch)
	if s := seatState(t, a, "8001"); s.State != agent.Ringing {
		t.Fatalf("seat before the ring timeout: %s", describe(s))
	}
	elapse(t, clk, time.Second, a, b)
	if ev := next(t, ch); ev.Kind != acd.RingTimeout || ev.Seat != "8001" || ev.Token != first.Token {
		t.Fatalf("event %+v, want ring_timeout of 8001 #%d", ev, first.Token)
	}
	if s := seatState(t, b, "8001"); s.State != agent.NotReady || s.Reason != agent.ReasonNoAnswer {
		t.Fatalf("seat after the ring timeout: %s", describe(s))
	}
	second := next(t, ch)
	if second.Kind != acd.Offer || second.Seat != "8002" {
		t.Fatalf("event %+v, want an offer to 8002", second)
	}
	// The first seat's 200 crossed the CANCEL: refused, nothing changes.
	if err := a.Answered("c1", "8001", first.Token); !errors.Is(err, acd.ErrNotOffered) {
		t.Fatalf("late answer of 8001: %v, want ErrNotOffered", err)
	}
	if s := seatState(t, b, "8002"); s.State != agent.Ringing || s.CallID != "c1" {
		t.Fatalf("next seat: %s", describe(s))
	}
	// The deadline passes with no settle yet: an answer then is refused
	// all the same, and the next settle ends the offer.
	elapse(t, clk, testACD.RingTimeout-time.Second, a, b)
	noEvent(t, ch)
	clk.Advance(time.Second)
	if err := a.Answered("c1", "8002", second.Token); !errors.Is(err, acd.ErrNotOffered) {
		t.Fatalf("answer after the deadline: %v, want ErrNotOffered", err)
	}
	ok(t, a.Settle(context.Background()))
	pump(t, a, b)
	if ev := next(t, ch); ev.Kind != acd.RingTimeout || ev.Seat != "8002" {
		t.Fatalf("event %+v, want ring_timeout of 8002", ev)
	}
	if q := a.Queue(); len(q) != 1 || q[0].State != "waiting" {
		t.Fatalf("queue: %+v, want c1 waiting", q)
	}
	// A no-answer the node reports itself is not echoed back as a timeout.
	bind(t, b, clk, "8003")
	pump(t, a, b)
	third := next(t, ch)
	if third.Kind != acd.Offer || third.Seat != "8003" {
		t.Fatalf("event %+v, want an offer to 8003", third)
	}
	ok(t, a.NoAnswer("c1", "8003", third.Token))
	pump(t, a, b)
	noEvent(t, ch)
	for _, id := range []string{"8001", "8002", "8003"} {
		if s := seatState(t, a, id); s.State == agent.Ringing {
			t.Errorf("seat %s left ringing", describe(s))
		}
	}
}
