package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// openTicket opens a ticket and applies fn as the call flow would.
func openTicket(t *testing.T, e *env, caller string, fn func(tk *ticket.Ticket)) *ticket.Ticket {
	t.Helper()
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c-" + caller, Caller: caller, Called: "12348"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if fn == nil {
		return tk
	}
	out, err := e.tickets.Update(ctx, tk.ID, func(x *ticket.Ticket) error { fn(x); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func answeredBy(seat string) func(tk *ticket.Ticket) {
	return func(tk *ticket.Ticket) {
		now := time.Now()
		tk.Category, tk.SeatID, tk.AnsweredAt = "consult", ticket.Optional(seat), ticket.TimePtr(now)
		tk.Status, tk.Outcome, tk.EndedAt = vocab.StatusClosed, vocab.OutcomeAnswered, ticket.TimePtr(now)
	}
}

func TestPatchTicketValidation(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	tk := openTicket(t, le.env, "13800000001", answeredBy("8001"))
	op := le.login(t, "op")
	path := "/api/tickets/" + tk.ID
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not JSON", `summary=x`, "JSON object"},
		{"empty", `{}`, "nothing to change"},
		{"unknown field", `{"summary":"x","status":"closed"}`, "unknown field"},
		{"two objects", `{"summary":"x"}{"summary":"y"}`, "one JSON object"},
		{"category", `{"category":"weather"}`, "category:"},
		{"category cleared", `{"category":""}`, "category:"},
		{"legal domain", `{"legal_domain":"space_law"}`, "legal_domain:"},
		{"disposition", `{"disposition":"shrug"}`, "disposition:"},
		{"control characters", `{"summary":"a\u0007b"}`, "control characters"},
		{"too long", `{"summary":"` + strings.Repeat("法", maxSummaryRunes+1) + `"}`, "at most 2000 characters"},
		{"every problem at once", `{"category":"x","legal_domain":"y","disposition":"z"}`, "category:"},
	} {
		code, b := le.do(t, "PATCH", path, op, tc.body)
		if code != 400 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tc.name, code, b, tc.want)
		}
	}
	code, b := le.do(t, "PATCH", path, op, `{"category":"x","legal_domain":"y","disposition":"z"}`)
	if code != 400 || !strings.Contains(string(b), "legal_domain:") || !strings.Contains(string(b), "disposition:") {
		t.Errorf("not every problem listed: %s", b)
	}
	if code, _ := le.do(t, "PATCH", "/api/tickets/no-such-ticket", op, `{"summary":"x"}`); code != 404 {
		t.Errorf("unknown ticket: %d, want 404", code)
	}
	if code, _ := le.do(t, "PATCH", path, "", `{"summary":"x"}`); code != 401 {
		t.Errorf("without a session: %d, want 401", code)
	}
	// Nothing of the above changed the ticket.
	got, err := le.tickets.Get(context.Background(), tk.ID)
	if err != nil || got.Revision != tk.Revision || got.Summary != "" {
		t.Fatalf("ticket changed by refused patches: %+v %v", got, err)
	}
}

