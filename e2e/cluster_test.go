package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/redistest"
	"github.com/hotline12348/hotline/internal/siptest"
)

// Several nodes, one call centre (SPEC §11): real hotline processes sharing
// a real redis-server, SIPp callers and seats.

const clusterSecret = "e2e-cluster-secret-0123456789"

// clusterNode starts one node of a cluster on Redis at redisURL, with the
// given ACD overrides ("ring_timeout: 5s").
func clusterNode(t *testing.T, id, redisURL string, acd ...string) *siptest.Hotline {
	t.Helper()
	return clusterNodeOn(t, id, "redis_url: "+redisURL, acd...)
}

// clusterNodeOn starts a node whose Redis is given by the acd line where
// ("redis_url: …" or "redis_sentinel: {…}").
func clusterNodeOn(t *testing.T, id, where string, acd ...string) *siptest.Hotline {
	t.Helper()
	sipPort, httpPort := siptest.FreePort(t), siptest.FreePort(t)
	lines := append([]string{"backend: redis", where, "ring_timeout: 5s", "wrap_up: 2s"}, acd...)
	h := siptest.StartHotline(t, siptest.Config{
		NodeID: id, SIPPort: sipPort, HTTPPort: httpPort, ACD: dedupe(lines),
		Extra: fmt.Sprintf("cluster:\n  advertise_sip: \"sip:127.0.0.1:%d;transport=tcp\"\n  advertise_http: \"http://127.0.0.1:%d\"\n  secret: %q\n  heartbeat: 500ms\n  node_timeout: 3s\n",
			sipPort, httpPort, clusterSecret),
	})
	return h
}

// twoNodes starts a Redis and two nodes on it, node-a and node-b, logged in.
func twoNodes(t *testing.T, acd ...string) (*siptest.Hotline, *siptest.Hotline, *redistest.Server) {
	t.Helper()
	redis := redistest.Start(t)
	a := clusterNode(t, "node-a", redis.URL(), acd...)
	b := clusterNode(t, "node-b", redis.URL(), acd...)
	clusterLogin(t, a, b)
	return a, b, redis
}

// clusterLogin creates the admin on the first node (shared with the
// cluster by `hotline user add`) and logs in on every node with it.
func clusterLogin(t *testing.T, nodes ...*siptest.Hotline) {
	t.Helper()
	nodes[0].Login(t)
	for _, h := range nodes[1:] {
		h.Token = loginAs(t, h, "admin", "admin-password-1")
	}
}

// dedupe keeps the last of repeated "key: value" lines.
func dedupe(lines []string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range lines {
		k, _, _ := strings.Cut(l, ":")
		if i, ok := idx[k]; ok {
			out[i] = l
			continue
		}
		idx[k] = len(out)
		out = append(out, l)
	}
	return out
}

