package sip

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/metrictest"
	"github.com/hotline12348/hotline/internal/siptest"
)

// These tests drive the registrar through the real sip.Server over UDP (and
// TCP) on 127.0.0.1, with hand-written SIP and digest answers computed here
// from the RFC formulas, not by the code under test. Time that matters to
// the registrar (nonce age, bans, expiry) comes from a clock the test
// moves, so nothing sleeps for minutes.

const testRealm = "12348.local"

var seatPasswords = map[string]string{"8001": "pw-8001", "8002": "pw-8002"}

type regClock struct{ off atomic.Int64 }

func (c *regClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *regClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type regFixture struct {
	srv     *Server
	reg     *Registrar
	clock   *regClock
	prom    *prometheus.Registry
	changes chan seatChange
}

func startRegistrar(t *testing.T, mod func(*RegistrarConfig)) *regFixture {
	t.Helper()
	f := &regFixture{clock: &regClock{}, prom: prometheus.NewRegistry(), changes: make(chan seatChange, 256)}
	cfg := RegistrarConfig{
		Realm: testRealm,
		Credentials: func(u string) (string, bool) {
			p, ok := seatPasswords[u]
			return p, ok
		},
		SweepInterval: 20 * time.Millisecond,
		Now:           f.clock.Now,
		// Most tests check both algorithms; the default ([MD5]) and seats
		// of their own have theirs (TestRegisterDigestAlgorithmsPerSeat).
		Algorithms: []string{"SHA-256", "MD5"},
		OnChange: func(seat string, registered bool) {
			select {
			case f.changes <- seatChange{seat, registered}:
			default:
				t.Errorf("OnChange(%s, %v) not consumed", seat, registered)
			}
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRegistrar(cfg, slog.New(slog.DiscardHandler), f.prom)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	s, err := New(Config{
		Listen:         []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"},
		Domain:         testRealm,
		TrustedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		AdvertiseHost:  "127.0.0.1",
		Registrar:      r,
	}, func(ctx context.Context, c *InboundCall) { _ = c.Reject(404, "Not Found") }, slog.New(slog.DiscardHandler), f.prom)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.srv, f.reg = s, r
	return f
}

func (f *regFixture) expectChange(t *testing.T, seat string, registered bool) {
	t.Helper()
	select {
	case c := <-f.changes:
		if c.seat != seat || c.registered != registered {
			t.Fatalf("OnChange(%s, %v), want OnChange(%s, %v)", c.seat, c.registered, seat, registered)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no OnChange(%s, %v)", seat, registered)
	}
}

func (f *regFixture) expectNoChange(t *testing.T) {
	t.Helper()
	select {
	case c := <-f.changes:
		t.Fatalf("unexpected OnChange(%s, %v)", c.seat, c.registered)
	case <-time.After(100 * time.Millisecond):
	}
}

func (f *regFixture) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return metrictest.Value(t, f.prom, name, labels...)
}

// regMsg is one REGISTER written by hand.
type regMsg struct {
	user     string   // To user, the seat
	from     string   // From user (default: user)
	callID   string   // default "reg-<user>"
	cseq     int      // default 1
	contacts []string // Contact header values
	expires  string   // Expires header; "" for none
	auth     string   // Authorization header; "" for none
}

var branchSeq atomic.Int64

func (m regMsg) build(transport string, local netip.AddrPort) string {
	if m.from == "" {
		m.from = m.user
	}
	if m.callID == "" {
		m.callID = "reg-" + m.user
	}
	if m.cseq == 0 {
		m.cseq = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", testRealm)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bKreg%d;rport\r\n", transport, local, branchSeq.Add(1))
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=f%s\r\nTo: <sip:%s@%s>\r\n", m.from, testRealm, m.from, m.user, testRealm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\nUser-Agent: seat-test/1.0\r\n", m.callID, m.cseq)
	for _, c := range m.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if m.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", m.expires)
	}
	if m.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", m.auth)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (p *udpPeer) regAddr() netip.AddrPort {
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// do sends a REGISTER and returns the final response.
func (p *udpPeer) regDo(t *testing.T, m regMsg) string {
	t.Helper()
	p.send(t, m.build("UDP", p.regAddr()))
	return p.recvFull(t, 3*time.Second)
}

func regStatus(res string) string {
	line, _, _ := strings.Cut(res, "\r\n")
	return strings.TrimPrefix(line, "SIP/2.0 ")
}

// headers returns the values of every header called name, in order.
func regHeaders(res, name string) []string {
	var out []string
	head, _, _ := strings.Cut(res, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// challenge is one WWW-Authenticate, parsed here by hand.
type regChallenge struct {
	raw                     string
	realm, nonce, opaque    string
	algorithm, qop, stale   string
	quotedQop, quotedRealm  bool
	quotedNonce, quotedOpaq bool
}

var authParam = regexp.MustCompile(`([a-zA-Z-]+)=("([^"]*)"|[^,\s]*)`)

func parseChallenges(t *testing.T, res string) []regChallenge {
	t.Helper()
	var out []regChallenge
	for _, v := range regHeaders(res, "WWW-Authenticate") {
		if !strings.HasPrefix(v, "Digest ") {
			t.Fatalf("not a digest challenge: %q", v)
		}
		c := regChallenge{raw: v}
		for _, m := range authParam.FindAllStringSubmatch(v[len("Digest "):], -1) {
			val, quoted := m[2], strings.HasPrefix(m[2], `"`)
			if quoted {
				val = m[3]
			}
			switch strings.ToLower(m[1]) {
			case "realm":
				c.realm, c.quotedRealm = val, quoted
			case "nonce":
				c.nonce, c.quotedNonce = val, quoted
			case "opaque":
				c.opaque, c.quotedOpaq = val, quoted
			case "algorithm":
				c.algorithm = val
			case "qop":
				c.qop, c.quotedQop = val, quoted
			case "stale":
				c.stale = strings.ToLower(val)
			}
		}
		out = append(out, c)
	}
	return out
}

// digestAnswer is RFC 7616 §3.4.1 (RFC 2617 §3.2.2.1) with qop=auth:
// H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri)).
func digestAnswer(alg, user, realm, password, method, uri, nonce, nc, cnonce string) string {
	h := func(s string) string {
		if alg == "SHA-256" {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ha1 := h(user + ":" + realm + ":" + password)
	ha2 := h(method + ":" + uri)
	return h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}

func authorization(c regChallenge, user, password string, nc int) string {
	const uri, cnonce = "sip:" + testRealm, "0a4f113b"
	ncs := fmt.Sprintf("%08x", nc)
	resp := digestAnswer(c.algorithm, user, c.realm, password, "REGISTER", uri, c.nonce, ncs, cnonce)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="%s", opaque="%s", qop=auth, nc=%s`,
		user, c.realm, c.nonce, uri, resp, c.algorithm, cnonce, c.opaque, ncs)
}

// getChallenges sends an unauthenticated query REGISTER and returns the 401's challenges.
func getChallenges(t *testing.T, p *udpPeer, user string) []regChallenge {
	t.Helper()
	res := p.regDo(t, regMsg{user: user, callID: fmt.Sprintf("chal-%d", branchSeq.Add(1))})
	if regStatus(res) != "401 Unauthorized" {
		t.Fatalf("unauthenticated REGISTER: %q, want 401", regStatus(res))
	}
	return parseChallenges(t, res)
}

// seat is a test softphone that answers one challenge with growing nonce counts.
type regSeat struct {
	p        *udpPeer
	user, pw string
	alg      int // index into the challenges: 0 SHA-256, 1 MD5
	chal     *regChallenge
	nc       int
}

func (s *regSeat) do(t *testing.T, m regMsg) string {
	t.Helper()
	if s.chal == nil {
		c := getChallenges(t, s.p, s.user)[s.alg]
		s.chal, s.nc = &c, 0
	}
	s.nc++
	m.user = s.user
	m.auth = authorization(*s.chal, s.user, s.pw, s.nc)
	return s.p.regDo(t, m)
}

func TestRegisterChallengeSHA256ThenMD5BothAccepted(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	res := p.regDo(t, regMsg{user: "8001", contacts: []string{"<sip:8001@192.168.1.23:5062>"}, expires: "600"})
	if regStatus(res) != "401 Unauthorized" {
		t.Fatalf("REGISTER without credentials: %q, want 401", regStatus(res))
	}
	ch := parseChallenges(t, res)
	if len(ch) != 2 || ch[0].algorithm != "SHA-256" || ch[1].algorithm != "MD5" {
		t.Fatalf("challenges %q, want SHA-256 then MD5 (RFC 8760 §2.4)", regHeaders(res, "WWW-Authenticate"))
	}
	for _, c := range ch {
		if c.realm != testRealm || !c.quotedRealm || c.nonce == "" || !c.quotedNonce || c.opaque == "" || !c.quotedOpaq ||
			c.qop != "auth" || !c.quotedQop || c.stale == "true" {
			t.Fatalf("challenge %q: want realm, nonce, opaque quoted, qop=\"auth\", not stale", c.raw)
		}
	}
	if f.metric(t, "hotline_sip_registrations_total", "result", "challenged") != 1 {
		t.Error("the challenge was not counted")
	}

	// SHA-256: the seat is behind a NAT, its Contact names its LAN address.
	res = p.regDo(t, regMsg{user: "8001", cseq: 2, contacts: []string{"<sip:8001@192.168.1.23:5062>"}, expires: "600",
		auth: authorization(ch[0], "8001", "pw-8001", 1)})
	if regStatus(res) != "200 OK" {
		t.Fatalf("correct SHA-256 answer: %q, want 200", regStatus(res))
	}
	if c := regHeaders(res, "Contact"); len(c) != 1 || c[0] != "<sip:8001@192.168.1.23:5062>;expires=600" {
		t.Fatalf("200 lists contacts %q", c)
	}
	f.expectChange(t, "8001", true)
	b, ok := f.reg.Lookup("8001")
	if !ok {
		t.Fatal("no binding after 200")
	}
	if b.Source != p.regAddr() || b.Transport != "UDP" || b.Contact != "sip:8001@192.168.1.23:5062" || b.UserAgent != "seat-test/1.0" ||
		b.CallID != "reg-8001" || b.CSeq != 2 {
		t.Fatalf("binding %+v, want source %s over UDP (where the REGISTER came from, not the Contact)", b, p.regAddr())
	}
	if left := b.Expires.Sub(f.clock.Now()); left < 595*time.Second || left > 600*time.Second {
		t.Fatalf("binding expires in %v, want 600s", left)
	}

	// MD5, another seat.
	p2 := newUDPPeer(t, f.srv)
	ch2 := getChallenges(t, p2, "8002")
	res = p2.regDo(t, regMsg{user: "8002", cseq: 2, contacts: []string{fmt.Sprintf("<sip:8002@127.0.0.1:%d>", p2.port())},
		auth: authorization(ch2[1], "8002", "pw-8002", 1)})
	if regStatus(res) != "200 OK" {
		t.Fatalf("correct MD5 answer: %q, want 200", regStatus(res))
	}
	f.expectChange(t, "8002", true)
	if got := f.reg.List(); len(got) != 2 || got[0].Seat != "8001" || got[1].Seat != "8002" {
		t.Fatalf("List() = %+v", got)
	}
	if f.metric(t, "hotline_sip_registrations_total", "result", "ok") != 2 || f.metric(t, "hotline_sip_registered_seats") != 2 {
		t.Error("registrations not counted")
	}
	if f.metric(t, "hotline_sip_requests_total", "method", "REGISTER") != 4 {
		t.Error("REGISTER not counted in hotline_sip_requests_total")
	}
}

func TestRegisterWrongPasswordUnknownUserAndReplay(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	contact := []string{fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())}
	ch := getChallenges(t, p, "8001")

	wrong := p.regDo(t, regMsg{user: "8001", cseq: 2, contacts: contact, auth: authorization(ch[0], "8001", "guess", 1)})
	if regStatus(wrong) != "401 Unauthorized" || len(parseChallenges(t, wrong)) != 2 {
		t.Fatalf("wrong password: %q, want 401 with a fresh challenge", wrong)
	}
	unknown := p.regDo(t, regMsg{user: "9999", cseq: 2, contacts: []string{"<sip:9999@127.0.0.1:5060>"}, auth: authorization(ch[0], "9999", "guess", 1)})
	if regStatus(unknown) != regStatus(wrong) || len(parseChallenges(t, unknown)) != 2 {
		t.Fatalf("unknown user: %q, want exactly what a wrong password gets", unknown)
	}
	if got := f.metric(t, "hotline_sip_auth_failures_total", "reason", "credentials"); got != 2 {
		t.Fatalf("auth failures %v, want 2", got)
	}
	if got := f.metric(t, "hotline_sip_registrations_total", "result", "unauthorized"); got != 2 {
		t.Fatalf("unauthorized registrations %v, want 2", got)
	}
	if _, ok := f.reg.Lookup("8001"); ok {
		t.Fatal("a wrong password registered")
	}

	good := authorization(ch[0], "8001", "pw-8001", 1)
	if res := p.regDo(t, regMsg{user: "8001", cseq: 3, contacts: contact, auth: good}); regStatus(res) != "200 OK" {
		t.Fatalf("correct answer: %q", regStatus(res))
	}
	f.expectChange(t, "8001", true)
	// The same Authorization again (same nonce, same nc) in a new transaction: a replay.
	if res := p.regDo(t, regMsg{user: "8001", cseq: 4, contacts: contact, auth: good}); regStatus(res) != "401 Unauthorized" {
		t.Fatalf("replayed Authorization: %q, want 401", regStatus(res))
	}
	if f.metric(t, "hotline_sip_auth_failures_total", "reason", "replay") != 1 || f.metric(t, "hotline_sip_registrations_total", "result", "replay") != 1 {
		t.Fatal("replay not counted")
	}
	// The next count on the same nonce is fine (RFC 7616 §3.4: nc grows).
	if res := p.regDo(t, regMsg{user: "8001", cseq: 5, contacts: contact, auth: authorization(ch[0], "8001", "pw-8001", 2)}); regStatus(res) != "200 OK" {
		t.Fatalf("nc=2 on the same nonce: %q, want 200", regStatus(res))
	}
	// A lower count after it is a replay too.
	if res := p.regDo(t, regMsg{user: "8001", cseq: 6, contacts: contact, auth: authorization(ch[0], "8001", "pw-8001", 1)}); regStatus(res) != "401 Unauthorized" {
		t.Fatalf("nc going back: %q, want 401", regStatus(res))
	}
	f.expectNoChange(t)
}

func TestRegisterStaleNonce(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	contact := []string{fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())}
	ch := getChallenges(t, p, "8001")
	f.clock.Advance(6 * time.Minute) // past the 5 min nonce lifetime
	res := p.regDo(t, regMsg{user: "8001", cseq: 2, contacts: contact, auth: authorization(ch[1], "8001", "pw-8001", 1)})
	fresh := parseChallenges(t, res)
	if regStatus(res) != "401 Unauthorized" || len(fresh) != 2 || fresh[0].stale != "true" || fresh[1].stale != "true" || fresh[0].nonce == ch[0].nonce {
		t.Fatalf("correct answer to an expired nonce: %q, want 401 with new nonces and stale=true", res)
	}
	// A nonce we never issued (e.g. before a restart), answered correctly
	// or not: stale too, and nothing counted either way (the password is
	// not even looked at: no oracle).
	forged := ch[1]
	forged.nonce = "bm90LW91cnMtYXQtYWxs"
	for i, pw := range []string{"pw-8001", "guess"} {
		res = p.regDo(t, regMsg{user: "8001", cseq: 3, contacts: contact, auth: authorization(forged, "8001", pw, 1+i)})
		if c := parseChallenges(t, res); regStatus(res) != "401 Unauthorized" || len(c) != 2 || c[0].stale != "true" {
			t.Fatalf("answer (%s) to a foreign nonce: %q, want 401 stale=true", pw, res)
		}
	}
	if got := f.metric(t, "hotline_sip_auth_failures_total", "reason", "credentials"); got != 0 {
		t.Fatalf("a stale nonce counted as %v failures: a right password is no failure", got)
	}
	if f.metric(t, "hotline_sip_registrations_total", "result", "stale") != 1 || f.metric(t, "hotline_sip_registrations_total", "result", "unknown_nonce") != 2 {
		t.Fatal("stale answers not counted")
	}
	res = p.regDo(t, regMsg{user: "8001", cseq: 4, contacts: contact, auth: authorization(fresh[0], "8001", "pw-8001", 1)})
	if regStatus(res) != "200 OK" {
		t.Fatalf("answer to the fresh nonce: %q", regStatus(res))
	}
	f.expectChange(t, "8001", true)
}

func TestRegisterBanAfterRepeatedFailures(t *testing.T) {
	f := startRegistrar(t, func(c *RegistrarConfig) {
		c.AuthFailLimit, c.AuthFailWindow, c.AuthFailBan = 3, time.Minute, 10*time.Minute
	})
	p := newUDPPeer(t, f.srv)
	contact := []string{fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())}
	ch := getChallenges(t, p, "8001")
	for i := 1; i <= 3; i++ {
		res := p.regDo(t, regMsg{user: "8001", cseq: 1 + i, contacts: contact, auth: authorization(ch[0], "8001", "guess", i)})
		want := "401 Unauthorized"
		if i == 3 {
			want = "403 Forbidden"
		}
		if regStatus(res) != want {
			t.Fatalf("failure %d: %q, want %s", i, regStatus(res), want)
		}
	}
	// Banned: 403 without a challenge, even with the right password.
	for _, m := range []regMsg{
		{user: "8001", cseq: 10, contacts: contact},
		{user: "8001", cseq: 11, contacts: contact, auth: authorization(ch[0], "8001", "pw-8001", 9)},
	} {
		res := p.regDo(t, m)
		if regStatus(res) != "403 Forbidden" || len(regHeaders(res, "WWW-Authenticate")) != 0 {
			t.Fatalf("banned source: %q, want 403 without a challenge", res)
		}
	}
	if _, ok := f.reg.Lookup("8001"); ok {
		t.Fatal("a banned source registered")
	}
	if f.metric(t, "hotline_sip_registrations_total", "result", "banned") != 3 || f.metric(t, "hotline_sip_banned_sources") != 1 {
		t.Fatal("ban not counted")
	}
	// Another address is not banned (127.0.0.2 is loopback too on Linux).
	c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	p2 := &udpPeer{conn: c2, to: p.to}
	if res := p2.regDo(t, regMsg{user: "8002"}); regStatus(res) != "401 Unauthorized" {
		t.Fatalf("another source during the ban: %q, want 401", regStatus(res))
	}
	// After the ban time, challenged again and able to register.
	f.clock.Advance(10*time.Minute + time.Second)
	ch = getChallenges(t, p, "8001")
	if res := p.regDo(t, regMsg{user: "8001", cseq: 20, contacts: contact, auth: authorization(ch[0], "8001", "pw-8001", 1)}); regStatus(res) != "200 OK" {
		t.Fatalf("after the ban: %q, want 200", regStatus(res))
	}
	f.expectChange(t, "8001", true)
	time.Sleep(100 * time.Millisecond) // a sweep
	if f.metric(t, "hotline_sip_banned_sources") != 0 {
		t.Fatal("lifted ban still in hotline_sip_banned_sources")
	}
}

func TestRegisterUnregisterAndExpiry(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	s := &regSeat{p: p, user: "8001", pw: "pw-8001"}
	contact := fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())
	if res := s.do(t, regMsg{cseq: 1, contacts: []string{contact}, expires: "600"}); regStatus(res) != "200 OK" {
		t.Fatalf("register: %q", regStatus(res))
	}
	f.expectChange(t, "8001", true)
	// Expires: 0 removes the binding.
	res := s.do(t, regMsg{cseq: 2, contacts: []string{contact}, expires: "0"})
	if regStatus(res) != "200 OK" || len(regHeaders(res, "Contact")) != 0 {
		t.Fatalf("unregister: %q, want 200 without contacts", res)
	}
	f.expectChange(t, "8001", false)
	if _, ok := f.reg.Lookup("8001"); ok {
		t.Fatal("binding still there after Expires: 0")
	}

	// A binding that simply expires.
	res = s.do(t, regMsg{cseq: 3, contacts: []string{contact + ";expires=60"}})
	if regStatus(res) != "200 OK" || regHeaders(res, "Contact")[0] != contact+";expires=60" {
		t.Fatalf("register for 60s: %q", res)
	}
	f.expectChange(t, "8001", true)
	f.clock.Advance(59 * time.Second)
	if res := s.do(t, regMsg{cseq: 4}); regHeaders(res, "Contact")[0] != contact+";expires=1" {
		t.Fatalf("query after 59s lists %q, want the remaining 1s", regHeaders(res, "Contact"))
	}
	f.expectNoChange(t)
	f.clock.Advance(2 * time.Second)
	f.expectChange(t, "8001", false)
	if _, ok := f.reg.Lookup("8001"); ok {
		t.Fatal("expired binding still looked up")
	}
	if f.metric(t, "hotline_sip_registered_seats") != 0 {
		t.Fatal("expired seat still counted as registered")
	}
}

func TestRegisterContactRemovalQueryAndOrdering(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	s := &regSeat{p: p, user: "8001", pw: "pw-8001", alg: 1}
	a := fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())
	b := "<sip:8001@10.0.0.9:5060;transport=tcp>"
	if res := s.do(t, regMsg{callID: "X", cseq: 2, contacts: []string{a}, expires: "600"}); regStatus(res) != "200 OK" {
		t.Fatalf("register: %q", regStatus(res))
	}
	f.expectChange(t, "8001", true)
	// A query lists the binding.
	if res := s.do(t, regMsg{callID: "Q", cseq: 1}); regStatus(res) != "200 OK" || len(regHeaders(res, "Contact")) != 1 ||
		!strings.HasPrefix(regHeaders(res, "Contact")[0], a+";expires=") {
		t.Fatalf("query: %q", res)
	}
	// Removing a contact that is not bound changes nothing.
	if res := s.do(t, regMsg{callID: "X", cseq: 4, contacts: []string{b + ";expires=0"}}); regStatus(res) != "200 OK" ||
		len(regHeaders(res, "Contact")) != 1 || !strings.HasPrefix(regHeaders(res, "Contact")[0], a) {
		t.Fatalf("removing another contact: %q, want the binding kept", res)
	}
	// An older CSeq of the binding's Call-ID is refused and changes nothing (RFC 3261 §10.3 step 7).
	if res := s.do(t, regMsg{callID: "X", cseq: 1, contacts: []string{b}}); !strings.HasPrefix(regStatus(res), "400") {
		t.Fatalf("older CSeq: %q, want 400", regStatus(res))
	}
	if got, _ := f.reg.Lookup("8001"); got.Contact != strings.Trim(a, "<>") {
		t.Fatalf("older CSeq changed the binding to %q", got.Contact)
	}
	// The newest REGISTER replaces the binding, one per seat.
	if res := s.do(t, regMsg{callID: "Y", cseq: 1, contacts: []string{b}, expires: "300"}); len(regHeaders(res, "Contact")) != 1 ||
		regHeaders(res, "Contact")[0] != b+";expires=300" {
		t.Fatalf("replacing registration lists %q", regHeaders(res, "Contact"))
	}
	if got, _ := f.reg.Lookup("8001"); got.Contact != "sip:8001@10.0.0.9:5060;transport=tcp" || got.Source != p.regAddr() {
		t.Fatalf("binding %+v after replacement", got)
	}
	f.expectNoChange(t)
	// "*" needs Expires: 0 ...
	if res := s.do(t, regMsg{callID: "Y", cseq: 2, contacts: []string{"*"}, expires: "600"}); !strings.HasPrefix(regStatus(res), "400") {
		t.Fatalf("Contact: * with Expires: 600: %q, want 400", regStatus(res))
	}
	// ... and then removes everything.
	if res := s.do(t, regMsg{callID: "Y", cseq: 3, contacts: []string{"*"}, expires: "0"}); regStatus(res) != "200 OK" || len(regHeaders(res, "Contact")) != 0 {
		t.Fatalf("Contact: *: %q", res)
	}
	f.expectChange(t, "8001", false)
}

func TestRegisterIntervalTooBriefAndCap(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	s := &regSeat{p: p, user: "8001", pw: "pw-8001"}
	contact := fmt.Sprintf("<sip:8001@127.0.0.1:%d>", p.port())
	res := s.do(t, regMsg{cseq: 1, contacts: []string{contact + ";expires=30"}})
	if regStatus(res) != "423 Interval Too Brief" || len(regHeaders(res, "Min-Expires")) != 1 || regHeaders(res, "Min-Expires")[0] != "60" {
		t.Fatalf("expires=30: %q, want 423 with Min-Expires: 60", res)
	}
	if res := s.do(t, regMsg{cseq: 2, contacts: []string{contact}, expires: "99999"}); regHeaders(res, "Contact")[0] != contact+";expires=3600" {
		t.Fatalf("Expires: 99999 granted %q, want the 3600s cap", regHeaders(res, "Contact"))
	}
	f.expectChange(t, "8001", true)
	if res := s.do(t, regMsg{cseq: 3, contacts: []string{contact}}); regHeaders(res, "Contact")[0] != contact+";expires=3600" {
		t.Fatalf("no expiry asked: granted %q, want the 3600s default", regHeaders(res, "Contact"))
	}
	if f.metric(t, "hotline_sip_registrations_total", "result", "interval_too_brief") != 1 {
		t.Fatal("423 not counted")
	}
}

func TestRegisterIdentityMismatch(t *testing.T) {
	f := startRegistrar(t, nil)
	p := newUDPPeer(t, f.srv)
	ch := getChallenges(t, p, "8001")
	// 8002's valid credentials used to register 8001.
	res := p.regDo(t, regMsg{user: "8001", cseq: 2, contacts: []string{"<sip:8001@127.0.0.1:5060>"}, auth: authorization(ch[0], "8002", "pw-8002", 1)})
	if regStatus(res) != "403 Forbidden" {
		t.Fatalf("username 8002 for To 8001: %q, want 403", regStatus(res))
	}
	// Third-party registration (From 8002, To 8001), with 8001's own credentials.
	res = p.regDo(t, regMsg{user: "8001", from: "8002", cseq: 3, contacts: []string{"<sip:8001@127.0.0.1:5060>"}, auth: authorization(ch[0], "8001", "pw-8001", 1)})
	if regStatus(res) != "403 Forbidden" {
		t.Fatalf("From 8002 To 8001: %q, want 403", regStatus(res))
	}
	if f.metric(t, "hotline_sip_auth_failures_total", "reason", "identity") != 2 || f.metric(t, "hotline_sip_registrations_total", "result", "forbidden") != 2 {
		t.Fatal("identity mismatches not counted")
	}
	if _, ok := f.reg.Lookup("8001"); ok {
		t.Fatal("registered with another seat's credentials")
	}
	f.expectNoChange(t)
}

// Over TCP the binding records the connection's far end and the transport,
// so the switch can reach the seat over the same connection.
func TestRegisterOverTCP(t *testing.T) {
	f := startRegistrar(t, nil)
	conn, err := net.DialTimeout("tcp", f.srv.Addrs()["tcp"].String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	br := bufio.NewReader(conn)
	roundTrip := func(m regMsg) string {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte(m.build("TCP", local))); err != nil {
			t.Fatal(err)
		}
		for {
			var msg strings.Builder
			length := 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("reading response: %v", err)
				}
				msg.WriteString(line)
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
					length, _ = strconv.Atoi(strings.TrimSpace(v))
				}
				if line == "\r\n" {
					break
				}
			}
			if length > 0 {
				_, _ = br.Discard(length)
			}
			if !strings.HasPrefix(msg.String(), "SIP/2.0 1") {
				return msg.String()
			}
		}
	}
	contact := fmt.Sprintf("<sip:8001@%s;transport=tcp>", local)
	res := roundTrip(regMsg{user: "8001", contacts: []string{contact}})
	ch := parseChallenges(t, res)
	if regStatus(res) != "401 Unauthorized" || len(ch) != 2 {
		t.Fatalf("over TCP: %q", res)
	}
	res = roundTrip(regMsg{user: "8001", cseq: 2, contacts: []string{contact}, auth: authorization(ch[0], "8001", "pw-8001", 1)})
	if regStatus(res) != "200 OK" {
		t.Fatalf("over TCP: %q", regStatus(res))
	}
	f.expectChange(t, "8001", true)
	if b, _ := f.reg.Lookup("8001"); b.Transport != "TCP" || b.Source != local {
		t.Fatalf("binding %+v, want TCP from %s", b, local)
	}
}

func TestRegisterWithoutRegistrarIs405(t *testing.T) {
	s := startServer(t, nil)
	p := newUDPPeer(t, s)
	if res := p.regDo(t, regMsg{user: "8001"}); !strings.HasPrefix(regStatus(res), "405") {
		t.Fatalf("REGISTER without a registrar: %q, want 405", regStatus(res))
	}
}

func TestNonceAndBanBookkeepingStayBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	a, err := newDigestAuth(testRealm, nil, 5*time.Minute, clock, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.7")
	answer := func(nonce string, nc int) authOutcome {
		c := regChallenge{realm: testRealm, nonce: nonce, algorithm: "MD5"}
		cred, err := digest.ParseCredentials(authorization(c, "8001", "pw", nc))
		if err != nil {
			t.Fatal(err)
		}
		return a.verify("REGISTER", cred, "pw", true, nil, client)
	}
	var nonces []string
	for range 5 {
		n, err := a.newNonce(client)
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, n)
		now = now.Add(time.Second)
		if got := answer(n, 1); got != authOK {
			t.Fatalf("fresh nonce: %v", got)
		}
	}
	if a.usedLen() > 3 {
		t.Fatalf("replay table holds %d nonces, cap 3", a.usedLen())
	}
	// The evicted nonces are not trusted afresh: their count history is gone.
	if got := answer(nonces[0], 2); got != authStale {
		t.Fatalf("evicted nonce answered %v, want stale", got)
	}
	if got := answer(nonces[4], 1); got != authReplay {
		t.Fatalf("kept nonce replayed: %v, want replay", got)
	}
	now = now.Add(6 * time.Minute)
	a.prune()
	if a.usedLen() != 0 {
		t.Fatalf("expired nonces kept: %d", a.usedLen())
	}

	// A nonce is good only from the address it was sent to.
	if a.authentic(nonces[4], netip.MustParseAddr("192.0.2.8")) || !a.authentic(nonces[4], client) {
		t.Fatal("a nonce must be authentic from its own address only")
	}

	// The ban table: 4 sources one by one, then /24s (1 slot at this
	// size), /16s, /8s: whatever the number of sources, its size is bounded.
	b := newBanTable(2, time.Minute, time.Minute, 4)
	for i := range 100_000 {
		b.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := b.size(); n > 4+1+1+256 {
		t.Fatalf("ban table holds %d entries, bound %d", n, 4+1+1+256)
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:1")
	if sourceKey(v6a) != sourceKey(v6b) || sourceKey(netip.MustParseAddr("::ffff:10.0.0.1")) != sourceKey(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("source keys: one IPv6 /64 must be one source, a v4-mapped address its v4 address")
	}
}

// A real peer no one here wrote: SIPp (Debian sip-tester) registers seat
// 8001 with [authentication] from -au/-ap, and the binding must point at the
// port SIPp sent from. A missing sipp fails the test.
//
// SIPp 3.6.1 answers only the first WWW-Authenticate and knows only MD5
// (its createAuthHeader: "authentication must use MD5 or AKAv1-MD5"), so
// it cannot answer our default SHA-256-then-MD5 challenge (it does not do
// RFC 8760 §2.4). It registers with the challenge order turned around,
// which RegistrarConfig.Algorithms allows for such UAs; with the default
// order the test accepts either a SIPp that copes or that exact failure.
func TestSeatRegisterWithSIPp(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp is not installed: run scripts/test.sh, which installs the test peers (Debian package sip-tester)")
	}
	run := func(t *testing.T, f *regFixture) (siptest.SIPpResult, netip.AddrPort) {
		t.Helper()
		port := siptest.FreePort(t)
		r := siptest.SIPp{
			Scenario: "seat_register.xml",
			Target:   f.srv.Addrs()["udp"].String(),
			Service:  "8001",
			// The last -p wins over the helper's own: we need SIPp's port.
			Extra: []string{"-p", strconv.Itoa(port), "-au", "8001", "-ap", seatPasswords["8001"], "-key", "domain", testRealm},
		}.Run(t, 15*time.Second)
		return r, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	}
	registered := func(t *testing.T, f *regFixture, r siptest.SIPpResult, want netip.AddrPort) {
		t.Helper()
		f.expectChange(t, "8001", true)
		b, ok := f.reg.Lookup("8001")
		if !ok || b.Source != want || b.Transport != "UDP" || b.UserAgent != "SIPp seat" {
			t.Fatalf("binding %+v (found %v), want seat 8001 at SIPp's %s over UDP\nmessages:\n%s", b, ok, want, r.Messages)
		}
		if left := time.Until(b.Expires); left < 590*time.Second || left > 600*time.Second {
			t.Fatalf("binding expires in %v, want the 600s SIPp asked for", left)
		}
		if f.metric(t, "hotline_sip_registrations_total", "result", "challenged") != 1 || f.metric(t, "hotline_sip_registrations_total", "result", "ok") != 1 {
			t.Fatalf("SIPp's REGISTERs were not one challenge and one success\nmessages:\n%s", r.Messages)
		}
	}

	// The shipped configuration (sip.digest_algorithms defaults to [MD5]):
	// an MD5-only SIPp seat registers as it is.
	t.Run("shipped_default", func(t *testing.T) {
		f := startRegistrar(t, func(c *RegistrarConfig) { c.Algorithms = nil })
		r, src := run(t, f)
		if r.ExitCode != 0 {
			t.Fatalf("sipp exit %d\n%s\nerrors:\n%s\nmessages:\n%s", r.ExitCode, r.Output, r.Errors, r.Messages)
		}
		registered(t, f, r, src)
		if strings.Contains(r.Messages, "algorithm=SHA-256") {
			t.Fatalf("a default seat was offered SHA-256\nmessages:\n%s", r.Messages)
		}
	})

	t.Run("md5_first", func(t *testing.T) {
		f := startRegistrar(t, func(c *RegistrarConfig) { c.Algorithms = []string{"MD5", "SHA-256"} })
		r, src := run(t, f)
		if r.ExitCode != 0 {
			t.Fatalf("sipp exit %d\n%s\nerrors:\n%s\nmessages:\n%s", r.ExitCode, r.Output, r.Errors, r.Messages)
		}
		registered(t, f, r, src)
		if !strings.Contains(r.Messages, "algorithm=MD5") || !regexp.MustCompile(`(?i)Authorization: Digest `).MatchString(r.Messages) {
			t.Fatalf("SIPp sent no MD5 Authorization\nmessages:\n%s", r.Messages)
		}
	})

	t.Run("sha256_first", func(t *testing.T) {
		f := startRegistrar(t, nil)
		r, src := run(t, f)
		switch {
		case r.ExitCode == 0:
			registered(t, f, r, src)
		case strings.Contains(r.Errors, "authentication must use MD5"):
			t.Logf("this SIPp answers only the first challenge and has no SHA-256 (not RFC 8760 §2.4): such a UA needs RegistrarConfig.Algorithms with MD5 first")
			if _, ok := f.reg.Lookup("8001"); ok {
				t.Fatal("a binding without an answer")
			}
			if f.metric(t, "hotline_sip_registrations_total", "result", "challenged") != 1 {
				t.Fatalf("SIPp's REGISTER was not challenged\nmessages:\n%s", r.Messages)
			}
		default:
			t.Fatalf("sipp exit %d\n%s\nerrors:\n%s\nmessages:\n%s", r.ExitCode, r.Output, r.Errors, r.Messages)
		}
	})
}

// Sources on the NoBan list (the call centre's own NAT address) are never
// locked out by one misconfigured phone; their failures still get 401.
func TestRegisterNoBanSources(t *testing.T) {
	f := startRegistrar(t, func(c *RegistrarConfig) {
		c.AuthFailLimit = 2
		c.NoBan = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	p := newUDPPeer(t, f.srv)
	ch := getChallenges(t, p, "8001")
	for i := 1; i <= 4; i++ {
		if res := p.regDo(t, regMsg{user: "8001", cseq: 1 + i, auth: authorization(ch[0], "8001", "guess", i)}); regStatus(res) != "401 Unauthorized" {
			t.Fatalf("failure %d from an exempt source: %q, want 401", i, regStatus(res))
		}
	}
	if f.metric(t, "hotline_sip_auth_failures_total", "reason", "credentials") != 4 {
		t.Fatal("failures from an exempt source not counted")
	}
}

// Whatever a REGISTER carries, the registrar answers it without panicking,
// with a status it means to send.
func FuzzRegistrarHandle(f *testing.F) {
	local := netip.MustParseAddrPort("127.0.0.1:5062")
	f.Add(regMsg{user: "8001", contacts: []string{"<sip:8001@127.0.0.1:5062>"}, expires: "600"}.build("UDP", local))
	f.Add(regMsg{user: "8001", contacts: []string{"*"}, expires: "0", auth: `Digest username="8001", realm="12348.local", nonce="x", uri="sip:12348.local", response="00", qop=auth, nc=zz, cnonce="c"`}.build("UDP", local))
	f.Add(regMsg{user: "8001", contacts: []string{"<sip:8001@h>;expires=-1", "<sip:8001@h>;expires=99999999999999999999"}, auth: `Digest username="8001", realm="12348.local", nonce="` + strings.Repeat("A", 54) + `", response="x", algorithm=SHA-256`}.build("TCP", local))
	f.Add(regMsg{user: "8001", auth: `Digest realm="12348.local", username="8001", nonce="\"`}.build("UDP", local))
	now := time.Unix(1_700_000_000, 0)
	r, err := NewRegistrar(RegistrarConfig{
		Realm:       testRealm,
		Credentials: func(u string) (string, bool) { p, ok := seatPasswords[u]; return p, ok },
		Now:         func() time.Time { return now },
	}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	f.Fuzz(func(t *testing.T, raw string) {
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5062")
		req.SetTransport("UDP")
		res, result := r.handle(req)
		if res == nil || !slices.Contains(registrationResults, result) {
			t.Fatalf("handle: %v %q", res, result)
		}
		switch res.StatusCode {
		case 200, 400, 401, 403, 423, 500:
		default:
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}
