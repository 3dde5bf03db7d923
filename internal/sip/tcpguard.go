package sip

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sipgo v1.7.3 serves SIP over TCP with no read timeout, no cap on
// connections and a stream parser that buffers a message up to 64 KiB: a
// one-byte-a-second sender, a half-sent message or an idle connection is
// kept forever. tcpGuard is the net.Listener sipgo serves: it refuses
// connections past the per-source and total caps (and sources over their
// rate) at accept, and wraps each connection so that a message must arrive
// whole within tcp_header_timeout, a connection idle for tcp_idle_timeout
// is closed unless a seat is registered over it (RFC 5626 flows live as
// long as the registration), and no message may exceed max_message_size.
// Trusted sources (the SBC) are exempt from all but the size.
//
// A closed connection leaves a tombstone in sipgo's pool under its address
// for a moment: sipgo gives a request its connection in a goroutine after
// reading it, and when the connection is already gone it falls back to
// dialling the top Via's host (a DNS lookup of a name taken from the
// request, and a connection to wherever it points). With the tombstone,
// the response goes nowhere instead (RFC 3261 §18.2.2 lets a server send a
// response only on the connection the request came on).

const (
	// tombWindow: a connection that delivered a message this recently
	// leaves a tombstone for its late requests, for as long.
	tombWindow = 5 * time.Second
	maxTombs   = 4096
)

type tcpGuard struct {
	net.Listener
	g    *guard
	pool func() *sip.ConnectionPool
	dead *deadConn

	mu        sync.Mutex
	perSource map[[16]byte]int
	untrusted int
	tombs     []tomb // oldest first
}

type tomb struct {
	key     string
	expires time.Time
}

func newTCPGuard(ln net.Listener, g *guard, pool func() *sip.ConnectionPool) *tcpGuard {
	return &tcpGuard{Listener: ln, g: g, pool: pool, dead: &deadConn{laddr: ln.Addr()}, perSource: map[[16]byte]int{}}
}

// Accept returns the next connection within the limits; the others are
// closed at once, before sipgo allocates anything for them.
func (l *tcpGuard) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			_ = c.Close()
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		trusted := l.g.trusted(ap.Addr())
		key := sourceKey(ap.Addr())
		if !trusted {
			reason := ""
			l.mu.Lock()
			switch {
			case l.perSource[key] >= l.g.lim.TCPMaxPerSource:
				reason = dropSourceLimit
			case l.untrusted >= l.g.lim.TCPMaxConnections:
				reason = dropTotalLimit
			case !l.g.limiter.allow(ap.Addr()): // a connection attempt counts as a request
				reason = dropRateLimited
			default:
				l.perSource[key]++
				l.untrusted++
			}
			l.mu.Unlock()
			if reason != "" {
				l.g.drop("tcp", reason)
				_ = c.Close()
				continue
			}
		}
		l.g.tcpOpen.Inc()
		gc := &guardedConn{Conn: c, l: l, remote: ap, key: key, trusted: trusted}
		gc.f.max = l.g.lim.MaxMessageSize
		gc.touch()
		return gc, nil
	}
}

