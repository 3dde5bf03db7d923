package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

type callbackJSON struct {
	ID         int64   `json:"id"`
	TicketID   string  `json:"ticket_id"`
	Reason     string  `json:"reason"`
	DueAt      string  `json:"due_at"`
	State      string  `json:"state"`
	AssignedTo *string `json:"assigned_to"`
	Attempts   int     `json:"attempts"`
	LastResult *string `json:"last_result"`
	Recording  *string `json:"recording"`
	History    []struct {
		Kind        string   `json:"kind"`
		Result      string   `json:"result"`
		By          string   `json:"by"`
		TalkSeconds *float64 `json:"talk_seconds"`
		Recording   string   `json:"recording"`
	} `json:"history"`
}

// apiAs calls the API with a user's bearer token.
func apiAs(t *testing.T, h *siptest.Hotline, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.Ready.HTTP+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func callbacksAs(t *testing.T, h *siptest.Hotline, token, query string) []callbackJSON {
	t.Helper()
	code, b := apiAs(t, h, token, "GET", "/api/callbacks"+query, "")
	if code != 200 {
		t.Fatalf("GET /api/callbacks%s: %d %s", query, code, b)
	}
	var r struct{ Callbacks []callbackJSON }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Callbacks
}

// The callback worklist end to end: a voicemail, an abandon after
// short_abandon and a "3 不满意" each make a task; the operator dials the
// voicemail's: their SIPp phone rings first, then the SIPp citizen behind
// the trunk (shown the hotline number), both hear each other through the
// switch; the result lands on the ticket and in the work-order push. Two
// failed attempts close the abandon's task as unreachable; dial takes no
// number (toll-fraud guard).
func TestCallbackWorklist(t *testing.T) {
	t.Parallel()
	wo := newWorkorderSystem(t, "wo-secret")
	wo.up()
	trunkPort := siptest.FreePort(t)
	h := siptest.StartHotline(t, siptest.Config{
		ACD: []string{"short_abandon_seconds: 2", "wrap_up: 1s", "ring_timeout: 10s"},
		Extra: fmt.Sprintf(`workorder:
  url: %s
  secret: wo-secret
  timeout: 1s
transfer:
  trunk: "sip:127.0.0.1:%d"
  caller_id: "12348"
callback:
  due: { voicemail: 2h, abandoned: 1h, dissatisfied: 3h }
  max_attempts: 2
  assign_every: 1s
`, wo.url(), trunkPort)})
	h.Login(t)
	const vmCaller, abCaller, satCaller = "13911110001", "13911110002", "13911110003"

	// 1. Nobody logged in: a voicemail, and a caller who hangs up in the IVR after 3 s (> 2 s).
	vmDir := t.TempDir()
	siptest.WritePCAPFile(t, vmDir, "press.pcap", siptest.NewStream(sippAddr, farEnd, 8, 101, 0x1111).
		Audio(siptest.Tone(time.Second, 0.05, 300)).Digit('1', 120*time.Millisecond).Audio(siptest.Tone(500*time.Millisecond, 0.05, 300)).Packets())
	siptest.WritePCAPFile(t, vmDir, "message.pcap", siptest.NewStream(sippAddr, farEnd, 8, 101, 0x2222).
		Audio(siptest.Tone(2*time.Second, 0.3, 250, 440)).Digit('#', 120*time.Millisecond).Packets())
	pause := time.Second + promptLength(t, "voicemail") + 400*time.Millisecond + 1500*time.Millisecond
	vm := siptest.SIPp{Scenario: "caller_voicemail.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: vmCaller,
		Dir: vmDir, PauseMS: int(pause.Milliseconds())}.Start(t, 60*time.Second)
	ab := caller(t, h, abCaller, '#', 3*time.Second)
	// Once the voicemail caller chose (and, nobody logged in, went to
	// voicemail), a seat may log in: the rated call runs meanwhile.
	waitUntil(t, "the voicemail caller's choice", 10*time.Second, func() bool {
		ts := ticketsOf(t, h, vmCaller)
		return len(ts) == 1 && ts[0].IVRPath == "1"
	})
	time.Sleep(300 * time.Millisecond)

	// 2. The operator's seat (SIPp) and user; a call rated 3.
	addUser(t, h, "op", "operator", "8001", "op-password-1")
	op := loginAs(t, h, "op", "op-password-1")
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 40*time.Second, "ring_ms", "300", "talk_ms", "2500", "hangup", "seat", "pt", "0", "codec", "PCMU")
	satDir := t.TempDir()
	callerPress(t, satDir, '1', '3', 15*time.Second)
	sat := siptest.SIPp{Scenario: "caller_rates.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: satCaller, Dir: satDir, PauseMS: 6000}.Start(t, 40*time.Second)
	expectSIPpOK(t, sat.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	expectSIPpOK(t, vm.Wait(t))
	expectSIPpOK(t, ab.Wait(t))

	vmT, abT, satT := closedTicket(t, h, vmCaller), closedTicket(t, h, abCaller), closedTicket(t, h, satCaller)
	if tk := satT; tk.Satisfaction == nil || *tk.Satisfaction != 3 {
		t.Fatalf("the rated call has satisfaction %v, want 3", tk.Satisfaction)
	}
	tasks := map[string]callbackJSON{}
	waitUntil(t, "three callback tasks", 5*time.Second, func() bool {
		for _, c := range callbacksAs(t, h, h.Token, "?state=open") {
			tasks[c.TicketID] = c
		}
		return len(tasks) == 3
	})
	for tk, reason := range map[string]string{vmT.ID: "voicemail", abT.ID: "abandoned", satT.ID: "dissatisfied"} {
		if tasks[tk].Reason != reason {
			t.Errorf("ticket %s: task %+v, want reason %s", tk, tasks[tk], reason)
		}
	}
	vmTask := tasks[vmT.ID]
	if vmTask.Recording == nil || *vmTask.Recording != str(vmT.Recording) {
		t.Errorf("voicemail task's recording %v, want the ticket's %s", vmTask.Recording, str(vmT.Recording))
	}
	// The operator may hear the voicemail of an open task.
	// The operator may hear the voicemail of an open task (the desk plays
	// it from the voicemail route: here the same file).
	if code, b := apiAs(t, h, op, "GET", str(vmT.Recording), ""); code != 200 || !strings.HasPrefix(string(b), "RIFF") {
		t.Errorf("op plays the voicemail: %d", code)
	} else if code, b2 := apiAs(t, h, op, "GET", "/api/tickets/"+vmT.ID+"/voicemail", ""); code != 200 || string(b2) != string(b) {
		t.Errorf("op plays the voicemail from the voicemail route: %d (%d bytes, the recording has %d)", code, len(b2), len(b))
	}
	// The idle ready operator is handed one task (the queue is empty).
	waitUntil(t, "a task assigned to op", 5*time.Second, func() bool {
		for _, c := range callbacksAs(t, h, op, "?state=open") {
			if c.AssignedTo != nil && *c.AssignedTo == "op" {
				return true
			}
		}
		return false
	})

	// 3. Toll-fraud guard: dial names no number.
	path := fmt.Sprintf("/api/callbacks/%d", vmTask.ID)
	if code, b := apiAs(t, h, op, "POST", path+"/dial", `{"number":"0085212345678"}`); code != 400 {
		t.Fatalf("dial with a number: %d %s, want 400", code, b)
	}

	// 4. The callback: op's phone rings first, then the citizen behind the trunk.
	seat.WaitState(t, "ready", 5*time.Second)
	seatVoice(t, seat, 20*time.Second)
	seatCap := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", seat.MediaPort))
	seatLeg := seat.Run(t, "seat_answer.xml", 30*time.Second, "ring_ms", "300", "talk_ms", "0", "hangup", "caller", "pt", "0", "codec", "PCMU")
	citDir, citMP := t.TempDir(), siptest.FreePort(t)
	siptest.WritePCAPFile(t, citDir, "seat.pcap", siptest.NewStream(sippAddr, farEnd, 0, 101, 0xC171).Audio(siptest.Tone(10*time.Second, 0.25, callerHz1)).Packets())
	citCap := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", citMP))
	citizen := siptest.SIPp{Scenario: "seat_answer.xml", Target: h.Ready.SIPUDP, LocalPort: trunkPort, MediaPort: citMP, Dir: citDir,
		Extra: []string{"-key", "seat", vmCaller, "-key", "ring_ms", "500", "-key", "talk_ms", "3000", "-key", "hangup", "seat", "-key", "pt", "0", "-key", "codec", "PCMU"}}.Start(t, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // SIPp listening
	if code, b := apiAs(t, h, op, "POST", path+"/dial", ""); code != 202 {
		t.Fatalf("dial: %d %s", code, b)
	}
	seat.WaitState(t, "not_ready", 2*time.Second) // no queue call offered meanwhile
	expectSIPpOK(t, seatLeg.Wait(t))
	cr := citizen.Wait(t)
	expectSIPpOK(t, cr)
	seatPkts, citPkts := seatCap.Stop(t), citCap.Stop(t)
	if !strings.Contains(cr.Messages, "INVITE sip:"+vmCaller+"@127.0.0.1:") || !strings.Contains(cr.Messages, "<sip:12348@") {
		t.Errorf("the trunk's INVITE is not for %s from 12348:\n%s", vmCaller, cr.Messages)
	}
	if lvl := heardLevel(citPkts, seatHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the operator (%.0f Hz level %.4f)", seatHz, lvl)
	}
	if lvl := heardLevel(seatPkts, callerHz1); lvl < 0.02 {
		t.Errorf("the operator did not hear the citizen (%.0f Hz level %.4f)", callerHz1, lvl)
	}
	seat.WaitState(t, "ready", 5*time.Second) // back where it was

	// 5. The call and the result on the ticket and in the push.
	var got []callbackJSON
	waitUntil(t, "the call in the task's history", 5*time.Second, func() bool {
		got = ticketCallbacks(t, h, vmT.ID)
		return len(got) == 1 && len(got[0].History) == 1
	})
	if e := got[0].History[0]; e.Kind != "call" || e.Result != "answered" || e.By != "op" || e.TalkSeconds == nil || *e.TalkSeconds < 2 || e.Recording == "" {
		t.Errorf("call entry %+v", e)
	}
	// Recorded like any call: stereo, the citizen left, the operator right (managers only).
	if code, _ := apiAs(t, h, op, "GET", path+"/recording/0", ""); code != 403 {
		t.Errorf("operator downloads the callback recording: %d, want 403", code)
	}
	code, wavBytes := h.API(t, "GET", path+"/recording/0", "")
	if code != 200 {
		t.Fatalf("callback recording: %d %s", code, wavBytes)
	}
	wav, err := siptest.ParseWAV(wavBytes)
	if err != nil || wav.Channels != 2 {
		t.Fatalf("callback recording: %v, %d channels", err, wav.Channels)
	}
	if l, r := siptest.ToneLevel(wav.Samples[0], callerHz1), siptest.ToneLevel(wav.Samples[1], seatHz); l < 0.02 || r < 0.02 {
		t.Errorf("callback recording: citizen (left) %.4f, operator (right) %.4f", l, r)
	}
	if code, b := apiAs(t, h, op, "POST", path+"/result", `{"result":"reached"}`); code != 200 || !strings.Contains(string(b), `"state":"done"`) {
		t.Fatalf("result: %d %s", code, b)
	}
	waitUntil(t, "the push with the result", 10*time.Second, func() bool {
		wo.mu.Lock()
		body := wo.last[vmT.ID]
		wo.mu.Unlock()
		var p struct {
			Ticket struct{ Callbacks []callbackJSON } `json:"ticket"`
		}
		_ = json.Unmarshal(body, &p)
		cb := p.Ticket.Callbacks
		return len(cb) == 1 && cb[0].State == "done" && str(cb[0].LastResult) == "reached" && len(cb[0].History) == 2
	})

	// 6. Two failed attempts: unreachable.
	abPath := fmt.Sprintf("/api/callbacks/%d", tasks[abT.ID].ID)
	for i, want := range []string{"open", "unreachable"} {
		if code, b := apiAs(t, h, op, "POST", abPath+"/claim", ""); code != 200 {
			t.Fatalf("claim %d: %d %s", i, code, b)
		}
		code, b := apiAs(t, h, op, "POST", abPath+"/result", `{"result":"no_answer"}`)
		if code != 200 || !strings.Contains(string(b), `"state":"`+want+`"`) {
			t.Fatalf("no answer %d: %d %s, want state %s", i+1, code, b, want)
		}
	}
	m := scrape(t, h)
	if v := metricValue(t, m, "hotline_callbacks_completed_total", `result="reached"`); v != 1 {
		t.Errorf("hotline_callbacks_completed_total{reached} %v", v)
	}
	if v := metricValue(t, m, "hotline_callbacks_open"); v != 1 {
		t.Errorf("hotline_callbacks_open %v, want 1 (the dissatisfied)", v)
	}
	for _, n := range []string{vmCaller, abCaller, satCaller} {
		if strings.Contains(m, n) || strings.Contains(h.Log(), n) {
			t.Errorf("caller %s in /metrics or the log", n)
		}
	}
}

func ticketCallbacks(t *testing.T, h *siptest.Hotline, id string) []callbackJSON {
	t.Helper()
	code, b := h.API(t, "GET", "/api/tickets/"+id, "")
	if code != 200 {
		t.Fatalf("ticket %s: %d %s", id, code, b)
	}
	var tk struct{ Callbacks []callbackJSON }
	if err := json.Unmarshal(b, &tk); err != nil {
		t.Fatal(err)
	}
	return tk.Callbacks
}

// The 回访 list in headless Chromium: a caller who hung up after
// short_abandon is an overdue task on the operator's desk; 回拨 rings the
// operator's SIPp phone, then the SIPp citizen behind the trunk, who hears
// the operator; 已联系 closes the task; the wallboard's tile counts it.
func TestCallbackConsole(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	trunkPort := siptest.FreePort(t)
	h := siptest.StartHotline(t, siptest.Config{
		ACD: []string{"short_abandon_seconds: 2", "wrap_up: 1s"},
		Extra: fmt.Sprintf(`transfer:
  trunk: "sip:127.0.0.1:%d"
callback:
  due: { abandoned: 1s }
`, trunkPort)})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	addUser(t, h, "boss", "manager", "", "boss-password-1")
	const number = "13722223333"
	expectSIPpOK(t, caller(t, h, number, '#', 3*time.Second).Wait(t))
	tk := closedTicket(t, h, number)

	seat := siptest.RegisterSeat(t, h, "8001")
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	item := `#callbacks li.cb-item`
	desk.WaitFor("the overdue task on the desk", `document.querySelector("#callbacks li.cb-item.overdue")`, 10*time.Second)
	if got := desk.Text("callbacks"); !strings.Contains(got, "137****3333") || !strings.Contains(got, "放弃来电") || !strings.Contains(got, "已超时") {
		t.Errorf("the 回访 list says %q", got)
	}
	// 查看: the ticket in the pop.
	desk.Do(chromedp.Click(chromedp.CSS(item + ` button[aria-label^="查看"]`)))
	desk.WaitFor("the task's ticket in the pop", fmt.Sprintf(`document.getElementById("pop-ticket").textContent === %s && document.getElementById("pop-stage").textContent === "回访处理"`, jsq(tk.ID)), 5*time.Second)
	desk.Screenshot("desk-callbacks.png")

	// 回拨.
	seatVoice(t, seat, 20*time.Second)
	seatLeg := seat.Run(t, "seat_answer.xml", 30*time.Second, "ring_ms", "300", "talk_ms", "0", "hangup", "caller", "pt", "0", "codec", "PCMU")
	citDir, citMP := t.TempDir(), siptest.FreePort(t)
	siptest.WritePCAPFile(t, citDir, "seat.pcap", siptest.NewStream(sippAddr, farEnd, 0, 101, 0xC172).Audio(siptest.Tone(10*time.Second, 0.25, callerHz1)).Packets())
	citCap := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", citMP))
	citizen := siptest.SIPp{Scenario: "seat_answer.xml", Target: h.Ready.SIPUDP, LocalPort: trunkPort, MediaPort: citMP, Dir: citDir,
		Extra: []string{"-key", "seat", number, "-key", "ring_ms", "500", "-key", "talk_ms", "2500", "-key", "hangup", "seat", "-key", "pt", "0", "-key", "codec", "PCMU"}}.Start(t, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	desk.Do(chromedp.Click(chromedp.CSS(item + ` button[aria-label^="回拨"]`)))
	desk.WaitFor("the dialling note", `document.querySelector("#callbacks .cb-msg.ok") || document.querySelector("#callbacks li.cb-item.mine")`, 5*time.Second)
	expectSIPpOK(t, seatLeg.Wait(t))
	expectSIPpOK(t, citizen.Wait(t))
	if lvl := heardLevel(citCap.Stop(t), seatHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the operator (level %.4f)", lvl)
	}
	// 已联系: the task is done and leaves the list.
	desk.Do(chromedp.Click(chromedp.CSS(item + ` button[aria-label="回访结果：已联系"]`)))
	desk.WaitFor("the list empty", `!document.querySelector("#callbacks li.cb-item")`, 10*time.Second)
	cbs := ticketCallbacks(t, h, tk.ID)
	if len(cbs) != 1 || cbs[0].State != "done" || str(cbs[0].LastResult) != "reached" || len(cbs[0].History) != 2 || cbs[0].History[0].Result != "answered" {
		t.Fatalf("task after 已联系: %+v", cbs)
	}

	board := br.NewPage(t, "wallboard", 1366, 768)
	consoleLogin(t, h, board, "boss", "boss-password-1", "board-view")
	board.WaitFor("the callback tile", `document.getElementById("kpi-callbacks").textContent === "100.0%"`, 20*time.Second)
	if got, title := board.Text("kpi-callbacks-sub"), siptest.Eval[string](board, `document.getElementById("kpi-callbacks-sub").title`); got != "待回访 0 · 超时 0" || !strings.Contains(title, "今日完成 1（已联系 1") {
		t.Errorf("callback tile: %q (title %q)", got, title)
	}
	board.Screenshot("wallboard-callbacks.png")
}
