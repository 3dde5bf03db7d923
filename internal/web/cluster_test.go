package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/stats"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

const (
	testClusterSecret = "cluster-secret-for-tests"
	testWOSecret      = "work-order-secret"
)

// clusterTable is the cluster state every fake node reads (Redis, in the app).
type clusterTable struct {
	mu    sync.Mutex
	nodes []NodeStatus
	err   error
}

func (c *clusterTable) set(id string, fn func(n *NodeStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.nodes {
		if c.nodes[i].ID == id {
			fn(&c.nodes[i])
			return
		}
	}
	n := NodeStatus{ID: id}
	fn(&n)
	c.nodes = append(c.nodes, n)
}

func (c *clusterTable) fail(err error) { c.mu.Lock(); c.err = err; c.mu.Unlock() }

// fakeCluster is one node's view of the table.
type fakeCluster struct {
	self  string
	table *clusterTable
}

func (f fakeCluster) Self() string { return f.self }

func (f fakeCluster) Nodes(context.Context) ([]NodeStatus, error) {
	f.table.mu.Lock()
	defer f.table.mu.Unlock()
	if f.table.err != nil {
		return nil, f.table.err
	}
	return slices.Clone(f.table.nodes), nil
}

// clusterNode is one node: its own database, tickets, users, recordings,
// and its HTTP server on 127.0.0.1.
type clusterNode struct {
	*env
	id      string
	hub     *Hub
	floor   *fakeFloor
	changes chan acd.Change
}

var clusterStatsConfig = stats.Config{Location: time.Local, ServiceLevelSeconds: 15, ShortAbandonSeconds: 5, WrapUp: 30 * time.Second,
	Seats: 6, Queues: []string{"consult", "legal_aid"}, GeneralQueue: "consult"}

// newCluster starts one node per id, every one alive in the table; live
// gives the named node a live-event hub.
func newCluster(t *testing.T, live string, ids ...string) (map[string]*clusterNode, *clusterTable) {
	t.Helper()
	return newClusterFloor(t, live, nil, ids...)
}

// newClusterFloor is newCluster with floor, when not nil, the floor of every
// node (the shared one of a real cluster), the live node's included.
func newClusterFloor(t *testing.T, live string, floor *fakeFloor, ids ...string) (map[string]*clusterNode, *clusterTable) {
	t.Helper()
	ctx := context.Background()
	table := &clusterTable{}
	nodes := map[string]*clusterNode{}
	for _, id := range ids {
		dir := t.TempDir()
		db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e := &env{db: db, tickets: ticket.NewStore(db, id, time.Local, nil), users: auth.NewStore(db, nil), recDir: dir}
		e.tickets.SetCallbackPolicy(testCallbackPolicy) // voicemails are callback tasks
		for _, u := range []auth.User{
			{Name: "op", Role: auth.RoleOperator, SeatID: "8001"},
			{Name: "op2", Role: auth.RoleOperator, SeatID: "8002"},
			{Name: "boss", Role: auth.RoleManager},
		} {
			if err := e.users.AddUser(ctx, u, u.Name+"-password", false); err != nil {
				t.Fatal(err)
			}
		}
		n := &clusterNode{env: e, id: id}
		cl := fakeCluster{self: id, table: table}
		opt := Options{
			RecordingPath:  func(tk *ticket.Ticket) string { return filepath.Join(dir, tk.ID+".wav") },
			FeedbackSecret: []byte(testWOSecret),
			Stats:          stats.New(db, clusterStatsConfig),
			NodeID:         id, Cluster: cl, ClusterSecret: []byte(testClusterSecret), PeerTimeout: 500 * time.Millisecond,
		}
		if floor != nil {
			n.floor, opt.Floor = floor, floor
		}
		if id == live {
			if n.floor == nil {
				n.floor = newFakeFloor()
			}
			n.changes = make(chan acd.Change, 64)
			n.hub = NewHub(HubOptions{
				Changes: func() (<-chan acd.Change, func()) { return n.changes, func() {} },
				Floor:   n.floor, Tickets: e.tickets, Node: id, Coalesce: 10 * time.Millisecond,
				Lookup: NewClusterLookup(e.tickets, cl, NewPeerClient(id, []byte(testClusterSecret)), 500*time.Millisecond, nil),
			})
			opt.Floor, opt.Events = n.floor, n.hub
		}
		e.srv = httptest.NewServer(New(opt, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)))
		t.Cleanup(e.srv.Close)
		if n.hub != nil {
			t.Cleanup(n.hub.Close)
		}
		table.set(id, func(s *NodeStatus) { s.Alive, s.State, s.HTTP, s.LastSeen = true, "alive", e.srv.URL, time.Now() })
		nodes[id] = n
	}
	return nodes, table
}

