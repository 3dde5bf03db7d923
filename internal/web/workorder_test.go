package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

func (e *env) withSecret(t *testing.T, secret string) {
	t.Helper()
	e.srv.Close()
	h := New(Options{FeedbackSecret: []byte(secret)}, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
}

func (e *env) postFeedback(t *testing.T, body, ts, sig string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/workorder/feedback", strings.NewReader(body))
	req.Header.Set("X-Hotline-Timestamp", ts)
	req.Header.Set("X-Hotline-Signature", sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Feedback with a bad signature or an old timestamp is refused (401) and
// changes nothing; a good one is stored on the ticket and shown with it.
func TestFeedbackSignature(t *testing.T) {
	e := newEnv(t)
	e.withSecret(t, "shared-key")
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	body := `{"ticket_id":"` + tk.ID + `","external_id":"WO-77","status":"accepted","note":"已转办","at":"2026-11-26T10:00:00+08:00"}`
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for name, c := range map[string]struct{ ts, sig string }{
		"wrong key":     {now, ticket.Signature([]byte("other-key"), now, []byte(body))},
		"old timestamp": {old, ticket.Signature([]byte("shared-key"), old, []byte(body))},
		"no signature":  {now, ""},
		"other body":    {now, ticket.Signature([]byte("shared-key"), now, []byte(body+" "))},
	} {
		if code := e.postFeedback(t, body, c.ts, c.sig); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	got, _ := e.tickets.Get(ctx, tk.ID)
	if len(got.Feedback) != 0 || got.Workorder.ExternalID != "" {
		t.Fatalf("refused feedback changed the ticket: %+v", got.Workorder)
	}
	if code := e.postFeedback(t, body, now, ticket.Signature([]byte("shared-key"), now, []byte(body))); code != 200 {
		t.Fatalf("good feedback: %d", code)
	}
	boss := e.login(t, "boss")
	code, b := e.do(t, "GET", "/api/tickets/"+tk.ID, boss, "")
	if code != 200 || !strings.Contains(string(b), `"external_id":"WO-77"`) || !strings.Contains(string(b), "已转办") {
		t.Fatalf("ticket does not show the feedback: %s", b)
	}
	// Unknown ticket: 404; no secret configured: 503.
	other := `{"ticket_id":"nope","status":"x"}`
	if code := e.postFeedback(t, other, now, ticket.Signature([]byte("shared-key"), now, []byte(other))); code != 404 {
		t.Errorf("unknown ticket: %d", code)
	}
	e.withSecret(t, "")
	if code := e.postFeedback(t, body, now, ticket.Signature([]byte(""), now, []byte(body))); code != 503 {
		t.Errorf("no secret: %d", code)
	}
}

func TestRedeliverAndDeadLettersAreForManagers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if err := e.tickets.RecordAttempt(ctx, tk.ID, 1, ticket.Delivery{Dead: true, Error: "receiver answered 400 Bad Request"}); err != nil {
		t.Fatal(err)
	}
	op, boss := e.login(t, "op"), e.login(t, "boss")
	if code, _ := e.do(t, "GET", "/api/workorder/dead", op, ""); code != 403 {
		t.Errorf("operator dead letters: %d", code)
	}
	code, b := e.do(t, "GET", "/api/workorder/dead", boss, "")
	if code != 200 || !strings.Contains(string(b), tk.ID) || !strings.Contains(string(b), "400 Bad Request") {
		t.Fatalf("dead letters: %d %s", code, b)
	}
	if code, _ := e.do(t, "POST", "/api/tickets/"+tk.ID+"/redeliver", op, ""); code != 403 {
		t.Errorf("operator redeliver: %d", code)
	}
	if code, b := e.do(t, "POST", "/api/tickets/"+tk.ID+"/redeliver", boss, ""); code != 200 || !strings.Contains(string(b), `"requeued":1`) {
		t.Fatalf("redeliver: %d %s", code, b)
	}
	got, _ := e.tickets.Get(ctx, tk.ID)
	if got.Workorder.State != vocab.DeliveryPending {
		t.Fatalf("after redeliver: %+v", got.Workorder)
	}
	if code, _ := e.do(t, "POST", "/api/tickets/nope/redeliver", boss, ""); code != 404 {
		t.Errorf("redeliver unknown: %d", code)
	}
	code, b = e.do(t, "GET", "/api/workorder/reconciliation?date="+time.Now().Format("2006-01-02"), boss, "")
	if code != 200 || !strings.Contains(string(b), `"tickets":1`) {
		t.Fatalf("reconciliation: %d %s", code, b)
	}
}
