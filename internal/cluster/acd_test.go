package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

// TestOneCallAcrossTwoNodes: a call queued on node A is offered to a seat
// registered through node B, answered, hung up; the seat wraps up and is
// ready again, as any node sees it.
func TestOneCallAcrossTwoNodes(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	seats := seatSpecs("8001")
	a := manualNode(t, rdb, "a", clk, testACD, seats)
	b := manualNode(t, rdb, "b", clk, testACD, seats)
	if s := seatState(t, a, "8001"); s.State != agent.Offline {
		t.Fatalf("seat before registering: %s", describe(s))
	}
	bind(t, b, clk, "8001")
	if s := seatState(t, a, "8001"); s.State != agent.Ready || s.Via != "b" {
		t.Fatalf("seat after registering through b: %s via %q", describe(s), s.Via)
	}
	ch, err := a.Enqueue(acd.Call{ID: "c1", Skill: "consult"})
	ok(t, err)
	pump(t, a, b)
	ev := next(t, ch)
	if ev.Kind != acd.Offer || ev.Seat != "8001" || ev.Token == 0 {
		t.Fatalf("event %+v", ev)
	}
	if s := seatState(t, b, "8001"); s.State != agent.Ringing || s.CallID != "c1" || s.Token != ev.Token {
		t.Fatalf("seat while offered: %s #%d", describe(s), s.Token)
	}
	// A stale token is refused, as on one node.
	if err := a.Answered("c1", "8001", ev.Token+7); !errors.Is(err, acd.ErrNotOffered) {
		t.Fatalf("stale answer: %v", err)
	}
	ok(t, a.Answered("c1", "8001", ev.Token))
	if _, open := <-ch; open {
		t.Fatal("channel still open after the answer")
	}
	if s := seatState(t, b, "8001"); s.State != agent.Busy {
		t.Fatalf("seat after answer: %s", describe(s))
	}
	if q := b.Queue(); len(q) != 0 {
		t.Fatalf("queue after answer: %+v", q)
	}
	ok(t, a.Hangup("c1", "8001", ev.Token))
	if s := seatState(t, a, "8001"); s.State != agent.WrapUp {
		t.Fatalf("seat after hangup: %s", describe(s))
	}
	elapse(t, clk, 30*time.Second, a, b)
	if s := seatState(t, a, "8001"); s.State != agent.Ready {
		t.Fatalf("seat after wrap-up: %s", describe(s))
	}
}

// TestNoSeatsAndPositions: with nobody logged in a call is not queued; with
// a seat not ready, calls wait in order of arrival, green first.
func TestNoSeatsAndPositions(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	a := manualNode(t, rdb, "a", clk, testACD, seatSpecs("8001"))
	b := manualNode(t, rdb, "b", clk, testACD, seatSpecs("8001"))
	ch, err := a.Enqueue(acd.Call{ID: "c0", Skill: "consult"})
	ok(t, err)
	if ev := next(t, ch); ev.Kind != acd.NoSeats {
		t.Fatalf("event %+v", ev)
	}
	bind(t, a, clk, "8001")
	ok(t, a.SetState("8001", agent.NotReady, "break"))
	for i, c := range []struct{ id, node, prio string }{{"n1", "a", ""}, {"n2", "b", ""}, {"g1", "b", "green"}, {"n3", "a", ""}} {
		n := a
		if c.node == "b" {
			n = b
		}
		_, err := n.Enqueue(acd.Call{ID: c.id, Skill: allSkills[i%5], Priority: c.prio})
		ok(t, err)
		clk.Advance(time.Second)
	}
	want := []string{"g1", "n1", "n2", "n3"}
	q := a.Queue()
	if len(q) != len(want) {
		t.Fatalf("queue %+v", q)
	}
	for i, e := range q {
		if e.CallID != want[i] || e.Position != i+1 {
			t.Fatalf("queue[%d] = %s at %d, want %s at %d", i, e.CallID, e.Position, want[i], i+1)
		}
		if p := b.Position(e.CallID); p != i+1 {
			t.Fatalf("Position(%s) = %d", e.CallID, p)
		}
	}
}
