package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

// addUser creates a console user with the hotline binary, as an admin would.
func addUser(t *testing.T, h *siptest.Hotline, name, role, seat, password string) {
	t.Helper()
	args := []string{"user", "add", "--config", h.ConfigPath, "--name", name, "--role", role}
	if seat != "" {
		args = append(args, "--seat", seat)
	}
	if out, err := h.Run(t, password+"\n", args...); err != nil {
		t.Fatalf("user add %s: %v\n%s", name, err, out)
	}
}

// consoleLogin opens the console and logs in through its form.
func consoleLogin(t *testing.T, h *siptest.Hotline, p *siptest.Page, user, password, view string) {
	t.Helper()
	p.Do(chromedp.Navigate("http://" + h.Ready.HTTP + "/"))
	p.WaitFor("the login form", `document.getElementById("login-view") && !document.getElementById("login-view").hidden`, 20*time.Second)
	p.Do(
		chromedp.SendKeys(chromedp.ID("login-user"), user),
		chromedp.SendKeys(chromedp.ID("login-pass"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	p.WaitFor("the "+view+" after login", fmt.Sprintf(`!document.getElementById(%q).hidden`, view), 20*time.Second)
	p.WaitFor("the live events connected", `document.getElementById("conn").classList.contains("on")`, 20*time.Second)
}

func jsq(s string) string { b, _ := json.Marshal(s); return string(b) }

// The console as a person uses it, in headless Chromium against the real
// binary: an operator bound to seat 8001 logs in, goes not ready and ready
// again; a citizen who called once before calls again (green channel); the
// screen-pop shows the call and the earlier ticket; the operator fills the
// ticket and saves it (a new revision over the API); the manager's
// wallboard counts change as the call ends. Screenshots of both views at
// 1366×768 are written (HOTLINE_SCREENSHOTS=dir keeps them).
func TestConsoleOperatorDeskAndManagerWallboard(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t) // first: a missing chromium fails at once
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"ring_timeout: 20s", "wrap_up: 30s"}})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	addUser(t, h, "boss", "manager", "", "boss-password-1")

	// The citizen's earlier call: no seat logged in yet, hangs up in the menu.
	const number = "13712345678"
	r := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number,
		Dir: func() string {
			d := t.TempDir()
			noise := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x4444).Audio(siptest.Tone(8*time.Second, 0.02, 200))
			siptest.WritePCAPFile(t, d, "audio.pcap", noise.Packets())
			return d
		}(), PauseMS: 6000,
	}.Run(t, 30*time.Second)
	expectSIPpOK(t, r)
	earlier := closedTicket(t, h, number)
	if str(earlier.Outcome) != "abandoned" {
		t.Fatalf("earlier call: outcome %s", str(earlier.Outcome))
	}

	// The manager's wallboard, before the call.
	board := br.NewPage(t, "wallboard", 1366, 768)
	consoleLogin(t, h, board, "boss", "boss-password-1", "board-view")
	board.WaitFor("today's numbers on the wallboard (GET /api/stats/today)", `/^\d+$/.test(document.getElementById("kpi-offered").textContent)`, 20*time.Second)
	offeredBefore, _ := strconv.Atoi(board.Text("kpi-offered"))
	answeredBefore, _ := strconv.Atoi(board.Text("kpi-answered"))
	if offeredBefore < 1 {
		t.Fatalf("wallboard offered %d before the call, want the earlier call counted", offeredBefore)
	}
	board.WaitFor("seat 8001 offline on the wallboard", `document.querySelector('#seat-grid [data-seat="8001"][data-state="offline"]')`, 10*time.Second)

	// The operator: the softphone registers, the console logs in.
	seat := siptest.RegisterSeat(t, h, "8001")
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	desk.WaitFor("my seat ready", `document.getElementById("my-state").textContent === "就绪"`, 10*time.Second)
	board.WaitFor("seat 8001 ready on the wallboard (live)", `document.querySelector('#seat-grid [data-seat="8001"][data-state="ready"]')`, 10*time.Second)

	// Not ready (小休), then ready again, from the desk.
	desk.Do(chromedp.SetValue(chromedp.ID("nr-reason"), "break"), chromedp.Click(chromedp.ID("btn-notready")))
	desk.WaitFor("not ready on the desk", `document.getElementById("my-state").textContent === "未就绪" && document.getElementById("my-reason").textContent === "小休"`, 10*time.Second)
	if v := h.Seats(t)["8001"]; v.State != "not_ready" || v.Reason != "break" {
		t.Fatalf("after 未就绪: API says %+v", v)
	}
	desk.Do(chromedp.Click(chromedp.ID("btn-ready")))
	desk.WaitFor("ready on the desk", `document.getElementById("my-state").textContent === "就绪"`, 10*time.Second)
	seat.WaitState(t, "ready", 5*time.Second)

	// The call: the citizen presses 9 (wage arrears, green channel), the
	// seat rings 4 s and answers; the citizen hangs up after 30 s.
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 90*time.Second, "ring_ms", "4000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	callerRun := caller(t, h, number, '9', 30*time.Second)

	desk.WaitFor("the screen-pop on offer", `document.getElementById("pop-stage").textContent === "振铃中"`, 20*time.Second)
	desk.WaitFor("the earlier ticket in the screen-pop", fmt.Sprintf(`document.querySelector('#history li[data-ticket=%s]')`, jsq(earlier.ID)), 5*time.Second)
	if got := desk.Text("pop-caller"); got != "137****5678" {
		t.Errorf("screen-pop caller %q, want it masked as 137****5678", got)
	}
	if green := siptest.Eval[bool](desk, `!document.getElementById("pop-green").hidden`); !green {
		t.Error("the green-channel flag is not shown")
	}
	if got := desk.Text("pop-ivr"); !strings.Contains(got, "9") {
		t.Errorf("IVR path %q, want the key 9", got)
	}
	if got := desk.Text("pop-category"); got != "法律援助" {
		t.Errorf("category %q, want 法律援助", got)
	}
	ticketID := desk.Text("pop-ticket")
	desk.WaitFor("my seat ringing", `document.getElementById("my-state").textContent === "振铃中"`, 5*time.Second)
	desk.Screenshot("desk-ringing.png")
	desk.WaitFor("the screen-pop on answer", `document.getElementById("pop-stage").textContent === "通话中"`, 20*time.Second)
	board.WaitFor("seat 8001 busy on the wallboard", `document.querySelector('#seat-grid [data-seat="8001"][data-state="busy"]')`, 10*time.Second)

	// The ticket form, filled while talking.
	code, body := h.API(t, "GET", "/api/tickets/"+ticketID, "")
	if code != 200 {
		t.Fatalf("GET ticket %s: %d %s", ticketID, code, body)
	}
	var before ticketJSON
	_ = json.Unmarshal(body, &before)
	const summary = "反映在某建筑工地务工被拖欠工资三个月，已告知可申请法律援助并向劳动保障监察投诉。"
	desk.Do(
		chromedp.SendKeys(chromedp.ID("f-summary"), summary),
		chromedp.SetValue(chromedp.ID("f-domain"), "wage_arrears"),
		chromedp.SetValue(chromedp.ID("f-disposition"), "legal_aid_referral"),
		chromedp.Click(chromedp.ID("f-save")),
	)
	desk.WaitFor("the ticket saved", `document.getElementById("f-msg").textContent.startsWith("已保存")`, 10*time.Second)
	code, body = h.API(t, "GET", "/api/tickets/"+ticketID, "")
	var after struct {
		ticketJSON
		Summary     string `json:"summary"`
		LegalDomain string `json:"legal_domain"`
		Disposition string `json:"disposition"`
	}
	if code != 200 || json.Unmarshal(body, &after) != nil {
		t.Fatalf("GET ticket after save: %d %s", code, body)
	}
	if after.Summary != summary || after.LegalDomain != "wage_arrears" || after.Disposition != "legal_aid_referral" {
		t.Errorf("saved ticket: summary %q domain %q disposition %q", after.Summary, after.LegalDomain, after.Disposition)
	}
	if after.Revision <= before.Revision {
		t.Errorf("revision %d after the save, was %d: no new revision", after.Revision, before.Revision)
	}

	// The call ends: the desk shows the wrap-up timer, the wallboard's counts move.
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	desk.WaitFor("the wrap-up timer", `!document.getElementById("wrapup").hidden && +document.getElementById("wrapup-left").textContent > 0`, 10*time.Second)
	desk.Screenshot("desk-wrapup.png")
	board.WaitFor("offered and answered counted on the wallboard",
		fmt.Sprintf(`+document.getElementById("kpi-offered").textContent > %d && +document.getElementById("kpi-answered").textContent > %d`, offeredBefore, answeredBefore), 20*time.Second)

	// Ticket search and the recording's player (managers only).
	board.Do(chromedp.SetValue(chromedp.ID("s-caller"), number), chromedp.Click(chromedp.CSS("#search-form button[type=submit]")))
	board.WaitFor("both tickets of the caller found", `document.querySelectorAll("#search-table tbody tr").length === 2`, 10*time.Second)
	board.Do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#search-table tr[data-ticket=%s] button`, jsq(ticketID)))))
	board.WaitFor("the recording's player", fmt.Sprintf(`(document.querySelector("#player audio")||{}).getAttribute && document.querySelector("#player audio").getAttribute("src") === %s`, jsq("/api/tickets/"+ticketID+"/recording")), 5*time.Second)
	board.WaitFor("the hourly chart counts the call", fmt.Sprintf(`+(document.querySelector("#chart svg")||{dataset:{}}).dataset.offered > %d`, offeredBefore), 15*time.Second)
	board.Screenshot("wallboard.png")
	t.Logf("wallboard: offered %s (was %d), answered %s (was %d)", board.Text("kpi-offered"), offeredBefore, board.Text("kpi-answered"), answeredBefore)
}
