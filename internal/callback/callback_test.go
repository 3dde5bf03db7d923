package callback

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// ---- fakes ----

type fakeMedia struct{ done chan struct{} }

func (m *fakeMedia) Play(...string) <-chan struct{}        { c := make(chan struct{}); close(c); return c }
func (m *fakeMedia) StopPlay()                             {}
func (m *fakeMedia) Digits() <-chan rune                   { return nil }
func (m *fakeMedia) Reoffer(o []byte) ([]byte, error)      { return o, nil }
func (m *fakeMedia) StartRecording(string) error           { return nil }
func (m *fakeMedia) StopRecording() (time.Duration, error) { return 0, nil }
func (m *fakeMedia) ApplyAnswer([]byte, netip.Addr) error  { return nil }
func (m *fakeMedia) Done() <-chan struct{}                 { return m.done }
func (m *fakeMedia) Err() error                            { return nil }
func (m *fakeMedia) Close() error                          { return nil }

type fakeFactory struct {
	mu      sync.Mutex
	bridged int
	recPath string
}

func (f *fakeFactory) OfferFirst(string, *slog.Logger) (call.Media, []byte, error) {
	return &fakeMedia{done: make(chan struct{})}, []byte("offer"), nil
}
func (f *fakeFactory) Offer(call.Media, string, *slog.Logger) (call.Media, []byte, error) {
	return &fakeMedia{done: make(chan struct{})}, []byte("offer2"), nil
}
func (f *fakeFactory) Bridge(_, _ call.Media, rec string) (func() (time.Duration, error), error) {
	f.mu.Lock()
	f.bridged++
	f.recPath = rec
	f.mu.Unlock()
	return func() (time.Duration, error) { return time.Second, nil }, nil
}

// fakeLeg answers with code after a short ring; it hangs up after talk when answered.
type fakeLeg struct {
	code   int
	talk   time.Duration
	events chan call.Event
}

func newLeg(code int, talk time.Duration) *fakeLeg {
	return &fakeLeg{code: code, talk: talk, events: make(chan call.Event, 2)}
}
func (l *fakeLeg) Ringing() <-chan struct{} { return nil }
func (l *fakeLeg) Wait(cancel <-chan struct{}) (call.SeatAnswer, error) {
	if l.code == 0 {
		<-cancel
		return call.SeatAnswer{Code: 487}, nil
	}
	if l.code == 200 {
		go func() { time.Sleep(l.talk); l.events <- call.Event{Kind: call.EventHangup} }()
	}
	return call.SeatAnswer{Code: l.code}, nil
}
func (l *fakeLeg) Events() <-chan call.Event             { return l.events }
func (l *fakeLeg) SendDigit(context.Context, rune) error { return nil }
func (l *fakeLeg) Hangup(context.Context) error          { return nil }
func (l *fakeLeg) Close()                                {}

type fakeSeats struct{ leg *fakeLeg }

func (d *fakeSeats) Dial(context.Context, string, []byte, func([]byte) ([]byte, error), *ticket.Ticket, *slog.Logger) (call.SeatCall, error) {
	return d.leg, nil
}

type fakeTrunk struct {
	mu     sync.Mutex
	dialed []string
	leg    *fakeLeg
}

func (d *fakeTrunk) Dial(_ context.Context, number string, _ []byte, _ func([]byte) ([]byte, error), _ *ticket.Ticket, _ *slog.Logger) (call.SeatCall, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, number)
	d.mu.Unlock()
	return d.leg, nil
}

type fakeFloor struct {
	mu     sync.Mutex
	seats  map[agent.SeatID]agent.Seat
	queue  []acd.QueueEntry
	states []string
}

func (f *fakeFloor) Seats() []agent.Seat {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []agent.Seat
	for _, s := range f.seats {
		out = append(out, s)
	}
	return out
}
func (f *fakeFloor) Queue() []acd.QueueEntry { return f.queue }
func (f *fakeFloor) SetState(id agent.SeatID, st agent.State, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.seats[id]
	s.State, s.Reason = st, reason
	f.seats[id] = s
	f.states = append(f.states, string(st)+"/"+reason)
	return nil
}

type users map[string]string