// open makes a ticket on the node, opened at the given time.
func (n *clusterNode) open(t *testing.T, caller string, at time.Time, fn func(tk *ticket.Ticket)) *ticket.Ticket {
	t.Helper()
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c-" + strconv.FormatInt(at.UnixNano(), 36), Caller: caller, Called: "12348", OpenedAt: at}
	if err := n.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		got, err := n.tickets.Update(ctx, tk.ID, func(x *ticket.Ticket) error { fn(x); return nil })
		if err != nil {
			t.Fatal(err)
		}
		tk = got
	}
	return tk
}

type listAnswer struct {
	Tickets []ticket.Ticket `json:"tickets"`
	Partial []string        `json:"partial"`
}

func (e *env) list(t *testing.T, token, query string) listAnswer {
	t.Helper()
	code, b := e.do(t, "GET", "/api/tickets"+query, token, "")
	var ans listAnswer
	if code != 200 || json.Unmarshal(b, &ans) != nil {
		t.Fatalf("GET /api/tickets%s: %d %s", query, code, b)
	}
	return ans
}

func ids(list []ticket.Ticket) []string {
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.ID
	}
	return out
}

// The ticket list of any node is every node's, newest first (opened_at,
// then id, as one database orders), the limit applied after the merge,
// each ticket masked for operators as its node masks it.
func TestClusterTicketListMerged(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	var want []*ticket.Ticket // oldest first
	want = append(want, a.open(t, "13800000000", at(0), nil))
	want = append(want, b.open(t, "13812345678", at(1), func(tk *ticket.Ticket) { tk.SeatID = "8001" }))
	want = append(want, a.open(t, "13800000000", at(2), nil))
	want = append(want, b.open(t, "13812345678", at(3), nil))
	want = append(want, b.open(t, "13987654321", at(4), func(tk *ticket.Ticket) { tk.Callback, tk.Status = true, vocab.StatusClosed }))
	// The same second on both nodes: the id decides (km-2 after km-1).
	want = append(want, a.open(t, "13800000000", at(5), nil), b.open(t, "13800000000", at(5), nil))
	slices.Reverse(want)
	wantIDs := make([]string, len(want))
	for i, tk := range want {
		wantIDs[i] = tk.ID
	}

	boss, op := a.login(t, "boss"), a.login(t, "op")
	all := a.list(t, boss, "")
	if !slices.Equal(ids(all.Tickets), wantIDs) || all.Partial != nil {
		t.Fatalf("merged list\n got %v\nwant %v (partial %v)", ids(all.Tickets), wantIDs, all.Partial)
	}
	if got := a.list(t, boss, "?limit=3"); !slices.Equal(ids(got.Tickets), wantIDs[:3]) {
		t.Fatalf("limit 3: %v, want %v", ids(got.Tickets), wantIDs[:3])
	}
	// Node b shows the same list.
	if got := b.list(t, b.login(t, "boss"), ""); !slices.Equal(ids(got.Tickets), wantIDs) {
		t.Fatalf("b's list %v", ids(got.Tickets))
	}
	// A filter applies on every node.
	byCaller := a.list(t, boss, "?caller=13812345678")
	if len(byCaller.Tickets) != 2 || byCaller.Tickets[0].NodeID != "km-2" {
		t.Fatalf("by caller: %+v", ids(byCaller.Tickets))
	}
	// Operators: their own calls masked and the callback work, from both
	// nodes; nothing else (each node scopes for the user it was sent).
	code, raw := a.do(t, "GET", "/api/tickets", op, "")
	if code != 200 || strings.Contains(string(raw), "13812345678") || !strings.Contains(string(raw), "138****5678") ||
		!strings.Contains(string(raw), "13987654321") {
		t.Fatalf("operator's merged list: %s", raw)
	}
	if got := a.list(t, op, ""); !slices.Equal(ids(got.Tickets), []string{wantIDs[2], wantIDs[5]}) {
		t.Fatalf("operator's merged list %v, want their call %s and the callback %s", ids(got.Tickets), wantIDs[5], wantIDs[2])
	}
	// scope=node: this node's own tickets only.
	if got := a.list(t, boss, "?scope=node"); len(got.Tickets) != 3 {
		t.Fatalf("scope=node: %v", ids(got.Tickets))
	}
}

