package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/redistest"
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

// TestRedisRestartedEmpty: Redis comes back with nothing; each node
// re-asserts what it holds — the registrations through it, its waiting
// calls at their place, its offers and connected calls — and dispatch goes
// on without repeating a token.
func TestRedisRestartedEmpty(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := NewClient(RedisConfig{URL: srv.URL()})
	ok(t, err)
	defer rdb.Close()
	clk := newClock()
	seats := seatSpecs("8001", "8002")
	a := manualNode(t, rdb, "a", clk, testACD, seats)
	b := manualNode(t, rdb, "b", clk, testACD, seats)
	bind(t, a, clk, "8001")
	bind(t, b, clk, "8002")
	ok(t, b.SetState("8002", agent.NotReady, "meeting"))
	ch1, err := a.Enqueue(acd.Call{ID: "c1", Skill: "consult"})
	ok(t, err)
	ch2, err := b.Enqueue(acd.Call{ID: "c2", Skill: "consult"})
	ok(t, err)
	ch3, err := a.Enqueue(acd.Call{ID: "c3", Skill: "consult"})
	ok(t, err)
	pump(t, a, b)
	offer := next(t, ch1)
	if offer.Kind != acd.Offer || offer.Seat != "8001" {
		t.Fatalf("c1: %+v", offer)
	}
	ok(t, a.Answered("c1", "8001", offer.Token))
	noEvent(t, ch2)
	noEvent(t, ch3)

	srv.Restart() // empty
	ctx := context.Background()
	for _, n := range []*Node{a, b} {
		err := n.Heartbeat(ctx)
		if err != nil && !errors.Is(err, acd.ErrUnavailable) {
			t.Fatal(err)
		}
	}
	elapse(t, clk, 2*time.Second, a, b)
	if s := seatState(t, b, "8001"); s.State != agent.Busy || s.CallID != "c1" || s.Token != offer.Token {
		t.Fatalf("8001 after the restart: %s #%d", describe(s), s.Token)
	}
	if s := seatState(t, a, "8002"); s.State != agent.NotReady || s.Reason != "meeting" {
		t.Fatalf("8002 after the restart: %s", describe(s))
	}
	q := a.Queue()
	if len(q) != 2 || q[0].CallID != "c2" || q[1].CallID != "c3" {
		t.Fatalf("queue after the restart: %+v", q)
	}
	// Dispatch resumes: the operator of 8002 comes back and takes c2 with a
	// token above every one issued before.
	elapse(t, clk, 3*time.Second, a, b) // past the freeze
	ok(t, b.SetState("8002", agent.Ready, ""))
	pump(t, a, b)
	ev := next(t, ch2)
	if ev.Kind != acd.Offer || ev.Seat != "8002" || ev.Token <= offer.Token {
		t.Fatalf("c2 after the restart: %+v (c1 had #%d)", ev, offer.Token)
	}
	ok(t, b.Answered("c2", "8002", ev.Token))
	ok(t, a.Hangup("c1", "8001", offer.Token))
}

// TestRedisDownThenBack: while Redis is unreachable, steps fail fast with
// ErrUnavailable (new callers: voicemail), an answer stands, reports are
// kept; when it is back they are replayed in order and the node
// re-asserts.
func TestRedisDownThenBack(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := NewClient(RedisConfig{URL: srv.URL()})
	ok(t, err)
	defer rdb.Close()
	clk := newClock()
	a := manualNode(t, rdb, "a", clk, testACD, seatSpecs("8001", "8002"))
	bind(t, a, clk, "8001")
	ch, err := a.Enqueue(acd.Call{ID: "c1", Skill: "consult"})
	ok(t, err)
	pump(t, a)
	offer := next(t, ch)
	srv.Kill()
	ctx := context.Background()
	if err := a.Heartbeat(ctx); !errors.Is(err, acd.ErrUnavailable) {
		t.Fatalf("heartbeat with redis down: %v", err)
	}
	if a.Degraded() == "" {
		t.Fatal("not degraded with redis down")
	}
	// Nothing comes back: the caller is refused (voicemail) after
	// node_timeout, not left waiting.
	start := time.Now()
	if _, err := a.Enqueue(acd.Call{ID: "c2", Skill: "consult"}); !errors.Is(err, acd.ErrUnavailable) {
		t.Fatalf("enqueue with redis down: %v", err)
	}
	if d := time.Since(start); d < 4*time.Second || d > 7*time.Second {
		t.Fatalf("enqueue gave up after %v, want node_timeout (5s)", d)
	}
	// The seat answers meanwhile: the call is connected all the same.
	if err := a.Answered("c1", "8001", offer.Token); !errors.Is(err, acd.ErrUnavailable) {
		t.Fatalf("answer with redis down: %v", err)
	}
	// A registration comes in: kept.
	bind(t, a, clk, "8002")
	// Redis comes back while a caller waits to be queued (a failover):
	// the caller is queued, not sent to voicemail.
	go func() {
		time.Sleep(time.Second)
		srv.Restart()
		_ = a.Heartbeat(ctx)
	}()
	start = time.Now()
	if _, err := a.Enqueue(acd.Call{ID: "c3", Skill: "consult"}); err != nil {
		t.Fatalf("enqueue while Redis comes back: %v (after %v)", err, time.Since(start))
	}
	elapse(t, clk, time.Second, a)
	if a.Degraded() != "" {
		t.Fatalf("still degraded: %s", a.Degraded())
	}
	if s := seatState(t, a, "8001"); s.State != agent.Busy || s.CallID != "c1" {
		t.Fatalf("8001 after redis is back: %s", describe(s))
	}
	if s := seatState(t, a, "8002"); s.State != agent.Ready {
		t.Fatalf("8002 after redis is back: %s", describe(s))
	}
	ok(t, a.Hangup("c1", "8001", offer.Token))
	if s := seatState(t, a, "8001"); s.State != agent.WrapUp {
		t.Fatalf("8001 after the hangup: %s", describe(s))
	}
}

