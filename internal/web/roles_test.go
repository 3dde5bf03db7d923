package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// rolesEnv: one node with a floor (seat 8001 rings for a call) and
// recordings; users op (seat 8001), op2 (seat 8002), boss (manager).
type rolesEnv struct {
	*env
	floor *fakeFloor
	// The tickets, by what they are to op.
	own, other, pendingCB, claimedCB, current, currentHist, abandoned *ticket.Ticket
}

func newRolesEnv(t *testing.T) *rolesEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, tickets: ticket.NewStore(db, "t-1", time.UTC, nil), users: auth.NewStore(db, nil), recDir: dir}
	for _, u := range []auth.User{
		{Name: "op", Role: auth.RoleOperator, SeatID: "8001"},
		{Name: "op2", Role: auth.RoleOperator, SeatID: "8002"},
		{Name: "boss", Role: auth.RoleManager},
	} {
		if err := e.users.AddUser(ctx, u, u.Name+"-password", false); err != nil {
			t.Fatal(err)
		}
	}
	e.tickets.SetCallbackPolicy(ticket.CallbackPolicy{Due: map[string]time.Duration{vocab.CallbackVoicemail: time.Hour}, ShortAbandon: 5 * time.Second, MaxAttempts: 3})
	re := &rolesEnv{env: e, floor: newFakeFloor()}
	e.h = New(Options{Floor: re.floor, RecordingPath: func(tk *ticket.Ticket) string { return filepath.Join(dir, tk.ID+".wav") }},
		e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)

	withRecording := func(tk *ticket.Ticket) *ticket.Ticket {
		rec := "/api/tickets/" + tk.ID + "/recording"
		got, err := e.tickets.Update(ctx, tk.ID, func(x *ticket.Ticket) error { x.Recording = &rec; return nil })
		if err != nil {
			t.Fatal(err)
		}
		wav := make([]byte, 300000)
		copy(wav, "RIFF")
		if err := os.WriteFile(filepath.Join(dir, tk.ID+".wav"), wav, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	voicemail := func(tk *ticket.Ticket) {
		tk.Status, tk.Outcome, tk.Callback, tk.EndedAt = vocab.StatusClosed, vocab.OutcomeVoicemail, true, ticket.TimePtr(time.Now())
	}
	re.own = withRecording(openTicket(t, e, "13800000001", answeredBy("8001")))
	re.other = withRecording(openTicket(t, e, "13800000002", answeredBy("8002")))
	re.pendingCB = withRecording(openTicket(t, e, "13800000003", voicemail))
	re.claimedCB = withRecording(openTicket(t, e, "13800000004", voicemail))
	re.currentHist = openTicket(t, e, "13800000005", answeredBy("8002"))
	re.current = openTicket(t, e, "13800000005", func(tk *ticket.Ticket) { tk.Category, tk.QueuedAt = "consult", ticket.TimePtr(time.Now()) })
	re.abandoned = openTicket(t, e, "13800000006", func(tk *ticket.Ticket) {
		tk.Status, tk.Outcome, tk.AbandonStage = vocab.StatusClosed, vocab.OutcomeAbandoned, vocab.StageQueue
	})
	re.floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Ringing, re.current.ID })
	// op claims the callback task: from now on it is op's, and no longer
	// in the operators' shared list.
	if len(re.claimedCB.Callbacks) != 1 {
		t.Fatalf("voicemail ticket has callbacks %+v, want one task", re.claimedCB.Callbacks)
	}
	if code, b := e.do(t, "POST", fmt.Sprintf("/api/callbacks/%d/claim", re.claimedCB.Callbacks[0].ID), e.login(t, "op"), ""); code != 200 {
		t.Fatalf("op claims the callback: %d %s", code, b)
	}
	return re
}

