package acd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12348/hotline/agent"
)

const s = time.Second

// cfg is SPEC §3's defaults.
var cfg = Config{RingTimeout: 15 * s, WrapUp: 30 * s, MaxWait: 10 * time.Minute, SkillFallback: 60 * s}

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

// env drives one ACD in a test, with the invariants checked after every step.
type env struct {
	t     *testing.T
	a     *ACD
	t0    time.Time
	calls map[string]<-chan Event
	// tokens holds each call's last offer token seen on its channel: the
	// reports below carry it, as the call layer does.
	tokens map[string]uint64

	mu        sync.Mutex
	violation error
}

func start(t *testing.T, c Config, specs ...string) *env {
	t.Helper()
	a, err := New(c, seatSpecs(specs...), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, a: a, t0: time.Now(), calls: make(map[string]<-chan Event), tokens: make(map[string]uint64)}
	watch(a, func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.violation == nil {
			e.violation = err
		}
	})
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.violation != nil {
			t.Errorf("invariant broken: %v", e.violation)
		}
	})
	return e
}

// watch checks the invariants after every step of a.
func watch(a *ACD, report func(error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.verify = func(now time.Time) {
		if err := a.check(now); err != nil {
			report(err)
		}
	}
}

// check verifies, under a.mu, what must hold after every step:
//   - no seat is offered two calls, no call is offered to two seats, and an
//     offer is always both halves (seat ringing with the call, call offered
//     to the seat);
//   - seats' fields agree with their state;
//   - no ready seat is idle while a call it may take waits (calls that a
//     seat declined aside: their rule is tested on its own);
//   - no waiting call is past MaxWait, no wrap-up past its end, no seat
//     rings past RingTimeout;
//   - every queued call has its channel; positions are 1..n in dispatch order.
func (a *ACD) check(now time.Time) error {
	seats, err := a.store.Seats(nil)
	if err != nil {
		return err
	}
	entries, err := a.store.Entries()
	if err != nil {
		return err
	}
	byCall := make(map[string]Entry, len(entries))
	for _, e := range entries {
		byCall[e.ID] = e
	}
	ringingFor := make(map[string]agent.SeatID)
	for _, st := range seats {
		if st.Registered != (st.State != agent.Offline) {
			return fmt.Errorf("seat %s: registered %v in %s", st.ID, st.Registered, st.State)
		}
		switch st.State {
		case agent.Ringing:
			if other, ok := ringingFor[st.CallID]; ok {
				return fmt.Errorf("call %s offered to two seats: %s and %s", st.CallID, other, st.ID)
			}
			ringingFor[st.CallID] = st.ID
			if e, ok := byCall[st.CallID]; !ok || e.Seat != st.ID {
				return fmt.Errorf("seat %s rings for call %s, which is not offered to it (%+v)", st.ID, st.CallID, e)
			}
			if a.cfg.RingTimeout > 0 && now.Sub(st.Since) >= a.cfg.RingTimeout {
				return fmt.Errorf("seat %s still rings for call %s after %v (ring timeout %v)", st.ID, st.CallID, now.Sub(st.Since), a.cfg.RingTimeout)
			}
		case agent.Busy, agent.WrapUp:
			if st.CallID == "" {
				return fmt.Errorf("seat %s %s without a call", st.ID, st.State)
			}
			if _, ok := byCall[st.CallID]; ok {
				return fmt.Errorf("seat %s %s with call %s, still queued", st.ID, st.State, st.CallID)
			}
			if st.State == agent.WrapUp && !st.WrapUpUntil.After(now) {
				return fmt.Errorf("seat %s still in wrap-up after %v", st.ID, st.WrapUpUntil)
			}
		default:
			if st.CallID != "" {
				return fmt.Errorf("seat %s %s with call %s", st.ID, st.State, st.CallID)
			}
		}
	}
	if len(a.calls) != len(entries) {
		return fmt.Errorf("%d channels for %d queued calls", len(a.calls), len(entries))
	}
	pos := 0
	for _, e := range entries {
		if _, ok := a.calls[e.ID]; !ok {
			return fmt.Errorf("call %s queued without a channel", e.ID)
		}
		p, err := a.store.Position(e.ID)
		if err != nil {
			return err
		}
		if e.Offered() {
			if ringingFor[e.ID] != e.Seat {
				return fmt.Errorf("call %s offered to %s, which is not ringing for it", e.ID, e.Seat)
			}
			if p != 0 {
				return fmt.Errorf("offered call %s at position %d", e.ID, p)
			}
			continue
		}
		if pos++; p != pos {
			return fmt.Errorf("call %s at position %d, want %d", e.ID, p, pos)
		}
		if a.cfg.MaxWait > 0 && now.Sub(e.EnqueuedAt) >= a.cfg.MaxWait {
			return fmt.Errorf("call %s waits past MaxWait", e.ID)
		}
		if len(e.Declined) > 0 {
			continue
		}
		for _, st := range seats {
			if st.State == agent.Ready && (st.HasSkill(e.Skill) || now.Sub(e.EnqueuedAt) >= a.cfg.SkillFallback) {
				return fmt.Errorf("seat %s ready while call %s (%s) waits", st.ID, e.ID, e.Skill)
			}
		}
	}
	return nil
}

// at is the virtual time since the test began.
func (e *env) at() time.Duration { return time.Since(e.t0) }

// sleep advances the fake clock and lets the ACD's timer goroutine act.
func (e *env) sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (e *env) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) register(ids ...agent.SeatID) {
	e.t.Helper()
	for _, id := range ids {
		e.ok(e.a.SeatRegistered(id))
	}
}

