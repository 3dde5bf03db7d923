package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// fakeFloor is the ACD as the console sees it, set by the test.
type fakeFloor struct {
	mu    sync.Mutex
	seats []agent.Seat
	queue []acd.QueueEntry
}

func newFakeFloor() *fakeFloor {
	now := time.Now()
	return &fakeFloor{seats: []agent.Seat{
		{ID: "8001", Name: "坐席1", State: agent.Ready, Registered: true, Since: now},
		{ID: "8002", Name: "坐席2", State: agent.Offline, Since: now},
	}}
}

func (f *fakeFloor) Seats() []agent.Seat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seats)
}

func (f *fakeFloor) Queue() []acd.QueueEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queue)
}

func (f *fakeFloor) SetState(id agent.SeatID, st agent.State, reason string) error { return nil }

func (f *fakeFloor) set(id agent.SeatID, fn func(s *agent.Seat)) agent.Seat {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.seats {
		if f.seats[i].ID == id {
			fn(&f.seats[i])
			return f.seats[i]
		}
	}
	panic("no seat " + id)
}

func (f *fakeFloor) setQueue(q ...acd.QueueEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = q
}

// liveEnv is a server with a hub fed by a channel the test writes ACD changes to.
type liveEnv struct {
	*env
	floor   *fakeFloor
	hub     *Hub
	changes chan acd.Change
}

func newLiveEnv(t *testing.T, ho HubOptions) *liveEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, tickets: ticket.NewStore(db, "t-1", time.UTC, nil), users: auth.NewStore(db, nil), recDir: dir}
	e.tickets.SetCallbackPolicy(testCallbackPolicy) // voicemails are callback tasks
	for _, u := range []auth.User{
		{Name: "op", Role: auth.RoleOperator, SeatID: "8001"},
		{Name: "op2", Role: auth.RoleOperator, SeatID: "8002"},
		{Name: "boss", Role: auth.RoleManager},
	} {
		if err := e.users.AddUser(ctx, u, u.Name+"-password", false); err != nil {
			t.Fatal(err)
		}
	}
	le := &liveEnv{env: e, floor: newFakeFloor(), changes: make(chan acd.Change, 64)}
	var once sync.Once
	ho.Changes = func() (<-chan acd.Change, func()) {
		return le.changes, func() { once.Do(func() {}) }
	}
	ho.Floor, ho.Tickets = le.floor, e.tickets
	if ho.Coalesce == 0 {
		ho.Coalesce = 10 * time.Millisecond
	}
	if ho.StatsEvery == 0 {
		ho.StatsEvery = 50 * time.Millisecond
	}
	le.hub = NewHub(ho)
	h := New(Options{Floor: le.floor, Events: le.hub}, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	t.Cleanup(le.hub.Close) // runs first: ends the streams so that srv.Close does not wait for them
	return le
}

type sseEvent struct {
	ID, Name, Data string
}

func (ev sseEvent) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(ev.Data), v); err != nil {
		t.Fatalf("event %s: %v\n%s", ev.Name, err, ev.Data)
	}
}

type sseStream struct {
	res    *http.Response
	events chan sseEvent // comments arrive as Name ":"
}

// stream opens GET /api/events with the token and reads it in the background.
func (e *env) stream(t *testing.T, token string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET /api/events: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 1000)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.Name != "" || cur.Data != "" {
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{Name: ":", Data: line}
			case strings.HasPrefix(line, "id: "):
				cur.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.Data += line[6:]
			}
		}
	}()
	t.Cleanup(func() { res.Body.Close() })
	return s
}

// next returns the next event named name, skipping others; fails after within.
func (s *sseStream) next(t *testing.T, name string, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within %s", name, within)
		}
	}
}

// none checks that no event named name arrives within d.
func (s *sseStream) none(t *testing.T, name string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			if ev.Name == name {
				t.Fatalf("unexpected %q event: %s", name, ev.Data)
			}
		case <-deadline:
			return
		}
	}
}

// ended waits for the stream to end.
func (s *sseStream) ended(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("stream still open after %s", within)
		}
	}
}

