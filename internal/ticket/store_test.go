package ticket

import (
	"context"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"

	"github.com/hotline12348/hotline/internal/vocab"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hotline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	loc := time.FixedZone("CST", 8*3600)
	return NewStore(db, "km-1", loc, nil)
}

type outboxRow struct {
	rev   int
	event string
}

func outboxOf(t *testing.T, s *Store, id string) []outboxRow {
	t.Helper()
	rows, err := s.db.R.Query("SELECT revision, event FROM outbox WHERE ticket_id = ? ORDER BY revision", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.rev, &r.event); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestOpenUpdateClose(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	var seen []string
	s.OnRevision(func(tk *Ticket, ev string) { seen = append(seen, ev) })

	tk := &Ticket{CallID: "abc@host", Caller: "13800000000", Called: "12348"}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{8}-\d{6}-km-1-0001$`).MatchString(tk.ID) {
		t.Fatalf("id %q not in the documented form", tk.ID)
	}
	if tk.Revision != 1 || tk.Status != vocab.StatusOpen || tk.Channel != "hotline" || tk.Priority != vocab.PriorityNormal {
		t.Fatalf("opened ticket: %+v", tk)
	}

	// A change makes revision 2.
	got, err := s.Update(ctx, tk.ID, func(t *Ticket) error {
		t.Category, t.IVRPath = "consult", "1"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 2 || got.Category != "consult" {
		t.Fatalf("after update: %+v", got)
	}
	// No change: no new revision, no outbox row.
	got, err = s.Update(ctx, tk.ID, func(t *Ticket) error { t.Category = "consult"; return nil })
	if err != nil || got.Revision != 2 {
		t.Fatalf("no-op update made revision %d (err %v)", got.Revision, err)
	}
	// Close.
	end := time.Now()
	got, err = s.Update(ctx, tk.ID, func(t *Ticket) error {
		t.Status, t.Outcome, t.EndedAt = vocab.StatusClosed, vocab.OutcomeVoicemail, TimePtr(end)
		return nil
	})
	if err != nil || got.Revision != 3 {
		t.Fatalf("close: rev %d err %v", got.Revision, err)
	}
	// Later changes to a closed ticket (operator summary) are "updated".
	got, err = s.Update(ctx, tk.ID, func(t *Ticket) error { t.Summary = "工资被拖欠"; return nil })
	if err != nil || got.Revision != 4 {
		t.Fatalf("summary: rev %d err %v", got.Revision, err)
	}
	want := []outboxRow{{1, EventOpened}, {2, EventUpdated}, {3, EventClosed}, {4, EventUpdated}}
	rows := outboxOf(t, s, tk.ID)
	if len(rows) != len(want) {
		t.Fatalf("outbox rows %v, want %v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("outbox rows %v, want %v", rows, want)
		}
	}
	if len(seen) != 4 || seen[2] != EventClosed {
		t.Fatalf("OnRevision saw %v", seen)
	}
	back, err := s.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Outcome != vocab.OutcomeVoicemail || back.EndedAt == nil || !back.EndedAt.Equal(end.Truncate(time.Millisecond)) || back.Summary != "工资被拖欠" {
		t.Fatalf("read back %+v", back)
	}
	if _, err := s.Get(ctx, "nope"); err == nil {
		t.Fatal("Get of unknown id succeeded")
	}
}

func TestConcurrentUpdatesKeepRevisionsDense(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	tk := &Ticket{CallID: "c", Caller: "13800000001", Called: "12348"}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Update(ctx, tk.ID, func(t *Ticket) error { t.Summary += string(rune('a' + i%26)); return nil })
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rows := outboxOf(t, s, tk.ID)
	if len(rows) != n+1 {
		t.Fatalf("%d outbox rows, want %d", len(rows), n+1)
	}
	for i, r := range rows {
		if r.rev != i+1 {
			t.Fatalf("revision %d at position %d: revisions must be dense and ordered", r.rev, i)
		}
	}
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, s.loc)
	for i, caller := range []string{"13800000001", "13800000002", "13800000001"} {
		tk := &Ticket{CallID: "c", Caller: caller, Called: "12348", OpenedAt: base.Add(time.Duration(i) * time.Hour)}
		if err := s.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.List(ctx, Filter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	if !all[0].OpenedAt.After(all[2].OpenedAt) {
		t.Fatal("list is not newest first")
	}
	mine, _ := s.List(ctx, Filter{Caller: "13800000001"})
	if len(mine) != 2 {
		t.Fatalf("by caller: %d", len(mine))
	}
	window, _ := s.List(ctx, Filter{From: base.Add(30 * time.Minute), To: base.Add(90 * time.Minute)})
	if len(window) != 1 || window[0].Caller != "13800000002" {
		t.Fatalf("by time: %v", window)
	}
	one, _ := s.List(ctx, Filter{Limit: 1})
	if len(one) != 1 {
		t.Fatalf("limit: %d", len(one))
	}
}