// A node that is down, too slow, or a cluster state that cannot be read
// never fails the answer: "partial" names what is missing.
func TestClusterPartialAnswers(t *testing.T) {
	nodes, table := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	a.open(t, "13800000000", time.Now().Add(-time.Minute), nil)
	b.open(t, "13800000000", time.Now().Add(-time.Minute), nil)
	boss := a.login(t, "boss")

	// A node that hangs: the answer comes after the peer timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	table.set("km-3", func(n *NodeStatus) { n.Alive, n.State, n.HTTP = true, "alive", slow.URL })
	start := time.Now()
	got := a.list(t, boss, "")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("waited %s for a hanging node", took)
	}
	if len(got.Tickets) != 2 || !slices.Equal(got.Partial, []string{"km-3"}) {
		t.Fatalf("with km-3 hanging: %v partial %v", ids(got.Tickets), got.Partial)
	}
	var day struct {
		Offered int      `json:"offered"`
		Partial []string `json:"partial"`
	}
	_, raw := a.do(t, "GET", "/api/stats/today", boss, "")
	if json.Unmarshal(raw, &day) != nil || day.Offered != 2 || !slices.Equal(day.Partial, []string{"km-3"}) {
		t.Fatalf("stats with km-3 hanging: %s", raw)
	}

	// A dead node's tickets are missing, and said to be.
	table.set("km-3", func(n *NodeStatus) { n.Alive, n.State = false, "dead" })
	table.set("km-2", func(n *NodeStatus) { n.Alive, n.State = false, "dead" })
	if got := a.list(t, boss, ""); len(got.Tickets) != 1 || !slices.Equal(got.Partial, []string{"km-2", "km-3"}) {
		t.Fatalf("with km-2 dead: %v partial %v", ids(got.Tickets), got.Partial)
	}
	// The cluster state unreadable: this node's tickets, partial ["*"].
	table.fail(errors.New("redis unreachable"))
	if got := a.list(t, boss, ""); len(got.Tickets) != 1 || !slices.Equal(got.Partial, []string{"*"}) {
		t.Fatalf("without the cluster state: %v partial %v", ids(got.Tickets), got.Partial)
	}
	if code, _ := a.do(t, "GET", "/api/cluster", boss, ""); code != 503 {
		t.Fatalf("GET /api/cluster without the cluster state: %d", code)
	}
}