// A citizen calls node A; the only seat registered through node B answers:
// the INVITE goes to the seat through B, the media stays on A (recorded
// there, stereo, both voices), and B's API finds the ticket and plays the
// recording; both nodes show the same seat, and the cluster lists both.
func TestClusterSeatOnOtherNodeAnswers(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	// The operator of seat 8001 is created on A and logs in on B.
	addUser(t, a, "op1", "operator", "8001", "op1-password-1")
	pop := sseEvents(t, b, loginAs(t, b, "op1", "op1-password-1"))
	seat := siptest.RegisterSeat(t, b, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatHears := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", seat.MediaPort))
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "6000", "hangup", "seat", "pt", "0", "codec", "PCMU")
	if v := a.Seats(t)["8001"]; v.State != "ready" {
		t.Fatalf("node A sees seat 8001 %s, want ready (registered through B)", v.State)
	}

	const caller = "13822223333"
	dir := t.TempDir()
	callerPress(t, dir, '1', '1', 25*time.Second)
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	r := siptest.SIPp{
		Scenario: "caller_rates.xml", Target: a.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: 11000,
	}.Run(t, 60*time.Second)
	expectSIPpOK(t, r)
	expectSIPpOK(t, seatRun.Wait(t))
	pkts := capture.Stop(t)
	if lvl := heardLevel(pkts, seatHz); lvl < 0.02 {
		t.Errorf("the caller on A did not hear the seat on B (1400 Hz level %.4f)", lvl)
	}
	if lvl := heardLevel(seatHears.Stop(t), callerHz1); lvl < 0.02 {
		t.Errorf("the seat on B did not hear the caller on A (600 Hz level %.4f)", lvl)
	}

	// The ticket lives on A; B's API finds it, and plays its recording.
	tk := closedTicket(t, b, caller)
	if !strings.Contains(tk.ID, "-node-a-") {
		t.Errorf("ticket %s: want one of node-a", tk.ID)
	}
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" || tk.Satisfaction == nil || *tk.Satisfaction != 1 {
		t.Fatalf("ticket outcome %s seat %v satisfaction %v", str(tk.Outcome), tk.SeatID, tk.Satisfaction)
	}
	checkStereo(t, b, tk.ID, 6*time.Second)
	// The operator's console on B got the screen-pop of A's call.
	if ev := pop.wait(t, "offer", tk.ID, 2*time.Second); !strings.Contains(ev, `"ringing"`) && !strings.Contains(ev, `"answered"`) {
		t.Errorf("screen-pop on B: %s", ev)
	}
	if code, body := b.API(t, "GET", "/api/tickets/"+url.PathEscape(tk.ID), ""); code != 200 || !strings.Contains(string(body), `"answered"`) {
		t.Errorf("B: GET ticket of A: %d %s", code, body)
	}
	seat.WaitState(t, "ready", 6*time.Second)
	if v := a.Seats(t)["8001"]; v.State != "ready" {
		t.Errorf("A sees 8001 %s after the wrap-up", v.State)
	}

	// GET /api/cluster on either node: both alive, the seat via B.
	code, body := a.API(t, "GET", "/api/cluster", "")
	if code != 200 {
		t.Fatalf("/api/cluster: %d %s", code, body)
	}
	var cl struct {
		Self  string
		Nodes []struct {
			ID       string `json:"id"`
			Alive    bool   `json:"alive"`
			SeatsVia int    `json:"seats_via"`
		}
	}
	if err := json.Unmarshal(body, &cl); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range cl.Nodes {
		got[n.ID] = fmt.Sprintf("alive=%v via=%d", n.Alive, n.SeatsVia)
	}
	if cl.Self != "node-a" || got["node-a"] != "alive=true via=0" || got["node-b"] != "alive=true via=1" {
		t.Errorf("/api/cluster on A: self %s nodes %v", cl.Self, got)
	}
	// The manager's wallboard on A shows both nodes and the seat via B.
	br := siptest.StartBrowser(t)
	page := br.NewPage(t, "cluster-board", 1366, 768)
	consoleLogin(t, a, page, "admin", "admin-password-1", "board-view")
	page.WaitFor("both nodes on the wallboard", `(() => { const t = document.getElementById("cluster-line").textContent;
		return t.includes("node-a") && t.includes("node-b") && t.includes("正常"); })()`, 20*time.Second)
	page.WaitFor("seat 8001 shown through node-b", `document.querySelector('[data-seat="8001"]').textContent.includes("node-b")`, 10*time.Second)
	page.Screenshot("cluster-wallboard")

	// Stats count A's call once, from either node.
	for _, h := range []*siptest.Hotline{a, b} {
		code, body := h.API(t, "GET", "/api/stats/today", "")
		var st struct {
			Offered  int `json:"offered"`
			Answered int `json:"answered"`
		}
		if code != 200 || json.Unmarshal(body, &st) != nil || st.Offered != 1 || st.Answered != 1 {
			t.Errorf("stats on %s: %d %s", h.Ready.HTTP, code, body)
		}
	}

	// B stops answering (SIGSTOP, shorter than node_timeout): a ticket
	// search on A's console says the list is partial and names B.
	if err := b.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = b.Signal(syscall.SIGCONT)
		}
	}()
	page.Do(chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	page.WaitFor("the search says node-b is missing", `document.getElementById("s-msg").textContent.includes("不完整") &&
		document.getElementById("s-msg").textContent.includes("node-b")`, 5*time.Second)
	_ = b.Signal(syscall.SIGCONT)
	stopped = false
}

// loginAs logs a console user in and returns the bearer token.
func loginAs(t *testing.T, h *siptest.Hotline, user, password string) string {
	t.Helper()
	saved := h.Token
	h.Token = ""
	code, body := h.API(t, "POST", "/api/login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password))
	h.Token = saved
	if code != 200 {
		t.Fatalf("login %s on %s: %d %s", user, h.Ready.HTTP, code, body)
	}
	var r struct{ Token string }
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		t.Fatalf("login answer %s", body)
	}
	return r.Token
}

