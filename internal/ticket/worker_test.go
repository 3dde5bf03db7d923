package ticket

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/metrictest"

	"github.com/hotline12348/hotline/internal/vocab"
)

// receiver is a work-order system for tests: a real HTTP server that
// dedups on Idempotency-Key, checks the signature, and fails on purpose.
type receiver struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	// behave decides the answer to the n-th request (0-based) overall.
	behave func(n int, key string) (status int, delay time.Duration)
	n      int
	seen   map[string]int   // Idempotency-Key → times accepted (2xx)
	order  map[string][]int // ticket → revisions accepted, in arrival order
	bodies map[string]Push  // key → body
	errs   []string
}

func newReceiver(t *testing.T, secret string) (*receiver, *httptest.Server) {
	r := &receiver{t: t, secret: []byte(secret), seen: map[string]int{}, order: map[string][]int{}, bodies: map[string]Push{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	key := req.Header.Get("Idempotency-Key")
	ts := req.Header.Get("X-Hotline-Timestamp")
	sig := req.Header.Get("X-Hotline-Signature")
	r.mu.Lock()
	n := r.n
	r.n++
	status, delay := 200, time.Duration(0)
	if r.behave != nil {
		status, delay = r.behave(n, key)
	}
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if err := Verify(r.secret, ts, sig, body, time.Now(), time.Minute); err != nil {
		r.fail("signature: %v", err)
		w.WriteHeader(401)
		return
	}
	if status >= 200 && status < 300 {
		var p Push
		if err := json.Unmarshal(body, &p); err != nil {
			r.fail("body: %v", err)
		}
		if want := fmt.Sprintf("%s/%d", p.Ticket.ID, p.Revision); want != key {
			r.fail("Idempotency-Key %q for body %s", key, want)
		}
		r.mu.Lock()
		if r.seen[key] == 0 { // dedup: a repeat is acknowledged, not applied
			r.order[p.Ticket.ID] = append(r.order[p.Ticket.ID], p.Revision)
			r.bodies[key] = p
		}
		r.seen[key]++
		r.mu.Unlock()
	}
	if status == 503 {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
}

func (r *receiver) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func newTestWorker(t *testing.T, s *Store, url, secret string, cfg WorkerConfig) (*Worker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p := &Pusher{URL: url, Secret: []byte(secret), Client: &http.Client{Timeout: 300 * time.Millisecond}, Now: time.Now}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 20 * time.Millisecond
	}
	w, err := NewWorker(cfg, s, p, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := RegisterOutboxMetrics(s, reg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return w, reg
}

// makeTickets opens n tickets with 3 more revisions each (4 pushes per ticket).
func makeTickets(t *testing.T, s *Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		tk := &Ticket{CallID: fmt.Sprintf("c%d", i), Caller: fmt.Sprintf("1380000%04d", i), Called: "12348"}
		if err := s.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		for j, f := range []func(*Ticket){
			func(t *Ticket) { t.Category, t.IVRPath = "consult", "1" },
			func(t *Ticket) { t.Summary = "问题" },
			func(t *Ticket) { t.Status, t.Outcome = vocab.StatusClosed, vocab.OutcomeVoicemail },
		} {
			if _, err := s.Update(ctx, tk.ID, func(t *Ticket) error { f(t); return nil }); err != nil {
				t.Fatalf("revision %d: %v", j+2, err)
			}
		}
		ids = append(ids, tk.ID)
	}
	return ids
}

func waitDelivered(t *testing.T, s *Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := s.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d revisions still pending after %s", st.Pending, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The receiver answers 503 to the first attempts, then times out, then
// accepts: every revision arrives, in order per ticket, exactly once after
// dedup, and every signature verifies.
func TestDeliveryRetriesUntilAccepted(t *testing.T) {
	s := newTestStore(t)
	rcv, srv := newReceiver(t, "s3cret")
	rcv.behave = func(n int, key string) (int, time.Duration) {
		switch {
		case n < 10:
			return 503, 0
		case n < 16:
			return 200, time.Second // beyond the client's 300 ms timeout
		}
		return 200, 0
	}
	ids := makeTickets(t, s, 5)
	w, reg := newTestWorker(t, s, srv.URL, "s3cret", WorkerConfig{Workers: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitDelivered(t, s, 30*time.Second)
	cancel()
	<-done

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.errs) > 0 {
		t.Fatalf("receiver saw errors: %v", rcv.errs)
	}
	for _, id := range ids {
		got := rcv.order[id]
		if len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 {
			t.Errorf("ticket %s: revisions arrived as %v, want [1 2 3 4]", id, got)
		}
		for rev := 1; rev <= 4; rev++ {
			key := id + "/" + strconv.Itoa(rev)
			if rcv.seen[key] < 1 {
				t.Errorf("%s never accepted", key)
			}
		}
		if p := rcv.bodies[id+"/4"]; p.Event != EventClosed || p.Ticket.Outcome != vocab.OutcomeVoicemail {
			t.Errorf("last revision %+v", p)
		}
		if p := rcv.bodies[id+"/1"]; p.Event != EventOpened {
			t.Errorf("first revision event %q", p.Event)
		}
	}
	tk, _ := s.Get(context.Background(), ids[0])
	if tk.Workorder.State != vocab.DeliveryDelivered {
		t.Errorf("ticket workorder state %q after delivery", tk.Workorder.State)
	}
	retries := metrictest.Value(t, reg, "hotline_workorder_deliveries_total", "result", "retry")
	delivered := metrictest.Value(t, reg, "hotline_workorder_deliveries_total", "result", "delivered")
	if retries < 16 || delivered < 20 {
		t.Errorf("metrics: %v retries, %v delivered; want ≥16 and ≥20", retries, delivered)
	}
}

// A 400 makes the revision dead (with the reason), later revisions of the
// ticket still go (dead counts as done for the order), and redeliver sends
// it again.
func TestDeadLetterAndRedeliver(t *testing.T) {
	s := newTestStore(t)
	rcv, srv := newReceiver(t, "k")
	var refuse sync.Map
	rcv.behave = func(n int, key string) (int, time.Duration) {
		if _, bad := refuse.Load(key); bad {
			return 400, 0
		}
		return 200, 0
	}
	ids := makeTickets(t, s, 1)
	refuse.Store(ids[0]+"/2", true)
	w, _ := newTestWorker(t, s, srv.URL, "k", WorkerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitDelivered(t, s, 10*time.Second)
	tk, _ := s.Get(context.Background(), ids[0])
	if tk.Workorder.State != vocab.DeliveryDead || !strings.Contains(tk.Workorder.LastError, "400") {
		t.Fatalf("workorder %+v, want dead with the 400", tk.Workorder)
	}
	if strings.Contains(tk.Workorder.LastError, srv.URL) {
		t.Fatal("the URL leaked into last_error")
	}
	dead, _ := s.DeadTickets(context.Background(), 10)
	if len(dead) != 1 || dead[0].ID != ids[0] {
		t.Fatalf("dead letters %v", dead)
	}
	rcv.mu.Lock()
	got := rcv.order[ids[0]]
	rcv.mu.Unlock()
	if fmt.Sprint(got) != "[1 3 4]" {
		t.Fatalf("accepted %v, want [1 3 4] (2 is dead)", got)
	}
	refuse.Delete(ids[0] + "/2")
	n, err := s.Redeliver(context.Background(), ids[0])
	if err != nil || n != 1 {
		t.Fatalf("redeliver: %d %v", n, err)
	}
	w.Wake()
	waitDelivered(t, s, 10*time.Second)
	tk, _ = s.Get(context.Background(), ids[0])
	if tk.Workorder.State != vocab.DeliveryDelivered {
		t.Fatalf("after redeliver: %+v", tk.Workorder)
	}
}

// max_attempts spent on retryable failures: dead, saying so.
func TestMaxAttemptsMakesDead(t *testing.T) {
	s := newTestStore(t)
	rcv, srv := newReceiver(t, "k")
	rcv.behave = func(int, string) (int, time.Duration) { return 502, 0 }
	ids := makeTickets(t, s, 1)
	w, _ := newTestWorker(t, s, srv.URL, "k", WorkerConfig{MaxAttempts: 3, BaseBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitDelivered(t, s, 10*time.Second)
	tk, _ := s.Get(context.Background(), ids[0])
	if tk.Workorder.State != vocab.DeliveryDead || !strings.Contains(tk.Workorder.LastError, "gave up after 3 attempts") {
		t.Fatalf("workorder %+v", tk.Workorder)
	}
}

// A worker holding a row read before another attempt ended (the dispatch
// loop reads due rows, then claims the ticket) counts from the outbox as it
// is now, and waits out the backoff that attempt set: max_attempts is
// exact. Seen under load: "gave up after 4 attempts" with max_attempts 3.
func TestStaleRowCountsFromTheOutbox(t *testing.T) {
	s := newTestStore(t)
	rcv, srv := newReceiver(t, "k")
	rcv.behave = func(int, string) (int, time.Duration) { return 502, 0 }
	ids := makeTickets(t, s, 1)
	w, _ := newTestWorker(t, s, srv.URL, "k", WorkerConfig{MaxAttempts: 3})
	ctx := context.Background()
	rows, err := s.Due(ctx, time.Now(), 10, false)
	if err != nil || len(rows) == 0 {
		t.Fatalf("due: %v %v", rows, err)
	}
	stale := rows[0] // Attempts 0
	for range 2 {    // two attempts end meanwhile
		if err := s.RecordAttempt(ctx, stale.TicketID, stale.Revision, Delivery{Error: "502", NextAt: time.Now().Add(-time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	w.deliver(ctx, stale, false) // the third attempt: dead
	tk, _ := s.Get(ctx, ids[0])
	if tk.Workorder.State != vocab.DeliveryDead || !strings.Contains(tk.Workorder.LastError, "gave up after 3 attempts") {
		t.Fatalf("workorder %+v, want dead after 3 attempts", tk.Workorder)
	}

	// A stale row whose ticket got a backoff meanwhile is not pushed early.
	ids = makeTickets(t, s, 1)
	rows, _ = s.Due(ctx, time.Now(), 10, false)
	var fresh OutboxRow
	for _, r := range rows {
		if string(r.TicketID) == ids[0] {
			fresh = r
		}
	}
	if err := s.RecordAttempt(ctx, fresh.TicketID, fresh.Revision, Delivery{Error: "502", NextAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	before := rcv.n
	rcv.mu.Unlock()
	w.deliver(ctx, fresh, false)
	rcv.mu.Lock()
	after := rcv.n
	rcv.mu.Unlock()
	if after != before {
		t.Fatal("pushed before the backoff the last attempt set")
	}
}

func TestBackoffHonoursRetryAfterAndJitter(t *testing.T) {
	w := &Worker{cfg: WorkerConfig{BaseBackoff: time.Second, MaxBackoff: time.Minute, MaxRetryAfter: time.Hour}, rand: func() float64 { return 0.5 }}
	if d := w.backoff(1, &PushError{}); d != 500*time.Millisecond {
		t.Errorf("attempt 1: %s", d)
	}
	if d := w.backoff(4, &PushError{}); d != 4*time.Second {
		t.Errorf("attempt 4: %s, want half of 8 s", d)
	}
	if d := w.backoff(20, &PushError{}); d != 30*time.Second {
		t.Errorf("attempt 20: %s, want half of the 1 min cap", d)
	}
	if d := w.backoff(1, &PushError{RetryAfter: 2 * time.Minute}); d != 2*time.Minute {
		t.Errorf("Retry-After: %s", d)
	}
	if d := w.backoff(1, &PushError{RetryAfter: 5 * time.Hour}); d != time.Hour {
		t.Errorf("Retry-After cap: %s", d)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"ticket_id":"x"}`)
	now := time.Unix(1800000000, 0)
	ts := "1800000000"
	sig := Signature([]byte("k"), ts, body)
	if err := Verify([]byte("k"), ts, sig, body, now, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		secret, ts, sig string
		body            []byte
	}{
		"wrong secret":  {"k2", ts, sig, body},
		"changed body":  {"k", ts, sig, []byte(`{"ticket_id":"y"}`)},
		"old timestamp": {"k", "1799999000", Signature([]byte("k"), "1799999000", body), body},
		"no timestamp":  {"k", "", sig, body},
		"no secret":     {"", ts, sig, body},
		"truncated sig": {"k", ts, sig[:20], body},
	} {
		if err := Verify([]byte(tc.secret), tc.ts, tc.sig, tc.body, now, 5*time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReconcile(t *testing.T) {
	s := newTestStore(t)
	ids := makeTickets(t, s, 3)
	ctx := context.Background()
	for rev := 1; rev <= 4; rev++ {
		if err := s.RecordAttempt(ctx, ids[0], rev, Delivery{Delivered: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAttempt(ctx, ids[1], 1, Delivery{Dead: true, Error: "400"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reconcile(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Tickets != 3 || r.Revisions != 12 || r.Delivered != 4 || r.Dead != 1 || r.Pending != 7 || r.TicketsDelivered != 1 || len(r.NotFullyDelivered) != 2 {
		t.Fatalf("reconciliation %+v", r)
	}
}

func TestFeedbackStoredOnceAndShown(t *testing.T) {
	s := newTestStore(t)
	ids := makeTickets(t, s, 1)
	ctx := context.Background()
	f := Feedback{ExternalID: "WO-1", Status: "accepted", Note: "转区司法局", At: time.Unix(1800000000, 0)}
	for i := range 2 {
		added, err := s.AddFeedback(ctx, ids[0], f)
		if err != nil || added != (i == 0) {
			t.Fatalf("add %d: %v %v", i, added, err)
		}
	}
	if _, err := s.AddFeedback(ctx, "nope", f); err == nil {
		t.Fatal("feedback for an unknown ticket accepted")
	}
	tk, _ := s.Get(ctx, ids[0])
	if len(tk.Feedback) != 1 || tk.Feedback[0].Note != "转区司法局" || tk.Workorder.ExternalID != "WO-1" || tk.Revision != 4 {
		t.Fatalf("ticket %+v feedback %+v", tk.Workorder, tk.Feedback)
	}
	list, _ := s.List(ctx, Filter{Caller: tk.Caller})
	if len(list) != 1 || len(list[0].Feedback) != 1 {
		t.Fatal("feedback not shown in lists")
	}
	// A report without its own time is stamped when received: the same
	// report again (a replay, a retry) has another time but the same key,
	// and is stored once; a different note is a new report.
	key := FeedbackKey(ids[0], "WO-1", "closed", "办结", "")
	for i := range 3 {
		g := Feedback{ExternalID: "WO-1", Status: "closed", Note: "办结", At: time.Unix(1800000100+int64(i), 0), Key: key}
		if added, err := s.AddFeedback(ctx, ids[0], g); err != nil || added != (i == 0) {
			t.Fatalf("report without at, %d: %v %v", i, added, err)
		}
	}
	other := Feedback{ExternalID: "WO-1", Status: "closed", Note: "办结,已回访", At: time.Unix(1800000200, 0), Key: FeedbackKey(ids[0], "WO-1", "closed", "办结,已回访", "")}
	if added, err := s.AddFeedback(ctx, ids[0], other); err != nil || !added {
		t.Fatalf("another report: %v %v", added, err)
	}
	if tk, _ = s.Get(ctx, ids[0]); len(tk.Feedback) != 3 {
		t.Fatalf("%d reports stored, want 3: %+v", len(tk.Feedback), tk.Feedback)
	}
}

// A receiver that accepts everything gets every revision exactly once: the
// worker never pushes a row another push already finished.
func TestNoDuplicatePushes(t *testing.T) {
	s := newTestStore(t)
	rcv, srv := newReceiver(t, "k")
	ids := makeTickets(t, s, 30)
	w, _ := newTestWorker(t, s, srv.URL, "k", WorkerConfig{Workers: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitDelivered(t, s, 20*time.Second)
	cancel()
	<-done
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, id := range ids {
		for rev := 1; rev <= 4; rev++ {
			if n := rcv.seen[fmt.Sprintf("%s/%d", id, rev)]; n != 1 {
				t.Errorf("%s/%d pushed %d times", id, rev, n)
			}
		}
	}
}