func (re *rolesEnv) listIDs(t *testing.T, token, query string) (int, []string) {
	t.Helper()
	code, b := re.do(t, "GET", "/api/tickets"+query, token, "")
	var ans listAnswer
	if code == 200 {
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatalf("list %s: %v %s", query, err, b)
		}
	}
	out := ids(ans.Tickets)
	slices.Sort(out)
	return code, out
}

// TestRoleScopeEveryEndpoint: every role against every ticket route. An
// operator sees their own calls, the call at their seat and its caller's
// history, and the callback work (the shared pending list and the
// callbacks they wrote up); a manager sees all. Searching by a full number
// outside the scope finds nothing.
func TestRoleScopeEveryEndpoint(t *testing.T) {
	re := newRolesEnv(t)
	tok := map[string]string{"op": re.login(t, "op"), "op2": re.login(t, "op2"), "boss": re.login(t, "boss")}
	sorted := func(v ...*ticket.Ticket) []string {
		var out []string
		for _, tk := range v {
			out = append(out, tk.ID)
		}
		slices.Sort(out)
		return out
	}

	// Lists and searches.
	for _, tc := range []struct {
		name, user, query string
		want              []string
	}{
		{"operator-own: the list", "op", "", sorted(re.own, re.pendingCB, re.claimedCB, re.current, re.currentHist)},
		{"operator-other: the list", "op2", "", sorted(re.other, re.pendingCB, re.currentHist)},
		{"manager: the list", "boss", "", sorted(re.own, re.other, re.pendingCB, re.claimedCB, re.current, re.currentHist, re.abandoned)},
		{"operator-own: search own caller", "op", "?caller=13800000001", sorted(re.own)},
		{"operator-own: search another seat's caller", "op", "?caller=13800000002", nil},
		{"operator-own: search an abandoned caller", "op", "?caller=13800000006", nil},
		{"operator-own: search the current caller", "op", "?caller=13800000005", sorted(re.current, re.currentHist)},
		{"operator-other: search op's caller", "op2", "?caller=13800000001", nil},
		{"operator-other: search op's written-up callback", "op2", "?caller=13800000004", nil},
		{"operator-other: search the pending callback", "op2", "?caller=13800000003", sorted(re.pendingCB)},
		{"operator-other: search op's current caller", "op2", "?caller=13800000005", sorted(re.currentHist)},
		{"manager: search any caller", "boss", "?caller=13800000006", sorted(re.abandoned)},
		{"operator-own: closed only", "op", "?status=closed", sorted(re.own, re.pendingCB, re.claimedCB, re.currentHist)},
	} {
		code, got := re.listIDs(t, tok[tc.user], tc.query)
		if code != 200 || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d %v, want %v", tc.name, code, got, tc.want)
		}
	}

	// One ticket, PATCH, recording (plain and Range from the end).
	type row struct {
		user string
		tk   *ticket.Ticket
		get  int
		edit int
		rec  int
	}
	for _, r := range []row{
		{"op", re.own, 200, 200, 403},          // own call: the recording of a call is for managers
		{"op", re.other, 403, 403, 403},        // another seat's call
		{"op", re.pendingCB, 200, 200, 200},    // callback work: they hear the voicemail
		{"op", re.claimedCB, 200, 200, 200},    // the callback task they claimed
		{"op", re.current, 200, 200, 403},      // the call at their seat: call recordings are for managers
		{"op", re.currentHist, 200, 403, 403},  // the current caller's history: read only
		{"op", re.abandoned, 403, 403, 403},    // nobody's call
		{"op2", re.own, 403, 403, 403},         // op's call
		{"op2", re.pendingCB, 200, 200, 200},   // the shared callback list
		{"op2", re.claimedCB, 403, 403, 403},   // op's callback task
		{"op2", re.current, 403, 403, 403},     // ringing at op's seat
		{"op2", re.currentHist, 200, 200, 403}, // their own call
		{"boss", re.other, 200, 200, 200},      // managers: everything
		{"boss", re.claimedCB, 200, 200, 200},  //
		{"boss", re.abandoned, 200, 200, 404},  //
	} {
		path := "/api/tickets/" + r.tk.ID
		code, b := re.do(t, "GET", path, tok[r.user], "")
		if code != r.get {
			t.Errorf("%s GET %s (caller %s): %d %s, want %d", r.user, r.tk.ID, r.tk.Caller, code, b, r.get)
		}
		if code == 200 {
			var got ticket.Ticket
			_ = json.Unmarshal(b, &got)
			wantCaller := r.tk.Caller
			if r.user != "boss" && !r.tk.Callback {
				wantCaller = r.tk.Caller[:3] + "****" + r.tk.Caller[7:]
			}
			if got.ID != r.tk.ID || got.Caller != wantCaller {
				t.Errorf("%s GET %s: id %s caller %q, want %q", r.user, r.tk.ID, got.ID, got.Caller, wantCaller)
			}
		} else if strings.Contains(string(b), r.tk.Caller[7:]) {
			t.Errorf("%s GET %s refused, but the answer shows the number: %s", r.user, r.tk.ID, b)
		}
		if code, b := re.do(t, "PATCH", path, tok[r.user], `{"legal_domain":"labor"}`); code != r.edit {
			t.Errorf("%s PATCH %s: %d %s, want %d", r.user, r.tk.ID, code, b, r.edit)
		}
		for _, rng := range []string{"", "bytes=-200000"} {
			req, _ := http.NewRequest("GET", re.srv.URL+path+"/recording", nil)
			req.Header.Set("Authorization", "Bearer "+tok[r.user])
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := r.rec
			if want == 200 && rng != "" {
				want = 206
			}
			if res.StatusCode != want {
				t.Errorf("%s recording of %s (Range %q): %d, want %d", r.user, r.tk.ID, rng, res.StatusCode, want)
			}
			if want == 206 && (res.ContentLength != 200000 || res.Header.Get("Content-Range") != "bytes 100000-299999/300000") {
				t.Errorf("%s recording of %s (Range %q): %d bytes, %q", r.user, r.tk.ID, rng, res.ContentLength, res.Header.Get("Content-Range"))
			}
		}
	}

	// Every recording request served is one audit line, saying who, which
	// ticket and which range; none for the refused ones.
	audit := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := re.db.R.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		user string
		tk   *ticket.Ticket
		n    int
	}{{"op", re.pendingCB, 1}, {"op", re.claimedCB, 1}, {"op2", re.pendingCB, 1}, {"boss", re.other, 1}, {"op", re.own, 0}, {"op2", re.claimedCB, 0}} {
		if n := audit(`SELECT count(*) FROM audit_log WHERE user_name=? AND action='recording.download' AND object=?`, c.user, c.tk.ID); n != c.n {
			t.Errorf("%s %s: %d recording.download lines, want %d", c.user, c.tk.ID, n, c.n)
		}
		if n := audit(`SELECT count(*) FROM audit_log WHERE user_name=? AND action='recording.range' AND object=?`, c.user, c.tk.ID+" bytes=-200000"); n != c.n {
			t.Errorf("%s %s: %d recording.range lines, want %d", c.user, c.tk.ID, n, c.n)
		}
	}
	// A manager's read of another seat's ticket, and every search by
	// number, is audited (the number masked).
	if n := audit(`SELECT count(*) FROM audit_log WHERE user_name='boss' AND action='ticket.read' AND object=?`, re.other.ID); n != 1 {
		t.Errorf("manager's read of another seat's ticket: %d audit lines, want 1", n)
	}
	if n := audit(`SELECT count(*) FROM audit_log WHERE user_name='op2' AND action='ticket.search' AND object='caller=138****0001'`); n != 1 {
		t.Errorf("operator's search by number: %d audit lines, want 1", n)
	}
	if n := audit(`SELECT count(*) FROM audit_log WHERE object LIKE '%13800000%'`); n != 0 {
		t.Errorf("%d audit lines hold a whole number", n)
	}

	// The call leaves op's seat: its caller's history is no longer op's.
	re.floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Ready, "" })
	if code, _ := re.do(t, "GET", "/api/tickets/"+re.currentHist.ID, tok["op"], ""); code != 403 {
		t.Errorf("after the call: the caller's history still readable: %d", code)
	}
	if _, got := re.listIDs(t, tok["op"], "?caller=13800000005"); len(got) != 0 {
		t.Errorf("after the call: search by the caller's number finds %v", got)
	}
}

