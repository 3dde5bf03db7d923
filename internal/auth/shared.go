package auth

// Logins on every node of a cluster (SPEC §11).
//
// Each node keeps its users and sessions in its own SQLite, as on a single
// node (`hotline user add` writes there and nowhere else). A Shared store,
// the same for every node (Redis, implemented outside this package), carries
// them between the nodes:
//
//   - Users: SyncUsers pushes this node's users that are newer than the
//     shared copy and takes the shared ones that are newer than this node's
//     (UpdatedAt decides: the last change wins). Login asks the shared store
//     too, so a user added or reset on another node can log in here before
//     the next SyncUsers.
//   - Sessions: Login shares the session (PutSession); Session falls back to
//     the shared store for a token it does not know, and keeps a copy; every
//     sessionRecheck it checks a local session against the shared store, so
//     a logout on one node (DeleteSession, a tombstone) ends the session
//     everywhere within that time; a session the shared store has no
//     record of at all (it lost its data) is shared again, not ended. A session made before its user's last change
//     (a password reset on any node) is refused.
//
// The shared store is a help, never a condition: its errors are logged and
// whatever this node's SQLite can answer is answered (a login, a session
// already known here). Only a token this node has never seen needs it.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// Shared is the store of users and sessions every node of a cluster sees.
// Session keys are hex(SHA-256(token)): the token itself never leaves the
// node that made it. Implementations should expire a session at its
// expires time and keep UpdatedAt to the millisecond.
type Shared interface {
	PutUser(ctx context.Context, r UserRecord) error
	GetUser(ctx context.Context, name string) (UserRecord, bool, error)
	ListUsers(ctx context.Context) ([]UserRecord, error)
	PutSession(ctx context.Context, tokenHash string, u User, expires time.Time) error
	// GetSession returns the session (true), or false when it was logged
	// out (DeleteSession) or expired, or ErrSessionUnknown when the store
	// has no record of it.
	GetSession(ctx context.Context, tokenHash string) (User, time.Time, bool, error)
	// DeleteSession records a logout (a tombstone that outlives the
	// session), so that every node ends it.
	DeleteSession(ctx context.Context, tokenHash string) error
}

// ErrSessionUnknown is what a Shared store answers for a session it has no
// record of at all — neither the session nor its logout — as after the
// store lost its data (a Redis restarted empty). A node that holds such a
// session shares it again instead of ending it: only a logout ends a
// session everywhere.
var ErrSessionUnknown = errors.New("auth: the shared store has no record of the session")

// UserRecord is a user as the nodes exchange it.
type UserRecord struct {
	User
	// Hash is the stored Argon2id PHC string (never the password).
	Hash string `json:"hash"`
	// UpdatedAt is when the user was last added or changed; the newer
	// record wins.
	UpdatedAt time.Time `json:"updated_at"`
}

// sessionRecheck is how often a local session is checked against the
// shared store: a logout on another node ends it here within that time.
const sessionRecheck = 30 * time.Second

// SetShared makes the store share users and sessions with the other nodes
// through sh; log receives what the shared store's errors cost. Call it
// once, before the store is used.
func (s *Store) SetShared(sh Shared, log *slog.Logger) {
	s.shared = sh
	if log != nil {
		s.log = log
	}
}

func (r UserRecord) valid() bool {
	return r.Name != "" && !strings.ContainsAny(r.Name, " \t\r\n") && ValidRole(r.Role) && strings.HasPrefix(r.Hash, "$argon2id$")
}

// localUser reads one user of this node.
func (s *Store) localUser(ctx context.Context, name string) (UserRecord, bool, error) {
	var (
		r       UserRecord
		updated int64
	)
	err := s.db.R.QueryRowContext(ctx, `SELECT name, role, seat_id, pw_hash, updated_at FROM users WHERE name = ?`, name).
		Scan(&r.Name, &r.Role, &r.SeatID, &r.Hash, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return UserRecord{}, false, nil
	}
	if err != nil {
		return UserRecord{}, false, err
	}
	r.UpdatedAt = store.FromMillis(updated)
	return r, true, nil
}

// newerShared returns the shared record of name when it is newer than
// this node's (and keeps it here), else this node's.
func (s *Store) newerShared(ctx context.Context, name string, local UserRecord, ok bool) (UserRecord, bool) {
	r, found, err := s.shared.GetUser(ctx, name)
	switch {
	case err != nil:
		// The name is a login's as typed: logged only when it is a user's
		// (an unknown one may be a password typed into the wrong field).
		who := []any{"error", err}
		if ok {
			who = append(who, "user", name)
		}
		s.log.Warn("auth: shared users unreachable; using this node's", who...)
		return local, ok
	case !found || (ok && !r.UpdatedAt.After(local.UpdatedAt)):
		return local, ok
	case !r.valid():
		s.log.Warn("auth: ignoring an invalid shared user record", "user", name)
		return local, ok
	}
	if err := s.storeUser(ctx, r); err != nil {
		s.log.Warn("auth: could not keep the shared user", "user", name, "error", err)
	}
	return r, true
}

// storeUser writes a user from the shared store unless this node has a
// copy as new, and ends the sessions made before it (password reset).
func (s *Store) storeUser(ctx context.Context, r UserRecord) error {
	at := store.Millis(r.UpdatedAt)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users(name, role, seat_id, pw_hash, created_at, updated_at) VALUES (?,?,?,?,?,?)
			ON CONFLICT(name) DO UPDATE SET role=excluded.role, seat_id=excluded.seat_id, pw_hash=excluded.pw_hash, updated_at=excluded.updated_at
			WHERE excluded.updated_at > users.updated_at`, r.Name, r.Role, r.SeatID, r.Hash, at, at)
		if err != nil {
			return fmt.Errorf("auth: store shared user: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ? AND created_at < ?`, r.Name, at)
		}
		return err
	})
}

