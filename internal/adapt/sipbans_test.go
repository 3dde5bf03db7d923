package adapt

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/store"
)

// Bans written by one process are read by the next (a reopened database),
// ended ones are deleted, and a longer ban is never shortened.
func TestSQLBansSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hotline.db")
	now := time.UnixMilli(1_700_000_000_000)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSQLBans(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParsePrefix("192.0.2.7/32")
	v6 := netip.MustParsePrefix("2001:db8:1:2::/64")
	agg := netip.MustParsePrefix("198.51.100.0/24")
	if err := b.SaveBans(ctx, []sip.Ban{
		{Prefix: v4, Until: now.Add(10 * time.Minute)},
		{Prefix: v6, Until: now.Add(time.Minute)},
		{Prefix: agg, Until: now.Add(-time.Second)}, // already over
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveBans(ctx, []sip.Ban{{Prefix: v4, Until: now.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, err = NewSQLBans(ctx, db) // the table exists: no error
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadBans(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix]time.Time{v4: now.Add(10 * time.Minute), v6: now.Add(time.Minute)}
	if len(got) != len(want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	for _, g := range got {
		if w, ok := want[g.Prefix]; !ok || !g.Until.Equal(w) {
			t.Fatalf("loaded %v, want %v", got, want)
		}
	}
	if err := b.DeleteBansBefore(ctx, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM sip_bans`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows after deleting ended bans (%v), want 1", n, err)
	}
}
