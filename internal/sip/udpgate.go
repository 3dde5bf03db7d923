package sip

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// What sipgo v1.7.3 keeps per UDP source (sip/transport_udp.go,
// readListenerConnection): for every datagram whose source differs from the
// previous one, before parsing it, an entry in the transport's connection
// pool (source "ip:port" -> the listener) and one in the read loop's local
// acceptedAddr set. Neither is ever removed while the listener serves:
// 300,000 one-byte datagrams from distinct sources grew the heap by 38 MB,
// for good. The pool entries are also what makes sipgo answer from the
// listening socket: a request whose source has no entry is answered by
// resolving its Via host (a DNS lookup of a name taken from the request)
// and from a new ephemeral socket that is never closed.
//
// The gate is the net.PacketConn sipgo serves. It reads the datagrams
// first and hands sipgo only those that parse as SIP (answering the
// others where RFC 4475 expects it) and are within the sender's rate. What
// sipgo then remembers is bounded by recycling its read loop: after
// maxSources distinct sources the gate makes the loop end (sipgo then
// drops both structures) and serves the socket again, having first pointed
// the pool entries still needed (sources heard in the last recentWindow,
// trusted peers, registered seats) at a connection of its own that the
// loop's cleanup leaves alone. The fix belongs in sipgo: a listener socket
// can write to any address, so per-source pool entries for it are not
// needed at all; responses should go on the connection the request came
// in on (RFC 3261 §18.2.2), with no fallback to the Via host.

var errRecycle = errors.New("sip: udp read loop recycled to bound sipgo's per-source state")

const (
	// maxSources is how many distinct sources sipgo may remember before
	// its read loop is recycled (about 130 bytes each in sipgo).
	maxSources = 4096
	// maxSticky caps the pool entries kept across a recycle.
	maxSticky = 4096
	// recentWindow: a source heard this recently may have a request that
	// sipgo's transaction layer has not yet given a connection (it does
	// so in a goroutine, microseconds later); its entry is kept.
	recentWindow = 2 * time.Second
)

type udpGate struct {
	net.PacketConn // the listening socket
	g              *guard
	pool           func() *sip.ConnectionPool
	keep           func() []netip.AddrPort // registered seats' UDP flows
	laddr          string
	self           *sip.UDPConnection // writes on the same socket; owns re-pointed entries

	// Read by sipgo's one read goroutine (or the gate's test), so mu only
	// guards against Close and tests.
	mu       sync.Mutex
	seen     map[netip.AddrPort]seenSource // since the last recycle
	sticky   map[string]int64              // pool keys pointed at self, when
	held     []byte
	heldAddr net.Addr
	recycled atomic.Bool // the last Serve ended because of a recycle
	recycles atomic.Int64
}

type seenSource struct {
	at      int64 // unix nanos
	trusted bool
}

func newUDPGate(conn net.PacketConn, g *guard, pool func() *sip.ConnectionPool, keep func() []netip.AddrPort) *udpGate {
	laddr := conn.LocalAddr().String()
	return &udpGate{
		PacketConn: conn, g: g, pool: pool, keep: keep, laddr: laddr,
		self: &sip.UDPConnection{PacketConn: conn, PacketAddr: laddr, Listener: true},
		seen: map[netip.AddrPort]seenSource{}, sticky: map[string]int64{},
	}
}

// takeRecycled reports (once) whether sipgo's Serve returned because of a
// recycle, so the caller serves the socket again.
func (u *udpGate) takeRecycled() bool { return u.recycled.Swap(false) }

// ReadFrom returns the next datagram sipgo may see.
func (u *udpGate) ReadFrom(b []byte) (int, net.Addr, error) {
	u.mu.Lock()
	if u.held != nil {
		n := copy(b, u.held)
		addr := u.heldAddr
		u.held, u.heldAddr = nil, nil
		u.mu.Unlock()
		return n, addr, nil
	}
	u.mu.Unlock()
	for {
		n, addr, err := u.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		src := ua.AddrPort()
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		trusted := u.g.trusted(src.Addr())
		if !u.check(b[:n], src, trusted) {
			continue
		}
		switch u.admit(src, trusted) {
		case admitted:
			return n, addr, nil
		case recycle:
			u.mu.Lock()
			u.held, u.heldAddr = append([]byte(nil), b[:n]...), addr
			u.mu.Unlock()
			u.recycled.Store(true)
			return 0, nil, errRecycle
		default:
			u.g.drop("udp", dropSourceBudget)
		}
	}
}

