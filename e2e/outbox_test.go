package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
	"github.com/hotline12348/hotline/internal/ticket"
)

// workorderSystem is the shared work-order system as a real HTTP server in
// the test: it verifies every signature, dedups on Idempotency-Key and
// records the order in which it accepted each ticket's revisions. It can be
// taken down (connection refused) and brought back on the same port.
type workorderSystem struct {
	t      *testing.T
	port   int
	secret []byte

	mu       sync.Mutex
	srv      *http.Server
	accepted map[string][]int // ticket → revisions, first acceptance order
	times    map[string]int   // Idempotency-Key → deliveries seen (incl. repeats)
	bad      []string
	// last is the body of the newest revision accepted, by ticket.
	last map[string][]byte
}

func newWorkorderSystem(t *testing.T, secret string) *workorderSystem {
	w := &workorderSystem{t: t, port: siptest.FreePort(t), secret: []byte(secret), accepted: map[string][]int{}, times: map[string]int{}}
	t.Cleanup(w.down)
	return w
}

func (w *workorderSystem) url() string { return fmt.Sprintf("http://127.0.0.1:%d/workorders", w.port) }

func (w *workorderSystem) up() {
	w.t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		w.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(w.serve)}
	w.mu.Lock()
	w.srv = srv
	w.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (w *workorderSystem) down() {
	w.mu.Lock()
	srv := w.srv
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (w *workorderSystem) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	if err := ticket.Verify(w.secret, r.Header.Get("X-Hotline-Timestamp"), r.Header.Get("X-Hotline-Signature"), body, time.Now(), time.Minute); err != nil {
		w.note("bad signature on %s: %v", key, err)
		rw.WriteHeader(401)
		return
	}
	var p struct {
		Event    string `json:"event"`
		Revision int    `json:"revision"`
		Ticket   struct {
			ID string `json:"id"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(body, &p); err != nil || key != p.Ticket.ID+"/"+strconv.Itoa(p.Revision) {
		w.note("body/key mismatch: %s %v", key, err)
		rw.WriteHeader(400)
		return
	}
	w.mu.Lock()
	if w.times[key] == 0 {
		w.accepted[p.Ticket.ID] = append(w.accepted[p.Ticket.ID], p.Revision)
		if w.last == nil {
			w.last = map[string][]byte{}
		}
		if revs := w.accepted[p.Ticket.ID]; slices.Max(revs) == p.Revision {
			w.last[p.Ticket.ID] = body
		}
	}
	w.times[key]++
	w.mu.Unlock()
	rw.WriteHeader(201)
}

func (w *workorderSystem) note(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bad = append(w.bad, fmt.Sprintf(format, args...))
}

func outboxPending(t *testing.T, h *siptest.Hotline) string {
	t.Helper()
	for _, line := range strings.Split(scrape(t, h), "\n") {
		if v, ok := strings.CutPrefix(line, "hotline_workorder_outbox_pending "); ok {
			return v
		}
	}
	t.Fatal("no hotline_workorder_outbox_pending in /metrics")
	return ""
}

func allTickets(t *testing.T, h *siptest.Hotline) []ticketJSON {
	t.Helper()
	code, body := h.API(t, "GET", "/api/tickets?limit=1000", "")
	if code != 200 {
		t.Fatalf("tickets: %d %s", code, body)
	}
	var r struct{ Tickets []ticketJSON }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Tickets
}

// The crash test of SPEC §7: calls through SIPp while the work-order
// system is down, SIGKILL mid-call with pushes pending and retrying, a
// restart, the receiver back: every revision of every ticket arrives, none
// lost, none out of order, each once after dedup — including the revision
// that closes the call the crash cut.
func TestOutboxSurvivesCrashAndOutage(t *testing.T) {
	t.Parallel()
	wo := newWorkorderSystem(t, "wo-secret")
	h := siptest.StartHotline(t, siptest.Config{Extra: fmt.Sprintf(`workorder:
  url: %s
  secret: wo-secret
  timeout: 1s
  max_attempts: 100
`, wo.url())})
	h.Login(t)

	// Five short calls, then one still talking to the IVR when we crash.
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x0b0b).Audio(siptest.Tone(2*time.Second, 0.05, 300)).Digit('2', 120*time.Millisecond).Audio(siptest.Tone(10*time.Second, 0.05, 300))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	short := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13511110000",
		Dir: dir, PauseMS: 3500, Calls: 5, Rate: "5", Limit: 5}.Run(t, 40*time.Second)
	expectSIPpOK(t, short)
	long := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13522220000", Dir: dir}.Start(t, 60*time.Second)
	// The long call is in progress (its ticket is open) before the crash.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ts := ticketsOf(t, h, "13522220000"); len(ts) == 1 && ts[0].Status == "open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long call never opened its ticket")
		}
	}
	if p := outboxPending(t, h); p == "0" {
		t.Fatal("nothing pending while the work-order system is down")
	}
	if err := h.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.Exited()
	long.Kill()

	wo.up()
	h.Start(t)
	h.Login(t)
	deadline := time.Now().Add(60 * time.Second)
	for outboxPending(t, h) != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still has %s pending a minute after the restart", outboxPending(t, h))
		}
		time.Sleep(200 * time.Millisecond)
	}

	tickets := allTickets(t, h)
	if len(tickets) != 6 {
		t.Fatalf("%d tickets, want 6", len(tickets))
	}
	wo.mu.Lock()
	defer wo.mu.Unlock()
	if len(wo.bad) > 0 {
		t.Fatalf("the receiver refused pushes: %v", wo.bad)
	}
	interrupted := 0
	for _, tk := range tickets {
		if tk.Status != "closed" || tk.Workorder.State != "delivered" {
			t.Errorf("ticket %s: status %s workorder %s", tk.ID, tk.Status, tk.Workorder.State)
		}
		if str(tk.Outcome) == "interrupted" {
			interrupted++
		}
		want := make([]int, tk.Revision)
		for i := range want {
			want[i] = i + 1
		}
		if got := wo.accepted[tk.ID]; !slices.Equal(got, want) {
			t.Errorf("ticket %s: the work-order system accepted revisions %v, want %v (in order, none lost)", tk.ID, got, want)
		}
	}
	if interrupted != 1 {
		t.Errorf("%d interrupted tickets, want the one call the crash cut", interrupted)
	}
	repeats := 0
	for _, n := range wo.times {
		repeats += n - 1
	}
	t.Logf("6 tickets, all revisions delivered in order; %d repeated deliveries absorbed by Idempotency-Key", repeats)

	// The day reconciles.
	code, body := h.API(t, "GET", "/api/workorder/reconciliation", "")
	var rep ticket.Reconciliation
	if code != 200 || json.Unmarshal(body, &rep) != nil || rep.Tickets != 6 || rep.TicketsDelivered != 6 {
		t.Errorf("reconciliation: %d %s", code, body)
	}
}

// A receiver answering 400 makes a dead letter that the API shows; after
// the receiver is fixed, redeliver sends it again.
func TestDeadLetterRedeliveredFromTheAPI(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	refuse := true
	received := map[string]int{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			w.WriteHeader(400)
			return
		}
		received[r.Header.Get("Idempotency-Key")]++
		w.WriteHeader(200)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	h := siptest.StartHotline(t, siptest.Config{Extra: fmt.Sprintf("workorder:\n  url: http://%s/x\n  secret: k\n", ln.Addr())})
	h.Login(t)
	r := siptest.SIPp{Scenario: "caller_expect_404.xml", Target: h.Ready.SIPUDP, Service: "99999", Caller: "13533330000"}.Run(t, 20*time.Second)
	expectSIPpOK(t, r)
	tk := closedTicket(t, h, "13533330000")
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := h.API(t, "GET", "/api/workorder/dead", "")
		if code == 200 && strings.Contains(string(body), tk.ID) && strings.Contains(string(body), "400") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter for %s: %d %s", tk.ID, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	if code, body := h.API(t, "POST", "/api/tickets/"+tk.ID+"/redeliver", ""); code != 200 {
		t.Fatalf("redeliver: %d %s", code, body)
	}
	for time.Now().Before(deadline.Add(20 * time.Second)) {
		if got := closedTicket(t, h, "13533330000"); got.Workorder.State == "delivered" {
			mu.Lock()
			defer mu.Unlock()
			if received[tk.ID+"/1"] != 1 || received[tk.ID+"/2"] != 1 {
				t.Fatalf("after redeliver the receiver got %v", received)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("not delivered after redeliver")
}
