package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/ticket"
)

// serve replaces e's server with one built with opt (prep, if any, runs on
// it before it serves), over TLS when tlsOn.
func (e *env) serve(t *testing.T, opt Options, tlsOn bool, prep func(*Server)) {
	t.Helper()
	e.srv.Close()
	e.h = New(opt, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if prep != nil {
		prep(e.h)
	}
	if tlsOn {
		e.srv = httptest.NewTLSServer(e.h)
	} else {
		e.srv = httptest.NewServer(e.h)
	}
	t.Cleanup(e.srv.Close)
}

// clientFrom is a client whose connections come from ip (any 127.0.0.0/8
// address is this machine's loopback).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

type answer struct {
	code int
	h    http.Header
	body string
}

// call sends one request with the headers h ("Cookie" included).
func (e *env) call(t *testing.T, c *http.Client, method, path, body string, h map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = e.srv.Client()
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

func loginBody(user, password string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	return string(b)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// 60 parallel wrong logins from one address (issue 9: all got 401 and the
// process went to 1.2 GB, 19 MiB of Argon2id each): the attempts are
// counted before any hashing, so most are refused 429 at once; at most
// auth.DefaultHashSlots hashes ever run at the same time, so the heap
// stays small; and a manager logging in from another address meanwhile
// gets in.
func TestLoginFloodIsRefusedBeforeHashing(t *testing.T) {
	e := newEnv(t)
	// The default slots, and a long line: on a loaded test machine (and
	// under the race detector) the manager's check may wait its turn
	// behind the twenty let through longer than the default 3 s.
	e.serve(t, Options{}, false, func(*Server) { e.users.SetHashLimit(auth.DefaultHashSlots, 30*time.Second) })
	const n = 60
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()

	attacker := clientFrom("127.0.0.1")
	attacker.Transport.(*http.Transport).MaxIdleConnsPerHost = n
	start := make(chan struct{})
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			name := "op"
			if i%2 == 1 {
				name = fmt.Sprintf("guess-%d", i)
			}
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/login", strings.NewReader(loginBody(name, "wrong-password")))
			res, err := attacker.Do(req)
			if err != nil {
				t.Errorf("login %d: %v", i, err)
				codes <- 0
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	close(start)
	// Meanwhile, from another address, the shift manager logs in.
	time.Sleep(5 * time.Millisecond)
	began := time.Now()
	boss := e.call(t, clientFrom("127.0.0.2"), "POST", "/api/login", loginBody("boss", "boss-password"), nil)
	bossTook := time.Since(began)
	wg.Wait()
	close(stopSampling)
	<-sampled
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	st := e.users.HashStats()
	grew := float64(peak.Load()-min(base, peak.Load())) / (1 << 20)
	t.Logf("%d parallel wrong logins: %d×401, %d×429, %d×503; at most %d Argon2id at once (bound %d); heap in use grew by at most %.0f MiB; the manager's login took %s",
		n, count[401], count[429], count[503], st.Peak, st.Slots, grew, bossTook.Round(time.Millisecond))
	if boss.code != 200 {
		t.Errorf("manager's login from another address during the flood: %d %s", boss.code, boss.body)
	}
	if count[401]+count[429]+count[503] != n {
		t.Errorf("answers %v: want only 401, 429 and 503", count)
	}
	if count[429] < n-loginSourceLimit {
		t.Errorf("%d refused 429, want at least %d: attempts were not counted before hashing", count[429], n-loginSourceLimit)
	}
	if st.Peak > auth.DefaultHashSlots {
		t.Errorf("%d Argon2id hashes ran at once, want at most %d", st.Peak, auth.DefaultHashSlots)
	}
	// 60 hashes at once would be 60 × 19 MiB = 1140 MiB.
	if grew > 200 {
		t.Errorf("heap in use grew by %.0f MiB during the flood", grew)
	}
}

// Per account per source: five failures, then a doubling backoff for that
// account from that address only (the user elsewhere logs in at once); a
// success resets it. Per source: twenty failures in five minutes, whatever
// the accounts, then 429 for that address. Sources come from
// X-Forwarded-For only because the peer is a trusted proxy.
func TestLoginThrottlePerAccountAndSource(t *testing.T) {
	e := newEnv(t)
	clk := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e.serve(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false,
		func(s *Server) { s.guard.now = clk.Now })
	from := func(ip, user, password string) answer {
		return e.call(t, nil, "POST", "/api/login", loginBody(user, password), map[string]string{"X-Forwarded-For": ip})
	}
	const attacker, office = "203.0.113.9", "198.51.100.7"
	for i := range loginFreeAttempts {
		if a := from(attacker, "op", "guess"); a.code != 401 {
			t.Fatalf("failure %d: %d", i+1, a.code)
		}
	}
	a := from(attacker, "op", "op-password")
	if a.code != 429 || a.h.Get("Retry-After") != "1" {
		t.Fatalf("after %d failures: %d Retry-After %q, want 429 and 1 s", loginFreeAttempts, a.code, a.h.Get("Retry-After"))
	}
	// The real user, elsewhere, is not locked out.
	if a := from(office, "op", "op-password"); a.code != 200 {
		t.Fatalf("op from the office while attacked from elsewhere: %d", a.code)
	}
	// The backoff doubles: 1 s, 2 s, 4 s.
	for _, wait := range []int{2, 4} {
		clk.Add(time.Duration(wait/2) * time.Second)
		if a := from(attacker, "op", "guess"); a.code != 401 {
			t.Fatalf("after the backoff: %d, want one more try (401)", a.code)
		}
		if a := from(attacker, "op", "guess"); a.code != 429 || a.h.Get("Retry-After") != strconv.Itoa(wait) {
			t.Fatalf("backoff: %d Retry-After %q, want 429 and %d s", a.code, a.h.Get("Retry-After"), wait)
		}
	}
	// A success resets the account's count for that address.
	clk.Add(4 * time.Second)
	if a := from(attacker, "op", "op-password"); a.code != 200 {
		t.Fatalf("right password after the backoff: %d", a.code)
	}
	for i := range loginFreeAttempts {
		if a := from(attacker, "op", "guess"); a.code != 401 {
			t.Fatalf("after a success, failure %d: %d, want 401 (count reset)", i+1, a.code)
		}
	}
	// Per source: the attacker has 5+2+5 = 12 failures; 8 more on other
	// names fill the address's 20, then even another account is refused.
	for i := range loginSourceLimit - 12 {
		if a := from(attacker, fmt.Sprintf("name-%d", i), "guess"); a.code != 401 {
			t.Fatalf("failure on name-%d: %d", i, a.code)
		}
	}
	a = from(attacker, "boss", "boss-password")
	if ra, _ := strconv.Atoi(a.h.Get("Retry-After")); a.code != 429 || ra < 200 || ra > 300 {
		t.Fatalf("source over its limit: %d Retry-After %q, want 429 and up to 5 min", a.code, a.h.Get("Retry-After"))
	}
	if a := from(office, "boss", "boss-password"); a.code != 200 {
		t.Fatalf("another address: %d", a.code)
	}
	// The window slides: five minutes on, the address may try again.
	clk.Add(loginSourceWindow)
	if a := from(attacker, "boss", "boss-password"); a.code != 200 {
		t.Fatalf("after the window: %d", a.code)
	}

	// Without trusted proxies X-Forwarded-For is anyone's to write: it is
	// ignored, and every attempt counts for the peer itself.
	e.serve(t, Options{}, false, nil)
	for i := range loginFreeAttempts {
		if a := from(fmt.Sprintf("192.0.2.%d", i+1), "op", "guess"); a.code != 401 {
			t.Fatalf("untrusted peer, failure %d: %d", i+1, a.code)
		}
	}
	if a := from("192.0.2.99", "op", "op-password"); a.code != 429 {
		t.Fatalf("untrusted peer with a fresh X-Forwarded-For: %d, want 429 (the header ignored)", a.code)
	}
}

// Who the client is, through a chain of proxies.
func TestClientAddr(t *testing.T) {
	s := &Server{opt: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, c := range []struct{ peer, xff, want string }{
		{"192.0.2.1:5000", "198.51.100.7", "192.0.2.1"},                       // untrusted peer: header ignored
		{"127.0.0.1:5000", "", "127.0.0.1"},                                   // trusted, no header: the proxy itself
		{"127.0.0.1:5000", "198.51.100.7", "198.51.100.7"},                    // one proxy
		{"127.0.0.1:5000", "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"}, // a forged first hop is not believed
		{"127.0.0.1:5000", "10.0.0.3, 10.0.0.2", "10.0.0.3"},                  // every hop trusted: the first
		{"127.0.0.1:5000", "198.51.100.7, garbage", "127.0.0.1"},              // what the proxy saw is unknown
		{"127.0.0.1:5000", "[2001:db8::7]:443", "2001:db8::7"},
		{"[::ffff:127.0.0.1]:5000", "198.51.100.7:1234", "198.51.100.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientIP(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if p := sourceOf(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); p.String() != "2001:db8:1:2::/64" {
		t.Errorf("an IPv6 client's source is %s, want its /64", p)
	}
}

// A state-changing request on the session cookie must come from the
// console's origin (Origin, else Referer); a text/plain POST from another
// site is refused like any other. Bearer, node-signed and work-order
// signed requests carry no ambient credential and are exempt; a GET never
// changes anything.
func TestOriginCheck(t *testing.T) {
	e := newEnv(t)
	e.serve(t, Options{ClusterSecret: []byte("cluster-secret-0123"), FeedbackSecret: []byte("feedback-secret-0123")}, false, nil)
	self := e.srv.URL // http://127.0.0.1:port
	cookie := func() string { return CookieName + "=" + e.login(t, "op") }
	for _, c := range []struct {
		name string
		h    map[string]string
		want int
	}{
		{"same origin", map[string]string{"Origin": self}, 204},
		{"same origin, host in capitals", map[string]string{"Origin": strings.ToUpper(self)}, 204},
		{"no Origin, same-origin Referer", map[string]string{"Referer": self + "/"}, 204},
		{"another site", map[string]string{"Origin": "http://evil.example"}, 403},
		{"another site, text/plain form", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"another port", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"https, where the console is http", map[string]string{"Origin": strings.Replace(self, "http:", "https:", 1)}, 403},
		{"Origin null", map[string]string{"Origin": "null"}, 403},
		{"another site's Referer", map[string]string{"Referer": "http://evil.example/page"}, 403},
		{"neither Origin nor Referer", map[string]string{}, 403},
	} {
		ck := cookie()
		c.h["Cookie"] = ck
		a := e.call(t, nil, "POST", "/api/logout", "x", c.h)
		if a.code != c.want {
			t.Errorf("%s: POST /api/logout on the cookie: %d %s, want %d", c.name, a.code, a.body, c.want)
		}
		if c.want == 403 {
			// Refused means not done: the session lives on.
			if a := e.call(t, nil, "GET", "/api/me", "", map[string]string{"Cookie": ck, "Origin": "http://evil.example"}); a.code != 200 {
				t.Errorf("%s: the refused logout ended the session (GET /api/me %d)", c.name, a.code)
			}
		}
	}
	// PATCH on the cookie from another site: refused before anything.
	tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348", SeatID: "8001"}
	if err := e.tickets.Open(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if a := e.call(t, nil, "PATCH", "/api/tickets/"+tk.ID, `{"summary":"x"}`, map[string]string{"Cookie": cookie(), "Origin": "http://evil.example", "Content-Type": "text/plain"}); a.code != 403 {
		t.Errorf("cross-site PATCH: %d", a.code)
	}
	// Exempt: a bearer token from anywhere.
	if a := e.call(t, nil, "POST", "/api/logout", "", map[string]string{"Authorization": "Bearer " + e.login(t, "op"), "Origin": "http://evil.example"}); a.code != 204 {
		t.Errorf("bearer with a foreign Origin: %d, want 204", a.code)
	}
	// Exempt: a node-signed request (a cookie beside it changes nothing).
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/logout", nil)
	if err := SignNodeRequest(req, []byte("cluster-secret-0123"), "km-2", auth.User{Name: "op", Role: auth.RoleOperator}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Cookie", cookie())
	if res, err := e.srv.Client().Do(req); err != nil || res.StatusCode != 204 {
		t.Errorf("node-signed request with a foreign Origin: %v %v", err, res.StatusCode)
	} else {
		res.Body.Close()
	}
	// Exempt: the work-order system's signed feedback.
	body := `{"ticket_id":"` + tk.ID + `","status":"accepted","at":"2026-12-01T10:00:00+08:00"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if a := e.call(t, nil, "POST", "/api/workorder/feedback", body, map[string]string{"Origin": "http://evil.example",
		"X-Hotline-Timestamp": ts, "X-Hotline-Signature": ticket.Signature([]byte("feedback-secret-0123"), ts, []byte(body))}); a.code != 200 {
		t.Errorf("signed feedback with a foreign Origin: %d %s", a.code, a.body)
	}
	// A GET on the cookie from another page changes nothing: allowed.
	if a := e.call(t, nil, "GET", "/api/me", "", map[string]string{"Cookie": cookie(), "Origin": "http://evil.example"}); a.code != 200 {
		t.Errorf("GET with a foreign Origin: %d", a.code)
	}
	// Login: refused from another site (login CSRF), allowed without Origin.
	if a := e.call(t, nil, "POST", "/api/login", loginBody("op", "op-password"), map[string]string{"Origin": "http://evil.example"}); a.code != 403 {
		t.Errorf("cross-site login: %d", a.code)
	}
	if a := e.call(t, nil, "POST", "/api/login", loginBody("op", "op-password"), map[string]string{"Origin": self}); a.code != 200 {
		t.Errorf("same-origin login: %d", a.code)
	}

	// Behind a trusted TLS proxy the origin is what the browser used; the
	// same headers from anyone else are not believed.
	proxied := map[string]string{"Origin": "https://hotline.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "hotline.example"}
	e.serve(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false, nil)
	proxied["Cookie"] = cookie()
	if a := e.call(t, nil, "POST", "/api/logout", "", proxied); a.code != 204 {
		t.Errorf("through a trusted proxy: %d %s", a.code, a.body)
	}
	e.serve(t, Options{}, false, nil)
	proxied["Cookie"] = cookie()
	if a := e.call(t, nil, "POST", "/api/logout", "", proxied); a.code != 403 {
		t.Errorf("forwarded headers from an untrusted peer: %d, want 403", a.code)
	}
}

// Every /api/ answer, personal data or not, error or not, is no-store.
func TestAPIAnswersAreNoStore(t *testing.T) {
	e := newEnv(t)
	op := e.login(t, "op")
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/me", op}, {"GET", "/api/tickets", op}, {"GET", "/api/tickets/nope", op},
		{"GET", "/api/seats", op}, {"GET", "/api/queue", op}, {"GET", "/api/stats/today", op},
		{"GET", "/api/events", op}, {"GET", "/api/tickets/x/recording", op},
		{"GET", "/api/tickets", ""}, {"POST", "/api/login", ""},
	} {
		h := map[string]string{}
		if c.token != "" {
			h["Authorization"] = "Bearer " + c.token
		}
		a := e.call(t, nil, c.method, c.path, "", h)
		if got := a.h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s (%d): Cache-Control %q, want no-store", c.method, c.path, a.code, got)
		}
	}
	if a := e.call(t, nil, "GET", "/", "", nil); a.h.Get("Cache-Control") != "no-cache" || a.h.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("console page: Cache-Control %q Referrer-Policy %q", a.h.Get("Cache-Control"), a.h.Get("Referrer-Policy"))
	}
}

// The session cookie is Secure when the console is reached over https:
// TLS, or a trusted proxy's X-Forwarded-Proto; secure_cookie forces it.
func TestSessionCookieSecure(t *testing.T) {
	e := newEnv(t)
	secure := func(h map[string]string) bool {
		t.Helper()
		a := e.call(t, nil, "POST", "/api/login", loginBody("op", "op-password"), h)
		if a.code != 200 {
			t.Fatalf("login: %d %s", a.code, a.body)
		}
		res := http.Response{Header: a.h}
		for _, c := range res.Cookies() {
			if c.Name == CookieName {
				return c.Secure
			}
		}
		t.Fatal("no session cookie")
		return false
	}
	proto := map[string]string{"X-Forwarded-Proto": "https"}
	if secure(nil) {
		t.Error("plain http: Secure")
	}
	if secure(proto) {
		t.Error("X-Forwarded-Proto from an untrusted peer was believed")
	}
	e.serve(t, Options{}, true, nil)
	if !secure(nil) {
		t.Error("over TLS: not Secure")
	}
	e.serve(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, false, nil)
	if !secure(proto) {
		t.Error("trusted proxy says https: not Secure")
	}
	if secure(map[string]string{"X-Forwarded-Proto": "http"}) {
		t.Error("trusted proxy says http: Secure")
	}
	e.serve(t, Options{SecureCookie: true}, false, nil)
	if !secure(nil) {
		t.Error("secure_cookie true: not Secure")
	}
	// The logout's deleting cookie has the same flags.
	e.serve(t, Options{}, true, nil)
	var in struct{ Token string }
	_ = json.Unmarshal([]byte(e.call(t, nil, "POST", "/api/login", loginBody("op", "op-password"), nil).body), &in)
	tok := in.Token
	a := e.call(t, nil, "POST", "/api/logout", "", map[string]string{"Authorization": "Bearer " + tok})
	res := http.Response{Header: a.h}
	if cs := res.Cookies(); a.code != 204 || len(cs) != 1 || !cs[0].Secure || cs[0].MaxAge >= 0 {
		t.Errorf("logout cookie: %d %+v", a.code, cs)
	}
}

// A captured feedback request sent again, and the same report sent again
// without "at" (each copy freshly signed), are stored once.
func TestFeedbackReplayStoredOnce(t *testing.T) {
	e := newEnv(t)
	e.withSecret(t, "feedback-key")
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	post := func(body string, ts time.Time) answer {
		s := strconv.FormatInt(ts.Unix(), 10)
		return e.call(t, nil, "POST", "/api/workorder/feedback", body, map[string]string{
			"X-Hotline-Timestamp": s, "X-Hotline-Signature": ticket.Signature([]byte("feedback-key"), s, []byte(body))})
	}
	rows := func() int {
		var n int
		if err := e.db.R.QueryRow(`SELECT count(*) FROM ticket_feedback WHERE ticket_id = ?`, tk.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	noAt := `{"ticket_id":"` + tk.ID + `","external_id":"WO-9","status":"processing","note":"已受理"}`
	now := time.Now()
	first := post(noAt, now)
	if first.code != 200 || !strings.Contains(first.body, `"duplicate":false`) {
		t.Fatalf("first: %d %s", first.code, first.body)
	}
	// The very same request (a replay within the signature's 5 minutes).
	if a := post(noAt, now); a.code != 200 || !strings.Contains(a.body, `"duplicate":true`) {
		t.Fatalf("replay: %d %s", a.code, a.body)
	}
	// Sent again later, signed afresh, another JSON layout.
	again := `{"status":"processing", "note":"已受理", "ticket_id":"` + tk.ID + `", "external_id":"WO-9"}`
	if a := post(again, now.Add(90*time.Second)); a.code != 200 || !strings.Contains(a.body, `"duplicate":true`) {
		t.Fatalf("the same report again: %d %s", a.code, a.body)
	}
	if n := rows(); n != 1 {
		t.Fatalf("%d rows for one report, want 1", n)
	}
	// With "at": replays are one row too; another report is another row.
	withAt := `{"ticket_id":"` + tk.ID + `","external_id":"WO-9","status":"closed","note":"办结","at":"2026-12-01T10:00:00+08:00"}`
	for range 3 {
		if a := post(withAt, now); a.code != 200 {
			t.Fatalf("with at: %d %s", a.code, a.body)
		}
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}