// The routes of one ticket are answered by the node that keeps it, the
// person's rights applied there, the audit line written there.
func TestClusterRelaysToTheTicketsNode(t *testing.T) {
	nodes, table := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	ctx := context.Background()
	mine := b.open(t, "13812345678", time.Now().Add(-10*time.Minute), func(tk *ticket.Ticket) {
		tk.SeatID, tk.AnsweredAt = "8001", ticket.TimePtr(time.Now().Add(-9*time.Minute))
	})
	theirs := b.open(t, "13912345678", time.Now().Add(-5*time.Minute), func(tk *ticket.Ticket) {
		tk.SeatID, tk.AnsweredAt = "8002", ticket.TimePtr(time.Now().Add(-4*time.Minute))
	})
	wav := make([]byte, 4096)
	for i := range wav {
		wav[i] = byte(i)
	}
	rec := "/api/tickets/" + mine.ID + "/recording"
	if _, err := b.tickets.Update(ctx, mine.ID, func(t *ticket.Ticket) error { t.Recording = &rec; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.recDir, mine.ID+".wav"), wav, 0o644); err != nil {
		t.Fatal(err)
	}
	op, boss := a.login(t, "op"), a.login(t, "boss")

	// GET: b's ticket through a, masked for the operator.
	req, _ := http.NewRequest("GET", a.srv.URL+"/api/tickets/"+mine.ID, nil)
	req.Header.Set("Authorization", "Bearer "+op)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get(HeaderServedBy) != "km-2" || !strings.Contains(string(body), "138****5678") ||
		strings.Contains(string(body), "13812345678") {
		t.Fatalf("GET through a: %d %q %s", res.StatusCode, res.Header.Get(HeaderServedBy), body)
	}

	// PATCH: b decides who may edit.
	if code, b := a.do(t, "PATCH", "/api/tickets/"+mine.ID, op, `{"summary":"咨询欠薪"}`); code != 200 || !strings.Contains(string(b), "咨询欠薪") {
		t.Fatalf("PATCH own ticket through a: %d %s", code, b)
	}
	if got, _ := b.tickets.Get(ctx, mine.ID); got.Summary != "咨询欠薪" {
		t.Fatalf("b's ticket after PATCH: %q", got.Summary)
	}
	if code, _ := a.do(t, "PATCH", "/api/tickets/"+theirs.ID, op, `{"summary":"x"}`); code != 403 {
		t.Fatalf("PATCH another seat's ticket through a: %d", code)
	}
	if code, _ := a.do(t, "PATCH", "/api/tickets/"+mine.ID, op, `{"bogus":1}`); code != 400 {
		t.Fatalf("bad PATCH through a: %d", code)
	}

	// The recording: managers only (it is no callback), ranges honoured,
	// one audit line per request on b.
	if code, _ := a.do(t, "GET", rec, op, ""); code != 403 {
		t.Fatalf("operator's recording through a: %d", code)
	}
	for _, c := range []struct {
		rng        string
		code       int
		start, end int
	}{{"", 200, 0, 4096}, {"bytes=0-", 206, 0, 4096}, {"bytes=100-199", 206, 100, 200}} {
		req, _ := http.NewRequest("GET", a.srv.URL+rec, nil)
		req.Header.Set("Authorization", "Bearer "+boss)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.code || !bytes.Equal(got, wav[c.start:c.end]) || res.Header.Get("Content-Type") != "audio/wav" {
			t.Fatalf("recording %q through a: %d, %d bytes, %s", c.rng, res.StatusCode, len(got), res.Header.Get("Content-Type"))
		}
		if c.rng == "bytes=100-199" && res.Header.Get("Content-Range") != "bytes 100-199/4096" {
			t.Fatalf("Content-Range %q", res.Header.Get("Content-Range"))
		}
	}
	var n int
	var remote string
	if err := b.db.R.QueryRow(`SELECT count(*), max(remote) FROM audit_log WHERE user_name='boss' AND action LIKE 'recording.%' AND object LIKE ?`, mine.ID+"%").
		Scan(&n, &remote); err != nil || n != 3 || !strings.HasSuffix(remote, " via km-1") {
		t.Fatalf("audit on b: %d lines, remote %q (%v)", n, remote, err)
	}
	if err := a.db.R.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit lines on a: %d", n)
	}

	// Dead letters and reconciliation: every node's, each saying its node.
	if err := b.tickets.RecordAttempt(ctx, theirs.ID, 1, ticket.Delivery{Dead: true, Error: "receiver answered 400"}); err != nil {
		t.Fatal(err)
	}
	a.open(t, "13800000000", time.Now(), nil)
	code, raw := a.do(t, "GET", "/api/workorder/dead", boss, "")
	var dead listAnswer
	if code != 200 || json.Unmarshal(raw, &dead) != nil || len(dead.Tickets) != 1 || dead.Tickets[0].ID != theirs.ID || dead.Tickets[0].NodeID != "km-2" {
		t.Fatalf("dead letters through a: %d %s", code, raw)
	}
	code, raw = a.do(t, "GET", "/api/workorder/reconciliation", boss, "")
	var recon ClusterReconciliation
	if code != 200 || json.Unmarshal(raw, &recon) != nil || recon.Tickets != 3 || len(recon.Nodes) != 2 ||
		recon.Nodes[0].Node != "km-1" || recon.Nodes[0].Tickets != 1 || recon.Nodes[1].Tickets != 2 || recon.Dead != 1 {
		t.Fatalf("reconciliation through a: %d %s", code, raw)
	}

	// Redeliver: done and audited on b.
	if code, _ := a.do(t, "POST", "/api/tickets/"+theirs.ID+"/redeliver", op, ""); code != 403 {
		t.Fatalf("operator's redeliver: %d", code)
	}
	if code, raw := a.do(t, "POST", "/api/tickets/"+theirs.ID+"/redeliver", boss, ""); code != 200 || !strings.Contains(string(raw), `"requeued":1`) {
		t.Fatalf("redeliver through a: %d %s", code, raw)
	}
	if got, _ := b.tickets.Get(ctx, theirs.ID); got.Workorder.State != vocab.DeliveryPending {
		t.Fatalf("b's ticket after redeliver: %+v", got.Workorder)
	}
	if err := b.db.R.QueryRow(`SELECT count(*) FROM audit_log WHERE user_name='boss' AND action='workorder.redeliver'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("redeliver audit on b: %d", n)
	}

	// Work-order feedback sent to a for b's ticket: b checks the work-order
	// signature (the request goes verbatim) and stores it.
	fb := `{"ticket_id":"` + mine.ID + `","external_id":"WO-9","status":"accepted","note":"已受理","at":"2026-11-26T10:00:00+08:00"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if code := a.postFeedback(t, fb, ts, ticket.Signature([]byte(testWOSecret), ts, []byte(fb))); code != 200 {
		t.Fatalf("feedback through a: %d", code)
	}
	if got, _ := b.tickets.Get(ctx, mine.ID); got.Workorder.ExternalID != "WO-9" || len(got.Feedback) != 1 {
		t.Fatalf("b's ticket after feedback: %+v", got.Workorder)
	}
	if code := a.postFeedback(t, fb, ts, ticket.Signature([]byte("wrong"), ts, []byte(fb))); code != 401 {
		t.Fatalf("forged feedback through a: %d", code)
	}

	// The owner down, or unknown: 503 saying so, never 404.
	table.set("km-2", func(n *NodeStatus) { n.Alive, n.State = false, "dead" })
	code, raw = a.do(t, "GET", "/api/tickets/"+mine.ID, boss, "")
	if code != 503 || !strings.Contains(string(raw), "km-2") {
		t.Fatalf("owner dead: %d %s", code, raw)
	}
	if code := a.postFeedback(t, fb, ts, ticket.Signature([]byte(testWOSecret), ts, []byte(fb))); code != 503 {
		t.Fatalf("feedback with the owner dead: %d", code)
	}
	if code, raw := a.do(t, "GET", "/api/tickets/20261126-083015-km-9-0001", boss, ""); code != 503 || !strings.Contains(string(raw), "km-9") {
		t.Fatalf("unknown node: %d %s", code, raw)
	}
	if code, _ := a.do(t, "GET", "/api/tickets/nope", boss, ""); code != 404 {
		t.Fatalf("not a ticket id: %d", code)
	}
	table.set("km-2", func(n *NodeStatus) { n.Alive, n.State = true, "alive" })
	// scope=node: this node's own data, never relayed.
	if code, _ := a.do(t, "GET", "/api/tickets/"+mine.ID+"?scope=node", boss, ""); code != 404 {
		t.Fatalf("scope=node for another node's ticket: %d", code)
	}
}

// signedRequest builds a node request to srv as u, signed with secret over
// signBody (sent: body), at ts.
func signedRequest(t *testing.T, srv, method, pathQuery string, u auth.User, secret string, body, signBody string, ts time.Time) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(method, srv+pathQuery, strings.NewReader(body))
	if err := SignNodeRequest(req, []byte(secret), "km-1", u, []byte(signBody), ts); err != nil {
		t.Fatal(err)
	}
	return req
}