func TestEventsNeedAuth(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	if code, _ := le.do(t, "GET", "/api/events", "", ""); code != 401 {
		t.Fatalf("without a session: %d, want 401", code)
	}
	if code, _ := le.do(t, "GET", "/api/events", "forged", ""); code != 401 {
		t.Fatalf("forged token: %d, want 401", code)
	}
	if le.hub.Clients() != 0 {
		t.Fatalf("%d clients after refused requests", le.hub.Clients())
	}
	// Not configured: 503, not a hang.
	e := newEnv(t)
	if code, _ := e.do(t, "GET", "/api/events", e.login(t, "op"), ""); code != 503 {
		t.Fatalf("no hub: %d, want 503", code)
	}
}

func TestEventsSnapshotThenLiveSeatAndQueue(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	op := le.stream(t, le.login(t, "op"))
	boss := le.stream(t, le.login(t, "boss"))
	for _, s := range []*sseStream{op, boss} {
		var first, second struct{ Seat agent.Seat }
		s.next(t, EventSeat, time.Second).decode(t, &first)
		s.next(t, EventSeat, time.Second).decode(t, &second)
		if first.Seat.ID != "8001" || second.Seat.ID != "8002" || second.Seat.State != agent.Offline {
			t.Fatalf("snapshot seats %+v %+v", first.Seat, second.Seat)
		}
		var q struct{ Queue []acd.QueueEntry }
		s.next(t, EventQueue, time.Second).decode(t, &q)
		if q.Queue == nil || len(q.Queue) != 0 {
			t.Fatalf("snapshot queue %+v", q.Queue)
		}
	}

	// A burst of changes: the consoles get the floor as it stands after it.
	seat := le.floor.set("8002", func(s *agent.Seat) { s.State, s.Registered, s.Since = agent.Ready, true, time.Now() })
	le.changes <- acd.Change{Kind: acd.SeatChanged, Seat: seat}
	seat = le.floor.set("8002", func(s *agent.Seat) { s.State, s.Reason = agent.NotReady, "break" })
	le.changes <- acd.Change{Kind: acd.SeatChanged, Seat: seat}
	entry := acd.QueueEntry{CallID: "T-1", Skill: "consult", Priority: "green", State: acd.EntryWaiting, Position: 1, EnqueuedAt: time.Now()}
	le.floor.setQueue(entry)
	le.changes <- acd.Change{Kind: acd.CallQueued, Call: entry}
	for _, s := range []*sseStream{op, boss} {
		var ev struct {
			Seat agent.Seat
			At   time.Time
		}
		got := s.next(t, EventSeat, 2*time.Second)
		got.decode(t, &ev)
		if ev.Seat.ID != "8002" || ev.Seat.State != agent.NotReady || ev.Seat.Reason != "break" || ev.At.IsZero() {
			t.Fatalf("seat event %s", got.Data)
		}
		if got.ID == "" {
			t.Fatal("event without id")
		}
		var q struct{ Queue []acd.QueueEntry }
		s.next(t, EventQueue, 2*time.Second).decode(t, &q)
		if len(q.Queue) != 1 || q.Queue[0].CallID != "T-1" || q.Queue[0].Priority != "green" {
			t.Fatalf("queue event %+v", q.Queue)
		}
	}
	// Coalesced: the two changes of 8002 made one event.
	op.none(t, EventSeat, 100*time.Millisecond)

	// A subscriber that missed changes re-reads every seat.
	le.changes <- acd.Change{Kind: acd.CallQueued, Call: entry, Missed: 3}
	for range 2 {
		op.next(t, EventSeat, 2*time.Second)
	}
}

