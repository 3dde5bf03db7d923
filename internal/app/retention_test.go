package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/recordings"
)

// Recordings past retention_days go, and the ticket says so (SPEC §8);
// newer ones stay.
func TestRetentionDeletesOldRecordings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loc := time.FixedZone("CST", 8*3600)
	tickets := ticket.NewStore(db, "t-1", loc, nil)
	root := filepath.Join(dir, "recordings")
	mk := func(opened time.Time) *ticket.Ticket {
		tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348", OpenedAt: opened}
		if err := tickets.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		url := "/api/tickets/" + tk.ID + "/recording"
		if _, err := tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error { t.Recording = &url; return nil }); err != nil {
			t.Fatal(err)
		}
		p := recordings.Path(root, tk.ID, tk.OpenedAt.In(loc))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("RIFF"), 0o640); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	now := time.Now()
	old, fresh := mk(now.AddDate(0, 0, -200)), mk(now.AddDate(0, 0, -10))
	n, err := sweepRecordings(ctx, tickets, root, now.AddDate(0, 0, -180))
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	o, _ := tickets.Get(ctx, old.ID)
	if o.Recording != nil || o.RecordingDeletedAt == nil || o.Revision != 3 {
		t.Fatalf("old ticket %+v", o)
	}
	if _, err := os.Stat(recordings.Path(root, old.ID, old.OpenedAt.In(loc))); !os.IsNotExist(err) {
		t.Fatal("old recording still on disk")
	}
	f, _ := tickets.Get(ctx, fresh.ID)
	if f.Recording == nil {
		t.Fatal("a recording within retention was deleted")
	}
	if _, err := os.Stat(recordings.Path(root, fresh.ID, fresh.OpenedAt.In(loc))); err != nil {
		t.Fatal(err)
	}
}