func status(t *testing.T, req *http.Request) int {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// A node request is taken as its user only when its signature verifies:
// right secret, fresh timestamp, the very method, path, query, user and body.
func TestNodeSignature(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	b := nodes["km-2"]
	tk := b.open(t, "13812345678", time.Now(), func(tk *ticket.Ticket) { tk.SeatID = "8001" })
	boss := auth.User{Name: "boss", Role: auth.RoleManager}
	op := auth.User{Name: "op", Role: auth.RoleOperator, SeatID: "8001"}
	path := "/api/tickets/" + tk.ID + "?scope=node"
	now := time.Now()
	patch := `{"summary":"签名"}`
	for _, c := range []struct {
		name string
		req  *http.Request
		want int
	}{
		{"good", signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now), 200},
		{"good patch", signedRequest(t, b.srv.URL, "PATCH", path, op, testClusterSecret, patch, patch, now), 200},
		{"wrong secret", signedRequest(t, b.srv.URL, "GET", path, boss, "other-secret", "", "", now), 401},
		{"stale", signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now.Add(-time.Minute)), 401},
		{"from the future", signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now.Add(time.Minute)), 401},
		{"tampered body", signedRequest(t, b.srv.URL, "PATCH", path, op, testClusterSecret, `{"summary":"改过"}`, patch, now), 401},
		{"operator's rights", signedRequest(t, b.srv.URL, "GET", "/api/workorder/dead?scope=node", op, testClusterSecret, "", "", now), 403},
	} {
		if got := status(t, c.req); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// Replayed: the very request (headers and all) a second time; and a
	// request of an older node (no nonce), taken once too. Two requests
	// signed in the same second are both taken (each has its nonce).
	first := signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now)
	again, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	again.Header = first.Header.Clone()
	if got, replay := status(t, first), status(t, again); got != 200 || replay != 401 {
		t.Errorf("a request and its replay: %d and %d, want 200 and 401", got, replay)
	}
	if a, b2 := status(t, signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now)),
		status(t, signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now)); a != 200 || b2 != 200 {
		t.Errorf("two requests signed in one second: %d and %d, want 200 twice", a, b2)
	}
	old := signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now)
	old.Header.Del(HeaderNonce)
	old.Header.Set(HeaderSignature, NodeSignature([]byte(testClusterSecret), "GET", path, old.Header.Get(HeaderTimestamp), "km-1", old.Header.Get(HeaderUser), "", nil))
	oldAgain, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	oldAgain.Header = old.Header.Clone()
	if got, replay := status(t, old), status(t, oldAgain); got != 200 || replay != 401 {
		t.Errorf("an older node's request and its replay: %d and %d, want 200 and 401", got, replay)
	}

	// Tampered query, method, user header.
	req := signedRequest(t, b.srv.URL, "GET", "/api/tickets?scope=node", op, testClusterSecret, "", "", now)
	req.URL.RawQuery += "&caller=13812345678"
	if got := status(t, req); got != 401 {
		t.Errorf("tampered query: %d", got)
	}
	req = signedRequest(t, b.srv.URL, "GET", "/api/tickets?scope=node", op, testClusterSecret, "", "", now)
	ub, _ := json.Marshal(auth.User{Name: "op", Role: auth.RoleAdmin})
	req.Header.Set(HeaderUser, base64.RawURLEncoding.EncodeToString(ub))
	if got := status(t, req); got != 401 {
		t.Errorf("tampered user: %d", got)
	}
	req = signedRequest(t, b.srv.URL, "GET", path, boss, testClusterSecret, "", "", now)
	req.Method = "HEAD" // served by the GET route
	if got := status(t, req); got != 401 {
		t.Errorf("tampered method: %d", got)
	}
	// A bad signature falls back to the session.
	req = signedRequest(t, b.srv.URL, "GET", path, boss, "other-secret", "", "", now)
	req.Header.Set("Authorization", "Bearer "+b.login(t, "boss"))
	if got := status(t, req); got != 200 {
		t.Errorf("bad signature with a session: %d", got)
	}
	// A node without cluster.secret accepts no signature, even one made
	// with the empty key.
	single := newEnv(t)
	if got := status(t, signedRequest(t, single.srv.URL, "GET", "/api/tickets", boss, "", "", "", now)); got != 401 {
		t.Errorf("no cluster.secret: %d", got)
	}
}

