package auth

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// fakeShared is the shared store in memory; down makes every call fail.
type fakeShared struct {
	mu       sync.Mutex
	users    map[string]UserRecord
	sessions map[string]fakeSession
	down     bool
}

type fakeSession struct {
	u         User
	expires   time.Time
	loggedOut bool // a logout's tombstone
}

var errDown = errors.New("shared store unreachable")

func newFakeShared() *fakeShared {
	return &fakeShared{users: map[string]UserRecord{}, sessions: map[string]fakeSession{}}
}

func (f *fakeShared) setDown(v bool) { f.mu.Lock(); f.down = v; f.mu.Unlock() }

func (f *fakeShared) PutUser(_ context.Context, r UserRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	f.users[r.Name] = r
	return nil
}

func (f *fakeShared) GetUser(_ context.Context, name string) (UserRecord, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return UserRecord{}, false, errDown
	}
	r, ok := f.users[name]
	return r, ok, nil
}

func (f *fakeShared) ListUsers(context.Context) ([]UserRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	var out []UserRecord
	for _, r := range f.users {
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeShared) PutSession(_ context.Context, key string, u User, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	f.sessions[key] = fakeSession{u: u, expires: expires}
	return nil
}

func (f *fakeShared) GetSession(_ context.Context, key string) (User, time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return User{}, time.Time{}, false, errDown
	}
	s, ok := f.sessions[key]
	if !ok {
		return User{}, time.Time{}, false, ErrSessionUnknown
	}
	return s.u, s.expires, !s.loggedOut, nil
}

// lose forgets every session, as a Redis restarted empty does.
func (f *fakeShared) lose() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = map[string]fakeSession{}
}

func (f *fakeShared) DeleteSession(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	f.sessions[key] = fakeSession{loggedOut: true}
	return nil
}

// node is one node's user store; every node reads the same clock.
type sharedNodes struct {
	shared *fakeShared
	mu     sync.Mutex
	now    time.Time
}

func (n *sharedNodes) clock() time.Time { n.mu.Lock(); defer n.mu.Unlock(); return n.now }
func (n *sharedNodes) advance(d time.Duration) {
	n.mu.Lock()
	n.now = n.now.Add(d)
	n.mu.Unlock()
}

// node opens a node's database; shared=false is a store as the CLI has it.
func (n *sharedNodes) node(t *testing.T, path string, shared bool) *Store {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewStore(db, n.clock)
	if shared {
		s.SetShared(n.shared, nil)
	}
	return s
}

func mustLogin(t *testing.T, s *Store, name, pw string) string {
	t.Helper()
	tok, _, err := s.Login(context.Background(), name, pw, time.Hour)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

func wantSession(t *testing.T, s *Store, tok, name string) {
	t.Helper()
	u, err := s.Session(context.Background(), tok)
	if err != nil || u.Name != name {
		t.Fatalf("session: %+v %v, want %s", u, err, name)
	}
}

func wantNoSession(t *testing.T, s *Store, tok string) {
	t.Helper()
	if u, err := s.Session(context.Background(), tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session still valid: %+v %v", u, err)
	}
}

// A user added on one node logs in on another; a session made on one node
// works on the others; a logout anywhere ends it everywhere; a password
// reset on one node ends the user's sessions on every node.
func TestLoginsAndSessionsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := &sharedNodes{shared: newFakeShared(), now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	a, b, c := n.node(t, filepath.Join(dir, "a.db"), true), n.node(t, filepath.Join(dir, "b.db"), true), n.node(t, filepath.Join(dir, "c.db"), true)

	if err := a.AddUser(ctx, User{Name: "boss", Role: RoleManager}, "boss-password", false); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Second)
	// b has never seen boss: it asks the shared store, and keeps the user.
	if _, _, err := b.Login(ctx, "boss", "wrong-password", time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password on b: %v", err)
	}
	tokB := mustLogin(t, b, "boss", "boss-password")
	if rec, ok, _ := b.localUser(ctx, "boss"); !ok || rec.Role != RoleManager {
		t.Fatalf("b did not keep the user: %+v", rec)
	}
	// The token made on b works on a and c.
	wantSession(t, a, tokB, "boss")
	wantSession(t, c, tokB, "boss")
	// Logout on c: b's own session ends at its next check, a's copy too.
	if err := c.Logout(ctx, tokB); err != nil {
		t.Fatal(err)
	}
	wantNoSession(t, c, tokB)
	n.advance(sessionRecheck + time.Second)
	wantNoSession(t, b, tokB)
	wantNoSession(t, a, tokB)

	// A password reset on a ends boss's sessions on b and c.
	tok := mustLogin(t, b, "boss", "boss-password")
	wantSession(t, c, tok, "boss")
	n.advance(time.Second)
	if err := a.AddUser(ctx, User{Name: "boss", Role: RoleManager}, "new-boss-password", true); err != nil {
		t.Fatal(err)
	}
	// A node that has never seen the token refuses it at once...
	wantNoSession(t, a, tok)
	// ...the others when they learn of the new password (SyncUsers).
	for _, s := range []*Store{b, c} {
		if err := s.SyncUsers(ctx); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, s, tok)
	}
	if _, _, err := c.Login(ctx, "boss", "boss-password", time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after reset: %v", err)
	}
	mustLogin(t, c, "boss", "new-boss-password")

	// Forged and unknown tokens.
	wantNoSession(t, a, "forged")
	wantNoSession(t, a, "forged."+"1790000000000")
}

