package web

// Login throttling.
//
// A login costs an Argon2id hash (19 MiB, tens of milliseconds of a core),
// so attempts are counted and refused BEFORE any hashing, and an attempt
// counts from the moment it is let through (a burst of parallel attempts
// cannot slip past a count that only failures already finished would
// raise). Two limits, each answered 429 with Retry-After:
//
//   - per source (the client address, client.go; an IPv6 client's /64):
//     at most loginSourceLimit failed or running attempts within
//     loginSourceWindow, whatever the account. A success does not clear it.
//   - per account per source: loginFreeAttempts failures in a row, then one
//     attempt at a time after a backoff that doubles from loginBackoffBase
//     to loginBackoffMax; a success resets it. Keyed by account AND
//     source, so that an attacker elsewhere cannot lock a real user out:
//     the user's own address keeps its free attempts.
//
// Behind the per-source limits the auth store lets at most two Argon2id
// computations run at once (auth.DefaultHashSlots), whatever the number of
// sources; a check that waits too long for one is answered 503. The state
// is per node and in memory: a restart or another node starts afresh.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"
)

const (
	loginSourceLimit  = 20
	loginSourceWindow = 5 * time.Minute
	loginFreeAttempts = 5
	loginBackoffBase  = time.Second
	loginBackoffMax   = 5 * time.Minute
	// loginForget: an account's count for a source is forgotten after this
	// long without a failure (once its backoff is over).
	loginForget = time.Hour
	// loginMaxEntries bounds each map; past it idle entries go first, then
	// any that is not in use (a flood of made-up names or addresses cannot
	// grow the process).
	loginMaxEntries = 20000
	loginSweepEvery = time.Minute
)

// accountKey is an account name as typed (never kept in clear: it may be a
// password typed into the wrong field) and a source.
type accountKey struct {
	name [16]byte
	src  netip.Prefix
}

type sourceState struct {
	fails   []time.Time // within loginSourceWindow, oldest first
	running int
}

type accountState struct {
	fails   int       // failures in a row
	last    time.Time // the last failure
	until   time.Time // no attempt before
	running int
}

type loginGuard struct {
	mu       sync.Mutex
	now      func() time.Time
	sources  map[netip.Prefix]*sourceState
	accounts map[accountKey]*accountState
	swept    time.Time
	// refKey makes userRef: a name's stand-in in the logs, the same within
	// one run of the process, irreversible, unlike across runs.
	refKey []byte
}

func newLoginGuard(now func() time.Time) *loginGuard {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &loginGuard{now: now, sources: map[netip.Prefix]*sourceState{}, accounts: map[accountKey]*accountState{}, refKey: key}
}

// sourceOf is the source key of a client address: the address, or an IPv6
// client's /64 (one host may hold all of it).
func sourceOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// userRef is a stand-in for a typed name in the logs.
func (g *loginGuard) userRef(name string) string {
	m := hmac.New(sha256.New, g.refKey)
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// loginAttempt is one attempt let through; exactly one of success, failure
// or cancel ends it.
type loginAttempt struct {
	g   *loginGuard
	key accountKey
}

// Why an attempt was refused.
const (
	refusedSource  = "source"
	refusedAccount = "account"
)

// admit lets an attempt of name from client through (counting it), or
// says how long to wait and which limit refused it.
func (g *loginGuard) admit(name string, client netip.Addr) (*loginAttempt, time.Duration, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	src := sourceOf(client)
	ss := g.sources[src]
	if ss == nil {
		ss = &sourceState{}
		g.sources[src] = ss
	}
	ss.prune(now)
	if len(ss.fails)+ss.running >= loginSourceLimit {
		wait := time.Second
		if len(ss.fails) > 0 {
			wait = max(ss.fails[0].Add(loginSourceWindow).Sub(now), time.Second)
		}
		return nil, wait, refusedSource
	}
	sum := sha256.Sum256([]byte(name))
	key := accountKey{src: src}
	copy(key.name[:], sum[:16])
	as := g.accounts[key]
	if as == nil {
		as = &accountState{}
		g.accounts[key] = as
	}
	if as.fails+as.running >= loginFreeAttempts && (as.running > 0 || now.Before(as.until)) {
		return nil, max(as.until.Sub(now), time.Second), refusedAccount
	}
	ss.running++
	as.running++
	return &loginAttempt{g: g, key: key}, 0, ""
}

func (s *sourceState) prune(now time.Time) {
	i := 0
	for i < len(s.fails) && now.Sub(s.fails[i]) >= loginSourceWindow {
		i++
	}
	s.fails = s.fails[i:]
}

// release ends the attempt's running count.
func (a *loginAttempt) release() (*sourceState, *accountState) {
	ss, as := a.g.sources[a.key.src], a.g.accounts[a.key]
	if ss != nil && ss.running > 0 {
		ss.running--
	}
	if as != nil && as.running > 0 {
		as.running--
	}
	return ss, as
}

// success: the password was right; the account's count for this source
// starts afresh (the source's failures stay).
func (a *loginAttempt) success() {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	a.release()
	delete(a.g.accounts, a.key)
}

// failure: a wrong password or an unknown account. It reports the backoff
// the account has for this source from now (0: none yet) and whether the
// source just reached its limit.
func (a *loginAttempt) failure() (backoff time.Duration, sourceFull bool) {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	now := a.g.now()
	ss, as := a.release()
	if ss != nil {
		ss.fails = append(ss.fails, now)
		sourceFull = len(ss.fails) == loginSourceLimit
	}
	if as != nil {
		as.fails++
		as.last = now
		if n := as.fails - loginFreeAttempts; n >= 0 {
			backoff = loginBackoffMax
			if n < 20 {
				backoff = min(loginBackoffBase<<n, loginBackoffMax)
			}
			as.until = now.Add(backoff)
		}
	}
	return backoff, sourceFull
}

// cancel: nothing was checked (the server was busy or failed); the attempt
// does not count.
func (a *loginAttempt) cancel() {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	a.release()
}

// sweep forgets idle entries now and then, and bounds the maps.
func (g *loginGuard) sweep(now time.Time) {
	full := len(g.sources) >= loginMaxEntries || len(g.accounts) >= loginMaxEntries
	if !full && now.Sub(g.swept) < loginSweepEvery {
		return
	}
	g.swept = now
	for k, s := range g.sources {
		if s.prune(now); len(s.fails) == 0 && s.running == 0 {
			delete(g.sources, k)
		}
	}
	for k, a := range g.accounts {
		if a.running == 0 && !now.Before(a.until) && now.Sub(a.last) >= loginForget {
			delete(g.accounts, k)
		}
	}
	// Still full: a flood of made-up names or addresses. Drop entries not
	// in use, in the map's random order, down to three quarters.
	for k, s := range g.sources {
		if len(g.sources) < loginMaxEntries*3/4 {
			break
		}
		if s.running == 0 {
			delete(g.sources, k)
		}
	}
	for k, a := range g.accounts {
		if len(g.accounts) < loginMaxEntries*3/4 {
			break
		}
		if a.running == 0 {
			delete(g.accounts, k)
		}
	}
}