// SyncUsers brings this node's users and the shared ones to the same
// state: the newer record of each user wins, either way. The app calls it
// at start and now and then (every few seconds to a minute): it is how a
// user added with `hotline user add` on one node reaches the others.
func (s *Store) SyncUsers(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT name, role, seat_id, pw_hash, updated_at FROM users`)
	if err != nil {
		return fmt.Errorf("auth: sync users: %w", err)
	}
	local := map[string]UserRecord{}
	for rows.Next() {
		var (
			r       UserRecord
			updated int64
		)
		if err := rows.Scan(&r.Name, &r.Role, &r.SeatID, &r.Hash, &updated); err != nil {
			rows.Close()
			return fmt.Errorf("auth: sync users: %w", err)
		}
		r.UpdatedAt = store.FromMillis(updated)
		local[r.Name] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auth: sync users: %w", err)
	}
	remote, err := s.shared.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("auth: sync users: shared: %w", err)
	}
	var errs []error
	seen := map[string]UserRecord{}
	for _, r := range remote {
		if !r.valid() {
			s.log.Warn("auth: ignoring an invalid shared user record", "user", r.Name)
			continue
		}
		seen[r.Name] = r
		if l, ok := local[r.Name]; !ok || r.UpdatedAt.After(l.UpdatedAt) {
			if err := s.storeUser(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for name, l := range local {
		if r, ok := seen[name]; !ok || l.UpdatedAt.After(r.UpdatedAt) {
			if err := s.shared.PutUser(ctx, l); err != nil {
				errs = append(errs, fmt.Errorf("auth: share user %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// shareSession puts a new session in the shared store and notes it.
func (s *Store) shareSession(ctx context.Context, sum []byte, u User, expires time.Time) {
	if err := s.shared.PutSession(ctx, hex.EncodeToString(sum), u, expires); err != nil {
		s.log.Warn("auth: session not shared; it works on this node only until shared", "user", u.Name, "error", err)
		return
	}
	_, _ = s.db.W.ExecContext(ctx, `UPDATE sessions SET shared = 1, checked_at = ? WHERE token_hash = ?`, store.Millis(s.now()), sum)
}

// recheck checks a local session against the shared store, at most every
// sessionRecheck: gone there (logout on another node) ends it here; a
// session that could not be shared at login is shared now.
func (s *Store) recheck(ctx context.Context, sum []byte, u User, shared bool, checked, expires time.Time) (User, error) {
	now := s.now()
	if now.Sub(checked) < sessionRecheck {
		return u, nil
	}
	// Whatever happens, do not ask again before the next period.
	_, _ = s.db.W.ExecContext(ctx, `UPDATE sessions SET checked_at = ? WHERE token_hash = ?`, store.Millis(now), sum)
	if !shared {
		s.shareSession(ctx, sum, u, expires)
		return u, nil
	}
	_, _, ok, err := s.shared.GetSession(ctx, hex.EncodeToString(sum))
	switch {
	case errors.Is(err, ErrSessionUnknown):
		// The shared store lost it (not a logout): share it again.
		s.shareSession(ctx, sum, u, expires)
		return u, nil
	case err != nil:
		s.log.Warn("auth: shared sessions unreachable; trusting this node's", "user", u.Name, "error", err)
		return u, nil
	case !ok:
		_, _ = s.db.W.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, sum)
		return User{}, ErrNoSession
	}
	return u, nil
}

// sharedSession looks a token this node does not know up in the shared
// store (a login on another node) and keeps a copy of the session.
func (s *Store) sharedSession(ctx context.Context, token string, sum []byte) (User, error) {
	created, ok := tokenCreated(token)
	if !ok {
		return User{}, ErrNoSession
	}
	key := hex.EncodeToString(sum)
	su, expires, found, err := s.shared.GetSession(ctx, key)
	if errors.Is(err, ErrSessionUnknown) {
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: session: shared: %w", err)
	}
	now := s.now()
	if !found || !expires.After(now) {
		return User{}, ErrNoSession
	}
	rec, known, err := s.localUser(ctx, su.Name)
	if err != nil {
		return User{}, fmt.Errorf("auth: session: %w", err)
	}
	if !known || rec.Role != su.Role || rec.SeatID != su.SeatID || created.Before(rec.UpdatedAt) {
		// This node may be behind: the user as the shared store has it.
		rec, known = s.newerShared(ctx, su.Name, rec, known)
	}
	if !known || rec.Role != su.Role || rec.SeatID != su.SeatID || created.Before(rec.UpdatedAt) {
		// The user is gone or changed since the login (password reset).
		s.log.Info("auth: shared session refused: its user changed since the login", "user", su.Name)
		_ = s.shared.DeleteSession(ctx, key)
		return User{}, ErrNoSession
	}
	_, err = s.db.W.ExecContext(ctx, `INSERT INTO sessions(token_hash, user_name, created_at, expires_at, shared, checked_at)
		VALUES (?,?,?,?,1,?) ON CONFLICT(token_hash) DO NOTHING`,
		sum, su.Name, store.Millis(created), store.Millis(expires), store.Millis(now))
	if err != nil {
		s.log.Warn("auth: could not keep the shared session", "user", su.Name, "error", err)
	}
	return rec.User, nil
}

// tokenCreated reads the creation time a token carries after its last '.'.
func tokenCreated(token string) (time.Time, bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(token[i+1:], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return store.FromMillis(ms), true
}