func (u users) UserBySeat(_ context.Context, seat string) (string, error) { return u[seat], nil }

// ---- setup ----

func newService(t *testing.T) (*Service, *ticket.Store, *fakeFloor) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := ticket.NewStore(db, "t-1", time.UTC, nil)
	ts.SetCallbackPolicy(ticket.CallbackPolicy{Due: map[string]time.Duration{vocab.CallbackVoicemail: time.Hour, vocab.CallbackAbandoned: 2 * time.Hour}, MaxAttempts: 2})
	floor := &fakeFloor{seats: map[agent.SeatID]agent.Seat{
		"8001": {ID: "8001", State: agent.Ready, IdleSince: time.Now().Add(-time.Minute)},
		"8002": {ID: "8002", State: agent.Ready, IdleSince: time.Now().Add(-time.Hour)}, // idle longest
		"8003": {ID: "8003", State: agent.Busy},
	}}
	s := &Service{Tickets: ts, Media: &fakeFactory{}, Floor: floor, Users: users{"8001": "op1", "8002": "op2", "8003": "op3"},
		RingSeat: time.Second, RingCitizen: time.Second, Metrics: NewMetrics(prometheus.NewRegistry(), ts, slog.New(slog.DiscardHandler)),
		Log: slog.New(slog.DiscardHandler)}
	return s, ts, floor
}

