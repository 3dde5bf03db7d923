package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Digest authentication of the seats (RFC 3261 §22, RFC 7616, RFC 8760).
//
// Nonces are stateless: base64url(issued unix nanos ‖ 12 random bytes ‖
// HMAC-SHA256(per-process key, issued ‖ random ‖ client IP)[:16]), so their
// age and authenticity are checked without storing them, and a nonce from
// before a restart simply fails the MAC. A nonce is good only from the
// address it was sent to: an answer from anywhere else is challenged
// afresh (stale=true, RFC 7616 §3.3) without looking at the password and
// without counting a failure, so failures count only for a sender that can
// receive at its address. Spoofed datagrams can then neither fill the ban
// table nor get someone else's address banned, and since the password is
// not looked at, the stale flag tells a guesser nothing.
//
// Each seat may have its own algorithms (seats[].digest_algorithms): a
// SHA-256 phone is never offered MD5, and an answer in an algorithm the
// seat was not offered fails (no downgrade, RFC 8760 §3).
//
// The only state is the replay table: the
// highest nonce count (RFC 7616 §3.4, "nc") seen per nonce, written only
// after a response has proved the password, so an attacker without a
// password cannot grow it; it is capped and swept as its nonces expire.

const (
	algMD5    = "MD5"
	algSHA256 = "SHA-256"

	nonceTSLen   = 8
	nonceRandLen = 12
	nonceMACLen  = 16
	nonceRawLen  = nonceTSLen + nonceRandLen + nonceMACLen

	// nonceSkew tolerates a nonce "issued" slightly in the future: the
	// clock is ours, but it may step.
	nonceSkew = 2 * time.Second
)

// authOutcome is what verifying one Authorization header concluded.
type authOutcome int

const (
	// authOK: the response proves the password and the nonce is fresh and unused at this count.
	authOK authOutcome = iota
	// authStale: the response proves the password but the nonce has
	// expired, is not ours (an earlier process) or its record was evicted:
	// challenge again with stale=true (RFC 7616 §3.3) so the UA retries
	// without asking its user.
	authStale
	// authFailed: the response does not prove the password (wrong
	// password, unknown user, an algorithm or qop we did not offer).
	authFailed
	// authReplay: a correct response whose nonce count did not increase,
	// i.e. a copy of an earlier request (RFC 7616 §5.5).
	authReplay
)

func (o authOutcome) String() string {
	switch o {
	case authOK:
		return "ok"
	case authStale:
		return "stale"
	case authFailed:
		return "failed"
	case authReplay:
		return "replay"
	}
	return "unknown"
}

// digestAuth issues challenges and verifies answers for one realm.
type digestAuth struct {
	realm  string
	algs   []string // offered by default, in order of preference
	opaque string
	ttl    time.Duration
	now    func() time.Time
	rand   io.Reader
	key    []byte

	mu      sync.Mutex
	used    map[string]nonceUse // by nonce
	maxUsed int
	// floor: a nonce issued at or before this instant (unix nanos) that
	// is not in used had its record evicted, so its count history is
	// unknown; it is answered stale rather than trusted afresh.
	floor int64
}

type nonceUse struct {
	nc     uint32 // highest count accepted; MaxUint32 once a qop-less answer used it
	issued int64  // unix nanos
}

// canonicalAlgorithms checks a configured list (default [MD5]) and writes
// it as offered.
func canonicalAlgorithms(algs []string) ([]string, error) {
	if len(algs) == 0 {
		algs = []string{algMD5}
	}
	var canon []string
	for _, a := range algs {
		c, ok := canonicalAlgorithm(a)
		if !ok || a == "" {
			return nil, fmt.Errorf("sip: digest algorithm %q: want %s or %s", a, algSHA256, algMD5)
		}
		if !slices.Contains(canon, c) {
			canon = append(canon, c)
		}
	}
	return canon, nil
}

func newDigestAuth(realm string, algs []string, ttl time.Duration, now func() time.Time, rnd io.Reader, maxUsed int) (*digestAuth, error) {
	canon, err := canonicalAlgorithms(algs)
	if err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("sip: digest key: %w", err)
	}
	op := make([]byte, 8)
	if _, err := io.ReadFull(rnd, op); err != nil {
		return nil, fmt.Errorf("sip: digest opaque: %w", err)
	}
	return &digestAuth{
		realm: realm, algs: canon, opaque: hex.EncodeToString(op), ttl: ttl, now: now, rand: rnd, key: key,
		used: map[string]nonceUse{}, maxUsed: maxUsed,
	}, nil
}

// mac binds a nonce to its time, randomness and the client's address (an
// IPv4 address or IPv6 /64, as bans count them: a phone's IPv6 privacy
// address may change within its /64).
func (a *digestAuth) mac(ts, rnd []byte, client netip.Addr) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write(ts)
	m.Write(rnd)
	k := sourceKey(client)
	m.Write(k[:])
	return m.Sum(nil)[:nonceMACLen]
}