// events is what a console receives on GET /api/events.
type events struct {
	mu   sync.Mutex
	got  []string // "event\ndata"
	done chan struct{}
}

// sseEvents follows GET /api/events as the holder of token, until the test ends.
func sseEvents(t *testing.T, h *siptest.Hotline, token string) *events {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.Ready.HTTP+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || res.StatusCode != 200 {
		cancel()
		t.Fatalf("GET /api/events: %v %v", err, res)
	}
	e := &events{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.mu.Lock()
				e.got = append(e.got, name+"\n"+strings.TrimPrefix(line, "data: "))
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-e.done })
	return e
}

// wait returns the data of the first event named name that mentions what.
func (e *events) wait(t *testing.T, name, what string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e.mu.Lock()
		for _, g := range e.got {
			if n, data, _ := strings.Cut(g, "\n"); n == name && strings.Contains(data, what) {
				e.mu.Unlock()
				return data
			}
		}
		n := len(e.got)
		e.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %q event about %s in %d events", name, what, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// patientCaller calls node h as number: presses 1 in the welcome, talks,
// and waits for the switch to hang up (after the survey, or voicemail).
func patientCaller(t *testing.T, h *siptest.Hotline, number string, within time.Duration) *siptest.SIPpRun {
	t.Helper()
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(within, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	return siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number, Dir: dir}.Start(t, within)
}

// seatAnswering runs seat s answering calls calls: ringing ringMS, then
// talking up to 4 s (seat_answer_or_bye.xml); limit calls at once.
func seatAnswering(t *testing.T, s *siptest.Seat, h *siptest.Hotline, calls, limit int, ringMS int) *siptest.SIPpRun {
	t.Helper()
	seatVoice(t, s, 30*time.Second)
	return siptest.SIPp{
		Scenario: "seat_answer_or_bye.xml", Target: h.Ready.SIPUDP, Service: s.ID, LocalPort: s.Port, MediaPort: s.MediaPort,
		Dir: s.Dir, Calls: calls, Limit: limit,
		Extra: []string{"-key", "seat", s.ID, "-key", "ring_ms", fmt.Sprint(ringMS), "-key", "pt", "0", "-key", "codec", "PCMU"},
	}.Start(t, 120*time.Second)
}

// waitUntil polls cond (bounded) and fails with what when it never holds.
func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// talkInterval is when a ticket's call was connected to its seat.
func talkInterval(t *testing.T, tk ticketJSON) (time.Time, time.Time) {
	t.Helper()
	if tk.AnsweredAt == nil || tk.TalkSeconds == nil {
		t.Fatalf("ticket %s was not answered: %+v", tk.ID, tk)
	}
	at, err := time.Parse(time.RFC3339Nano, *tk.AnsweredAt)
	if err != nil {
		t.Fatal(err)
	}
	return at, at.Add(time.Duration(*tk.TalkSeconds * float64(time.Second)))
}

// noOverlap checks that the seat's calls never overlapped in time.
func noOverlap(t *testing.T, tks ...ticketJSON) {
	t.Helper()
	for i := range tks {
		for j := i + 1; j < len(tks); j++ {
			a0, a1 := talkInterval(t, tks[i])
			b0, b1 := talkInterval(t, tks[j])
			if a0.Before(b1) && b0.Before(a1) {
				t.Errorf("one seat talked to two callers at once: %s [%s, %s] and %s [%s, %s]", tks[i].ID,
					a0.Format("15:04:05.000"), a1.Format("15:04:05.000"), tks[j].ID, b0.Format("15:04:05.000"), b1.Format("15:04:05.000"))
			}
		}
	}
}

func seatOn(t *testing.T, h *siptest.Hotline, id string) siptest.SeatView { return h.Seats(t)[id] }

// nodeState is a node's state as /api/cluster on h shows it.
func nodeState(t *testing.T, h *siptest.Hotline, id string) string {
	t.Helper()
	code, body := h.API(t, "GET", "/api/cluster", "")
	if code != 200 {
		t.Fatalf("/api/cluster: %d %s", code, body)
	}
	var cl struct {
		Nodes []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
	}
	if err := json.Unmarshal(body, &cl); err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}

// One seat, two citizens calling two nodes at the same moment: the seat is
// offered one call at a time (the SIPp seat runs one call at a time and
// fails on an INVITE it does not expect), both are answered, and the two
// conversations never overlap.
func TestClusterOneSeatTwoCallersAtOnce(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	seat := siptest.RegisterSeat(t, a, "8001")
	seatRun := seatAnswering(t, seat, a, 2, 1, 500)
	c1 := patientCaller(t, a, "13900000011", 60*time.Second)
	c2 := patientCaller(t, b, "13900000012", 60*time.Second)
	expectSIPpOK(t, c1.Wait(t))
	expectSIPpOK(t, c2.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	t1, t2 := closedTicket(t, b, "13900000011"), closedTicket(t, a, "13900000012")
	for _, tk := range []ticketJSON{t1, t2} {
		if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
			t.Errorf("ticket %s: outcome %s seat %v", tk.ID, str(tk.Outcome), tk.SeatID)
		}
	}
	noOverlap(t, t1, t2)
}

// kill -9 of a node while one of its callers waits and another rings a
// seat (registered through the other node): within node_timeout + 5 s the
// other node has reaped it — nothing of it in the queue, the seat not left
// ringing — and the restarted node closes the dead calls' tickets as
// interrupted.
func TestClusterNodeKilled(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t, "ring_timeout: 30s")
	seat := siptest.RegisterSeat(t, b, "8001")
	seat.Run(t, "seat_no_answer.xml", 60*time.Second) // rings, never answers
	patientCaller(t, a, "13900000021", 60*time.Second)
	waitUntil(t, "seat 8001 ringing for A's caller", 10*time.Second, func() bool { return seatOn(t, b, "8001").State == "ringing" })
	patientCaller(t, a, "13900000022", 60*time.Second)
	waitUntil(t, "A's second caller waiting", 10*time.Second, func() bool { return len(queueOf(t, b).Queue) == 2 })

	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	took := waitUntil(t, "nothing of the dead node left", 3*time.Second+5*time.Second, func() bool {
		return len(queueOf(t, b).Queue) == 0 && seatOn(t, b, "8001").State == "ready"
	})
	t.Logf("reaped %s after kill -9 (node_timeout 3s)", took)
	if st := nodeState(t, b, "node-a"); st != "dead" {
		t.Errorf("B shows node-a %q, want dead", st)
	}
	<-a.Exited()
	_ = killed

	// A restarts (same node_id, a new boot): the dead calls' tickets close
	// as interrupted; the cluster has it alive again.
	a.Start(t)
	a.Token = loginAs(t, a, "admin", "admin-password-1")
	for _, n := range []string{"13900000021", "13900000022"} {
		if tk := closedTicket(t, a, n); str(tk.Outcome) != "interrupted" {
			t.Errorf("%s after the restart: outcome %s, want interrupted", n, str(tk.Outcome))
		}
	}
	waitUntil(t, "node-a alive again", 5*time.Second, func() bool { return nodeState(t, b, "node-a") == "alive" })
}