// check decides on one datagram: only SIP that parses, within max size and
// the sender's rate, goes on to sipgo.
func (u *udpGate) check(data []byte, src netip.AddrPort, trusted bool) bool {
	if len(data) > u.g.lim.MaxMessageSize {
		u.g.drop("udp", dropTooLarge)
		return false
	}
	if keepAlive(data) {
		return false // RFC 5626 §4.4.1 CRLF keep-alive: nothing for sipgo
	}
	msg, err := u.g.parser.ParseSIP(data)
	if err == nil {
		if req, isReq := msg.(*sip.Request); isReq && !u.g.allow(src.Addr(), trusted || u.g.authorized(req)) {
			u.g.drop("udp", dropRateLimited)
			return false
		}
		return true
	}
	if !sipLike(data) {
		u.g.drop("udp", dropNotSIP)
		return false
	}
	u.g.drop("udp", dropMalformed)
	req, ok := parseUnparsed(data)
	if !ok || !u.g.allow(src.Addr(), trusted) {
		return false
	}
	code, reason := req.rejectCode()
	res, port := req.response(code, reason, src)
	_, _ = u.PacketConn.WriteTo(res, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src.Addr(), port)))
	return false
}

// keepAlive: CRLFs (RFC 5626 §3.5.1) or NULs that some phones send to keep
// their NAT binding open.
func keepAlive(data []byte) bool {
	for _, c := range data {
		if c != '\r' && c != '\n' && c != 0 {
			return false
		}
	}
	return true
}

type admission int

const (
	admitted admission = iota
	recycle
	refused
)

// admit records the source sipgo is about to remember, or says the read
// loop must be recycled first, or (when too many sources are too recent to
// be forgotten safely: a flood of valid requests from spoofed addresses)
// that a new untrusted source must wait.
func (u *udpGate) admit(src netip.AddrPort, trusted bool) admission {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now().UnixNano()
	if s, ok := u.seen[src]; ok || len(u.seen) < maxSources {
		u.seen[src] = seenSource{at: now, trusted: trusted || s.trusted}
		return admitted
	}
	if u.recyclePoolLocked(now) {
		u.seen[src] = seenSource{at: now, trusted: trusted} // its datagram is held for the next loop
		return recycle
	}
	if trusted && len(u.seen) < 2*maxSources {
		u.seen[src] = seenSource{at: now, trusted: true}
		return admitted
	}
	return refused
}

// recyclePoolLocked points the pool entries still needed at u.self, so the
// cleanup of the ending read loop (which deletes only the entries that
// point at its own connection) leaves them, and forgets the rest. It
// reports false, changing nothing, when more entries are needed than
// maxSticky.
func (u *udpGate) recyclePoolLocked(now int64) bool {
	keep := map[string]bool{}
	for src, s := range u.seen {
		if s.trusted || now-s.at < int64(recentWindow) {
			keep[src.String()] = true
		}
	}
	for k, at := range u.sticky {
		if now-at < int64(recentWindow) {
			keep[k] = true
		}
	}
	if u.keep != nil {
		for _, f := range u.keep() {
			keep[netip.AddrPortFrom(f.Addr().Unmap(), f.Port()).String()] = true
		}
	}
	if len(keep) > maxSticky {
		return false
	}
	pool := u.pool()
	if pool == nil {
		return false
	}
	for k := range u.sticky {
		if !keep[k] {
			_ = pool.CloseAndDelete(u.self, k) // only if it still points at self
			delete(u.sticky, k)
		}
	}
	for k := range keep {
		pool.Add(k, u.self)
		if _, ok := u.sticky[k]; !ok {
			u.sticky[k] = now
		}
	}
	// Our own address too: requests we send with Laddr set find the
	// socket there until the next Serve registers its connection.
	pool.Add(u.laddr, u.self)
	// Trusted peers stay known across recycles (the SBC is quiet between
	// calls and our BYE must leave from this socket).
	next := map[netip.AddrPort]seenSource{}
	for src, s := range u.seen {
		if s.trusted {
			next[src] = s
		}
	}
	u.seen = next
	u.recycles.Add(1)
	return true
}
