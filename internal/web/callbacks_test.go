package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// testCallbackPolicy: every voicemail, abandon after 5 s and "3" is a task.
var testCallbackPolicy = ticket.CallbackPolicy{
	Due:          map[string]time.Duration{vocab.CallbackVoicemail: time.Hour, vocab.CallbackAbandoned: time.Hour, vocab.CallbackDissatisfied: time.Hour},
	ShortAbandon: 5 * time.Second, MaxAttempts: 3,
}

// TestCallbackAPI: the worklist as operators and a manager see and work it.
func TestCallbackAPI(t *testing.T) {
	re := newRolesEnv(t)
	op, op2, boss := re.login(t, "op"), re.login(t, "op2"), re.login(t, "boss")
	list := func(token, q string) []ticket.Callback {
		t.Helper()
		code, b := re.do(t, "GET", "/api/callbacks"+q, token, "")
		if code != 200 {
			t.Fatalf("list %s: %d %s", q, code, b)
		}
		var ans struct{ Callbacks []ticket.Callback }
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatal(err)
		}
		return ans.Callbacks
	}
	// pendingCB is open to all, claimedCB is op's (newRolesEnv).
	if got := list(op, "?state=open"); len(got) != 2 {
		t.Errorf("op sees %d tasks, want 2 (the open one and their own)", len(got))
	}
	got := list(op2, "?state=open&reason=voicemail")
	if len(got) != 1 || got[0].TicketID != re.pendingCB.ID || got[0].Caller != "138****0003" {
		t.Fatalf("op2 sees %+v, want only the open task, number masked", got)
	}
	if got[0].Recording == nil || *got[0].Recording != ticket.RecordingURL(re.pendingCB.ID) {
		t.Errorf("voicemail to hear: %v", got[0].Recording)
	}
	if all := list(boss, ""); len(all) != 2 || all[0].Caller == "" || strings.Contains(all[0].Caller, "*") {
		t.Errorf("manager sees %+v", all)
	}
	if code, b := re.do(t, "GET", "/api/callbacks?state=later", op, ""); code != 400 {
		t.Errorf("bad state: %d %s", code, b)
	}
	id := got[0].ID
	path := fmt.Sprintf("/api/callbacks/%d", id)
	if code, b := re.do(t, "POST", path+"/claim", op2, ""); code != 200 {
		t.Fatalf("op2 claims: %d %s", code, b)
	}
	if code, _ := re.do(t, "POST", path+"/claim", op, ""); code != 409 {
		t.Errorf("op claims op2's task: %d, want 409", code)
	}
	if code, _ := re.do(t, "POST", path+"/result", op, `{"result":"reached"}`); code != 409 {
		t.Errorf("op records op2's task: %d, want 409", code)
	}
	// Toll-fraud guard: dial names no number; any parameter is refused.
	for _, body := range []string{`{"number":"00862112345678"}`, `{"to":"sip:1900@evil"}`, `not json`} {
		if code, b := re.do(t, "POST", path+"/dial", op2, body); code != 400 || !strings.Contains(string(b), "own number") {
			t.Errorf("dial with %s: %d %s, want 400", body, code, b)
		}
	}
	if code, _ := re.do(t, "POST", path+"/dial", op2, ""); code != 503 {
		t.Errorf("dial without a callback service: %d, want 503", code)
	}
	if code, b := re.do(t, "POST", path+"/result", op2, `{"result":"retry"}`); code != 400 {
		t.Errorf("retry without retry_at: %d %s", code, b)
	}
	if code, b := re.do(t, "POST", path+"/result", op2, `{"result":"reached","number":"1"}`); code != 400 {
		t.Errorf("unknown field: %d %s", code, b)
	}
	code, b := re.do(t, "POST", path+"/result", op2, `{"result":"reached"}`)
	if code != 200 || !strings.Contains(string(b), `"state":"done"`) {
		t.Fatalf("result: %d %s", code, b)
	}
	// The ticket carries the task and its result; op2 still reads it (their task).
	code, b = re.do(t, "GET", "/api/tickets/"+re.pendingCB.ID, op2, "")
	var tk ticket.Ticket
	_ = json.Unmarshal(b, &tk)
	if code != 200 || len(tk.Callbacks) != 1 || tk.Callbacks[0].State != vocab.CallbackDone || len(tk.Callbacks[0].History) != 1 {
		t.Errorf("ticket: %d %+v", code, tk.Callbacks)
	}
	// op no longer sees it: neither the task nor the ticket.
	if code, _ := re.do(t, "GET", "/api/tickets/"+re.pendingCB.ID, op, ""); code != 403 {
		t.Errorf("op reads op2's done callback: %d, want 403", code)
	}
	code, b = re.do(t, "GET", "/api/stats/callbacks", boss, "")
	if code != 200 || !strings.Contains(string(b), `"done_today":1`) || !strings.Contains(string(b), `"open":1`) {
		t.Errorf("stats: %d %s", code, b)
	}
	if code, _ := re.do(t, "POST", "/api/callbacks/999/claim", op, ""); code != 404 {
		t.Errorf("unknown task: %d", code)
	}
}

