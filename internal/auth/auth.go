// Package auth keeps the console's users and login sessions in SQLite.
//
// Passwords are hashed with Argon2id (RFC 9106) and stored in the PHC string
// format; session tokens are 256-bit random values of which only the SHA-256
// is stored, so a copy of the database grants no session. In a cluster
// (SPEC §11) a Shared store carries users and sessions between the nodes
// (see shared.go), so that a console login works on every node. It imports
// internal/store and nothing else of this module.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/hotline12348/hotline/internal/store"

	"github.com/hotline12348/hotline/internal/vocab"
)

// Roles.
const (
	RoleOperator = vocab.RoleOperator
	RoleManager  = vocab.RoleManager
	RoleAdmin    = vocab.RoleAdmin
)

// Errors.
var (
	ErrBadCredentials = errors.New("auth: bad username or password")
	// ErrUnknownUser is the ErrBadCredentials of a login whose user name is
	// not a user's. The answer to the client must not differ; it is there
	// so that a log names a known user and never records what was typed
	// for an unknown one (often a password typed into the name field).
	ErrUnknownUser = fmt.Errorf("%w (unknown user)", ErrBadCredentials)
	// ErrBusy: every Argon2id slot stayed taken for longer than the store
	// waits (see hashGate); nothing was checked, try again shortly.
	ErrBusy       = errors.New("auth: too many password checks at once")
	ErrNoSession  = errors.New("auth: no valid session")
	ErrUserExists = errors.New("auth: user exists")
)

// User is a console user.
type User struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	SeatID string `json:"seat_id,omitempty"`
}

// CanManage reports whether the user may see manager views (wallboard,
// recordings, dead letters).
func (u User) CanManage() bool { return u.Role == RoleManager || u.Role == RoleAdmin }

// Store keeps users and sessions.
type Store struct {
	db  *store.DB
	now func() time.Time
	// dummy is a hash verified when the user does not exist, so that a
	// login's timing does not tell which user names exist.
	dummy string

	// shared carries users and sessions between the nodes of a cluster;
	// nil on a single node. Set once, before use, by SetShared.
	shared Shared
	log    *slog.Logger

	// gate bounds the Argon2id computations running at once.
	gate *hashGate
}

// NewStore returns a user store on db.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, dummy: HashPassword("not a real password"), log: slog.New(slog.DiscardHandler),
		gate: newHashGate(DefaultHashSlots, DefaultHashWait)}
}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return r == RoleOperator || r == RoleManager || r == RoleAdmin }

// AddUser creates a user; replace=true updates an existing one (password
// reset) instead of failing with ErrUserExists.
func (s *Store) AddUser(ctx context.Context, u User, password string, replace bool) error {
	if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n") {
		return fmt.Errorf("auth: user name must be non-empty without spaces")
	}
	if !ValidRole(u.Role) {
		return fmt.Errorf("auth: role %q: must be operator, manager or admin", u.Role)
	}
	if len(password) < 8 {
		return fmt.Errorf("auth: password must have at least 8 characters")
	}
	var hash string
	if err := s.gate.run(ctx, func() { hash = HashPassword(password) }); err != nil {
		return fmt.Errorf("auth: add user: %w", err)
	}
	now := s.now().Truncate(time.Millisecond)
	q := `INSERT INTO users(name, role, seat_id, pw_hash, created_at, updated_at) VALUES (?,?,?,?,?,?)`
	if replace {
		q += ` ON CONFLICT(name) DO UPDATE SET role=excluded.role, seat_id=excluded.seat_id, pw_hash=excluded.pw_hash,
			updated_at=max(excluded.updated_at, users.updated_at+1)`
	}
	_, err := s.db.W.ExecContext(ctx, q, u.Name, u.Role, u.SeatID, hash, store.Millis(now), store.Millis(now))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("%w: %s", ErrUserExists, u.Name)
		}
		return fmt.Errorf("auth: add user: %w", err)
	}
	if replace {
		// A reset password ends the user's sessions (on the other nodes too:
		// a session older than its user's last change is refused there).
		_, _ = s.db.W.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, u.Name)
	}
	if s.shared != nil {
		if rec, ok, err := s.localUser(ctx, u.Name); err == nil && ok {
			if err := s.shared.PutUser(ctx, rec); err != nil {
				s.log.Warn("auth: user not shared with the other nodes yet (SyncUsers will)", "user", u.Name, "error", err)
			}
		}
	}
	return nil
}

