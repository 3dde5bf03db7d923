package ticket

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A ticket's transfers are stored, read back, make revisions and are in
// the work-order push body; a ticket without any has no "transfers" key
// (the push of calls never transferred is as before).
func TestTransfersStoredAndPushed(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	tk := &Ticket{CallID: "x@h", Caller: "13800000000", Called: "12348"}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Millisecond)
	leg := Transfer{Target: "法律援助中心", Kind: "number", Mode: "blind", By: "8001", Via: "console", StartedAt: at, Outcome: "ringing"}
	got, err := s.Update(ctx, tk.ID, func(t *Ticket) error { t.Transfers = []Transfer{leg}; return nil })
	if err != nil || got.Revision != 2 {
		t.Fatalf("update: rev %d err %v", got.Revision, err)
	}
	leg.Outcome, leg.AnsweredAt = "connected", TimePtr(at.Add(time.Second))
	if got, err = s.Update(ctx, tk.ID, func(t *Ticket) error { t.Transfers = []Transfer{leg}; return nil }); err != nil || got.Revision != 3 {
		t.Fatalf("update: rev %d err %v", got.Revision, err)
	}
	back, err := s.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Transfers) != 1 || back.Transfers[0].Outcome != "connected" || !back.Transfers[0].StartedAt.Equal(at) || back.Transfers[0].AnsweredAt == nil {
		t.Fatalf("read back %+v", back.Transfers)
	}
	var bodies []string
	rows, err := s.db.R.Query("SELECT body FROM outbox WHERE ticket_id = ? ORDER BY revision", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	if len(bodies) != 3 || strings.Contains(bodies[0], `"transfers"`) {
		t.Fatalf("outbox bodies %d; first %s", len(bodies), bodies[0])
	}
	var p Push
	if err := json.Unmarshal([]byte(bodies[2]), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Ticket.Transfers) != 1 || p.Ticket.Transfers[0].Target != "法律援助中心" || p.Ticket.Transfers[0].Outcome != "connected" {
		t.Fatalf("pushed transfers %+v", p.Ticket.Transfers)
	}
}
