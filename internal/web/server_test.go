package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

type env struct {
	h       *Server
	srv     *httptest.Server
	tickets *ticket.Store
	users   *auth.Store
	db      *store.DB
	recDir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, tickets: ticket.NewStore(db, "t-1", time.UTC, nil), users: auth.NewStore(db, nil), recDir: dir}
	e.tickets.SetCallbackPolicy(testCallbackPolicy) // voicemails are callback tasks
	for _, u := range []auth.User{{Name: "op", Role: auth.RoleOperator, SeatID: "8001"}, {Name: "boss", Role: auth.RoleManager}} {
		if err := e.users.AddUser(ctx, u, u.Name+"-password", false); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{RecordingPath: func(tk *ticket.Ticket) string { return filepath.Join(dir, tk.ID+".wav") }},
		e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (e *env) login(t *testing.T, name string) string {
	t.Helper()
	code, b := e.do(t, "POST", "/api/login", "", `{"username":"`+name+`","password":"`+name+`-password"}`)
	if code != 200 {
		t.Fatalf("login %s: %d %s", name, code, b)
	}
	var r struct{ Token string }
	_ = json.Unmarshal(b, &r)
	return r.Token
}

func TestEveryAPIRouteNeedsAuth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/tickets", "/api/tickets/x", "/api/tickets/x/recording", "/api/me", "/api/nope"} {
		if code, _ := e.do(t, "GET", p, "", ""); code != 401 {
			t.Errorf("GET %s without auth: %d, want 401", p, code)
		}
		if code, _ := e.do(t, "GET", p, "forged-token", ""); code != 401 {
			t.Errorf("GET %s with a forged token: %d, want 401", p, code)
		}
	}
	if code, _ := e.do(t, "GET", "/healthz", "", ""); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := e.do(t, "GET", "/metrics", "", ""); code != 200 {
		t.Errorf("/metrics: %d", code)
	}
}

func TestLoginCookieAndBearer(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.do(t, "POST", "/api/login", "", `{"username":"op","password":"wrong"}`); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _ := e.do(t, "POST", "/api/login", "", `not json`); code != 400 {
		t.Fatalf("bad body: %d", code)
	}
	tok := e.login(t, "op")
	if code, b := e.do(t, "GET", "/api/me", tok, ""); code != 200 || !strings.Contains(string(b), `"seat_id":"8001"`) {
		t.Fatalf("me: %d %s", code, b)
	}
	// The cookie works on its own.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Post(e.srv.URL+"/api/login", "application/json", strings.NewReader(`{"username":"op","password":"op-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", ck)
	}
	res, err = c.Get(e.srv.URL + "/api/me")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("cookie auth: %v %v", err, res.StatusCode)
	}
	res.Body.Close()
	// Logout ends the session.
	if code, _ := e.do(t, "POST", "/api/logout", tok, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/me", tok, ""); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	for range loginFreeAttempts {
		e.do(t, "POST", "/api/login", "", `{"username":"op","password":"bad"}`)
	}
	if code, _ := e.do(t, "POST", "/api/login", "", `{"username":"op","password":"op-password"}`); code != 429 {
		t.Fatalf("after %d failures: %d, want 429", loginFreeAttempts, code)
	}
}

func TestTicketsAndRecordingAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c1", Caller: "13800000000", Called: "12348", SeatID: "8001"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	other := &ticket.Ticket{CallID: "c2", Caller: "13900000000", Called: "12348"}
	if err := e.tickets.Open(ctx, other); err != nil {
		t.Fatal(err)
	}
	url := "/api/tickets/" + tk.ID + "/recording"
	if _, err := e.tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error { t.Recording = &url; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.recDir, tk.ID+".wav"), []byte("RIFF....WAVE"), 0o644); err != nil {
		t.Fatal(err)
	}
	op, boss := e.login(t, "op"), e.login(t, "boss")

	code, b := e.do(t, "GET", "/api/tickets?caller=13800000000", op, "")
	var list struct{ Tickets []ticket.Ticket }
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Tickets) != 1 || list.Tickets[0].ID != tk.ID {
		t.Fatalf("list by caller: %d %s", code, b)
	}
	if code, _ := e.do(t, "GET", "/api/tickets?status=weird", op, ""); code != 400 {
		t.Fatalf("bad status filter: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/tickets?from=yesterday", op, ""); code != 400 {
		t.Fatalf("bad from: %d", code)
	}
	if code, b := e.do(t, "GET", "/api/tickets/"+tk.ID, op, ""); code != 200 || !strings.Contains(string(b), `"revision":2`) {
		t.Fatalf("get: %d %s", code, b)
	}
	if code, _ := e.do(t, "GET", "/api/tickets/nope", op, ""); code != 404 {
		t.Fatalf("unknown ticket: %d", code)
	}
	// Operators may not download call recordings (even of their own
	// calls); managers may, and it is audited.
	if code, _ := e.do(t, "GET", url, op, ""); code != 403 {
		t.Fatalf("operator download: %d, want 403", code)
	}
	if code, b := e.do(t, "GET", url, boss, ""); code != 200 || string(b) != "RIFF....WAVE" {
		t.Fatalf("manager download: %d %q", code, b)
	}
	var n int
	if err := e.db.R.QueryRow(`SELECT count(*) FROM audit_log WHERE user_name='boss' AND action='recording.download' AND object=?`, tk.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows %d %v", n, err)
	}
	if code, _ := e.do(t, "GET", "/api/tickets/"+other.ID+"/recording", boss, ""); code != 404 {
		t.Fatalf("ticket without recording: %d", code)
	}
}

// Operators get caller numbers masked from the API (personal data), except
// on tickets to call back; managers see them whole. Every request of a
// playback fetched in ranges is an audit line, saying which range.
func TestCallerMaskedForOperators(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain := &ticket.Ticket{CallID: "c1", Caller: "13812345678", Called: "12348", SeatID: "8001"}
	cb := &ticket.Ticket{CallID: "c2", Caller: "13987654321", Called: "12348", Callback: true, Status: vocab.StatusClosed}
	for _, tk := range []*ticket.Ticket{plain, cb} {
		if err := e.tickets.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	op, boss := e.login(t, "op"), e.login(t, "boss")
	_, b := e.do(t, "GET", "/api/tickets/"+plain.ID, op, "")
	if strings.Contains(string(b), "13812345678") || !strings.Contains(string(b), "138****5678") {
		t.Fatalf("operator sees %s", b)
	}
	_, b = e.do(t, "GET", "/api/tickets?caller=13812345678", op, "")
	if strings.Contains(string(b), "13812345678") || !strings.Contains(string(b), "138****5678") {
		t.Fatalf("operator's list shows %s", b)
	}
	if _, b = e.do(t, "GET", "/api/tickets/"+cb.ID, op, ""); !strings.Contains(string(b), "13987654321") {
		t.Fatalf("a callback ticket must show the number to dial: %s", b)
	}
	if _, b = e.do(t, "GET", "/api/tickets/"+plain.ID, boss, ""); !strings.Contains(string(b), "13812345678") {
		t.Fatalf("manager sees %s", b)
	}

	url := "/api/tickets/" + plain.ID + "/recording"
	if _, err := e.tickets.Update(ctx, plain.ID, func(t *ticket.Ticket) error { t.Recording = &url; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.recDir, plain.ID+".wav"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rng := range []string{"bytes=0-", "bytes=2048-", "bytes=3000-3999"} {
		req, _ := http.NewRequest("GET", e.srv.URL+url, nil)
		req.Header.Set("Authorization", "Bearer "+boss)
		req.Header.Set("Range", rng)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 206 {
			t.Fatalf("range %s: %v %v", rng, err, res.StatusCode)
		}
		res.Body.Close()
	}
	rows, err := e.db.R.Query(`SELECT user_name, action, object FROM audit_log WHERE action LIKE 'recording.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var u, a, o string
		if err := rows.Scan(&u, &a, &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, u+" "+a+" "+o)
	}
	want := []string{"boss recording.range " + plain.ID + " bytes=0-", "boss recording.range " + plain.ID + " bytes=2048-",
		"boss recording.range " + plain.ID + " bytes=3000-3999"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit lines of one playback:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