// `hotline user add` writes the node's SQLite only; SyncUsers shares it,
// and the newer record of a user wins either way.
func TestSyncUsersLastWriterWins(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := &sharedNodes{shared: newFakeShared(), now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	cliA := n.node(t, filepath.Join(dir, "a.db"), false)
	if err := cliA.AddUser(ctx, User{Name: "op", Role: RoleOperator, SeatID: "8001"}, "op-password", false); err != nil {
		t.Fatal(err)
	}
	a, b := n.node(t, filepath.Join(dir, "a.db"), true), n.node(t, filepath.Join(dir, "b.db"), true)
	n.advance(time.Second)
	// b has its own, older copy of op (another seat, another password).
	cliB := n.node(t, filepath.Join(dir, "b.db"), false)
	n.advance(-time.Minute)
	if err := cliB.AddUser(ctx, User{Name: "op", Role: RoleOperator, SeatID: "8009"}, "old-password", false); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	for _, s := range []*Store{b, a, b} {
		if err := s.SyncUsers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, u, err := b.Login(ctx, "op", "op-password", time.Hour)
	if err != nil || u.SeatID != "8001" {
		t.Fatalf("b after sync: %+v %v", u, err)
	}
	// A newer change on b wins over a's copy.
	n.advance(time.Second)
	cliB2 := n.node(t, filepath.Join(dir, "b.db"), false)
	if err := cliB2.AddUser(ctx, User{Name: "op", Role: RoleOperator, SeatID: "8002"}, "newer-password", true); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{b, a} {
		if err := s.SyncUsers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, u, err := a.Login(ctx, "op", "newer-password", time.Hour); err != nil || u.SeatID != "8002" {
		t.Fatalf("a after b's change: %+v %v", u, err)
	}
	if n.shared.users["op"].SeatID != "8002" {
		t.Fatalf("shared copy %+v", n.shared.users["op"])
	}
}

// The shared store down: logins and sessions this node can answer go on;
// a session made meanwhile is shared once the store is back.
func TestSharedStoreDownNeverBreaksALocalLogin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := &sharedNodes{shared: newFakeShared(), now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	a, b := n.node(t, filepath.Join(dir, "a.db"), true), n.node(t, filepath.Join(dir, "b.db"), true)
	if err := a.AddUser(ctx, User{Name: "op", Role: RoleOperator, SeatID: "8001"}, "op-password", false); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Second)
	n.shared.setDown(true)
	if err := a.SyncUsers(ctx); err == nil {
		t.Fatal("SyncUsers with the shared store down: no error")
	}
	tok := mustLogin(t, a, "op", "op-password")
	wantSession(t, a, tok, "op")
	n.advance(sessionRecheck + time.Second)
	wantSession(t, a, tok, "op") // the check fails: this node's answer stands
	if _, err := b.Session(ctx, tok); err == nil || errors.Is(err, ErrNoSession) {
		t.Fatalf("b cannot know the token without the shared store: %v", err)
	}
	if _, _, err := b.Login(ctx, "op", "op-password", time.Hour); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("b has never seen op: %v", err)
	}
	// What was typed as the name of no user (a password in the wrong
	// field) is not logged for the shared store being down; a user's is.
	var logged strings.Builder
	a.SetShared(n.shared, slog.New(slog.NewTextHandler(&logged, nil)))
	if _, _, err := a.Login(ctx, "Secret-Pass-99", "x", time.Hour); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, _, err := a.Login(ctx, "op", "wrong", time.Hour); errors.Is(err, ErrUnknownUser) || !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("known name, wrong password: %v", err)
	}
	if out := logged.String(); strings.Contains(out, "Secret-Pass-99") || !strings.Contains(out, "user=op") {
		t.Fatalf("log:\n%s", out)
	}
	n.shared.setDown(false)
	n.advance(sessionRecheck + time.Second)
	wantSession(t, a, tok, "op") // shared now
	wantSession(t, b, tok, "op")
	if err := a.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	n.advance(sessionRecheck + time.Second)
	wantNoSession(t, b, tok)
}

// The shared store loses everything (a Redis restarted empty): sessions
// that nodes hold go on and are shared again; a logout still ends them
// everywhere afterwards.
func TestSharedStoreLostKeepsSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := &sharedNodes{shared: newFakeShared(), now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	a, b := n.node(t, filepath.Join(dir, "a.db"), true), n.node(t, filepath.Join(dir, "b.db"), true)
	if err := a.AddUser(ctx, User{Name: "op", Role: RoleOperator, SeatID: "8001"}, "op-password", false); err != nil {
		t.Fatal(err)
	}
	tok := mustLogin(t, a, "op", "op-password")
	wantSession(t, b, tok, "op") // b keeps a copy
	n.shared.lose()
	n.advance(sessionRecheck + time.Second)
	wantSession(t, a, tok, "op")
	wantSession(t, b, tok, "op")
	// Shared again: a node that never saw the token knows it.
	c := n.node(t, filepath.Join(dir, "c.db"), true)
	if err := c.SyncUsers(ctx); err != nil {
		t.Fatal(err)
	}
	wantSession(t, c, tok, "op")
	if err := b.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	n.advance(sessionRecheck + time.Second)
	wantNoSession(t, a, tok)
}