// The wallboard's callback figures in a cluster: every node's tasks, summed.
func TestClusterCallbackStats(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	vm := func(tk *ticket.Ticket) {
		tk.Callback, tk.Status, tk.Outcome = true, vocab.StatusClosed, vocab.OutcomeVoicemail
	}
	a.open(t, "13800000001", time.Now(), vm)
	done := b.open(t, "13800000002", time.Now(), vm)
	b.open(t, "13800000003", time.Now(), vm)
	ctx := t.Context()
	if _, err := b.tickets.ClaimCallback(ctx, done.Callbacks[0].ID, "boss", true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tickets.CallbackResult(ctx, done.Callbacks[0].ID, "boss", true, vocab.ResultReached, nil); err != nil {
		t.Fatal(err)
	}
	code, body := a.do(t, "GET", "/api/stats/callbacks", a.login(t, "boss"), "")
	var got ticket.CallbackCounts
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if got.Open != 2 || got.DoneToday != 1 || got.CompletionRate == nil || *got.CompletionRate < 0.33 || *got.CompletionRate > 0.34 {
		t.Errorf("cluster callback stats %s", body)
	}
}

// The worklist in a cluster: any node lists every node's tasks, due first;
// a task's request, naming its ticket, is handled by the node that keeps it
// (task ids are a node's own, and the same on two nodes here).
func TestClusterCallbackWorklist(t *testing.T) {
	nodes, _ := newCluster(t, "", "km-1", "km-2")
	a, b := nodes["km-1"], nodes["km-2"]
	vm := func(tk *ticket.Ticket) {
		tk.Callback, tk.Status, tk.Outcome = true, vocab.StatusClosed, vocab.OutcomeVoicemail
	}
	onA := a.open(t, "13800000001", time.Now().Add(-2*time.Minute), vm)
	onB := b.open(t, "13800000002", time.Now().Add(-time.Minute), vm)
	other := a.open(t, "13800000003", time.Now(), nil)
	if onA.Callbacks[0].ID != onB.Callbacks[0].ID {
		t.Fatalf("the test wants one task id on both nodes: %d, %d", onA.Callbacks[0].ID, onB.Callbacks[0].ID)
	}
	id := onB.Callbacks[0].ID
	op := a.login(t, "op")

	code, body := a.do(t, "GET", "/api/callbacks?state=open", op, "")
	var got callbackList
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(got.Callbacks) != 2 || got.Callbacks[0].TicketID != onA.ID || got.Callbacks[1].TicketID != onB.ID || got.Partial != nil {
		t.Fatalf("the cluster's worklist through a: %s", body)
	}
	if c := got.Callbacks[1].Caller; c != "138****0002" {
		t.Errorf("b's task shows the caller %q to an operator, want it masked", c)
	}

	do := func(method, path, body string) (int, string, string) {
		req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+op)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get(HeaderServedBy), string(b)
	}
	q := fmt.Sprintf("/api/callbacks/%d/", id)
	if code, by, body := do("POST", q+"claim?ticket="+onB.ID, ""); code != 200 || by != "km-2" || !strings.Contains(body, `"assigned_to":"op"`) {
		t.Fatalf("claim of b's task through a: %d by %q %s", code, by, body)
	}
	if tk, err := a.tickets.Callback(t.Context(), id); err != nil || tk.AssignedTo != "" {
		t.Errorf("a's own task %d was touched: %+v %v", id, tk, err)
	}
	if code, by, body := do("POST", q+"dial?ticket="+onB.ID, ""); code != 503 || by != "km-2" {
		t.Errorf("dial of b's task through a: %d by %q %s, want b's 503 (no callback calls there)", code, by, body)
	}
	if code, by, body := do("POST", q+"result?ticket="+onB.ID, `{"result":"reached"}`); code != 200 || by != "km-2" || !strings.Contains(body, `"state":"done"`) {
		t.Errorf("result of b's task through a: %d by %q %s", code, by, body)
	}
	if code, _, body := do("POST", q+"claim?ticket="+other.ID, ""); code != 404 {
		t.Errorf("a task named with a ticket that is not its own: %d %s, want 404", code, body)
	}
}

