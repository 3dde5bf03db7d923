package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

// asUser calls the API as the holder of token, with a Range header when
// rng is set.
func asUser(t *testing.T, h *siptest.Hotline, token, method, path, body, rng string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+h.Ready.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// listAs returns the ids of the tickets token's holder sees for query.
func listAs(t *testing.T, h *siptest.Hotline, token, query string) []string {
	t.Helper()
	code, body, _ := asUser(t, h, token, "GET", "/api/tickets"+query, "", "")
	var r struct{ Tickets []ticketJSON }
	if code != 200 || json.Unmarshal(body, &r) != nil {
		t.Fatalf("GET /api/tickets%s: %d %s", query, code, body)
	}
	var ids []string
	for _, tk := range r.Tickets {
		ids = append(ids, tk.ID)
	}
	return ids
}

// auditLines reads the audit log with the sqlite3 CLI, as an auditor would:
// "user|action|object" in order.
func auditLines(t *testing.T, h *siptest.Hotline) []string {
	t.Helper()
	bin := siptest.RequireTool(t, "sqlite3")
	out, err := exec.Command(bin, filepath.Join(h.Dir, "data", "hotline.db"),
		"SELECT user_name || '|' || action || '|' || object FROM audit_log ORDER BY id").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// leaveVoicemail: with nobody logged in, number calls, presses 1, skips
// the invitation with a key, leaves about 4 s of message and hangs up; it
// returns the closed ticket.
func leaveVoicemail(t *testing.T, h *siptest.Hotline, number string) ticketJSON {
	t.Helper()
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(1500*time.Millisecond, 0.05, 300)).
		Digit('5', 120*time.Millisecond).
		Audio(siptest.Tone(15*time.Second, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	expectSIPpOK(t, siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number,
		Dir: dir, PauseMS: 8000,
	}.Run(t, 40*time.Second))
	return closedTicket(t, h, number)
}

// Role scoping from outside, over HTTP against the real binary: a voicemail
// left while nobody was logged in (a callback, never queued) and a call
// answered at seat 8001. The operator of 8001 sees their call (masked) and
// the callback (whole, and hears its voicemail, fetched as a player does
// with Range: bytes=-200000); the operator of 8002 sees only the callback,
// and neither finds nor reads 8001's call, even by its full number; once
// 8002 claims the callback task it is theirs alone. The manager sees all.
// Every recording request is in the audit log with its range.
func TestRolesOperatorAndManagerOverHTTP(t *testing.T) {
	t.Parallel()
	// No automatic assignment: the callback stays in the shared list until claimed.
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"wrap_up: 1s"}, Extra: "callback:\n  assign_every: 0s\n"})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	addUser(t, h, "op2", "operator", "8002", "op2-password-1")
	addUser(t, h, "boss", "manager", "", "boss-password-1")

	// Nobody logged in: the caller presses 1 and leaves a message.
	const vmCaller, callCaller = "13900000071", "13900000072"
	vmT := leaveVoicemail(t, h, vmCaller)
	if str(vmT.Outcome) != "voicemail" || !vmT.Callback || vmT.Recording == nil {
		t.Fatalf("voicemail ticket: outcome %s callback %v recording %v", str(vmT.Outcome), vmT.Callback, vmT.Recording)
	}
	if vmT.QueuedAt != nil || vmT.WaitSeconds != nil {
		t.Errorf("a voicemail that never queued: queued_at %s wait %v, want both null (no 排队等待)", str(vmT.QueuedAt), vmT.WaitSeconds)
	}

	// A call answered at seat 8001.
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 40*time.Second, answerKeys("caller")...)
	c := caller(t, h, callCaller, '1', 4*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	callT := closedTicket(t, h, callCaller)
	if str(callT.Outcome) != "answered" || str(callT.SeatID) != "8001" || callT.Recording == nil {
		t.Fatalf("answered ticket: outcome %s seat %s recording %v", str(callT.Outcome), str(callT.SeatID), callT.Recording)
	}

	op1 := loginAs(t, h, "op1", "op1-password-1")
	op2 := loginAs(t, h, "op2", "op2-password-1")
	boss := loginAs(t, h, "boss", "boss-password-1")
	both := []string{callT.ID, vmT.ID} // newest first

	// Lists and searches.
	for _, c := range []struct {
		who, token, query string
		want              []string
	}{
		{"op1", op1, "", both},
		{"op2", op2, "", []string{vmT.ID}},
		{"boss", boss, "", both},
		{"op1", op1, "?caller=" + callCaller, []string{callT.ID}},
		{"op2", op2, "?caller=" + callCaller, nil},
		{"op2", op2, "?caller=" + url.QueryEscape(vmCaller), []string{vmT.ID}},
		{"boss", boss, "?caller=" + callCaller, []string{callT.ID}},
	} {
		if got := listAs(t, h, c.token, c.query); !slices.Equal(got, c.want) {
			t.Errorf("%s GET /api/tickets%s: %v, want %v", c.who, c.query, got, c.want)
		}
	}

	// One ticket.
	get := func(who, token, id string, want int, shows string) {
		t.Helper()
		code, body, _ := asUser(t, h, token, "GET", "/api/tickets/"+id, "", "")
		if code != want || (shows != "" && !strings.Contains(string(body), `"caller":"`+shows+`"`)) {
			t.Errorf("%s GET ticket %s: %d %s, want %d showing %s", who, id, code, body, want, shows)
		}
	}
	get("op1", op1, callT.ID, 200, "139****0072")
	get("op1", op1, vmT.ID, 200, vmCaller) // the number to call back
	get("op2", op2, callT.ID, 403, "")
	get("boss", boss, callT.ID, 200, callCaller)
	if code, body, _ := asUser(t, h, op2, "PATCH", "/api/tickets/"+callT.ID, `{"summary":"x"}`, ""); code != 403 {
		t.Errorf("op2 PATCH 8001's ticket: %d %s", code, body)
	}

	// Recordings: a call's for managers; a callback's voicemail for the
	// operators whose work it is; fetched from the end as a player does.
	rec := func(who, token, id string, want int) {
		t.Helper()
		code, body, hdr := asUser(t, h, token, "GET", "/api/tickets/"+id+"/recording", "", "bytes=-200000")
		if code != want {
			t.Errorf("%s recording of %s: %d %.200s, want %d", who, id, code, body, want)
			return
		}
		if code == 206 && (!strings.HasPrefix(hdr.Get("Content-Range"), "bytes ") || len(body) == 0 || len(body) > 200000) {
			t.Errorf("%s recording of %s: %d bytes, Content-Range %q", who, id, len(body), hdr.Get("Content-Range"))
		}
	}
	rec("op1", op1, callT.ID, 403)
	rec("op1", op1, vmT.ID, 206)
	rec("boss", boss, callT.ID, 206)

	// op2 claims the callback task: it is theirs from now on; they write it up.
	tasks := callbacksAs(t, h, op2, "?state=open")
	if len(tasks) != 1 || tasks[0].TicketID != vmT.ID || tasks[0].Reason != "voicemail" {
		t.Fatalf("op2's callback tasks: %+v", tasks)
	}
	if code, body, _ := asUser(t, h, op2, "POST", fmt.Sprintf("/api/callbacks/%d/claim", tasks[0].ID), "", ""); code != 200 {
		t.Fatalf("op2 claims the callback: %d %s", code, body)
	}
	if code, body, _ := asUser(t, h, op2, "PATCH", "/api/tickets/"+vmT.ID, `{"summary":"已回电","disposition":"answered"}`, ""); code != 200 {
		t.Fatalf("op2 writes the callback up: %d %s", code, body)
	}
	get("op1", op1, vmT.ID, 403, "")
	rec("op1", op1, vmT.ID, 403)
	rec("op2", op2, vmT.ID, 206)
	if got := listAs(t, h, op2, ""); !slices.Equal(got, []string{vmT.ID}) {
		t.Errorf("op2's list after claiming the callback: %v", got)
	}
	if got := listAs(t, h, op1, ""); !slices.Equal(got, []string{callT.ID}) {
		t.Errorf("op1's list after op2 took the callback: %v", got)
	}

	lines := auditLines(t, h)
	for _, want := range []string{
		"op1|recording.range|" + vmT.ID + " bytes=-200000",
		"boss|recording.range|" + callT.ID + " bytes=-200000",
		"op2|recording.range|" + vmT.ID + " bytes=-200000",
		"boss|ticket.read|" + callT.ID,
		fmt.Sprintf("op2|callback.claim|%s #%d", vmT.ID, tasks[0].ID),
		"op2|callback.write|" + vmT.ID,
		"op2|ticket.search|caller=139****0072",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("audit log lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "|recording.") && strings.HasPrefix(l, "op1|") && strings.Count(l, vmT.ID) != 1 {
			t.Errorf("odd audit line %q", l)
		}
		if strings.Contains(l, callCaller) || strings.Contains(l, vmCaller) {
			t.Errorf("audit line with a whole number: %q", l)
		}
	}
	if n := strings.Count(strings.Join(lines, "\n"), "|recording."); n != 3 {
		t.Errorf("%d recording audit lines for the 3 recordings served, want 3:\n%s", n, strings.Join(lines, "\n"))
	}
}