func (e *env) enqueue(id, skill, prio string) {
	e.t.Helper()
	ch, err := e.a.Enqueue(Call{ID: id, Skill: skill, Priority: prio})
	e.ok(err)
	e.calls[id] = ch
}

// event returns the next event of a call, or a zero Event if there is none
// yet; closed reports a closed channel.
func (e *env) event(id string) (ev Event, closed bool) {
	select {
	case ev, ok := <-e.calls[id]:
		if ev.Token != 0 {
			e.tokens[id] = ev.Token
		}
		return ev, !ok
	default:
		return Event{}, false
	}
}

// expect checks the next event of a call.
func (e *env) expect(id string, want Event) {
	e.t.Helper()
	got, closed := e.event(id)
	if closed || got.Kind != want.Kind || got.Seat != want.Seat {
		e.t.Fatalf("at %v: call %s: event %+v (closed %v), want %+v", e.at(), id, got, closed, want)
	}
}

// offered checks that call id is offered to seat.
func (e *env) offered(id string, seat agent.SeatID) {
	e.t.Helper()
	e.expect(id, Event{Kind: Offer, Seat: seat})
}

// quiet checks that a call has no event waiting and is not closed.
func (e *env) quiet(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		if got, closed := e.event(id); closed || got.Kind != 0 {
			e.t.Fatalf("at %v: call %s: unexpected event %+v (closed %v)", e.at(), id, got, closed)
		}
	}
}

// closed checks that a call's channel is closed with nothing left in it.
func (e *env) closed(id string) {
	e.t.Helper()
	if got, closed := e.event(id); !closed {
		e.t.Fatalf("at %v: call %s: %+v, want its channel closed", e.at(), id, got)
	}
}

// seat checks a seat's state and reason.
func (e *env) seat(id agent.SeatID, state agent.State, reason string) agent.Seat {
	e.t.Helper()
	st, err := e.a.Seat(id)
	e.ok(err)
	if st.State != state || st.Reason != reason {
		e.t.Fatalf("at %v: seat %s is %s %q, want %s %q", e.at(), id, st.State, st.Reason, state, reason)
	}
	return st
}

// queue returns "id:state:position" for every queued call, in dispatch order.
func (e *env) queue() []string {
	var out []string
	for _, q := range e.a.Queue() {
		out = append(out, fmt.Sprintf("%s:%s:%d", q.CallID, q.State, q.Position))
	}
	return out
}

func (e *env) wantQueue(want ...string) {
	e.t.Helper()
	if got := e.queue(); !slices.Equal(got, want) {
		e.t.Fatalf("at %v: queue %q, want %q", e.at(), got, want)
	}
}

// serve answers the call offered to seat and hangs it up at once.
func (e *env) serve(id string, seat agent.SeatID) {
	e.t.Helper()
	e.offered(id, seat)
	e.ok(e.answered(id, seat))
	e.closed(id)
	e.ok(e.hangup(id, seat))
}

// The reports of the call layer, carrying the call's last offer token.
func (e *env) answered(id string, seat agent.SeatID) error {
	return e.a.Answered(id, seat, e.tokens[id])
}

func (e *env) noAnswer(id string, seat agent.SeatID) error {
	return e.a.NoAnswer(id, seat, e.tokens[id])
}

func (e *env) declined(id string, seat agent.SeatID) error {
	return e.a.Declined(id, seat, e.tokens[id])
}

func (e *env) hangup(id string, seat agent.SeatID) error {
	return e.a.Hangup(id, seat, e.tokens[id])
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