func (l *tcpGuard) release(c *guardedConn) {
	l.g.tcpOpen.Dec()
	if c.trusted {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perSource[c.key]--; l.perSource[c.key] <= 0 {
		delete(l.perSource, c.key)
	}
	l.untrusted--
}

// bury leaves a tombstone for a closed connection's address.
func (l *tcpGuard) bury(key string) {
	pool := l.pool()
	if pool == nil {
		return
	}
	now := time.Now()
	var expired []string
	l.mu.Lock()
	for len(l.tombs) > 0 && (now.After(l.tombs[0].expires) || len(l.tombs) >= maxTombs) {
		expired = append(expired, l.tombs[0].key)
		l.tombs = l.tombs[1:]
	}
	l.tombs = append(l.tombs, tomb{key: key, expires: now.Add(tombWindow)})
	l.mu.Unlock()
	// The pool only after l.mu is released: sipgo closes connections
	// (guardedConn.Close, which takes l.mu) while holding the pool's lock.
	for _, k := range expired {
		_ = pool.CloseAndDelete(l.dead, k) // only if still ours
	}
	pool.Add(key, l.dead)
}

// deadConn is the tombstone: a connection that sends nothing.
type deadConn struct{ laddr net.Addr }

var errConnGone = errors.New("sip: the connection the request came on is closed")

func (d *deadConn) LocalAddr() net.Addr        { return d.laddr }
func (d *deadConn) WriteMsg(sip.Message) error { return errConnGone }
func (d *deadConn) Ref(int) int                { return 1 }
func (d *deadConn) TryClose() (int, error)     { return 1, nil }
func (d *deadConn) Close() error               { return nil }

// isDead: c is a tombstone, not a connection.
func isDead(c sip.Connection) bool {
	_, ok := c.(*deadConn)
	return ok
}

// guardedConn enforces the timeouts and the size on one connection. Read
// is called by sipgo's one reader goroutine; Write by anyone.
type guardedConn struct {
	net.Conn
	l       *tcpGuard
	remote  netip.AddrPort
	key     [16]byte
	trusted bool

	f          framer       // reader goroutine only
	lastActive atomic.Int64 // unix nanos of the last byte read or written
	closeOnce  sync.Once
}

func (c *guardedConn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

func (c *guardedConn) Write(b []byte) (int, error) {
	c.touch()
	return c.Conn.Write(b)
}

func (c *guardedConn) Close() error {
	c.closeOnce.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

// Read returns the next bytes sipgo may parse, or io.EOF when the guard
// closes the connection (so sipgo logs it at debug, not as an error).
func (c *guardedConn) Read(b []byte) (int, error) {
	lim := c.l.g.lim
	for {
		if !c.trusted {
			var deadline time.Time
			if c.f.inMessage() {
				deadline = c.f.started.Add(lim.TCPHeaderTimeout)
			} else {
				deadline = time.Unix(0, c.lastActive.Load()).Add(lim.TCPIdleTimeout)
			}
			_ = c.Conn.SetReadDeadline(deadline)
		}
		n, err := c.Conn.Read(b)
		if n > 0 {
			now := time.Now()
			c.touch()
			if v := c.f.feed(b[:n], now, c.limited); v.reason != "" {
				c.refuse(v)
				return 0, io.EOF
			}
			return n, nil // an error with it comes again on the next Read
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !c.trusted {
			switch {
			case c.f.inMessage():
				c.refuse(verdict{reason: dropHeaderTime})
				return 0, io.EOF
			case time.Since(time.Unix(0, c.lastActive.Load())) < lim.TCPIdleTimeout:
				continue // a write kept it busy
			case c.l.g.flowRegistered(c.remote, "TCP"):
				c.touch() // a seat's flow lives as long as its registration
				continue
			}
			c.refuse(verdict{reason: dropIdleTime})
			return 0, io.EOF
		}
		if err != nil && c.f.recent(time.Now()) {
			c.l.bury(c.Conn.RemoteAddr().String())
		}
		return n, err
	}
}

// limited: a request of an untrusted source over its rate.
func (c *guardedConn) limited() bool { return !c.l.g.allow(c.remote.Addr(), c.trusted) }

// refuse ends the connection for v's reason; a request over the rate gets
// 503 first when its header block is at hand (RFC 3261 §21.5.4).
func (c *guardedConn) refuse(v verdict) {
	c.l.g.drop("tcp", v.reason)
	if v.reason == dropRateLimited && v.raw != nil {
		if req, ok := parseUnparsed(v.raw); ok {
			retry := strconv.Itoa(int((c.l.g.lim.RateWindow + time.Second - 1) / time.Second))
			res, _ := req.response(503, "Service Unavailable", c.remote, "Retry-After: "+retry)
			_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Conn.Write(res)
		}
	}
	if c.f.recent(time.Now()) {
		c.l.bury(c.Conn.RemoteAddr().String())
	}
}

// framer follows message boundaries in a SIP byte stream (RFC 3261 §7.5,
// §18.3: headers end at an empty line, Content-Length bytes of body
// follow) just enough to time messages, count requests and bound sizes;
// sipgo does the parsing.
type framer struct {
	max      int
	state    uint8
	started  time.Time // first byte of the current message
	size     int
	bodyLeft int
	cl       int
	first    bool // in the start line
	request  bool
	line     [48]byte
	lineLen  int // bytes kept in line
	lineAll  int // bytes in the current line
	lastDone time.Time
}

const (
	fIdle uint8 = iota
	fHeaders
	fBody
)

type verdict struct {
	reason string
	raw    []byte // the refused request's header block, when in this chunk
}

func (f *framer) inMessage() bool { return f.state != fIdle }

// recent: the stream finished a message within tombWindow.
func (f *framer) recent(now time.Time) bool {
	return !f.lastDone.IsZero() && now.Sub(f.lastDone) < tombWindow
}

// feed follows data; limited is asked once per complete request header.
func (f *framer) feed(data []byte, now time.Time, limited func() bool) verdict {
	start := -1 // where the current message began in data
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch f.state {
		case fIdle:
			if c == '\r' || c == '\n' {
				continue // keep-alive (RFC 5626 §3.5.1) or stray CRLF (§7.5)
			}
			f.state, f.started, f.size, f.cl, f.first, f.lineLen, f.lineAll = fHeaders, now, 0, 0, true, 0, 0
			start = i
			fallthrough
		case fHeaders:
			f.size++
			if f.size > f.max {
				return verdict{reason: dropTooLarge}
			}
			switch c {
			case '\r':
			case '\n':
				if f.lineAll > 0 {
					f.endLine()
					continue
				}
				// The empty line: the header block is complete.
				if f.request && limited() {
					v := verdict{reason: dropRateLimited}
					if start >= 0 {
						v.raw = data[start : i+1]
					}
					return v
				}
				if f.size+f.cl > f.max {
					return verdict{reason: dropTooLarge}
				}
				if f.cl > 0 {
					f.state, f.bodyLeft = fBody, f.cl
					continue
				}
				f.done(now)
				start = -1
			default:
				if f.lineLen < len(f.line) {
					f.line[f.lineLen] = lower(c)
					f.lineLen++
				}
				f.lineAll++
			}
		case fBody:
			k := min(f.bodyLeft, len(data)-i)
			f.size += k
			f.bodyLeft -= k
			i += k - 1
			if f.bodyLeft == 0 {
				f.done(now)
				start = -1
			}
		}
	}
	return verdict{}
}

func (f *framer) done(now time.Time) {
	f.state = fIdle
	f.lastDone = now
}

// endLine looks at a complete header line: the start line says request or
// response; a Content-Length (or its compact form l) gives the body size.
// Several Content-Lengths (RFC 4475 §3.1.2.x mcl01): the largest, so the
// timeout covers what sipgo may wait for.
func (f *framer) endLine() {
	line := string(f.line[:f.lineLen])
	f.lineLen, f.lineAll = 0, 0
	if f.first {
		f.first = false
		f.request = len(line) < 4 || line[:4] != "sip/"
		return
	}
	name, value, ok := cut(line, ':')
	if !ok {
		return
	}
	name = trimSpace(name)
	if name != "content-length" && name != "l" {
		return
	}
	n, err := strconv.Atoi(trimSpace(value))
	if err != nil || n < 0 {
		return
	}
	f.cl = max(f.cl, min(n, f.max+1))
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
