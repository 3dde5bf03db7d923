package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/store"
)

// The pruner deletes expired sessions at start and every period, and ends
// with its context.
func TestExpiredSessionsPrunedPeriodically(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	users := auth.NewStore(db, clock)
	if err := users.AddUser(ctx, auth.User{Name: "op", Role: auth.RoleOperator}, "op-password", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.Login(ctx, "op", "op-password", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Expired rows as a process that never pruned would have left them.
	if _, err := db.W.ExecContext(ctx, `INSERT INTO sessions(token_hash, user_name, created_at, expires_at) VALUES (x'01','op',0,1), (x'02','op',0,2)`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := db.R.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pruneSessions(pctx, users, 20*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left, want the live one only", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Another one expiring is pruned on a later round.
	if _, err := db.W.ExecContext(ctx, `INSERT INTO sessions(token_hash, user_name, created_at, expires_at) VALUES (x'03','op',0,3)`); err != nil {
		t.Fatal(err)
	}
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after a later round", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the pruner did not end with its context")
	}
}

// One work-order secret signing both ways is warned about (not refused:
// SPEC §3 allows it); a feedback key of its own, or no secret at all, is not.
func TestSecurityWarnings(t *testing.T) {
	for _, c := range []struct {
		wo   config.Workorder
		warn bool
	}{
		{config.Workorder{}, false},
		{config.Workorder{Secret: "push-key-0123456"}, true},
		{config.Workorder{Secret: "push-key-0123456", FeedbackSecret: "feedback-key-0123"}, false},
	} {
		got := SecurityWarnings(&config.Config{Workorder: c.wo})
		if (len(got) > 0) != c.warn || (c.warn && !strings.Contains(got[0], "workorder.feedback_secret")) {
			t.Errorf("%+v: warnings %q", c.wo, got)
		}
	}
	// An empty feedback_secret from an unset variable is not an "insecure
	// default": SecurityWarnings speaks for it.
	cfg := &config.Config{Defaulted: []string{"workorder.feedback_secret", "seats[0].password"}}
	if got := DefaultedSecrets(cfg); len(got) != 1 || got[0] != "seats[0].password" {
		t.Errorf("DefaultedSecrets = %q", got)
	}
}