// In a cluster every node scopes what an operator's request shows, the
// nodes a fan-out or a relay reaches included: the current call kept on
// another node still opens its caller's history on every node, and
// nothing else of other seats.
func TestRoleScopeCluster(t *testing.T) {
	floor := newFakeFloor()
	nodes, _ := newClusterFloor(t, "", floor, "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	const caller = "13800001111"
	now := time.Now()
	histA := a.open(t, caller, now.Add(-72*time.Hour), answeredBy("8002"))
	histB := b.open(t, caller, now.Add(-24*time.Hour), answeredBy("8002"))
	otherA := a.open(t, "13800002222", now.Add(-time.Hour), answeredBy("8002"))
	otherB := b.open(t, "13800003333", now.Add(-time.Hour), answeredBy("8002"))
	call := b.open(t, caller, now.Add(-time.Second), nil)
	op := a.login(t, "op")

	// No call at op's seat: nothing of the caller, on any node.
	if got := a.list(t, op, "?caller="+caller); len(got.Tickets) != 0 || got.Partial != nil {
		t.Fatalf("no current call: search finds %v (partial %v)", ids(got.Tickets), got.Partial)
	}
	if code, _ := a.do(t, "GET", "/api/tickets/"+histB.ID, op, ""); code != 403 {
		t.Fatalf("no current call: b's history ticket through a: %d", code)
	}

	floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Busy, call.ID })
	want := []string{call.ID, histB.ID, histA.ID}
	for _, n := range []*clusterNode{a, b} {
		got := n.list(t, n.login(t, "op"), "")
		if !slices.Equal(ids(got.Tickets), want) || got.Partial != nil {
			t.Errorf("op's list on %s: %v, want %v (not %s, %s; partial %v)", n.id, ids(got.Tickets), want, otherA.ID, otherB.ID, got.Partial)
		}
	}
	if code, body := a.do(t, "GET", "/api/tickets/"+histB.ID, op, ""); code != 200 || !strings.Contains(string(body), "138****1111") {
		t.Fatalf("b's history ticket through a: %d %s", code, body)
	}
	for _, tk := range []*ticket.Ticket{otherA, otherB} {
		if code, _ := a.do(t, "GET", "/api/tickets/"+tk.ID, op, ""); code != 403 {
			t.Errorf("another seat's ticket %s through a: %d, want 403", tk.ID, code)
		}
		if code, _ := a.do(t, "PATCH", "/api/tickets/"+tk.ID, op, `{"summary":"x"}`); code != 403 {
			t.Errorf("PATCH another seat's ticket %s through a: %d, want 403", tk.ID, code)
		}
	}
	if code, _ := a.do(t, "PATCH", "/api/tickets/"+call.ID, op, `{"summary":"正在咨询"}`); code != 200 {
		t.Errorf("PATCH the call at op's seat, kept on b, through a: %d", code)
	}
	// The manager's read of b's ticket through a is audited on b.
	if code, _ := a.do(t, "GET", "/api/tickets/"+otherB.ID, a.login(t, "boss"), ""); code != 200 {
		t.Fatalf("manager's read through a: %d", code)
	}
	var n int
	if err := b.db.R.QueryRow(`SELECT count(*) FROM audit_log WHERE user_name='boss' AND action='ticket.read' AND object=? AND remote LIKE '% via km-1'`, otherB.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit of the manager's read on b: %d (%v)", n, err)
	}
}
