package sip

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Bans for repeated digest failures (SPEC §4: "repeated failures from one
// address ban that address for a while"), in memory an attacker cannot
// exhaust.
//
// Failures are counted per source (an IPv4 address, an IPv6 /64) in a
// table of bounded size. When it is full of live entries, a new source's
// failures are counted against its wider prefix instead (IPv4 /24, then
// /16, then /8; IPv6 /48, /32, then /8), each level bounded too, and the
// last level holds every possible prefix (256), so it is never full: a
// full table still bans. The alternative, refusing every unknown source
// while the table is full, would let an attacker with enough addresses
// lock all six seats out; aggregation only reaches the attacker's own
// networks (and anyone sharing them, which a botnet's /24s rarely are;
// sip.no_ban exempts the call centre's own address at every level).
//
// Since nonces are bound to the address they were sent to (digest.go), a
// failure counts only for a source that received our challenge: spoofed
// datagrams can neither fill the table nor get a victim banned.
//
// Bans in force are persisted through a BanStore (the app keeps them in
// SQLite), so a restart does not hand an attacker a fresh start.

// Ban is one ban in force: a source prefix (an IPv4 /32 or IPv6 /64, or a
// wider prefix when the table was full) and when it ends.
type Ban struct {
	Prefix netip.Prefix
	Until  time.Time
}

// BanStore keeps the bans across restarts. Calls come from the
// registrar's own goroutine, one at a time.
type BanStore interface {
	// LoadBans returns the bans still in force at now.
	LoadBans(ctx context.Context, now time.Time) ([]Ban, error)
	// SaveBans stores bans, replacing any of the same prefix.
	SaveBans(ctx context.Context, bans []Ban) error
	// DeleteBansBefore removes the bans that ended before t.
	DeleteBansBefore(ctx context.Context, t time.Time) error
}

// Default sizes of the levels: sources one by one, then two levels of
// wider prefixes; the widest (/8) has room for all 256.
const (
	defaultBanTableSize = 65536
	aggregateTableSize  = 1024
)

type banTable struct {
	limit  float64
	window int64 // nanoseconds
	ban    time.Duration

	mu     sync.Mutex
	levels [2][]*banLevel // IPv4, IPv6; finest first
	save   []Ban          // new bans not yet persisted
	lifted bool           // a ban ended since the last persist
}

type banLevel struct {
	bits      int
	max       int
	m         map[netip.Prefix]*banEntry
	lastPrune time.Time
}

// banEntry counts failures with a sliding-window counter (the previous
// window's count weighted by how much of it still overlaps, plus the
// current one): 20 bytes instead of a timestamp per failure.
type banEntry struct {
	start     int64 // unix nanos the current window began
	prev, cur uint32
	until     int64 // banned before this instant (unix nanos)
}

func newBanTable(limit int, window, ban time.Duration, size int) *banTable {
	if size <= 0 {
		size = defaultBanTableSize
	}
	agg := min(aggregateTableSize, max(size/4, 1))
	lv := func(bits, max int) *banLevel {
		return &banLevel{bits: bits, max: max, m: map[netip.Prefix]*banEntry{}}
	}
	t := &banTable{limit: float64(limit), window: int64(window), ban: ban}
	t.levels[0] = []*banLevel{lv(32, size), lv(24, agg), lv(16, agg), lv(8, 256)}
	t.levels[1] = []*banLevel{lv(64, size), lv(48, agg), lv(32, agg), lv(8, 256)}
	return t
}

func family(ip netip.Addr) int {
	if ip.Unmap().Is4() {
		return 0
	}
	return 1
}

func prefixOf(ip netip.Addr, bits int) netip.Prefix {
	p, _ := ip.Unmap().Prefix(bits)
	return p
}

// banned reports whether ip is banned at any level.
func (t *banTable) banned(ip netip.Addr, now time.Time) bool {
	n := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.levels[family(ip)] {
		if e := l.m[prefixOf(ip, l.bits)]; e != nil && n < e.until {
			return true
		}
	}
	return false
}

// fail counts a failure of ip. It returns the prefix that got banned by
// it (invalid when none), and whether the failure was counted against a
// wider prefix because the finer levels were full.
func (t *banTable) fail(ip netip.Addr, now time.Time) (bannedPrefix netip.Prefix, aggregated bool) {
	n := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	levels := t.levels[family(ip)]
	for i, l := range levels {
		key := prefixOf(ip, l.bits)
		e := l.m[key]
		if e == nil {
			if len(l.m) >= l.max && i < len(levels)-1 {
				t.pruneLevelLocked(l, now, true)
				if len(l.m) >= l.max {
					aggregated = true
					continue
				}
			}
			e = &banEntry{start: n}
			l.m[key] = e
		}
		if t.countLocked(e, n) {
			e.until = n + int64(t.ban)
			e.prev, e.cur = 0, 0
			t.save = append(t.save, Ban{Prefix: key, Until: time.Unix(0, e.until)})
			return key, aggregated
		}
		return netip.Prefix{}, aggregated
	}
	return netip.Prefix{}, aggregated
}

// countLocked adds a failure at n and says whether the limit is reached.
func (t *banTable) countLocked(e *banEntry, n int64) bool {
	t.rollLocked(e, n)
	e.cur++
	return t.estimate(e, n) >= t.limit
}

// rollLocked moves e's windows forward to n.
func (t *banTable) rollLocked(e *banEntry, n int64) {
	if elapsed := n - e.start; elapsed >= t.window {
		steps := elapsed / t.window
		if steps == 1 {
			e.prev = e.cur
		} else {
			e.prev = 0
		}
		e.cur = 0
		e.start += steps * t.window
	}
}

func (t *banTable) estimate(e *banEntry, n int64) float64 {
	overlap := 1 - float64(n-e.start)/float64(t.window)
	return float64(e.prev)*max(overlap, 0) + float64(e.cur)
}

// prune forgets entries with no ban in force and no failure left in the
// window; it returns the bans in force.
func (t *banTable) prune(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, fam := range t.levels {
		for _, l := range fam {
			n += t.pruneLevelLocked(l, now, false)
		}
	}
	return n
}

// pruneLevelLocked prunes one level; when throttled, at most once a second
// (a full table is scanned when a new source needs room, and an attacker
// must not make every failure a scan of 65536 entries).
func (t *banTable) pruneLevelLocked(l *banLevel, now time.Time, throttled bool) int {
	if throttled && now.Sub(l.lastPrune) < time.Second {
		return 0
	}
	l.lastPrune = now
	n, ns := 0, now.UnixNano()
	for k, e := range l.m {
		if ns < e.until {
			n++
			continue
		}
		if e.until != 0 {
			e.until = 0
			t.lifted = true
		}
		t.rollLocked(e, ns)
		if t.estimate(e, ns) == 0 || ns-e.start >= 2*t.window {
			delete(l.m, k)
		}
	}
	return n
}

// active counts the bans in force.
func (t *banTable) active(now time.Time) int {
	n := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := 0
	for _, fam := range t.levels {
		for _, l := range fam {
			for _, e := range l.m {
				if n < e.until {
					c++
				}
			}
		}
	}
	return c
}

// size is the number of entries held (tests: the bound).
func (t *banTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := 0
	for _, fam := range t.levels {
		for _, l := range fam {
			c += len(l.m)
		}
	}
	return c
}

// restore puts back a persisted ban, at the level of its prefix length,
// if that level has room.
func (t *banTable) restore(b Ban) {
	ip := b.Prefix.Addr()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.levels[family(ip)] {
		if l.bits != b.Prefix.Bits() {
			continue
		}
		key := prefixOf(ip, l.bits)
		if e := l.m[key]; e != nil {
			e.until = max(e.until, b.Until.UnixNano())
			return
		}
		if len(l.m) < l.max {
			l.m[key] = &banEntry{start: time.Now().UnixNano(), until: b.Until.UnixNano()}
		}
		return
	}
}

// takePersist returns the bans to save and whether ended ones should be
// deleted, and clears both.
func (t *banTable) takePersist() ([]Ban, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	save, lifted := t.save, t.lifted
	t.save, t.lifted = nil, false
	return save, lifted
}
