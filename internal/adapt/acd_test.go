package adapt

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/metrictest"
)

func newFloor(t *testing.T, seats ...agent.Seat) *acd.ACD {
	t.Helper()
	a, err := acd.New(acd.Config{RingTimeout: 15 * time.Second, WrapUp: time.Second, MaxWait: time.Minute,
		SkillFallback: time.Minute, DeclinePause: time.Second}, seats, acd.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// The distributor passes the call layer's facts to the ACD under the ACD's
// names and returns every answer of the ACD: the call layer obeys them.
func TestDistributorReportsToTheACD(t *testing.T) {
	a := newFloor(t, agent.New("8001", "Seat 1", []string{"consult"}))
	d := Distributor{Floor: a}
	if err := a.SeatRegistered("8001"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetState("8001", agent.Ready, ""); err != nil {
		t.Fatal(err)
	}
	if d.LoggedIn() != 1 {
		t.Fatalf("LoggedIn %d, want 1", d.LoggedIn())
	}
	events, err := d.Enqueue("t-1", "consult", "normal", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var offer acd.Event
	select {
	case offer = <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("no offer")
	}
	if offer.Kind != acd.Offer || offer.Seat != "8001" {
		t.Fatalf("event %+v, want an offer to 8001", offer)
	}
	// A report with a stale token is refused by the ACD, and the refusal
	// reaches the call layer.
	if err := d.NoAnswer("t-1", "8001", offer.Token+7); !errors.Is(err, acd.ErrNotOffered) {
		t.Fatalf("stale NoAnswer: %v, want ErrNotOffered", err)
	}
	if err := d.Answered("t-1", "8001", offer.Token+7); err == nil {
		t.Fatal("Answered with a stale token: no error")
	}
	if err := d.Answered("t-1", "8001", offer.Token); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Seat("8001"); s.State != agent.Busy {
		t.Fatalf("seat %s after Answered, want busy", s.State)
	}
	if err := d.Hangup("t-1", "8001", offer.Token); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Seat("8001"); s.State != agent.WrapUp {
		t.Fatalf("seat %s after Hangup, want wrap_up", s.State)
	}
	// A call the ACD no longer has: ErrUnknownCall.
	if err := d.Abandon("never-queued"); !errors.Is(err, acd.ErrUnknownCall) {
		t.Fatalf("Abandon of an unknown call: %v, want ErrUnknownCall", err)
	}
	if d.Position("never-queued") != 0 {
		t.Fatal("position of an unknown call")
	}
}

// hotline_seats has every state, counted from the ACD at scrape time.
func TestSeatMetricsCountEveryState(t *testing.T) {
	a := newFloor(t, agent.New("8001", "1", []string{"consult"}), agent.New("8002", "2", []string{"consult"}), agent.New("8003", "3", []string{"consult"}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewSeatMetrics(a))
	for _, id := range []agent.SeatID{"8001", "8002"} {
		if err := a.SeatRegistered(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetState("8002", agent.NotReady, "break"); err != nil {
		t.Fatal(err)
	}
	want := map[agent.State]float64{agent.Offline: 1, agent.Ready: 1, agent.NotReady: 1}
	for _, st := range agent.States() {
		if got := metrictest.Value(t, reg, "hotline_seats", "state", string(st)); got != want[st] {
			t.Errorf("hotline_seats{state=%q} = %v, want %v", st, got, want[st])
		}
	}
}
