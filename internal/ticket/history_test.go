package ticket

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The call's history is part of the ticket's revisions: stored, read back,
// in the pushed body; a ticket without one pushes no "history" at all (the
// work-order body of before), and an action that is appended makes a new
// revision.
func TestHistoryIsPartOfTheRevisions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	tk := &Ticket{CallID: "h@host", Caller: "13800000000", Called: "12348"}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	body := func(rev int) string {
		t.Helper()
		var b []byte
		if err := s.db.R.QueryRow("SELECT body FROM outbox WHERE ticket_id = ? AND revision = ?", tk.ID, rev).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if strings.Contains(body(1), `"history"`) {
		t.Fatalf("a ticket without history pushes one: %s", body(1))
	}
	at := time.Date(2026, 11, 26, 8, 30, 15, 123456789, time.UTC)
	got, err := s.Update(ctx, tk.ID, func(t *Ticket) error {
		t.History = append(t.History, HistoryEntry{At: at, Action: "hold", By: "op1"}, HistoryEntry{At: at.Add(time.Second), Action: "dtmf", By: "op1", Detail: "12#"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 2 || len(got.History) != 2 {
		t.Fatalf("after the update: revision %d history %+v", got.Revision, got.History)
	}
	read, err := s.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(read.History) != 2 || !read.History[0].At.Equal(at.Truncate(time.Millisecond)) || read.History[1].Detail != "12#" || read.History[1].By != "op1" {
		t.Fatalf("read back: %+v", read.History)
	}
	var push Push
	if err := json.Unmarshal([]byte(body(2)), &push); err != nil {
		t.Fatal(err)
	}
	if len(push.Ticket.History) != 2 || push.Ticket.History[0].Action != "hold" {
		t.Fatalf("pushed history: %+v", push.Ticket.History)
	}
	// The same history again makes no revision.
	again, err := s.Update(ctx, tk.ID, func(t *Ticket) error { return nil })
	if err != nil || again.Revision != 2 {
		t.Fatalf("no change: revision %d, %v", again.Revision, err)
	}
}
