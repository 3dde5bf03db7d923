package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/internal/auth"
)

// Users is auth.Shared over Redis: console users and login sessions that
// every node knows (SPEC §11: console logins work on every node). Each
// node keeps its users in its own SQLite too and pushes them here
// (auth.Store.SyncUsers), so a Redis restarted empty is filled again; a
// session lives here until it expires.
type Users struct {
	rdb    redis.UniversalClient
	prefix string
	down   func(error) // told when Redis is unreachable
}

var _ auth.Shared = Users{}

// Users returns the node's shared user and session store.
func (n *Node) Users() Users {
	return Users{rdb: n.rdb, prefix: n.opt.Prefix, down: func(err error) { n.setUp(false, err) }}
}

// NewUsers is the shared user store without a node, for `hotline user add`
// (prefix "" is the default, "{hotline}").
func NewUsers(rdb redis.UniversalClient, prefix string) Users {
	if prefix == "" {
		prefix = "{hotline}"
	}
	return Users{rdb: rdb, prefix: prefix, down: func(error) {}}
}

// putUserScript writes a user unless the stored record is as new or newer
// (the newer change wins, whichever node made it). Values are
// "<updated ms>|<JSON>".
var putUserScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ms = tonumber(string.match(cur, '^(%d+)|'))
  if ms and ms >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return 1`)

func (u Users) key() string { return u.prefix + ":users" }

func (u Users) fail(err error) error {
	if unreachable(err) {
		u.down(err)
		return fmt.Errorf("cluster: users: %w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("cluster: users: %w", err)
}

// ErrUnreachable: Redis cannot be reached (the caller goes on with what it
// holds locally).
var ErrUnreachable = errors.New("redis unreachable")

// PutUser implements auth.Shared.
func (u Users) PutUser(ctx context.Context, r auth.UserRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = putUserScript.Run(ctx, u.rdb, []string{u.key()}, r.Name, r.UpdatedAt.UnixMilli(), string(b)).Err()
	if err != nil {
		return u.fail(err)
	}
	return nil
}

func decodeUser(v string) (auth.UserRecord, error) {
	_, j, ok := strings.Cut(v, "|")
	if !ok {
		return auth.UserRecord{}, fmt.Errorf("cluster: users: unreadable record")
	}
	var r auth.UserRecord
	err := json.Unmarshal([]byte(j), &r)
	return r, err
}

// GetUser implements auth.Shared.
func (u Users) GetUser(ctx context.Context, name string) (auth.UserRecord, bool, error) {
	v, err := u.rdb.HGet(ctx, u.key(), name).Result()
	if errors.Is(err, redis.Nil) {
		return auth.UserRecord{}, false, nil
	}
	if err != nil {
		return auth.UserRecord{}, false, u.fail(err)
	}
	r, err := decodeUser(v)
	return r, err == nil, err
}

// ListUsers implements auth.Shared.
func (u Users) ListUsers(ctx context.Context) ([]auth.UserRecord, error) {
	all, err := u.rdb.HGetAll(ctx, u.key()).Result()
	if err != nil {
		return nil, u.fail(err)
	}
	out := make([]auth.UserRecord, 0, len(all))
	for _, v := range all {
		if r, err := decodeUser(v); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

type sessionJSON struct {
	User    auth.User `json:"user"`
	Expires int64     `json:"expires"`
}

func (u Users) sessKey(h string) string { return u.prefix + ":sess:" + h }

// putSessionScript shares a session unless it was logged out.
var putSessionScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == '-' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// PutSession implements auth.Shared; a logged-out session stays so.
func (u Users) PutSession(ctx context.Context, tokenHash string, usr auth.User, expires time.Time) error {
	b, _ := json.Marshal(sessionJSON{User: usr, Expires: expires.UnixMilli()})
	ttl := time.Until(expires)
	if ttl <= 0 {
		return nil
	}
	if err := putSessionScript.Run(ctx, u.rdb, []string{u.sessKey(tokenHash)}, string(b), ttl.Milliseconds()).Err(); err != nil {
		return u.fail(err)
	}
	return nil
}

// loggedOut is the value of a session's key after its logout: a tombstone
// that tells a lost session (no key at all) from an ended one.
const loggedOut = "-"

// tombstoneTTL: a logout is remembered this long (longer than any session).
const tombstoneTTL = 48 * time.Hour

// GetSession implements auth.Shared.
func (u Users) GetSession(ctx context.Context, tokenHash string) (auth.User, time.Time, bool, error) {
	v, err := u.rdb.Get(ctx, u.sessKey(tokenHash)).Result()
	if errors.Is(err, redis.Nil) {
		return auth.User{}, time.Time{}, false, auth.ErrSessionUnknown
	}
	if err != nil {
		return auth.User{}, time.Time{}, false, u.fail(err)
	}
	if v == loggedOut {
		return auth.User{}, time.Time{}, false, nil
	}
	var s sessionJSON
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return auth.User{}, time.Time{}, false, fmt.Errorf("cluster: session: %w", err)
	}
	return s.User, time.UnixMilli(s.Expires), true, nil
}

// DeleteSession implements auth.Shared: the logout's tombstone.
func (u Users) DeleteSession(ctx context.Context, tokenHash string) error {
	if err := u.rdb.Set(ctx, u.sessKey(tokenHash), loggedOut, tombstoneTTL).Err(); err != nil {
		return u.fail(err)
	}
	return nil
}
