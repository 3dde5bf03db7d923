package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// "全部重新推送": every dead letter queued again in one request, by a
// manager only, audited once with what it did; the delivered and the
// pending are left alone.
func TestRedeliverAllIsForManagersAndAudited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var dead []*ticket.Ticket
	for i := range 3 {
		tk := &ticket.Ticket{CallID: "c" + string(rune('a'+i)), Caller: "13800000000", Called: "12348"}
		if err := e.tickets.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if err := e.tickets.RecordAttempt(ctx, tk.ID, 1, ticket.Delivery{Dead: true, Error: `receiver answered 422 Unprocessable Entity: {"error":"category"}`}); err != nil {
				t.Fatal(err)
			}
			dead = append(dead, tk)
		}
	}
	op, boss := e.login(t, "op"), e.login(t, "boss")
	if code, b := e.do(t, "POST", "/api/workorder/redeliver-all", op, ""); code != 403 {
		t.Fatalf("operator redeliver-all: %d %s", code, b)
	}
	if code, _ := e.do(t, "POST", "/api/workorder/redeliver-all", "", ""); code != 401 {
		t.Fatalf("anonymous redeliver-all: %d", code)
	}
	for _, tk := range dead {
		if got, _ := e.tickets.Get(ctx, tk.ID); got.Workorder.State != vocab.DeliveryDead {
			t.Fatalf("refused redeliver changed %s: %+v", tk.ID, got.Workorder)
		}
	}
	code, b := e.do(t, "POST", "/api/workorder/redeliver-all", boss, "")
	if code != 200 {
		t.Fatalf("redeliver-all: %d %s", code, b)
	}
	var res redeliverResult
	if err := json.Unmarshal(b, &res); err != nil || res.Tickets != 2 || res.Revisions != 2 || len(res.Failed) != 0 {
		t.Fatalf("redeliver-all answered %s (%v)", b, err)
	}
	for _, tk := range dead {
		got, _ := e.tickets.Get(ctx, tk.ID)
		if got.Workorder.State != vocab.DeliveryPending || got.Workorder.Attempts != 0 {
			t.Errorf("after redeliver-all %s: %+v", tk.ID, got.Workorder)
		}
	}
	if code, b := e.do(t, "GET", "/api/workorder/dead", boss, ""); code != 200 || !strings.Contains(string(b), `"tickets":[]`) {
		t.Errorf("dead letters after redeliver-all: %d %s", code, b)
	}
	var n int
	var obj string
	if err := e.db.R.QueryRow(`SELECT count(*), max(object) FROM audit_log WHERE user_name='boss' AND action='workorder.redeliver_all'`).Scan(&n, &obj); err != nil || n != 1 || obj != "tickets=2 revisions=2" {
		t.Fatalf("audit: %d %q %v", n, obj, err)
	}
	// Nothing dead: nothing done, nothing audited.
	if code, b := e.do(t, "POST", "/api/workorder/redeliver-all", boss, ""); code != 200 || !strings.Contains(string(b), `"tickets":0`) {
		t.Errorf("second redeliver-all: %d %s", code, b)
	}
	if err := e.db.R.QueryRow(`SELECT count(*) FROM audit_log WHERE action='workorder.redeliver_all'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("an empty redeliver-all was audited: %d %v", n, err)
	}
}

// GET /api/workorder/status says whether workorder.url is set (managers).
func TestWorkorderStatus(t *testing.T) {
	e := newEnv(t)
	op, boss := e.login(t, "op"), e.login(t, "boss")
	if code, _ := e.do(t, "GET", "/api/workorder/status", op, ""); code != 403 {
		t.Errorf("operator: %d", code)
	}
	if code, b := e.do(t, "GET", "/api/workorder/status", boss, ""); code != 200 || strings.TrimSpace(string(b)) != `{"configured":false}` {
		t.Errorf("not configured: %d %s", code, b)
	}
	e.srv.Close()
	e.srv = httptest.NewServer(New(Options{WorkorderConfigured: true}, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)))
	t.Cleanup(e.srv.Close)
	if code, b := e.do(t, "GET", "/api/workorder/status", boss, ""); code != 200 || strings.TrimSpace(string(b)) != `{"configured":true}` {
		t.Errorf("configured: %d %s", code, b)
	}
}
