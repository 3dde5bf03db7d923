package sip

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// rateLimiter is a per-source request limit in fixed memory, in the spirit
// of Kamailio's pike module: at most limit requests from one source (an
// IPv4 address, an IPv6 /64: sourceKey) per window. Its table has a fixed
// number of slots, so a flood from spoofed addresses costs no memory; each
// source hashes to two slots (two-choice hashing) and a new source takes
// an expired slot, else the less busy of its two. A source evicted by a
// flood of others starts counting afresh, which favours the innocent: a
// real flooder keeps its slot busy and keeps being limited.
type rateLimiter struct {
	limit  uint32
	window int64 // nanoseconds
	now    func() time.Time
	seed   maphash.Seed

	mu    sync.Mutex
	slots []rateSlot
	mask  uint64
}

type rateSlot struct {
	key   [16]byte // the source's address bytes (IPv4-mapped for IPv4)
	start int64    // unix nanos the current window began; 0: free
	n     uint32   // requests in the current window
}

// rateSlots is the table size: 16384 slots of 32 bytes (512 KiB). Far more
// than the sources that are busy at one moment (six seats, the SBC).
const rateSlots = 1 << 14

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	if now == nil {
		now = time.Now
	}
	return &rateLimiter{
		limit: uint32(max(limit, 1)), window: int64(max(window, time.Millisecond)), now: now,
		seed: maphash.MakeSeed(), slots: make([]rateSlot, rateSlots), mask: rateSlots - 1,
	}
}

// sourceKey is the unit limits and bans apply to: an IPv4 address, or an
// IPv6 /64 (one subscriber's LAN; limiting single IPv6 addresses limits
// nothing, a host has 2^64 of them).
func sourceKey(ip netip.Addr) [16]byte {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr().As16()
	}
	return netip.AddrFrom16(ip.As16()).As16()
}

// allow counts one request from ip and says whether it is within the limit.
func (l *rateLimiter) allow(ip netip.Addr) bool {
	key := sourceKey(ip)
	h := maphash.Bytes(l.seed, key[:])
	a, b := h&l.mask, (h>>32)&l.mask
	now := l.now().UnixNano()

	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[a]
	switch {
	case l.slots[a].start != 0 && l.slots[a].key == key:
	case l.slots[b].start != 0 && l.slots[b].key == key:
		s = &l.slots[b]
	default:
		// A new source: a free or expired slot, else the quieter one.
		sa, sb := &l.slots[a], &l.slots[b]
		switch {
		case sa.start == 0 || now-sa.start >= l.window:
			s = sa
		case sb.start == 0 || now-sb.start >= l.window:
			s = sb
		case sb.n < sa.n:
			s = sb
		default:
			s = sa
		}
		*s = rateSlot{key: key, start: now}
	}
	if now-s.start >= l.window {
		s.start, s.n = now, 0
	}
	if s.n >= l.limit {
		return false
	}
	s.n++
	return true
}
