package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/ticket"
)

// fakeCalls is one live call on seat 8001, or none.
type fakeCalls struct {
	mu    sync.Mutex
	live  map[string]call.LiveCall
	done  []string // "action by digits"
	state error    // the error Control answers, if any
}

func (f *fakeCalls) Live(id string) (call.LiveCall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lc, ok := f.live[id]
	return lc, ok
}

func (f *fakeCalls) Control(_ context.Context, id, action, by, digits string) (call.LiveCall, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != nil {
		return f.live[id], f.state
	}
	lc := f.live[id]
	switch action {
	case call.ActionHold:
		lc.Held = true
	case call.ActionMute:
		lc.Muted = true
	}
	f.live[id] = lc
	f.done = append(f.done, strings.TrimSpace(action+" "+by+" "+digits))
	return lc, nil
}

// The call-control API: who may act on a call (its operator, a manager),
// what a call that is not live answers, the body rules, and that the
// action reaches the call under the user's name.
func TestCallControlAPI(t *testing.T) {
	e := newEnv(t)
	live := openTicket(t, e, "13800000001", nil)
	ended := openTicket(t, e, "13800000002", answeredBy("8001"))
	fc := &fakeCalls{live: map[string]call.LiveCall{live.ID: {TicketID: live.ID, Seat: "8001", AnsweredAt: time.Now()}}}
	h := New(Options{Calls: fc}, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	if err := e.users.AddUser(context.Background(), auth.User{Name: "op2", Role: auth.RoleOperator, SeatID: "8002"}, "op2-password", false); err != nil {
		t.Fatal(err)
	}
	op, op2, boss := e.login(t, "op"), e.login(t, "op2"), e.login(t, "boss")
	base := "/api/calls/" + live.ID

	for _, tc := range []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{"no session", "POST", base + "/hold", "", "", 401, ""},
		{"another operator", "POST", base + "/hold", op2, "", 403, "not your call"},
		{"another operator reads", "GET", base, op2, "", 403, "not your call"},
		{"unknown action", "POST", base + "/park", op, "", 404, "no such call action"},
		{"unknown ticket", "POST", "/api/calls/20261126-083015-t-1-9999/hold", op, "", 404, "no such ticket"},
		{"ended call", "POST", "/api/calls/" + ended.ID + "/hold", op, "", 409, "not connected"},
		{"dtmf without digits", "POST", base + "/dtmf", op, `{}`, 400, "digits"},
		{"dtmf not JSON", "POST", base + "/dtmf", op, `digits=1`, 400, "JSON object"},
		{"unknown field", "POST", base + "/hold", op, `{"why":"x"}`, 400, "unknown field"},
		{"digits on hold", "POST", base + "/hold", op, `{"digits":"1"}`, 400, "only go with dtmf"},
		{"the operator reads", "GET", base, op, "", 200, `"seat":"8001"`},
		{"the operator holds", "POST", base + "/hold", op, "", 200, `"held":true`},
		{"a manager mutes", "POST", base + "/mute", boss, `{}`, 200, `"muted":true`},
		{"dtmf", "POST", base + "/dtmf", op, `{"digits":"12#"}`, 200, `"ticket_id"`},
	} {
		code, b := e.do(t, tc.method, tc.path, tc.token, tc.body)
		if code != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, b, tc.code, tc.want)
		}
	}
	fc.mu.Lock()
	done := strings.Join(fc.done, "; ")
	fc.mu.Unlock()
	if done != "hold op; mute boss; dtmf op 12#" {
		t.Errorf("actions that reached the call: %q", done)
	}

	// The call's own refusals.
	for _, tc := range []struct {
		err  error
		code int
	}{{call.ErrCallState, 409}, {call.ErrNotLive, 409}, {call.ErrBadDigits, 400}} {
		fc.mu.Lock()
		fc.state = tc.err
		fc.mu.Unlock()
		if code, b := e.do(t, "POST", base+"/resume", op, ""); code != tc.code {
			t.Errorf("%v: %d %s, want %d", tc.err, code, b, tc.code)
		} else {
			var m map[string]string
			if json.Unmarshal(b, &m) != nil || m["error"] == "" {
				t.Errorf("%v: no error text in %s", tc.err, b)
			}
		}
	}
}

// In a cluster a call-control request goes to the node the ticket id
// names: the call runs there. Node a does not have the ticket (it would
// say 404); b has it, not connected now, and says 409, and b decides who
// may act on it.
func TestCallControlRelayedToTheTicketsNode(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	mine := b.open(t, "13812345678", time.Now().Add(-time.Minute), func(tk *ticket.Ticket) { tk.SeatID = "8001" })
	theirs := b.open(t, "13912345678", time.Now().Add(-time.Minute), func(tk *ticket.Ticket) { tk.SeatID = "8002" })
	op := a.login(t, "op")
	req, _ := http.NewRequest("POST", a.srv.URL+"/api/calls/"+mine.ID+"/hold", nil)
	req.Header.Set("Authorization", "Bearer "+op)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 409 || res.Header.Get(HeaderServedBy) != "km-2" || !strings.Contains(string(body), "not connected") {
		t.Fatalf("hold through a: %d served by %q %s, want b's 409", res.StatusCode, res.Header.Get(HeaderServedBy), body)
	}
	if code, b := a.do(t, "POST", "/api/calls/"+theirs.ID+"/hold", op, ""); code != 403 {
		t.Fatalf("another seat's call through a: %d %s, want 403", code, b)
	}
}

// Transfer and supervision requests go to the ticket's node too: there
// the call runs (b here has neither enabled, and says so itself).
func TestTransferAndMonitorRelayedToTheTicketsNode(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	onB := b.open(t, "13812345678", time.Now().Add(-time.Minute), func(tk *ticket.Ticket) { tk.SeatID = "8001" })
	onA := a.open(t, "13812345679", time.Now().Add(-time.Minute), func(tk *ticket.Ticket) { tk.SeatID = "8001" })
	op, boss := a.login(t, "op"), a.login(t, "boss")
	for _, c := range []struct {
		token, path, body, want, servedBy string
	}{
		{op, "/api/calls/" + onB.ID + "/transfer", `{"target":"法律援助中心","mode":"blind"}`, "本节点未启用转接", "km-2"},
		{op, "/api/calls/" + onB.ID + "/transfer/conference", ``, "本节点未启用转接", "km-2"},
		{boss, "/api/calls/" + onB.ID + "/monitor", `{"mode":"listen"}`, "本节点未启用监听", "km-2"},
		{op, "/api/calls/" + onA.ID + "/transfer", `{"target":"法律援助中心","mode":"blind"}`, "本节点未启用转接", ""}, // a's own: not relayed
	} {
		req, _ := http.NewRequest("POST", a.srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := res.Header.Get(HeaderServedBy); res.StatusCode != 503 || got != c.servedBy || !strings.Contains(string(body), c.want) {
			t.Errorf("POST %s through a: %d served by %q %s, want 503 from %q", c.path, res.StatusCode, got, body, c.servedBy)
		}
	}
}