// A caller who talked to an operator, was transferred back to a queue and
// left a message: the ticket's recording stays the conversation, the
// callback task's voicemail is the file beside it, served (audited) by the
// voicemail route; a voicemail that never reached an operator is the
// recording itself; a ticket without a message has none.
func TestVoicemailBesideTheConversation(t *testing.T) {
	re := newRolesEnv(t)
	ctx := t.Context()
	talked := openTicket(t, re.env, "13800000009", func(tk *ticket.Ticket) {
		answeredBy("8002")(tk)
		rec := ticket.RecordingURL(tk.ID)
		tk.Recording = &rec
		tk.Status, tk.Outcome, tk.Callback, tk.EndedAt = vocab.StatusClosed, vocab.OutcomeVoicemail, true, ticket.TimePtr(time.Now())
	})
	for name, body := range map[string]string{talked.ID + ".wav": "RIFF-conversation", talked.ID + "-voicemail.wav": "RIFF-message"} {
		if err := os.WriteFile(filepath.Join(re.recDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	op2, boss := re.login(t, "op2"), re.login(t, "boss")
	cbs, err := re.tickets.Callbacks(ctx, ticket.CallbackFilter{State: "open", Reason: vocab.CallbackVoicemail})
	if err != nil {
		t.Fatal(err)
	}
	var task *ticket.Callback
	for i := range cbs {
		switch cbs[i].TicketID {
		case talked.ID:
			task = &cbs[i]
		case re.pendingCB.ID:
			if r := cbs[i].Recording; r == nil || *r != ticket.RecordingURL(re.pendingCB.ID) {
				t.Errorf("a voicemail that never reached an operator: task recording %v, want the ticket's", r)
			}
		}
	}
	if task == nil || task.Recording == nil || *task.Recording != ticket.VoicemailURL(talked.ID) {
		t.Fatalf("the task of the transferred caller's message: %+v", task)
	}
	if code, b := re.do(t, "GET", *task.Recording, op2, ""); code != 200 || string(b) != "RIFF-message" {
		t.Errorf("an operator hears the task's voicemail: %d %q, want the message", code, b)
	}
	if code, b := re.do(t, "GET", ticket.RecordingURL(talked.ID), boss, ""); code != 200 || string(b) != "RIFF-conversation" {
		t.Errorf("the ticket's recording: %d %q, want the conversation", code, b)
	}
	if code, b := re.do(t, "GET", ticket.VoicemailURL(re.pendingCB.ID), op2, ""); code != 200 || !strings.HasPrefix(string(b), "RIFF") {
		t.Errorf("the voicemail of a caller who never talked: %d", code)
	}
	if code, _ := re.do(t, "GET", ticket.VoicemailURL(re.own.ID), boss, ""); code != 404 {
		t.Errorf("an answered call without a message: %d, want 404", code)
	}
	var n int
	if err := re.db.R.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'recording.download' AND object = ?`, talked.ID+"-voicemail").Scan(&n); err != nil || n != 1 {
		t.Errorf("audit lines for the voicemail: %d %v, want 1", n, err)
	}
}
