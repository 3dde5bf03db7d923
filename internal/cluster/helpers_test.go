package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/redistest"
	"github.com/hotline12348/hotline/internal/sip"
)

var allSkills = []string{"consult", "legal_aid", "mediation", "notary", "complaint"}

// seatSpecs builds seats from "8001" (every skill) or "8001:consult,notary".
func seatSpecs(specs ...string) []agent.Seat {
	var out []agent.Seat
	for _, sp := range specs {
		id, skills, ok := strings.Cut(sp, ":")
		sk := allSkills
		if ok {
			sk = strings.Split(skills, ",")
		}
		out = append(out, agent.New(agent.SeatID(id), "坐席"+id, sk))
	}
	return out
}

// fakeClock is the time the tests give the script (ms steps).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_800_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testACD = acd.Config{RingTimeout: 15 * time.Second, WrapUp: 30 * time.Second, MaxWait: 10 * time.Minute,
	SkillFallback: 60 * time.Second, DeclinePause: 5 * time.Second}

func newRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rdb, err := NewClient(RedisConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// manualNode starts a node that runs nothing by itself: the test pumps.
func manualNode(t testing.TB, rdb redis.UniversalClient, id string, clk *fakeClock, cfg acd.Config, seats []agent.Seat) *Node {
	t.Helper()
	n, err := Start(context.Background(), rdb, Options{
		NodeID: id, AdvertiseSIP: "sip:127.0.0.1:5060", AdvertiseHTTP: "http://127.0.0.1:8080",
		Heartbeat: time.Second, NodeTimeout: 5 * time.Second, ACD: cfg, Seats: seats, Now: clk.Now, Manual: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func pump(t testing.TB, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.Pump(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
}

// bind registers a seat's phone through node n for an hour.
func bind(t testing.TB, n *Node, clk *fakeClock, seat string) {
	t.Helper()
	err := n.Bindings().Put(context.Background(), sip.Binding{Seat: seat, Contact: "sip:" + seat + "@127.0.0.1:7000",
		Source: netip.MustParseAddrPort("127.0.0.1:7000"), Transport: "UDP", Expires: clk.Now().Add(time.Hour), CallID: "reg-" + seat, CSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
}

// next returns the call's next event, or fails.
func next(t testing.TB, ch <-chan acd.Event) acd.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return ev
	default:
		t.Fatal("no event")
	}
	return acd.Event{}
}

func noEvent(t testing.TB, ch <-chan acd.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		t.Fatalf("unexpected event %+v (open %v)", ev, ok)
	default:
	}
}

func seatState(t testing.TB, n *Node, id string) agent.Seat {
	t.Helper()
	s, err := n.Seat(agent.SeatID(id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func describe(s agent.Seat) string {
	return fmt.Sprintf("%s:%s:%s:%s", s.ID, s.State, s.Reason, s.CallID)
}

// elapse lets d pass in heartbeat steps, every node heartbeating (and so
// staying alive) at each, and pumps their streams.
func elapse(t testing.TB, clk *fakeClock, d time.Duration, nodes ...*Node) {
	t.Helper()
	for d > 0 {
		step := min(d, time.Second)
		clk.Advance(step)
		d -= step
		for _, n := range nodes {
			if err := n.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		pump(t, nodes...)
	}
}