// A node is paused (SIGSTOP) while a seat rings for its caller, past
// node_timeout: the other node reaps it and gives the seat to its own
// caller. SIGCONT: the paused node's seat answers its old INVITE — that
// stale offer is not connected (ACK + BYE), the call waits again at its
// place and is served after the other call. The conversations never
// overlap.
func TestClusterPausedNodeStaleOfferNotConnected(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t, "ring_timeout: 30s")
	seat := siptest.RegisterSeat(t, b, "8001")
	seatRun := seatAnswering(t, seat, b, 3, 3, 7000) // the phone rings 7 s before it is answered
	c1 := patientCaller(t, a, "13900000031", 90*time.Second)
	waitUntil(t, "seat 8001 ringing for A's caller", 10*time.Second, func() bool {
		s := seatOn(t, b, "8001")
		return s.State == "ringing" && strings.Contains(s.CallID, "-node-a-")
	})
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = a.Signal(syscall.SIGCONT)
		}
	}
	defer resume()
	waitUntil(t, "B reaps the paused node", 6*time.Second, func() bool { return nodeState(t, b, "node-a") == "dead" })
	c2 := patientCaller(t, b, "13900000032", 90*time.Second)
	waitUntil(t, "seat 8001 ringing for B's caller", 10*time.Second, func() bool {
		s := seatOn(t, b, "8001")
		return s.State == "ringing" && strings.Contains(s.CallID, "-node-b-")
	})
	resume() // the seat answers A's old INVITE about now
	expectSIPpOK(t, c1.Wait(t))
	expectSIPpOK(t, c2.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	t1, t2 := closedTicket(t, b, "13900000031"), closedTicket(t, b, "13900000032")
	for _, tk := range []ticketJSON{t1, t2} {
		if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
			t.Errorf("ticket %s: outcome %s seat %v", tk.ID, str(tk.Outcome), tk.SeatID)
		}
	}
	noOverlap(t, t1, t2)
	if s1, _ := talkInterval(t, t1); !s1.After(mustTime(t, t2.AnsweredAt)) {
		t.Errorf("A's caller was connected at %s, before B's at %s: the stale offer connected", s1, str(t2.AnsweredAt))
	}
	if log := a.Log(); !strings.Contains(log, "late answer") || !strings.Contains(log, "reason=not_offered") {
		t.Errorf("A's log does not show the stale answer hung up")
	}
	if got := metricValue(t, scrape(t, a), "hotline_acd_late_answers_total", `reason="not_offered"`); got != 1 {
		t.Errorf("A's hotline_acd_late_answers_total{reason=\"not_offered\"} = %v, want 1", got)
	}
}

