package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hotline12348/hotline/internal/siptest"
)

// Call control from the console, in headless Chromium against the real
// binary, a SIPp citizen and a SIPp seat: the operator talks, puts the
// citizen on hold (the citizen hears "您的通话已保持" and the operator's
// voice no longer; the seat hears the citizen no longer), resumes (the
// operator's voice again), mutes and unmutes, sends keys (RFC 4733 events
// to the citizen) and hangs up from the desk; the ticket's history has
// each action and the desk shows it. Checked on one tcpdump capture of
// what the switch sent to both phones. The desk's screenshot while on hold
// is docs/console-call-control.png (HOTLINE_SCREENSHOTS=docs).
func TestConsoleCallControl(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"ring_timeout: 20s", "wrap_up: 30s"}})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")

	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 90*time.Second)
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	desk.WaitFor("my seat ready", `document.getElementById("my-state").textContent === "就绪"`, 10*time.Second)

	const number = "13712340011"
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(90*time.Second, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and (dst port %d or dst port %d)", mp, seat.MediaPort))
	seatRun := seat.Run(t, "seat_answer.xml", 120*time.Second, "ring_ms", "500", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	callerRun := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number,
		Dir: dir, MediaPort: mp}.Start(t, 120*time.Second)

	desk.WaitFor("the call connected on the desk", `document.getElementById("pop-stage").textContent === "通话中"`, 30*time.Second)
	desk.WaitFor("the call controls", `!document.getElementById("cc").hidden && !document.getElementById("cc-hold").disabled`, 10*time.Second)
	ticketID := desk.Text("pop-ticket")
	desk.WaitFor("the call's timer running", `/^0:0[1-9]$/.test(document.getElementById("cc-timer").textContent)`, 10*time.Second)

	// A call not on hold cannot be resumed; an unknown action is 404.
	code, body := h.API(t, "POST", "/api/calls/"+ticketID+"/resume", "")
	if code != 409 {
		t.Errorf("resume a call not on hold (admin): %d %s, want 409", code, body)
	}
	if code, _ := h.API(t, "POST", "/api/calls/"+ticketID+"/park", ""); code != 404 {
		t.Errorf("unknown action: %d, want 404", code)
	}

	// marks are when each action was answered, on our clock.
	marks := map[string]time.Time{}
	click := func(id, action, waitJS string) {
		t.Helper()
		desk.Do(chromedp.Click(chromedp.ID(id)))
		desk.WaitFor(action+" done", waitJS, 10*time.Second)
		marks[action] = time.Now()
	}
	time.Sleep(2 * time.Second) // talking
	click("cc-hold", "hold", `document.getElementById("cc-held-flag") !== null && !document.getElementById("cc-hold").disabled`)
	desk.WaitFor("hold in the desk's history", `document.querySelector('#cc-history li[data-action="hold"]') !== null`, 5*time.Second)
	desk.Screenshot("console-call-control.png")
	time.Sleep(4 * time.Second) // the hold prompt is 3 s
	// Keyboard: F7 resumes.
	desk.Do(chromedp.KeyEvent(kb.F7))
	desk.WaitFor("resumed by F7", `document.getElementById("cc-held-flag") === null && !document.getElementById("cc-hold").disabled`, 10*time.Second)
	marks["resume"] = time.Now()
	time.Sleep(2500 * time.Millisecond)
	click("cc-mute", "mute", `document.getElementById("cc-muted-flag") !== null && !document.getElementById("cc-mute").disabled`)
	time.Sleep(2500 * time.Millisecond)
	click("cc-mute", "unmute", `document.getElementById("cc-muted-flag") === null && !document.getElementById("cc-mute").disabled`)
	time.Sleep(2500 * time.Millisecond)
	desk.Do(chromedp.SendKeys(chromedp.ID("cc-digits"), "159#"))
	click("cc-dtmf", "dtmf", `document.querySelector('#cc-history li[data-action="dtmf"]') !== null`)
	time.Sleep(1500 * time.Millisecond)
	click("cc-hangup", "hangup", `document.querySelector('#cc-history li[data-action="hangup"]') !== null`)

	expectSIPpOK(t, seatRun.Wait(t))   // the switch hung up the seat's leg
	expectSIPpOK(t, callerRun.Wait(t)) // the survey, then the switch's BYE
	pkts := capture.Stop(t)

	// What each phone got, on the capture's clock: the first RFC 4733
	// event to the citizen is the dtmf mark.
	var anchor time.Duration = -1
	type event struct {
		code byte
		ts   uint32
	}
	var events []event
	seen := map[uint32]bool{}
	for _, p := range pkts {
		r, ok := siptest.ParseRTP(p.Payload)
		if !ok || int(p.Dst.Port()) != mp || r.PT != 101 || len(r.Payload) < 4 {
			continue
		}
		if anchor < 0 {
			anchor = p.At
		}
		if !seen[r.Timestamp] {
			seen[r.Timestamp] = true
			events = append(events, event{r.Payload[0], r.Timestamp})
		}
	}
	if anchor < 0 {
		t.Fatal("no RFC 4733 event reached the citizen")
	}
	var codes []string
	for _, e := range events {
		codes = append(codes, string("0123456789*#ABCD"[e.code]))
	}
	if got := strings.Join(codes, ""); got != "159#" {
		t.Errorf("keys the citizen got as RFC 4733 events: %q, want 159#", got)
	}
	at := func(action string, off time.Duration) time.Duration {
		return anchor - marks["dtmf"].Sub(marks[action]) + off
	}
	// pcmOf is the audio one phone got between two capture times.
	pcmOf := func(port int, from, to time.Duration) []int16 {
		var pcm []int16
		for _, p := range pkts {
			if int(p.Dst.Port()) != port || p.At < from || p.At >= to {
				continue
			}
			if r, ok := siptest.ParseRTP(p.Payload); ok && r.PT == 0 {
				pcm = append(pcm, siptest.DecodeG711(0, r.Payload)...)
			}
		}
		return pcm
	}
	const m = 400 * time.Millisecond // API answer vs media: margins
	citizen := func(from, to time.Duration) float64 { return siptest.ToneLevel(pcmOf(mp, from, to), seatHz) }
	operator := func(from, to time.Duration) float64 {
		return siptest.ToneLevel(pcmOf(seat.MediaPort, from, to), callerHz1)
	}
	talking := citizen(at("hold", -2*time.Second), at("hold", -m))
	held := citizen(at("hold", m), at("resume", -m))
	resumed := citizen(at("resume", m), at("mute", -m))
	muted := citizen(at("mute", m), at("unmute", -m))
	unmuted := citizen(at("unmute", m), at("dtmf", -m))
	t.Logf("operator's voice at the citizen: talking %.3f held %.3f resumed %.3f muted %.3f unmuted %.3f", talking, held, resumed, muted, unmuted)
	if talking < 0.05 || resumed < 0.05 || unmuted < 0.05 {
		t.Errorf("the citizen did not hear the operator while connected (%.3f, %.3f, %.3f)", talking, resumed, unmuted)
	}
	if held > talking/20 || muted > talking/20 {
		t.Errorf("the citizen heard the operator while held (%.3f) or muted (%.3f)", held, muted)
	}
	heldAudio := pcmOf(mp, at("hold", 0), at("resume", 0))
	if c := bestMatch(t, heldAudio, "call_held"); c < 0.9 {
		t.Errorf("the citizen on hold did not hear call_held (best correlation %.2f)", c)
	}
	opTalking, opHeld, opMuted := operator(at("hold", -2*time.Second), at("hold", -m)), operator(at("hold", m), at("resume", -m)), operator(at("mute", m), at("unmute", -m))
	t.Logf("citizen's voice at the operator: talking %.3f held %.3f muted %.3f", opTalking, opHeld, opMuted)
	if opTalking < 0.05 || opMuted < 0.05 {
		t.Errorf("the operator did not hear the citizen (talking %.3f, while muting %.3f)", opTalking, opMuted)
	}
	if opHeld > opTalking/20 {
		t.Errorf("the operator heard the citizen while on hold (%.3f)", opHeld)
	}

	// The ticket: each action in its history, in order, by op1; ended by the seat's side.
	code, body = h.API(t, "GET", "/api/tickets/"+ticketID, "")
	var tk struct {
		ticketJSON
		History []struct {
			At     string `json:"at"`
			Action string `json:"action"`
			By     string `json:"by"`
			Detail string `json:"detail"`
		} `json:"history"`
	}
	if code != 200 || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("ticket: %d %s", code, body)
	}
	var got []string
	for _, e := range tk.History {
		if e.By != "op1" || e.At == "" {
			t.Errorf("history entry %+v", e)
		}
		got = append(got, e.Action+e.Detail)
	}
	if strings.Join(got, ",") != "hold,resume,mute,unmute,dtmf159#,hangup" {
		t.Errorf("ticket history %q", got)
	}
	if str(tk.EndReason) != "seat_hangup" || str(tk.Outcome) != "answered" {
		t.Errorf("ticket: outcome %s end_reason %s, want answered / seat_hangup", str(tk.Outcome), str(tk.EndReason))
	}
	desk.WaitFor("the desk shows the call ended with its six actions",
		`document.querySelectorAll("#cc-history li").length === 6 && document.getElementById("cc-hold").disabled`, 10*time.Second)
	if code, _ := h.API(t, "POST", "/api/calls/"+ticketID+"/hold", ""); code != 409 {
		t.Errorf("hold after the call ended: %d, want 409", code)
	}
}