func voicemail(t *testing.T, ts *ticket.Store, caller string) *ticket.Ticket {
	t.Helper()
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c-" + caller, Caller: caller, Called: "12348"}
	if err := ts.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	out, err := ts.Update(ctx, tk.ID, func(tk *ticket.Ticket) error {
		tk.Status, tk.Outcome, tk.Callback, tk.EndedAt = vocab.StatusClosed, vocab.OutcomeVoicemail, true, ticket.TimePtr(time.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- tests ----

func TestAssignIdleLongestIdleFirstOnlyWhenQueueEmpty(t *testing.T) {
	ctx := context.Background()
	s, ts, floor := newService(t)
	a := voicemail(t, ts, "13800000001")
	time.Sleep(5 * time.Millisecond)
	b := voicemail(t, ts, "13800000002")

	floor.queue = []acd.QueueEntry{{CallID: "x"}}
	if n, err := s.AssignIdle(ctx); n != 0 || err != nil {
		t.Fatalf("assigned %d (%v) while a caller waits", n, err)
	}
	floor.queue = nil
	if n, err := s.AssignIdle(ctx); n != 2 || err != nil {
		t.Fatalf("assigned %d (%v), want 2 (two ready seats)", n, err)
	}
	got := map[string]string{}
	for _, c := range must(ts.Callbacks(ctx, ticket.CallbackFilter{})) {
		got[c.TicketID] = string(c.AssignedTo)
	}
	// The task due first to the seat idle longest (8002).
	if got[a.ID] != "op2" || got[b.ID] != "op1" {
		t.Errorf("assignment %v, want %s→op2, %s→op1", got, a.ID, b.ID)
	}
	// One task each at a time: a third waits.
	voicemail(t, ts, "13800000003")
	if n, _ := s.AssignIdle(ctx); n != 0 {
		t.Errorf("assigned %d more to operators who have one", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDialGuards(t *testing.T) {
	ctx := context.Background()
	s, ts, floor := newService(t)
	tk := voicemail(t, ts, "13800000001")
	id := tk.Callbacks[0].ID
	if _, err := s.Dial(ctx, id, "op1", "8001", false); !errors.Is(err, ErrNoTrunk) {
		t.Fatalf("no trunk: %v", err)
	}
	s.Trunk = &fakeTrunk{leg: newLeg(200, 0)}
	s.Seats = &fakeSeats{leg: newLeg(200, 0)}
	if _, err := s.Dial(ctx, id, "op3", "8003", false); !errors.Is(err, ErrBusy) {
		t.Errorf("busy seat: %v", err)
	}
	if _, err := s.Dial(ctx, id, "op1", "", false); !errors.Is(err, ErrNoSeat) {
		t.Errorf("no seat: %v", err)
	}
	floor.seats["8001"] = agent.Seat{ID: "8001", State: agent.Offline}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); !errors.Is(err, ErrNoSeat) {
		t.Errorf("offline seat: %v", err)
	}
	if _, err := ts.ClaimCallback(ctx, id, "op2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dial(ctx, id, "op1", "8002", false); !errors.Is(err, ticket.ErrCallbackTaken) {
		t.Errorf("someone else's task: %v", err)
	}
	// An anonymous voicemail has no task at all; a task with a bad number
	// (written before the rule) is refused.
	anon := voicemail(t, ts, "anonymous")
	if len(anon.Callbacks) != 0 {
		t.Errorf("anonymous caller got a task %+v", anon.Callbacks)
	}
}

func TestDialRingsOperatorThenCitizen(t *testing.T) {
	ctx := context.Background()
	s, ts, floor := newService(t)
	s.RecordingPath = func(id ticket.ID, _ time.Time) string { return "/rec/" + id + ".wav" }
	trunk := &fakeTrunk{leg: newLeg(200, 100*time.Millisecond)}
	s.Trunk, s.Seats = trunk, &fakeSeats{leg: newLeg(200, time.Hour)}
	tk := voicemail(t, ts, "13800000001")
	id := tk.Callbacks[0].ID
	c, err := s.Dial(ctx, id, "op1", "8001", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Caller = "tampered" // the web layer masks its copy: never what is dialled
	s.Wait()
	if len(trunk.dialed) != 1 || trunk.dialed[0] != "13800000001" {
		t.Fatalf("dialled %v, want the task's own number", trunk.dialed)
	}
	got := must(ts.Callback(ctx, id))
	if got.State != vocab.CallbackAssigned || got.AssignedTo != "op1" || len(got.History) != 1 {
		t.Fatalf("task after the call: %+v", got)
	}
	e := got.History[0]
	if e.Kind != ticket.EntryCall || e.Result != "answered" || e.TalkSeconds == nil || e.Recording == "" {
		t.Errorf("history entry %+v", e)
	}
	// not_ready (callback) during the call, ready again after.
	if st := floor.states; len(st) != 2 || st[0] != "not_ready/callback" || st[1] != "ready/" {
		t.Errorf("seat states %v", st)
	}
	// The citizen does not answer; the operator's phone does not.
	s.Trunk = &fakeTrunk{leg: newLeg(0, 0)}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	s.Seats = &fakeSeats{leg: newLeg(486, 0)}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	got = must(ts.Callback(ctx, id))
	if len(got.History) != 3 || got.History[1].Result != vocab.ResultNoAnswer || got.History[2].Result != "operator_no_answer" {
		t.Errorf("history %+v", got.History)
	}
	// Results: two attempts without reaching the citizen close it.
	if _, err := s.Result(ctx, id, "op1", false, vocab.ResultNoAnswer, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); err != nil { // back in the list: claimed again by dialling
		t.Fatal(err)
	}
	s.Wait()
	if c, err := s.Result(ctx, id, "op1", false, vocab.ResultNoAnswer, nil); err != nil || c.State != vocab.CallbackUnreachable {
		t.Fatalf("after max attempts: %+v %v", c, err)
	}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); !errors.Is(err, ticket.ErrCallbackClosed) {
		t.Errorf("dial a closed task: %v", err)
	}
}

func TestCloseEndsCallbacksInProgress(t *testing.T) {
	ctx := context.Background()
	s, ts, _ := newService(t)
	mf := &fakeFactory{}
	s.Media, s.Trunk, s.Seats = mf, &fakeTrunk{leg: newLeg(200, time.Hour)}, &fakeSeats{leg: newLeg(200, time.Hour)}
	tk := voicemail(t, ts, "13800000001")
	id := tk.Callbacks[0].ID
	if _, err := s.Dial(ctx, id, "op1", "8001", false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mf.mu.Lock()
		n := mf.bridged
		mf.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never bridged")
		}
	}
	start := time.Now()
	s.Close(5 * time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	got := must(ts.Callback(ctx, id))
	if len(got.History) != 1 || got.History[0].Result != "answered" {
		t.Errorf("history after Close: %+v", got.History)
	}
	if _, err := s.Dial(ctx, id, "op1", "8001", false); !errors.Is(err, ErrStopping) {
		t.Errorf("dial after Close: %v", err)
	}
}