func mustTime(t *testing.T, s *string) time.Time {
	t.Helper()
	if s == nil {
		t.Fatal("no time")
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Redis is killed: both nodes say degraded (/healthz 200, redis_up 0), a new
// caller is answered and sent to voicemail with a callback ticket. Redis
// comes back EMPTY: the nodes re-assert what they hold (the seat's
// registration through B) and dispatch again without a restart.
func TestClusterRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	a, b, redis := twoNodes(t)
	seat := siptest.RegisterSeat(t, b, "8001")

	redis.Kill()
	for _, h := range []*siptest.Hotline{a, b} {
		waitUntil(t, "degraded", 5*time.Second, func() bool {
			code, body := h.API(t, "GET", "/healthz", "")
			return code == 200 && strings.Contains(string(body), "degraded")
		})
		if v := metricValue(t, scrape(t, h), "hotline_redis_up"); v != 0 {
			t.Errorf("hotline_redis_up %v while Redis is down", v)
		}
	}
	const during = "13900000041"
	vm := caller(t, a, during, '1', promptLength(t, "voicemail")+6*time.Second)
	expectSIPpOK(t, vm.Wait(t))
	if tk := closedTicket(t, a, during); str(tk.Outcome) != "voicemail" || !tk.Callback {
		t.Errorf("caller during the outage: outcome %s callback %v, want voicemail for a callback", str(tk.Outcome), tk.Callback)
	}

	redis.Restart()
	took := waitUntil(t, "seat 8001 registered again (re-asserted by B)", 10*time.Second, func() bool {
		code, body := a.API(t, "GET", "/healthz", "")
		return code == 200 && strings.Contains(string(body), `"ok"`) && seatOn(t, a, "8001").State == "ready"
	})
	t.Logf("shared state rebuilt %s after Redis came back empty", took)
	seatRun := seatAnswering(t, seat, b, 1, 1, 500)
	c := patientCaller(t, a, "13900000042", 60*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	if tk := closedTicket(t, b, "13900000042"); str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
		t.Errorf("caller after Redis came back: outcome %s seat %v", str(tk.Outcome), tk.SeatID)
	}
}

// Redis managed by Sentinel (a master, a replica, three sentinels): the
// master is killed while a call is connected. The call goes on; the
// sentinels promote the replica; the nodes follow, re-assert, and answer
// the next callers within seconds — one seat, never two calls at once.
func TestClusterSentinelFailover(t *testing.T) {
	t.Parallel()
	ss := redistest.StartSentinels(t)
	where := fmt.Sprintf("redis_sentinel: {master: %s, addrs: [%s]}", ss.Name, strings.Join(ss.SentinelAddrs(), ", "))
	a := clusterNodeOn(t, "node-a", where)
	b := clusterNodeOn(t, "node-b", where)
	clusterLogin(t, a, b)
	seat := siptest.RegisterSeat(t, b, "8001")
	seatRun := seatAnswering(t, seat, b, 3, 1, 500)
	c1 := patientCaller(t, a, "13900000051", 90*time.Second)
	waitUntil(t, "the first call connected", 15*time.Second, func() bool { return seatOn(t, b, "8001").State == "busy" })

	ss.Master.Kill()
	killed := time.Now()
	c2 := patientCaller(t, b, "13900000052", 90*time.Second)
	c3 := patientCaller(t, a, "13900000053", 90*time.Second)
	waitUntil(t, "a new master", 20*time.Second, func() bool {
		m, err := ss.MasterAddr(context.Background())
		return err == nil && m == ss.Replica.Addr()
	})
	t.Logf("sentinels promoted the replica %s after the master was killed", time.Since(killed).Round(100*time.Millisecond))
	expectSIPpOK(t, c1.Wait(t))
	expectSIPpOK(t, c2.Wait(t))
	expectSIPpOK(t, c3.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	var tks []ticketJSON
	for _, n := range []string{"13900000051", "13900000052", "13900000053"} {
		tk := closedTicket(t, a, n)
		if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
			t.Errorf("ticket %s: outcome %s seat %v", tk.ID, str(tk.Outcome), tk.SeatID)
		}
		tks = append(tks, tk)
	}
	noOverlap(t, tks...)
	if first, _ := talkInterval(t, tks[1]); true {
		_, end1 := talkInterval(t, tks[0])
		t.Logf("after the failover the seat took the next call %s after the first ended", first.Sub(end1).Round(100*time.Millisecond))
	}
}

// A rolling upgrade (README): SIGTERM on node B while one of its calls is
// connected. B refuses new calls (503, the SBC tries A), its call finishes,
// it exits 0; meanwhile A answers. B restarts with the same node_id: the
// seat registered through it (UDP) is still registered, without a new
// REGISTER, and takes A's next caller through B.
func TestClusterRollingUpgrade(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	s1 := siptest.RegisterSeat(t, a, "8001")
	s2 := siptest.RegisterSeat(t, b, "8002")
	a.SetState(t, "8001", "not_ready", "meeting")
	s2Run := seatAnswering(t, s2, b, 2, 1, 500)

	x := patientCaller(t, b, "13900000061", 60*time.Second)
	waitUntil(t, "B's caller connected to 8002", 15*time.Second, func() bool { return seatOn(t, a, "8002").State == "busy" })
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	refused := siptest.SIPp{Scenario: "caller_expect_503.xml", Target: b.Ready.SIPUDP, Service: "12348", Caller: "13900000062"}.Run(t, 15*time.Second)
	expectSIPpOK(t, refused)

	a.SetState(t, "8001", "ready", "")
	s1Run := seatAnswering(t, s1, a, 1, 1, 500)
	y := patientCaller(t, a, "13900000063", 60*time.Second)
	expectSIPpOK(t, y.Wait(t))
	expectSIPpOK(t, s1Run.Wait(t))
	expectSIPpOK(t, x.Wait(t))
	select {
	case <-b.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("B still running 20 s after its last call ended")
	}
	if err := b.ExitErr(); err != nil {
		t.Fatalf("B's exit after SIGTERM: %v", err)
	}

	b.Start(t)
	b.Token = loginAs(t, b, "admin", "admin-password-1")
	waitUntil(t, "B alive again", 5*time.Second, func() bool { return nodeState(t, a, "node-b") == "alive" })
	if v := seatOn(t, a, "8002"); v.State != "ready" {
		t.Fatalf("8002 (registered through B) is %s after B restarted, want ready without a new REGISTER", v.State)
	}
	a.SetState(t, "8001", "not_ready", "meeting")
	z := patientCaller(t, a, "13900000064", 60*time.Second)
	expectSIPpOK(t, z.Wait(t))
	expectSIPpOK(t, s2Run.Wait(t))
	for n, seat := range map[string]string{"13900000061": "8002", "13900000063": "8001", "13900000064": "8002"} {
		tk := closedTicket(t, a, n)
		if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != seat {
			t.Errorf("%s: outcome %s seat %v, want answered by %s", n, str(tk.Outcome), tk.SeatID, seat)
		}
	}
	if ts := ticketsOf(t, a, "13900000062"); len(ts) != 0 {
		t.Errorf("the call refused with 503 during the drain left a ticket: %+v", ts)
	}
}
