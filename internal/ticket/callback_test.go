package ticket

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/vocab"
)

func newCallbackStore(t *testing.T, max int) *Store {
	s := newTestStore(t)
	s.SetCallbackPolicy(CallbackPolicy{
		Due:          map[string]time.Duration{vocab.CallbackVoicemail: 2 * time.Hour, vocab.CallbackAbandoned: time.Hour, vocab.CallbackDissatisfied: 3 * time.Hour},
		ShortAbandon: 5 * time.Second, MaxAttempts: max,
	})
	return s
}

// closeTicket opens a ticket for caller and closes it with fn applied to the closing revision.
func closeTicket(t *testing.T, s *Store, caller string, fn func(tk *Ticket)) *Ticket {
	t.Helper()
	ctx := context.Background()
	tk := &Ticket{CallID: caller + "@x", Caller: caller, Called: "12348", OpenedAt: time.Now().Add(-time.Minute)}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	out, err := s.Update(ctx, tk.ID, func(tk *Ticket) error {
		tk.Status = vocab.StatusClosed
		tk.EndedAt = TimePtr(time.Now())
		fn(tk)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lastPush is the body of the newest outbox row of ticket id.
func lastPush(t *testing.T, s *Store, id string) Push {
	t.Helper()
	var body []byte
	if err := s.db.R.QueryRow(`SELECT body FROM outbox WHERE ticket_id = ? ORDER BY revision DESC LIMIT 1`, id).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var p Push
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCallbackTasksCreatedWithTheClosingRevision(t *testing.T) {
	ctx := context.Background()
	s := newCallbackStore(t, 3)
	vm := closeTicket(t, s, "13800000001", func(tk *Ticket) {
		u := RecordingURL(tk.ID)
		tk.Outcome, tk.Callback, tk.Recording = vocab.OutcomeVoicemail, true, &u
	})
	ab := closeTicket(t, s, "13800000002", func(tk *Ticket) { tk.Outcome = vocab.OutcomeAbandoned })
	short := closeTicket(t, s, "13800000003", func(tk *Ticket) {
		tk.Outcome = vocab.OutcomeAbandoned
		tk.EndedAt = TimePtr(tk.OpenedAt.Add(4 * time.Second)) // within short_abandon
	})
	three := 3
	sat := closeTicket(t, s, "13800000004", func(tk *Ticket) { tk.Outcome, tk.Satisfaction = vocab.OutcomeAnswered, &three })
	anon := closeTicket(t, s, "anonymous", func(tk *Ticket) { tk.Outcome, tk.Callback = vocab.OutcomeVoicemail, true })

	for _, c := range []struct {
		tk     *Ticket
		reason string
		due    time.Duration
	}{{vm, vocab.CallbackVoicemail, 2 * time.Hour}, {ab, vocab.CallbackAbandoned, time.Hour}, {sat, vocab.CallbackDissatisfied, 3 * time.Hour}} {
		if len(c.tk.Callbacks) != 1 || c.tk.Callbacks[0].Reason != c.reason || c.tk.Callbacks[0].State != vocab.CallbackOpen {
			t.Fatalf("%s: callbacks %+v, want one open %s task", c.tk.Caller, c.tk.Callbacks, c.reason)
		}
		if got := c.tk.Callbacks[0].DueAt.Sub(*c.tk.EndedAt); got != c.due {
			t.Errorf("%s: due %v after the end, want %v", c.reason, got, c.due)
		}
		// The closing push carries the task.
		p := lastPush(t, s, c.tk.ID)
		if p.Event != EventClosed || len(p.Ticket.Callbacks) != 1 || p.Ticket.Callbacks[0].Reason != c.reason {
			t.Errorf("%s: push %s with callbacks %+v", c.reason, p.Event, p.Ticket.Callbacks)
		}
	}
	if len(short.Callbacks) != 0 || len(anon.Callbacks) != 0 {
		t.Errorf("short abandon %+v / anonymous %+v made tasks", short.Callbacks, anon.Callbacks)
	}
	// Idempotent: more revisions make no second task.
	if _, err := s.Update(ctx, vm.ID, func(tk *Ticket) error { tk.Summary = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	all, err := s.Callbacks(ctx, CallbackFilter{State: "open"})
	if err != nil || len(all) != 3 {
		t.Fatalf("open tasks %d (%v), want 3", len(all), err)
	}
	if all[0].Reason != vocab.CallbackAbandoned || all[0].Caller != "13800000002" {
		t.Errorf("oldest due first: %+v", all[0])
	}
	got, err := s.Get(ctx, vm.ID)
	if err != nil || len(got.Callbacks) != 1 || got.Callbacks[0].Caller != "" {
		t.Errorf("Get: callbacks %+v (%v)", got.Callbacks, err)
	}
	if _, err := s.Callbacks(ctx, CallbackFilter{State: "bogus"}); !errors.Is(err, ErrCallbackBadInput) {
		t.Errorf("bad state: %v", err)
	}
}

func TestCallbackClaimResultAndUnreachable(t *testing.T) {
	ctx := context.Background()
	s := newCallbackStore(t, 2)
	tk := closeTicket(t, s, "13800000001", func(tk *Ticket) { tk.Outcome, tk.Callback = vocab.OutcomeVoicemail, true })
	id := tk.Callbacks[0].ID

	if _, err := s.CallbackResult(ctx, id, "op", false, vocab.ResultNoAnswer, nil); !errors.Is(err, ErrCallbackTaken) {
		t.Fatalf("result before claim: %v", err)
	}
	if _, err := s.ClaimCallback(ctx, id, "op", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimCallback(ctx, id, "op2", false); !errors.Is(err, ErrCallbackTaken) {
		t.Fatalf("claim of a taken task: %v", err)
	}
	// op2 sees neither the task nor its ticket; op does.
	if l, _ := s.Callbacks(ctx, CallbackFilter{User: "op2"}); len(l) != 0 {
		t.Errorf("op2 sees %+v", l)
	}
	if ids, _ := s.CallbackTickets(ctx, "op"); len(ids) != 1 || ids[0] != tk.ID {
		t.Errorf("op's callback tickets %v", ids)
	}
	if _, err := s.CallbackResult(ctx, id, "op", false, vocab.ResultRetry, nil); !errors.Is(err, ErrCallbackBadInput) {
		t.Fatalf("retry without retry_at: %v", err)
	}
	if _, err := s.CallbackResult(ctx, id, "op", false, "maybe", nil); !errors.Is(err, ErrCallbackBadInput) {
		t.Fatalf("unknown result: %v", err)
	}
	retry := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	c, err := s.CallbackResult(ctx, id, "op", false, vocab.ResultNoAnswer, &retry)
	if err != nil || c.State != vocab.CallbackOpen || c.AssignedTo != "" || c.Attempts != 1 || !c.DueAt.Equal(retry) {
		t.Fatalf("after no answer: %+v (%v)", c, err)
	}
	if _, err := s.ClaimCallback(ctx, id, "op2", false); err != nil {
		t.Fatal(err)
	}
	c, err = s.CallbackResult(ctx, id, "op2", false, vocab.ResultNoAnswer, nil)
	if err != nil || c.State != vocab.CallbackUnreachable || c.Attempts != 2 || c.ClosedAt == nil || len(c.History) != 2 {
		t.Fatalf("after max attempts: %+v (%v)", c, err)
	}
	if _, err := s.ClaimCallback(ctx, id, "op", false); !errors.Is(err, ErrCallbackClosed) {
		t.Fatalf("claim of a closed task: %v", err)
	}
	p := lastPush(t, s, tk.ID)
	if len(p.Ticket.Callbacks) != 1 || p.Ticket.Callbacks[0].State != vocab.CallbackUnreachable || p.Ticket.Callbacks[0].LastResult != vocab.ResultNoAnswer {
		t.Errorf("push: %+v", p.Ticket.Callbacks)
	}
	n, err := s.CountCallbacks(ctx, time.Now(), time.Now().Add(-time.Hour))
	if err != nil || n.Open != 0 || n.Unreachable != 1 || n.CompletionRate == nil || *n.CompletionRate != 1 {
		t.Errorf("counts %+v (%v)", n, err)
	}
}

func TestCallbackAssignOldestAndReached(t *testing.T) {
	ctx := context.Background()
	s := newCallbackStore(t, 3)
	a := closeTicket(t, s, "13800000001", func(tk *Ticket) { tk.Outcome, tk.Callback = vocab.OutcomeVoicemail, true })
	b := closeTicket(t, s, "13800000002", func(tk *Ticket) { tk.Outcome = vocab.OutcomeAbandoned }) // due 1h: sooner
	c, err := s.AssignOldest(ctx, "op")
	if err != nil || c == nil || c.TicketID != b.ID {
		t.Fatalf("assigned %+v (%v), want the abandon of %s", c, err, b.ID)
	}
	if has, _ := s.HasAssigned(ctx, "op"); !has {
		t.Error("op has no assigned task")
	}
	c, err = s.CallbackResult(ctx, c.ID, "op", false, vocab.ResultReached, nil)
	if err != nil || c.State != vocab.CallbackDone {
		t.Fatalf("reached: %+v (%v)", c, err)
	}
	n, _ := s.CountCallbacks(ctx, time.Now().Add(3*time.Hour), time.Now().Add(-time.Hour))
	if n.Open != 1 || n.Overdue != 1 || n.DoneToday != 1 || *n.CompletionRate != 0.5 {
		t.Errorf("counts %+v", n)
	}
	_ = a
}