func (a *digestAuth) newNonce(client netip.Addr) (string, error) {
	raw := make([]byte, nonceRawLen)
	binary.BigEndian.PutUint64(raw[:nonceTSLen], uint64(a.now().UnixNano()))
	if _, err := io.ReadFull(a.rand, raw[nonceTSLen:nonceTSLen+nonceRandLen]); err != nil {
		return "", fmt.Errorf("sip: nonce: %w", err)
	}
	copy(raw[nonceTSLen+nonceRandLen:], a.mac(raw[:nonceTSLen], raw[nonceTSLen:nonceTSLen+nonceRandLen], client))
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// authentic: n is a nonce this process sent to client's address.
func (a *digestAuth) authentic(n string, client netip.Addr) bool {
	_, _, ok := a.checkNonce(n, client)
	return ok
}

// checkNonce says whether n is one of ours for client (authentic) and, if
// so, when it was issued and whether it is still fresh.
func (a *digestAuth) checkNonce(n string, client netip.Addr) (issued int64, fresh bool, ok bool) {
	if len(n) != base64.RawURLEncoding.EncodedLen(nonceRawLen) {
		return 0, false, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != nonceRawLen {
		return 0, false, false
	}
	want := a.mac(raw[:nonceTSLen], raw[nonceTSLen:nonceTSLen+nonceRandLen], client)
	if !hmac.Equal(want, raw[nonceTSLen+nonceRandLen:]) {
		return 0, false, false
	}
	issued = int64(binary.BigEndian.Uint64(raw[:nonceTSLen]))
	age := a.now().Sub(time.Unix(0, issued))
	return issued, age >= -nonceSkew && age <= a.ttl, true
}

// challenges returns the WWW-Authenticate headers of a 401 for client, one
// per algorithm of algs (nil: the default) in order of preference, with one
// nonce (RFC 8760 §2.4: the UA uses the first it supports).
func (a *digestAuth) challenges(stale bool, algs []string, client netip.Addr) ([]sip.Header, error) {
	if len(algs) == 0 {
		algs = a.algs
	}
	n, err := a.newNonce(client)
	if err != nil {
		return nil, err
	}
	out := make([]sip.Header, 0, len(algs))
	for _, alg := range algs {
		c := digest.Challenge{Realm: a.realm, Nonce: n, Opaque: a.opaque, Stale: stale, Algorithm: alg, QOP: []string{"auth"}}
		out = append(out, sip.NewHeader("WWW-Authenticate", c.String()))
	}
	return out, nil
}

// canonicalAlgorithm maps the algorithm of an answer to one we offered;
// no algorithm means MD5 (RFC 2617 §3.2.1).
func canonicalAlgorithm(alg string) (string, bool) {
	switch {
	case alg == "" || strings.EqualFold(alg, algMD5):
		return algMD5, true
	case strings.EqualFold(alg, algSHA256):
		return algSHA256, true
	}
	return "", false
}

// verify checks one answer from client. password is the user's password
// when known is true; an unknown user is computed against a dummy password
// and fails the same way, so a wrong user and a wrong password look alike
// from outside. algs are the algorithms the seat was offered (nil: the
// default). The caller has already checked the realm, that the nonce is
// one we sent to client (authentic) and that the username is the seat
// being registered.
func (a *digestAuth) verify(method string, cred *digest.Credentials, password string, known bool, algs []string, client netip.Addr) authOutcome {
	if len(algs) == 0 {
		algs = a.algs
	}
	alg, ok := canonicalAlgorithm(cred.Algorithm)
	if !ok || !slices.Contains(algs, alg) || cred.Userhash || cred.Response == "" {
		return authFailed
	}
	var qop []string
	switch {
	case cred.QOP == "":
		// RFC 2069 style, kept for old phones: the nonce is then single use.
	case strings.EqualFold(cred.QOP, "auth"):
		if cred.Cnonce == "" || cred.Nc <= 0 {
			return authFailed
		}
		qop = []string{"auth"}
	default:
		return authFailed // auth-int was not offered
	}
	if !known {
		password = "\x00unknown user\x00"
	}
	want, err := digest.Digest(&digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: alg, QOP: qop},
		digest.Options{Method: method, URI: cred.URI, Username: cred.Username, Password: password, Count: cred.Nc, Cnonce: cred.Cnonce})
	if err != nil {
		return authFailed
	}
	match := subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) == 1
	if !match || !known {
		return authFailed
	}
	// The password is proven; now whether this nonce may still be used.
	issued, fresh, authentic := a.checkNonce(cred.Nonce, client)
	if !authentic || !fresh {
		return authStale
	}
	if cred.Opaque != "" && subtle.ConstantTimeCompare([]byte(cred.Opaque), []byte(a.opaque)) != 1 {
		return authStale
	}
	nc := uint32(cred.Nc)
	if qop == nil {
		nc = ^uint32(0)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, seen := a.used[cred.Nonce]
	switch {
	case seen && (qop == nil || nc <= prev.nc):
		return authReplay
	case !seen && issued <= a.floor:
		return authStale
	}
	if !seen && len(a.used) >= a.maxUsed {
		a.pruneLocked()
		if len(a.used) >= a.maxUsed {
			a.evictOldestLocked()
		}
	}
	a.used[cred.Nonce] = nonceUse{nc: nc, issued: issued}
	return authOK
}

// prune forgets the counts of nonces that have expired: an expired nonce
// is refused as stale whatever its count.
func (a *digestAuth) prune() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
}

func (a *digestAuth) pruneLocked() {
	limit := a.now().Add(-a.ttl).UnixNano()
	for n, u := range a.used {
		if u.issued < limit {
			delete(a.used, n)
		}
	}
}

func (a *digestAuth) evictOldestLocked() {
	var oldest string
	var at int64
	for n, u := range a.used {
		if oldest == "" || u.issued < at {
			oldest, at = n, u.issued
		}
	}
	if oldest != "" {
		delete(a.used, oldest)
		a.floor = max(a.floor, at)
	}
}

func (a *digestAuth) usedLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}