// The stats of any node count every node's tickets once; with scope=node
// a node gives its part.
func TestClusterStats(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	now := time.Now()
	answered := func(wait, talk float64) func(tk *ticket.Ticket) {
		return func(tk *ticket.Ticket) {
			tk.Status, tk.Outcome, tk.SeatID = vocab.StatusClosed, vocab.OutcomeAnswered, "8001"
			tk.QueuedAt, tk.AnsweredAt = ticket.TimePtr(tk.OpenedAt), ticket.TimePtr(tk.OpenedAt.Add(time.Duration(wait*1000)*time.Millisecond))
			tk.EndedAt = ticket.TimePtr(tk.AnsweredAt.Add(time.Duration(talk*1000) * time.Millisecond))
			tk.WaitSeconds, tk.TalkSeconds = &wait, &talk
		}
	}
	// Tickets of today whatever the time of the run.
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 10, 0, 0, time.Local)
	a.open(t, "13800000001", start.Add(-3*time.Second), answered(10, 100))
	b.open(t, "13800000002", start.Add(-2*time.Second), answered(20, 200))
	b.open(t, "13800000003", start.Add(-time.Second), answered(30, 300))
	boss := a.login(t, "boss")
	code, raw := a.do(t, "GET", "/api/stats/today", boss, "")
	var day struct {
		Offered, Answered int
		ASA               float64 `json:"asa_seconds"`
		AHT               float64 `json:"aht_seconds"`
		Partial           []string
	}
	if code != 200 || json.Unmarshal(raw, &day) != nil || day.Offered != 3 || day.Answered != 3 || day.ASA != 20 || day.AHT != 230 || day.Partial != nil {
		t.Fatalf("today through a: %d %s", code, raw)
	}
	code, raw = a.do(t, "GET", "/api/stats/hourly", boss, "")
	var hourly struct{ Hours []struct{ Offered int } }
	if code != 200 || json.Unmarshal(raw, &hourly) != nil || len(hourly.Hours) != 24 {
		t.Fatalf("hourly through a: %d %s", code, raw)
	}
	sum := 0
	for _, h := range hourly.Hours {
		sum += h.Offered
	}
	if sum != 3 {
		t.Fatalf("hourly offered %d, want 3", sum)
	}
	// Staffing: the reference day is a week ago, which only km-2 has
	// tickets of (km-1's first ticket is today's).
	weekAgo := start.AddDate(0, 0, -7)
	b.open(t, "13800000004", weekAgo, answered(5, 50))
	code, raw = a.do(t, "GET", "/api/stats/staffing", boss, "")
	var plan struct {
		ReferenceDays []string `json:"reference_days"`
		Hours         []struct {
			Offered *float64
			AHT     *float64 `json:"aht_seconds"`
		}
	}
	if code != 200 || json.Unmarshal(raw, &plan) != nil || !slices.Equal(plan.ReferenceDays, []string{weekAgo.Format(time.DateOnly)}) ||
		len(plan.Hours) != 24 || *plan.Hours[weekAgo.Hour()].Offered != 1 || *plan.Hours[weekAgo.Hour()].AHT != 80 {
		t.Fatalf("staffing through a: %d %s", code, raw)
	}
	var part stats.DayPart
	if code, raw := b.do(t, "GET", "/api/stats/today?scope=node", b.login(t, "boss"), ""); code != 200 || json.Unmarshal(raw, &part) != nil ||
		part.Total.Offered != 2 || part.Total.WaitMillis != 50000 {
		t.Fatalf("b's part: %d %s", code, raw)
	}
}