func TestEventsOfferGoesToTheSeatWithHistory(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	ctx := context.Background()
	const caller = "13800001111"
	earlier := &ticket.Ticket{CallID: "c0", Caller: caller, Called: "12348", OpenedAt: time.Now().Add(-48 * time.Hour)}
	if err := le.tickets.Open(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if _, err := le.tickets.Update(ctx, earlier.ID, func(t *ticket.Ticket) error {
		t.Status, t.Outcome, t.Callback, t.Summary = vocab.StatusClosed, vocab.OutcomeVoicemail, true, "欠薪三个月"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old := &ticket.Ticket{CallID: "c-old", Caller: caller, Called: "12348", OpenedAt: time.Now().AddDate(0, 0, -100)}
	if err := le.tickets.Open(ctx, old); err != nil {
		t.Fatal(err)
	}
	now := &ticket.Ticket{CallID: "c1", Caller: caller, Called: "12348"}
	if err := le.tickets.Open(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := le.tickets.Update(ctx, now.ID, func(t *ticket.Ticket) error {
		t.Category, t.Priority, t.IVRPath, t.QueuedAt = "legal_aid", "green", "9", ticket.TimePtr(time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	op := le.stream(t, le.login(t, "op"))
	op2 := le.stream(t, le.login(t, "op2"))
	boss := le.stream(t, le.login(t, "boss"))
	time.Sleep(50 * time.Millisecond) // revisions above are before the streams

	seat := le.floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Ringing, now.ID })
	le.changes <- acd.Change{Kind: acd.SeatChanged, Seat: seat}
	le.changes <- acd.Change{Kind: acd.CallOffered, Seat: seat, Call: acd.QueueEntry{CallID: now.ID, Seat: "8001", State: acd.EntryOffered, Wait: 3 * time.Second}}

	var offer OfferEvent
	got := op.next(t, EventOffer, 2*time.Second)
	got.decode(t, &offer)
	if offer.Stage != OfferRinging || offer.Seat != "8001" || offer.Ticket == nil || offer.Ticket.ID != now.ID {
		t.Fatalf("offer %s", got.Data)
	}
	if offer.Ticket.Caller != "138****1111" || strings.Contains(got.Data, caller) {
		t.Fatalf("operator's screen-pop shows the full number: %s", got.Data)
	}
	if offer.Ticket.Priority != "green" || offer.Ticket.IVRPath != "9" || offer.WaitSeconds == nil || *offer.WaitSeconds != 3 {
		t.Fatalf("offer facts %+v wait %v", offer.Ticket, offer.WaitSeconds)
	}
	if len(offer.History) != 1 || offer.History[0].ID != earlier.ID || offer.History[0].Summary != "欠薪三个月" {
		t.Fatalf("history (90 days, not the call itself, not the 100-day-old one): %+v", offer.History)
	}
	op2.none(t, EventOffer, 100*time.Millisecond)
	boss.none(t, EventOffer, 10*time.Millisecond)

	// Answer: the pop again; a revision of the call reaches the operator and the manager, not the other operator.
	le.changes <- acd.Change{Kind: acd.CallAnswered, Seat: seat, Call: acd.QueueEntry{CallID: now.ID}}
	op.next(t, EventOffer, 2*time.Second).decode(t, &offer)
	if offer.Stage != OfferAnswered {
		t.Fatalf("second offer stage %q", offer.Stage)
	}
	if _, err := le.tickets.Update(ctx, now.ID, func(t *ticket.Ticket) error {
		t.SeatID, t.AnsweredAt = "8001", ticket.TimePtr(time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sseStream{op, boss} {
		var te TicketEvent
		got := s.next(t, EventTicket, 2*time.Second)
		got.decode(t, &te)
		if te.ID != now.ID || te.SeatID != "8001" || te.Event != ticket.EventUpdated || strings.Contains(got.Data, caller) || strings.Contains(got.Data, "138****") {
			t.Fatalf("ticket event %s", got.Data)
		}
	}
	op2.none(t, EventTicket, 100*time.Millisecond)

	// A reconnecting operator gets the pop of the call in progress.
	seat = le.floor.set("8001", func(s *agent.Seat) { s.State = agent.Busy })
	le.changes <- acd.Change{Kind: acd.SeatChanged, Seat: seat}
	again := le.stream(t, le.login(t, "op"))
	again.next(t, EventOffer, 2*time.Second).decode(t, &offer)
	if offer.Stage != OfferAnswered || offer.Ticket == nil || offer.Ticket.ID != now.ID {
		t.Fatalf("reconnect offer %+v", offer)
	}

	// An offer that ends unanswered says so.
	le.changes <- acd.Change{Kind: acd.CallNoAnswer, Seat: seat, Call: acd.QueueEntry{CallID: now.ID}}
	op.next(t, EventOffer, 2*time.Second).decode(t, &offer)
	if offer.Stage != OfferGone || offer.TicketID != now.ID || offer.Reason != "call_no_answer" {
		t.Fatalf("gone offer %+v", offer)
	}
}

func TestEventsHeartbeatAndSessionEnd(t *testing.T) {
	le := newLiveEnv(t, HubOptions{Heartbeat: 50 * time.Millisecond})
	tok := le.login(t, "op")
	s := le.stream(t, tok)
	if ev := s.next(t, ":", time.Second); ev.Data != ": ping" {
		t.Fatalf("heartbeat %q", ev.Data)
	}
	if code, _ := le.do(t, "POST", "/api/logout", tok, ""); code != 204 {
		t.Fatal("logout")
	}
	s.ended(t, time.Second)
}

func TestEventsSlowConsoleIsDroppedNeverWaitedFor(t *testing.T) {
	le := newLiveEnv(t, HubOptions{ClientBuffer: 32})
	// A console that reads nothing at all (joined, never drained).
	slow, err := le.hub.join(auth.User{Name: "slow", Role: auth.RoleManager})
	if err != nil {
		t.Fatal(err)
	}
	good := le.stream(t, le.login(t, "boss"))
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 60 {
			tk := &ticket.Ticket{CallID: "c", Caller: "13900000000", Called: "12348"}
			if err := le.tickets.Open(ctx, tk); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticket store was held up by a console")
	}
	select {
	case <-slow.gone:
	case <-time.After(2 * time.Second):
		t.Fatal("the slow console was not dropped")
	}
	// The healthy console got every revision.
	for range 60 {
		good.next(t, EventTicket, 2*time.Second)
	}
	if le.hub.Clients() != 1 {
		t.Fatalf("%d clients, want 1 (the slow one gone)", le.hub.Clients())
	}
	// The ACD side never blocks either: ticketRevision hands over or counts a loss.
	start := time.Now()
	for range 5000 {
		le.hub.ticketRevision(&ticket.Ticket{ID: "x"}, ticket.EventUpdated)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("5000 hand-overs took %s", d)
	}
}

func TestEventsStatsThrottledToManagers(t *testing.T) {
	var calls atomic.Int32
	le := newLiveEnv(t, HubOptions{
		StatsEvery: 200 * time.Millisecond,
		StatsToday: func(ctx context.Context) (any, error) {
			n := calls.Add(1)
			return map[string]any{"offered": n}, nil
		},
	})
	op := le.stream(t, le.login(t, "op"))
	boss := le.stream(t, le.login(t, "boss"))
	ctx := context.Background()
	start := time.Now()
	for range 30 {
		if err := le.tickets.Open(ctx, &ticket.Ticket{CallID: "c", Caller: "13900000000", Called: "12348"}); err != nil {
			t.Fatal(err)
		}
	}
	var st struct{ Offered int }
	boss.next(t, EventStats, 2*time.Second).decode(t, &st)
	if st.Offered < 1 {
		t.Fatalf("stats %+v", st)
	}
	time.Sleep(500 * time.Millisecond)
	if n, max := calls.Load(), int32(time.Since(start)/(200*time.Millisecond))+2; n > max {
		t.Fatalf("stats computed %d times in %s: not throttled", n, time.Since(start))
	}
	op.none(t, EventStats, 100*time.Millisecond)
	// A manager who connects later gets the last numbers at once.
	late := le.stream(t, le.login(t, "boss"))
	late.next(t, EventStats, time.Second)
}

func TestEventsCloseEndsStreams(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	s := le.stream(t, le.login(t, "boss"))
	s.next(t, EventQueue, time.Second)
	le.hub.Close()
	s.ended(t, 2*time.Second)
	if code, _ := le.do(t, "GET", "/api/events", le.login(t, "boss"), ""); code != 503 {
		t.Fatalf("after close: %d, want 503", code)
	}
	le.hub.Close() // twice is fine
}

func TestEventsTooManyConsoles(t *testing.T) {
	le := newLiveEnv(t, HubOptions{MaxClients: 1})
	tok := le.login(t, "boss")
	le.stream(t, tok)
	if code, _ := le.do(t, "GET", "/api/events", tok, ""); code != 503 {
		t.Fatalf("second console over the limit: %d, want 503", code)
	}
}