func TestPatchTicketMakesARevision(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	tk := openTicket(t, le.env, "13800000002", answeredBy("8001"))
	op := le.login(t, "op")
	path := "/api/tickets/" + tk.ID
	code, b := le.do(t, "PATCH", path, op, `{"summary":"  咨询拖欠工资如何维权\r\n已告知劳动监察投诉途径  ","category":"legal_aid","legal_domain":"wage_arrears","disposition":"legal_aid_referral"}`)
	if code != 200 {
		t.Fatalf("patch: %d %s", code, b)
	}
	var got ticket.Ticket
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Revision != tk.Revision+1 || got.Summary != "咨询拖欠工资如何维权\n已告知劳动监察投诉途径" ||
		got.Category != "legal_aid" || got.LegalDomain != "wage_arrears" || got.Disposition != "legal_aid_referral" {
		t.Fatalf("after patch: %+v", got)
	}
	// What the call flow wrote is untouched (the operator sees the number masked).
	if got.Status != vocab.StatusClosed || got.Outcome != vocab.OutcomeAnswered || got.SeatID != "8001" || got.Caller != "138****0002" {
		t.Fatalf("patch touched other fields: %+v", got)
	}
	if stored, err := le.tickets.Get(context.Background(), tk.ID); err != nil || stored.Caller != "13800000002" {
		t.Fatalf("stored caller changed: %v %v", stored, err)
	}
	// The revision went to the outbox as an "updated" push.
	var event string
	if err := le.db.R.QueryRow(`SELECT event FROM outbox WHERE ticket_id=? AND revision=?`, tk.ID, got.Revision).Scan(&event); err != nil || event != ticket.EventUpdated {
		t.Fatalf("outbox row for revision %d: %q %v", got.Revision, event, err)
	}
	// Only the fields sent change; the same save again makes no revision.
	code, b = le.do(t, "PATCH", path, op, `{"disposition":""}`)
	if code != 200 || !strings.Contains(string(b), `"revision":`+itoa(tk.Revision+2)) || !strings.Contains(string(b), `"legal_domain":"wage_arrears"`) {
		t.Fatalf("partial patch: %d %s", code, b)
	}
	code, b = le.do(t, "PATCH", path, op, `{"disposition":""}`)
	if code != 200 || !strings.Contains(string(b), `"revision":`+itoa(tk.Revision+2)) {
		t.Fatalf("no-op patch made a revision: %d %s", code, b)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestPatchTicketPermissions(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	mine := openTicket(t, le.env, "13800000003", answeredBy("8001"))
	theirs := openTicket(t, le.env, "13800000004", answeredBy("8002"))
	queued := openTicket(t, le.env, "13800000005", func(tk *ticket.Ticket) { tk.Category, tk.QueuedAt = "consult", ticket.TimePtr(time.Now()) })
	voicemail := openTicket(t, le.env, "13800000006", func(tk *ticket.Ticket) {
		tk.Status, tk.Outcome, tk.Callback, tk.EndedAt = vocab.StatusClosed, vocab.OutcomeVoicemail, true, ticket.TimePtr(time.Now())
	})
	ringing := openTicket(t, le.env, "13800000007", func(tk *ticket.Ticket) { tk.Category, tk.QueuedAt = "consult", ticket.TimePtr(time.Now()) })
	le.floor.set("8001", func(s *agent.Seat) { s.State, s.CallID = agent.Ringing, ringing.ID })

	op, boss := le.login(t, "op"), le.login(t, "boss")
	body := `{"summary":"记录"}`
	for _, tc := range []struct {
		name, token string
		tk          *ticket.Ticket
		want        int
	}{
		{"operator, own seat's ticket", op, mine, 200},
		{"operator, another seat's ticket", op, theirs, 403},
		{"operator, a call still queued", op, queued, 403},
		{"operator, an unanswered voicemail (callback)", op, voicemail, 200},
		{"operator, the call ringing at their seat", op, ringing, 200},
		{"manager, any ticket", boss, theirs, 200},
		{"manager, an open ticket", boss, queued, 200},
	} {
		if code, b := le.do(t, "PATCH", "/api/tickets/"+tc.tk.ID, tc.token, body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.want)
		}
	}
	got, err := le.tickets.Get(context.Background(), theirs.ID)
	if err != nil || got.Summary != "记录" {
		t.Fatalf("manager's save: %+v %v", got, err)
	}
	// The refused save changed nothing: only the manager's revision is there.
	if got.Revision != theirs.Revision+1 {
		t.Fatalf("revision %d, want %d", got.Revision, theirs.Revision+1)
	}
}

func TestConsoleIsServed(t *testing.T) {
	e := newEnv(t)
	code, b := e.do(t, "GET", "/", "", "")
	if code != 200 || !strings.Contains(string(b), `lang="zh-CN"`) || !strings.Contains(string(b), "/console/app.js") {
		t.Fatalf("GET /: %d %.200s", code, b)
	}
	for _, p := range []string{"/console/app.js", "/console/app.css"} {
		if code, b := e.do(t, "GET", p, "", ""); code != 200 || len(b) < 1000 {
			t.Errorf("GET %s: %d (%d bytes)", p, code, len(b))
		}
	}
	if code, _ := e.do(t, "GET", "/console/nope.js", "", ""); code != 404 {
		t.Errorf("unknown asset: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/console/options", "", ""); code != 401 {
		t.Errorf("options without a session: %d", code)
	}
	code, b = e.do(t, "GET", "/api/console/options", e.login(t, "op"), "")
	var opts struct {
		Categories, LegalDomains, Dispositions, NotReadyReasons []vocab.Word
	}
	_ = json.Unmarshal(b, &struct {
		C  *[]vocab.Word `json:"categories"`
		L  *[]vocab.Word `json:"legal_domains"`
		D  *[]vocab.Word `json:"dispositions"`
		NR *[]vocab.Word `json:"not_ready_reasons"`
	}{&opts.Categories, &opts.LegalDomains, &opts.Dispositions, &opts.NotReadyReasons})
	if code != 200 || len(opts.Categories) != 5 || len(opts.LegalDomains) == 0 || len(opts.Dispositions) == 0 || len(opts.NotReadyReasons) == 0 {
		t.Fatalf("options: %d %s", code, b)
	}
}