func TestClusterView(t *testing.T) {
	nodes, table := newCluster(t, "", "km-2", "km-1")
	a := nodes["km-1"]
	table.set("km-2", func(n *NodeStatus) { n.Calls, n.SeatsVia, n.SIP = 3, 2, "sip:10.0.0.12:5060" })
	if code, _ := a.do(t, "GET", "/api/cluster", a.login(t, "op"), ""); code != 403 {
		t.Fatalf("operator: %d", code)
	}
	code, raw := a.do(t, "GET", "/api/cluster", a.login(t, "boss"), "")
	var v struct {
		Self  string
		Nodes []NodeStatus
	}
	if code != 200 || json.Unmarshal(raw, &v) != nil || v.Self != "km-1" || len(v.Nodes) != 2 || v.Nodes[0].ID != "km-1" ||
		v.Nodes[1].Calls != 3 || v.Nodes[1].SeatsVia != 2 || !v.Nodes[1].Alive || v.Nodes[1].LastSeen.IsZero() {
		t.Fatalf("GET /api/cluster: %d %s", code, raw)
	}
	for _, k := range []string{`"id"`, `"alive"`, `"last_seen"`, `"calls"`, `"seats_via"`, `"state"`, `"http"`, `"sip"`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("GET /api/cluster lacks %s", k)
		}
	}
	// One node: itself, no nodes.
	single := newEnv(t)
	if code, raw := single.do(t, "GET", "/api/cluster", single.login(t, "boss"), ""); code != 200 || string(raw) != `{"nodes":[],"self":""}`+"\n" {
		t.Fatalf("single node: %d %s", code, raw)
	}
}

