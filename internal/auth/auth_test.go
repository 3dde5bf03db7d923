package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	if h == HashPassword("correct horse") {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	if !VerifyPassword(h, "correct horse") || VerifyPassword(h, "correct horsE") || VerifyPassword("garbage", "x") {
		t.Fatal("verify is wrong")
	}
}

func TestUsersAndSessions(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := NewStore(db, func() time.Time { return now })
	if err := s.AddUser(ctx, User{Name: "op1", Role: RoleOperator, SeatID: "8001"}, "secret-pass", false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, User{Name: "op1", Role: RoleOperator}, "secret-pass", false); !errors.Is(err, ErrUserExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	if err := s.AddUser(ctx, User{Name: "x", Role: "boss"}, "secret-pass", false); err == nil {
		t.Fatal("bad role accepted")
	}
	if err := s.AddUser(ctx, User{Name: "y", Role: RoleAdmin}, "short", false); err == nil {
		t.Fatal("short password accepted")
	}
	if _, _, err := s.Login(ctx, "op1", "wrong-pass", time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := s.Login(ctx, "nobody", "secret-pass", time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	tok, u, err := s.Login(ctx, "op1", "secret-pass", time.Hour)
	if err != nil || u.SeatID != "8001" {
		t.Fatalf("login: %v %+v", err, u)
	}
	if got, err := s.Session(ctx, tok); err != nil || got.Name != "op1" {
		t.Fatalf("session: %v %+v", err, got)
	}
	var stored []byte
	if err := db.R.QueryRow(`SELECT token_hash FROM sessions`).Scan(&stored); err != nil || strings.Contains(string(stored), tok) {
		t.Fatal("the token itself is stored")
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("expired session accepted: %v", err)
	}
	// Password reset ends sessions.
	now = now.Add(-2 * time.Hour)
	tok2, _, _ := s.Login(ctx, "op1", "secret-pass", time.Hour)
	if err := s.AddUser(ctx, User{Name: "op1", Role: RoleOperator}, "new-secret-pass", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, tok2); !errors.Is(err, ErrNoSession) {
		t.Fatal("session survived a password reset")
	}
}

// A burst of parallel logins runs at most the gate's slots of Argon2id at
// once (each holds 19 MiB): the rest wait in line or are refused ErrBusy.
// An unknown user is ErrUnknownUser as well as ErrBadCredentials.
func TestHashGateBoundsParallelLogins(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := NewStore(db, nil)
	if err := s.AddUser(ctx, User{Name: "op1", Role: RoleOperator}, "secret-pass", false); err != nil {
		t.Fatal(err)
	}
	s.SetHashLimit(2, 200*time.Millisecond)
	const n = 40
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			name := "op1"
			if i%2 == 1 {
				name = "nobody"
			}
			_, _, err := s.Login(ctx, name, "wrong-pass", time.Hour)
			errs <- err
		}()
	}
	close(start)
	var bad, unknown, busy int
	for range n {
		err := <-errs
		switch {
		case errors.Is(err, ErrUnknownUser):
			unknown++
			bad++
		case errors.Is(err, ErrBadCredentials):
			bad++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Errorf("login: %v", err)
		}
	}
	st := s.HashStats()
	t.Logf("%d parallel wrong logins: %d checked (%d unknown users), %d refused busy; at most %d Argon2id at once", n, bad, unknown, busy, st.Peak)
	if st.Peak > 2 || st.Peak < 1 || st.Running != 0 || st.Waiting != 0 {
		t.Fatalf("gate %+v: want a peak of at most 2 and nothing left running or waiting", st)
	}
	if busy == 0 {
		t.Error("no login was refused busy: the line did not bound the wait")
	}
	if bad == 0 {
		t.Error("no login was checked at all")
	}
	// The gate frees its slots: a right password goes through afterwards.
	if _, _, err := s.Login(ctx, "op1", "secret-pass", time.Hour); err != nil {
		t.Fatalf("login after the burst: %v", err)
	}
	// A cancelled wait ends at once.
	s.SetHashLimit(1, time.Minute)
	s.gate.slots <- struct{}{} // the one slot is taken
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Login(cctx, "op1", "secret-pass", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("login with a cancelled context while the slot is taken: %v", err)
	}
}

// A login deletes the sessions that expired; PruneExpired does it alone.
func TestExpiredSessionsArePruned(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := NewStore(db, func() time.Time { return now })
	if err := s.AddUser(ctx, User{Name: "op1", Role: RoleOperator}, "secret-pass", false); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := db.R.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 3 {
		if _, _, err := s.Login(ctx, "op1", "secret-pass", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Hour)
	if n := count(); n != 3 {
		t.Fatalf("%d sessions before pruning, want 3", n)
	}
	tok, _, err := s.Login(ctx, "op1", "secret-pass", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d sessions after a login, want 1 (the three expired ones pruned)", n)
	}
	now = now.Add(2 * time.Hour)
	if n, err := s.PruneExpired(ctx); err != nil || n != 1 || count() != 0 {
		t.Fatalf("PruneExpired = %d, %v; %d left", n, err, count())
	}
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("pruned session: %v", err)
	}
}
