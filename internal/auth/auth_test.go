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