func TestHealthzDegraded(t *testing.T) {
	var (
		mu     sync.Mutex
		reason string
		ready  = true
	)
	h := New(Options{
		Degraded: func() string { mu.Lock(); defer mu.Unlock(); return reason },
		Ready:    func() bool { mu.Lock(); defer mu.Unlock(); return ready },
	}, nil, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func() (int, string) {
		res, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	if code, b := get(); code != 200 || b != `{"status":"ok"}` {
		t.Fatalf("healthy: %d %s", code, b)
	}
	mu.Lock()
	reason = "redis unreachable"
	mu.Unlock()
	if code, b := get(); code != 200 || b != `{"reason":"redis unreachable","status":"degraded"}` {
		t.Fatalf("degraded: %d %s", code, b)
	}
	mu.Lock()
	ready = false
	mu.Unlock()
	if code, b := get(); code != 503 || b != `{"status":"draining"}` {
		t.Fatalf("draining: %d %s", code, b)
	}
}

// The screen-pop of a call whose ticket another node keeps has that ticket
// and the caller's history from every node; other nodes' revisions reach
// the consoles as this node's do.
func TestClusterScreenPopAndRemoteRevisions(t *testing.T) {
	nodes, _ := newCluster(t, "km-1", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	const caller = "13800001111"
	onA := a.open(t, caller, time.Now().Add(-72*time.Hour), func(tk *ticket.Ticket) { tk.Status, tk.Summary = vocab.StatusClosed, "上次咨询" })
	onB := b.open(t, caller, time.Now().Add(-24*time.Hour), func(tk *ticket.Ticket) { tk.Status = vocab.StatusClosed })
	call := b.open(t, caller, time.Now(), func(tk *ticket.Ticket) { tk.Category, tk.Priority = "legal_aid", "green" })

	op, op2, boss := a.stream(t, a.login(t, "op")), a.stream(t, a.login(t, "op2")), a.stream(t, a.login(t, "boss"))
	time.Sleep(50 * time.Millisecond)
	seat := a.floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Ringing, call.ID })
	a.changes <- acd.Change{Kind: acd.CallOffered, Seat: seat, Call: acd.QueueEntry{CallID: call.ID, Seat: "8001", State: acd.EntryOffered}}
	var offer OfferEvent
	got := op.next(t, EventOffer, 3*time.Second)
	got.decode(t, &offer)
	if offer.Ticket == nil || offer.Ticket.ID != call.ID || offer.Ticket.Caller != "138****1111" || offer.Ticket.Priority != "green" || strings.Contains(got.Data, caller) {
		t.Fatalf("screen-pop of km-2's ticket: %s", got.Data)
	}
	if len(offer.History) != 2 || offer.History[0].ID != onB.ID || offer.History[1].ID != onA.ID || offer.History[1].Summary != "上次咨询" {
		t.Fatalf("history from both nodes: %s", got.Data)
	}
	a.changes <- acd.Change{Kind: acd.SeatChanged, Seat: seat}
	time.Sleep(50 * time.Millisecond) // the hub knows 8001's call now

	// km-2's revision, as carried between nodes: no caller, no summary.
	rev := *call
	rev.Caller, rev.Summary, rev.Revision = "", "", call.Revision+1
	rev.SeatID = "8001"
	a.hub.RemoteRevision(&rev, ticket.EventUpdated)
	for _, s := range []*sseStream{op, boss} {
		var te TicketEvent
		s.next(t, EventTicket, 2*time.Second).decode(t, &te)
		if te.ID != call.ID || te.SeatID != "8001" || te.Revision != rev.Revision || te.Priority != "green" {
			t.Fatalf("remote revision: %+v", te)
		}
	}
	op2.none(t, EventTicket, 100*time.Millisecond)
	// Late or repeated revisions, and this node's own tickets, are not delivered.
	old := rev
	old.Revision--
	a.hub.RemoteRevision(&rev, ticket.EventUpdated)
	a.hub.RemoteRevision(&old, ticket.EventUpdated)
	own := *onA
	own.Revision += 5
	a.hub.RemoteRevision(&own, ticket.EventUpdated)
	boss.none(t, EventTicket, 150*time.Millisecond)
}

func TestTicketNode(t *testing.T) {
	for id, want := range map[string]string{
		"20261126-083015-km-1-0042":      "km-1",
		"20261126-083015-a-0001":         "a",
		"20261126-083015-prov-km-2-0042": "prov-km-2",
		"20261126-083015-km-1-12345":     "km-1",
		"20261126-083015--0042":          "",
		"20261126-083015-km-1-042":       "",
		"20261126-083015-km-1-00x2":      "",
		"2026112-083015-km-1-0042":       "",
		"20261126_083015-km-1-0042":      "",
		"nope":                           "",
		"":                               "",
	} {
		if got := TicketNode(id); got != want {
			t.Errorf("TicketNode(%q) = %q, want %q", id, got, want)
		}
	}
}

// A peer's answer is read up to PeerClient.MaxBody, never more.
func TestPeerClientBoundsAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderSignature) == "" || r.Header.Get(HeaderNode) != "km-1" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte(`{"tickets":[` + strings.Repeat(`{},`, 1000) + `{}]}`))
	}))
	t.Cleanup(srv.Close)
	c := NewPeerClient("km-1", []byte(testClusterSecret))
	var v ticketsReply
	if err := c.GetJSON(context.Background(), srv.URL, "/api/tickets", auth.User{Name: "boss", Role: auth.RoleManager}, &v); err != nil || len(v.Tickets) != 1001 {
		t.Fatalf("answer within bounds: %v %d", err, len(v.Tickets))
	}
	c.MaxBody = 100
	if err := c.GetJSON(context.Background(), srv.URL, "/api/tickets", auth.User{Name: "boss", Role: auth.RoleManager}, &v); err == nil {
		t.Fatal("an answer over MaxBody was read")
	}
	if err := c.GetJSON(context.Background(), "ftp://x", "/api/tickets", auth.User{Name: "boss", Role: auth.RoleManager}, &v); err == nil {
		t.Fatal("a non-http peer address was used")
	}
}

// The replay cache forgets what has expired, and full of live entries it
// refuses rather than forgets.
func TestReplayCacheBounded(t *testing.T) {
	var c replayCache
	now := time.Unix(1_800_000_000, 0)
	if !c.first("a", now.Add(time.Minute), now) || c.first("a", now.Add(time.Minute), now) {
		t.Fatal("a signature is taken once")
	}
	for i := range maxReplayEntries - 1 {
		c.first(strconv.Itoa(i), now.Add(time.Minute), now)
	}
	if c.first("full", now.Add(time.Minute), now) {
		t.Fatal("a full cache of live signatures took another")
	}
	later := now.Add(2 * time.Minute)
	if !c.first("full", later.Add(time.Minute), later) || len(c.seen) != 1 {
		t.Fatalf("after expiry: %d entries, want only the new one", len(c.seen))
	}
	if c.first("a", later.Add(time.Minute), later) == false {
		t.Fatal("an expired signature is forgotten (its timestamp is out of NodeSkew anyway)")
	}
}