// TestReapedNodeReasserts: a node paused past node_timeout is reaped by
// the others (its offer released, the seat given to another call); when it
// resumes, its late answer is refused as stale, and its call is back in
// the queue at its old place.
func TestReapedNodeReasserts(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	seats := seatSpecs("8001")
	a := manualNode(t, rdb, "a", clk, testACD, seats)
	b := manualNode(t, rdb, "b", clk, testACD, seats)
	bind(t, b, clk, "8001")
	chA, err := a.Enqueue(acd.Call{ID: "ca", Skill: "consult"})
	ok(t, err)
	chB, err := b.Enqueue(acd.Call{ID: "cb", Skill: "consult"})
	ok(t, err)
	pump(t, a, b)
	offerA := next(t, chA)
	// a is paused (SIGSTOP) past node_timeout; b reaps it and gives the
	// seat to its own caller.
	elapse(t, clk, 6*time.Second, b)
	pump(t, b)
	offerB := next(t, chB)
	if offerB.Kind != acd.Offer || offerB.Seat != "8001" || offerB.Token <= offerA.Token {
		t.Fatalf("cb after a was reaped: %+v", offerB)
	}
	// a resumes: the seat's 200 for the old offer arrives.
	err = a.Answered("ca", "8001", offerA.Token)
	if !errors.Is(err, acd.ErrNotOffered) {
		t.Fatalf("stale answer after the reap: %v", err)
	}
	if s := seatState(t, a, "8001"); s.State != agent.Ringing || s.CallID != "cb" {
		t.Fatalf("seat: %s", describe(s))
	}
	q := a.Queue()
	if len(q) != 2 || q[0].CallID != "ca" || q[0].State != acd.EntryWaiting || q[0].Position != 1 {
		t.Fatalf("queue after a re-asserted: %+v", q)
	}
}

// TestNodeIDInUse: a second process started with the node_id of a live
// node elsewhere (another address) is refused; the same node restarting
// (same address) replaces its previous boot.
func TestNodeIDInUse(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	a := manualNode(t, rdb, "a", clk, testACD, seatSpecs("8001"))
	_, err := Start(context.Background(), rdb, Options{NodeID: "a", AdvertiseSIP: "sip:10.0.0.99:5060", AdvertiseHTTP: "http://10.0.0.99:8080",
		ACD: testACD, Seats: seatSpecs("8001"), Now: clk.Now, Manual: true})
	if !errors.Is(err, ErrNodeIDInUse) {
		t.Fatalf("second node with the same id elsewhere: %v", err)
	}
	restarted := manualNode(t, rdb, "a", clk, testACD, seatSpecs("8001"))
	if restarted.Boot() == a.Boot() {
		t.Fatal("same boot")
	}
	if err := a.Heartbeat(context.Background()); !errors.Is(err, acd.ErrUnavailable) {
		t.Fatalf("the replaced boot's heartbeat: %v, want it superseded", err)
	}
}

// TestQueueOrderIgnoresNodeClocks: callers keep the order they arrived in,
// across nodes, whatever time their nodes think it is (one 30 s ahead, one
// 30 s behind): the order is the Redis sequence, the wait is timed by the
// Redis server's clock.
func TestQueueOrderIgnoresNodeClocks(t *testing.T) {
	rdb := newRedis(t)
	clk := newClock()
	a := manualNode(t, rdb, "a", clk, testACD, seatSpecs("8001"))
	b := manualNode(t, rdb, "b", clk, testACD, seatSpecs("8001"))
	bind(t, a, clk, "8001")
	ok(t, a.SetState("8001", agent.NotReady, "break"))
	_, err := a.Enqueue(acd.Call{ID: "first", Skill: "consult", EnqueuedAt: clk.Now().Add(30 * time.Second)})
	ok(t, err)
	clk.Advance(time.Second)
	_, err = b.Enqueue(acd.Call{ID: "second", Skill: "consult", EnqueuedAt: clk.Now().Add(-30 * time.Second)})
	ok(t, err)
	q := b.Queue()
	if len(q) != 2 || q[0].CallID != "first" || q[1].CallID != "second" {
		t.Fatalf("queue %+v: want first, second", q)
	}
	if !q[0].EnqueuedAt.Equal(clk.Now().Add(-time.Second)) || !q[1].EnqueuedAt.Equal(clk.Now()) {
		t.Fatalf("enqueued at %v and %v: want the shared clock's times", q[0].EnqueuedAt, q[1].EnqueuedAt)
	}
	ok(t, a.SetState("8001", agent.Ready, ""))
	pump(t, a, b)
	if s := seatState(t, a, "8001"); s.CallID != "first" {
		t.Fatalf("seat offered %q, want first", s.CallID)
	}
}