// The operator's callback view in headless Chromium: the voicemail left
// while nobody was logged in is listed; opened, it shows the number whole,
// "未排队" (it never queued: no made-up queue wait) and the voicemail's
// player, whose audio the operator may fetch (audited).
func TestConsoleOperatorHearsTheCallback(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	const number = "13900000081"
	vmT := leaveVoicemail(t, h, number)
	if str(vmT.Outcome) != "voicemail" || !vmT.Callback {
		t.Fatalf("voicemail ticket: outcome %s callback %v", str(vmT.Outcome), vmT.Callback)
	}

	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	desk.WaitFor("the callback listed", `document.querySelectorAll("#callbacks li.cb-item").length === 1`, 10*time.Second)
	desk.Do(chromedp.Click(chromedp.CSS(`#callbacks button[aria-label^="查看"]`)))
	desk.WaitFor("the callback opened", `document.getElementById("pop-stage").textContent === "回访处理"`, 5*time.Second)
	if got := desk.Text("pop-caller"); got != number {
		t.Errorf("callback caller %q, want the whole number %s to dial", got, number)
	}
	if got := desk.Text("pop-wait"); got != "未排队" {
		t.Errorf("queue wait of a call that never queued: %q, want 未排队", got)
	}
	src := "/api/tickets/" + vmT.ID + "/voicemail" // here the recording itself: the call never reached an operator
	desk.WaitFor("the voicemail's player", fmt.Sprintf(`!document.getElementById("pop-vm-row").hidden && document.querySelector("#pop-vm audio").getAttribute("src") === %s`, jsq(src)), 5*time.Second)
	// The player loads the message (muted: no sound card here).
	siptest.Eval[bool](desk, `(() => { const a = document.querySelector("#pop-vm audio"); a.muted = true; a.preload = "auto"; a.load(); return true; })()`)
	desk.WaitFor("the message loaded in the player", `document.querySelector("#pop-vm audio").readyState >= 1`, 10*time.Second)
	if d := siptest.Eval[float64](desk, `document.querySelector("#pop-vm audio").duration`); d < 2 || d > 10 {
		t.Errorf("the voicemail in the player lasts %.1f s, want the message of about 4 s", d)
	}
	// What the player fetches, from the page (its session cookie).
	siptest.Eval[bool](desk, fmt.Sprintf(`(fetch(%s, {headers: {Range: "bytes=-200000"}}).then(r => { window.vmStatus = r.status; }), true)`, jsq(src)))
	desk.WaitFor("the voicemail fetched", `window.vmStatus === 206`, 5*time.Second)
	desk.Screenshot("desk-callback.png")
	if lines := auditLines(t, h); !slices.Contains(lines, "op1|recording.range|"+vmT.ID+" bytes=-200000") {
		t.Errorf("the operator's playback is not in the audit log:\n%s", strings.Join(lines, "\n"))
	}
}