// Count returns the number of users.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// Login checks the credentials and opens a session, returning its token.
// A wrong password or an unknown user is ErrBadCredentials (an unknown one
// is also ErrUnknownUser); ErrBusy when no Argon2id slot came free in time.
// A successful login also deletes the expired sessions. With a Shared store, a user this node does not know, or knows in an older
// version, is taken from it (and kept locally), and the session is shared
// so that the token works on every node; an error of the shared store is
// logged and the login goes on with what this node knows.
func (s *Store) Login(ctx context.Context, name, password string, ttl time.Duration) (string, User, error) {
	rec, ok, err := s.localUser(ctx, name)
	if err != nil {
		return "", User{}, fmt.Errorf("auth: login: %w", err)
	}
	if s.shared != nil {
		rec, ok = s.newerShared(ctx, name, rec, ok)
	}
	// An unknown user costs the same hash as a known one: the time of the
	// answer does not tell which names exist.
	hash := s.dummy
	if ok {
		hash = rec.Hash
	}
	var good bool
	if err := s.gate.run(ctx, func() { good = VerifyPassword(hash, password) }); err != nil {
		return "", User{}, err
	}
	if !ok {
		return "", User{}, ErrUnknownUser
	}
	if !good {
		return "", User{}, ErrBadCredentials
	}
	u := rec.User
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", User{}, fmt.Errorf("auth: token: %w", err)
	}
	now := s.now().Truncate(time.Millisecond)
	// The token says when it was made: a node that meets it through the
	// shared store refuses it if its user changed since (password reset).
	// The creation time cannot be forged: the token is looked up by its hash.
	token := base64.RawURLEncoding.EncodeToString(raw) + "." + strconv.FormatInt(store.Millis(now), 10)
	sum := sha256.Sum256([]byte(token))
	expires := now.Add(ttl)
	_, err = s.db.W.ExecContext(ctx, `INSERT INTO sessions(token_hash, user_name, created_at, expires_at, checked_at) VALUES (?,?,?,?,?)`,
		sum[:], u.Name, store.Millis(now), store.Millis(expires), store.Millis(now))
	if err != nil {
		return "", User{}, fmt.Errorf("auth: session: %w", err)
	}
	if s.shared != nil {
		s.shareSession(ctx, sum[:], u, expires)
	}
	if err := s.PruneSessions(ctx); err != nil {
		s.log.Warn("auth: pruning expired sessions", "error", err)
	}
	return token, u, nil
}

// Session returns the user of a valid session token. With a Shared store, a
// token this node does not know is looked up there (a login on another
// node), and a local session is checked against it now and then (a logout
// on another node ends it here too).
func (s *Store) Session(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, ErrNoSession
	}
	sum := sha256.Sum256([]byte(token))
	var (
		u               User
		shared          bool
		checked, expiry int64
	)
	err := s.db.R.QueryRowContext(ctx, `SELECT u.name, u.role, u.seat_id, s.shared, s.checked_at, s.expires_at FROM sessions s JOIN users u ON u.name = s.user_name
		WHERE s.token_hash = ? AND s.expires_at > ?`, sum[:], store.Millis(s.now())).Scan(&u.Name, &u.Role, &u.SeatID, &shared, &checked, &expiry)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if s.shared == nil {
			return User{}, ErrNoSession
		}
		return s.sharedSession(ctx, token, sum[:])
	case err != nil:
		return User{}, fmt.Errorf("auth: session: %w", err)
	}
	if s.shared != nil {
		return s.recheck(ctx, sum[:], u, shared, store.FromMillis(checked), store.FromMillis(expiry))
	}
	return u, nil
}

// Logout ends a session, on every node when sessions are shared.
func (s *Store) Logout(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	_, err := s.db.W.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, sum[:])
	if s.shared != nil {
		if serr := s.shared.DeleteSession(ctx, hex.EncodeToString(sum[:])); serr != nil {
			s.log.Warn("auth: logout not shared with the other nodes", "error", serr)
		}
	}
	return err
}

// PruneSessions deletes expired sessions (a login does, and the app every
// few minutes): an expired session is refused anyway, but its row would
// otherwise stay forever.
func (s *Store) PruneSessions(ctx context.Context) error {
	_, err := s.PruneExpired(ctx)
	return err
}

// PruneExpired deletes expired sessions and returns how many.
func (s *Store) PruneExpired(ctx context.Context) (int64, error) {
	res, err := s.db.W.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, store.Millis(s.now()))
	if err != nil {
		return 0, fmt.Errorf("auth: prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Audit writes one line to the audit log (recording downloads, redeliveries).
func (s *Store) Audit(ctx context.Context, user, action, object, remote string) error {
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO audit_log(at, user_name, action, object, remote) VALUES (?,?,?,?,?)`,
		store.Millis(s.now()), user, action, object, remote)
	if err != nil {
		return fmt.Errorf("auth: audit: %w", err)
	}
	return nil
}

// AuditObjects returns the objects of user's audit lines of action, newest
// first, at most limit (the callbacks an operator wrote up).
func (s *Store) AuditObjects(ctx context.Context, user, action string, limit int) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT object FROM audit_log WHERE user_name = ? AND action = ? GROUP BY object ORDER BY max(id) DESC LIMIT ?`,
		user, action, limit)
	if err != nil {
		return nil, fmt.Errorf("auth: audit objects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("auth: audit objects: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns the Argon2id hash of password in PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("auth: no randomness: %v", err)) // crypto/rand never fails on Linux
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword checks password against a PHC Argon2id hash in constant time.
func VerifyPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
