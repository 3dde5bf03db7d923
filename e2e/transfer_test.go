package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

// The "lawyer" of the transfer tests: an outside number (12348001, the
// legal-aid centre) reached through a SIPp trunk on a loopback port.
const lawyerHz = 2000.0

type transferJSON struct {
	Target     string  `json:"target"`
	Kind       string  `json:"kind"`
	Mode       string  `json:"mode"`
	By         string  `json:"by"`
	Via        string  `json:"via"`
	AnsweredAt *string `json:"answered_at"`
	EndedAt    *string `json:"ended_at"`
	Outcome    string  `json:"outcome"`
}

type xferTicket struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Outcome    *string        `json:"outcome"`
	AnsweredAt *string        `json:"answered_at"`
	Transfers  []transferJSON `json:"transfers"`
}

// xferHotline starts a hotline whose transfer trunk is 127.0.0.1:trunkPort.
func xferHotline(t *testing.T, trunkPort int) *siptest.Hotline {
	t.Helper()
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"wrap_up: 2s", "ring_timeout: 10s"}, Extra: fmt.Sprintf(`transfer:
  trunk: "sip:127.0.0.1:%d"
  caller_id: "12348"
  targets:
    - { name: 法律援助中心, number: "12348001" }
    - { name: 人民调解, queue: mediation }
    - { name: 值班律师, seat: "8006" }
`, trunkPort)})
	h.Login(t)
	return h
}

// startLawyer runs the SIPp trunk on port: it answers 12348001 after 1 s,
// talks (lawyerHz) and waits for the switch's BYE. Its RTP is captured.
func startLawyer(t *testing.T, h *siptest.Hotline, port int) (*siptest.SIPpRun, *siptest.Capture) {
	t.Helper()
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x1a3e).Audio(siptest.Tone(40*time.Second, 0.25, lawyerHz))
	siptest.WritePCAPFile(t, dir, "seat.pcap", st.Packets())
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	run := siptest.SIPp{
		Scenario: "seat_answer.xml", Target: h.Ready.SIPUDP, Service: "12348001", LocalPort: port, MediaPort: mp, Dir: dir,
		Extra: []string{"-key", "seat", "12348001", "-key", "ring_ms", "1000", "-key", "talk_ms", "1000",
			"-key", "hangup", "caller", "-key", "pt", "0", "-key", "codec", "PCMU"},
	}.Start(t, 60*time.Second)
	return run, capture
}

// talkingCaller calls, presses 1 and talks (callerHz1+2) until it hangs up
// after hangupAfter; what it hears is captured.
func talkingCaller(t *testing.T, h *siptest.Hotline, number string, hangupAfter time.Duration) (*siptest.SIPpRun, *siptest.Capture) {
	t.Helper()
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(hangupAfter+5*time.Second, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	run := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number,
		Dir: dir, MediaPort: mp, PauseMS: int(hangupAfter.Milliseconds()),
	}.Start(t, hangupAfter+30*time.Second)
	return run, capture
}

func xferTicketOf(t *testing.T, h *siptest.Hotline, caller string) (xferTicket, bool) {
	t.Helper()
	code, body := h.API(t, "GET", "/api/tickets?caller="+url.QueryEscape(caller), "")
	if code != 200 {
		t.Fatalf("GET /api/tickets: %d %s", code, body)
	}
	var r struct{ Tickets []xferTicket }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("tickets JSON: %v\n%s", err, body)
	}
	if len(r.Tickets) == 0 {
		return xferTicket{}, false
	}
	return r.Tickets[0], true
}

// waitTicket polls (bounded) until cond holds for the caller's ticket.
func waitTicket(t *testing.T, h *siptest.Hotline, caller, what string, within time.Duration, cond func(xferTicket) bool) xferTicket {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		tk, ok := xferTicketOf(t, h, caller)
		if ok && cond(tk) {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket of %s: not %s after %s: %+v", caller, what, within, tk)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func postTransfer(t *testing.T, h *siptest.Hotline, id, path, body string) (int, string) {
	t.Helper()
	code, b := h.API(t, "POST", "/api/calls/"+id+path, body)
	return code, string(b)
}

// checkWholeRecording: the stereo recording has the citizen on the left
// and, on the right, both the operator and the lawyer: it covers the call
// before and after the transfer.
func checkWholeRecording(t *testing.T, h *siptest.Hotline, id string) {
	t.Helper()
	wav := recording(t, h, id)
	if wav.Channels != 2 {
		t.Fatalf("recording has %d channels", wav.Channels)
	}
	left, right := wav.Samples[0], wav.Samples[1]
	c, s, l := siptest.ToneLevel(left, callerHz1), siptest.ToneLevel(right, seatHz), siptest.ToneLevel(right, lawyerHz)
	t.Logf("recording %s: citizen %.3f, operator %.3f, lawyer %.3f", wav.Duration(), c, s, l)
	if c < 0.02 || s < 0.01 || l < 0.01 {
		t.Errorf("the recording does not cover the whole call: citizen %.4f operator %.4f lawyer %.4f", c, s, l)
	}
}

// A blind transfer from the console API to an outside number through the
// trunk: an unlisted number, a conference with a queue and bad bodies are
// refused first (403, 400; no INVITE reaches the trunk for them), then the citizen talks to
// the SIPp lawyer, the operator's leg ends (wrap-up), the ticket records
// the leg, the recording covers the whole call.
func TestTransferBlindToLawyerThroughTrunk(t *testing.T) {
	t.Parallel()
	trunkPort := siptest.FreePort(t)
	h := xferHotline(t, trunkPort)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	lawyerRun, lawyerCap := startLawyer(t, h, trunkPort)

	const number = "13812340001"
	callerRun, callerCap := talkingCaller(t, h, number, 14*time.Second)
	tk := waitTicket(t, h, number, "answered", 15*time.Second, func(tk xferTicket) bool { return tk.AnsweredAt != nil })
	time.Sleep(2 * time.Second) // citizen and operator talk

	for _, c := range []struct {
		body string
		want int
	}{
		{`{"target":"12399999999","mode":"blind"}`, 403}, // a number, not a configured target
		{`{"target":"律师事务所","mode":"blind"}`, 403},
		{`{"target":"人民调解","mode":"conference"}`, 400}, // a queue is transferred to blind
		{`{"target":"值班律师","mode":"blind"}`, 409},      // seat 8006's phone is not registered
		{`{"target":"法律援助中心","mode":"sideways"}`, 400},
		{`{"target":"法律援助中心","mode":"blind","number":"12399999999"}`, 400},
	} {
		if code, body := postTransfer(t, h, tk.ID, "/transfer", c.body); code != c.want {
			t.Errorf("POST transfer %s: %d %s, want %d", c.body, code, body, c.want)
		} else if !strings.Contains(body, `"error"`) {
			t.Errorf("POST transfer %s: no error text: %s", c.body, body)
		}
	}
	if code, body := postTransfer(t, h, "20990101-000000-test-1-9999", "/transfer", `{"target":"法律援助中心","mode":"blind"}`); code != 404 {
		t.Errorf("transfer of a ticket without a live call: %d %s, want 404", code, body)
	}
	for _, op := range []string{"/transfer/complete", "/transfer/conference"} {
		if code, body := postTransfer(t, h, tk.ID, op, ``); code != 409 {
			t.Errorf("%s without a consultation: %d %s, want 409", op, code, body)
		}
	}
	if code, body := postTransfer(t, h, tk.ID, "/transfer", `{"target":"法律援助中心","mode":"blind"}`); code != 202 {
		t.Fatalf("blind transfer: %d %s", code, body)
	}
	// The operator's leg ends at once: the seat wraps up.
	expectSIPpOK(t, seatRun.Wait(t))
	seat.WaitState(t, "wrap_up", 3*time.Second)

	expectSIPpOK(t, callerRun.Wait(t))
	lr := lawyerRun.Wait(t)
	expectSIPpOK(t, lr)
	if n := strings.Count(lr.Messages, "INVITE sip:"); n != 1 {
		t.Errorf("the trunk got %d INVITEs, want 1 (refused targets must never be dialled)", n)
	}
	if !strings.Contains(lr.Messages, "INVITE sip:12348001@") || !strings.Contains(lr.Messages, "<sip:12348@") {
		t.Errorf("the trunk's INVITE is not for 12348001 from caller id 12348:\n%s", lr.Messages)
	}
	if strings.Contains(lr.Messages, number) {
		t.Errorf("the citizen's number reached the outside party")
	}
	heard := callerCap.Stop(t)
	if lvl := heardLevel(heard, lawyerHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the lawyer (%.4f)", lvl)
	}
	if lvl := heardLevel(heard, seatHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the operator before the transfer (%.4f)", lvl)
	}
	if lvl := heardLevel(lawyerCap.Stop(t), callerHz1); lvl < 0.02 {
		t.Errorf("the lawyer did not hear the citizen (%.4f)", lvl)
	}

	tk = waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
	if str(tk.Outcome) != "answered" || len(tk.Transfers) != 1 {
		t.Fatalf("closed ticket: outcome %s transfers %+v", str(tk.Outcome), tk.Transfers)
	}
	x := tk.Transfers[0]
	if x.Target != "法律援助中心" || x.Kind != "number" || x.Mode != "blind" || x.Via != "console" || x.By == "" ||
		x.Outcome != "connected" || x.AnsweredAt == nil || x.EndedAt == nil {
		t.Errorf("ticket's transfer %+v", x)
	}
	checkWholeRecording(t, h, tk.ID)
	m := scrape(t, h)
	for _, want := range []string{
		`hotline_transfers_total{kind="number",mode="blind",outcome="connected"} 1`,
		`hotline_transfers_total{kind="unknown",mode="blind",outcome="refused"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A consultative transfer: the citizen is held, the operator talks to the
// lawyer first (the lawyer hears the operator), then complete joins the
// citizen and the lawyer (each hears the other) and drops the operator.
func TestTransferConsultThenComplete(t *testing.T) {
	t.Parallel()
	trunkPort := siptest.FreePort(t)
	h := xferHotline(t, trunkPort)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	lawyerRun, lawyerCap := startLawyer(t, h, trunkPort)

	const number = "13812340002"
	callerRun, callerCap := talkingCaller(t, h, number, 16*time.Second)
	tk := waitTicket(t, h, number, "answered", 15*time.Second, func(tk xferTicket) bool { return tk.AnsweredAt != nil })
	time.Sleep(time.Second)
	if code, body := postTransfer(t, h, tk.ID, "/transfer", `{"target":"法律援助中心","mode":"consult"}`); code != 202 || !strings.Contains(body, "ringing") {
		t.Fatalf("consult: %d %s", code, body)
	}
	if code, body := postTransfer(t, h, tk.ID, "/transfer", `{"target":"法律援助中心","mode":"blind"}`); code != 409 {
		t.Errorf("a second transfer while consulting: %d %s, want 409", code, body)
	}
	waitTicket(t, h, number, "consulting", 10*time.Second, func(tk xferTicket) bool {
		return len(tk.Transfers) == 1 && tk.Transfers[0].Outcome == "consulting"
	})
	time.Sleep(3 * time.Second) // operator and lawyer talk; the citizen is held
	if code, body := postTransfer(t, h, tk.ID, "/transfer/complete", ``); code != 202 {
		t.Fatalf("complete: %d %s", code, body)
	}
	expectSIPpOK(t, seatRun.Wait(t))
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, lawyerRun.Wait(t))

	lawyerHeard := lawyerCap.Stop(t)
	if lvl := heardLevel(lawyerHeard, seatHz); lvl < 0.02 {
		t.Errorf("the lawyer did not hear the operator while consulting (%.4f)", lvl)
	}
	if lvl := heardLevel(lawyerHeard, callerHz1); lvl < 0.02 {
		t.Errorf("the lawyer did not hear the citizen after complete (%.4f)", lvl)
	}
	if lvl := heardLevel(callerCap.Stop(t), lawyerHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the lawyer after complete (%.4f)", lvl)
	}
	tk = waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
	if len(tk.Transfers) != 1 || tk.Transfers[0].Mode != "consult" || tk.Transfers[0].Outcome != "connected" {
		t.Fatalf("ticket's transfers %+v", tk.Transfers)
	}
	checkWholeRecording(t, h, tk.ID)
	if m := scrape(t, h); !strings.Contains(m, `hotline_transfers_total{kind="number",mode="consult",outcome="connected"} 1`) {
		t.Error("/metrics lacks the consult transfer")
	}
}

// trunkSpy listens on the trunk's port and counts what arrives: nothing
// may, when the only transfer asked for is refused.
func trunkSpy(t *testing.T, port int) *atomic.Int32 {
	t.Helper()
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return &n
}

// A seat phone's own transfer button: REFER to a configured number is
// honoured (202, NOTIFY 100 then 200, the seat's leg ends, the citizen
// talks to the lawyer); REFER to an unlisted number gets 403, the call
// goes on, and nothing reaches the trunk.
func TestTransferSeatREFER(t *testing.T) {
	t.Parallel()
	t.Run("honoured", func(t *testing.T) {
		t.Parallel()
		trunkPort := siptest.FreePort(t)
		h := xferHotline(t, trunkPort)
		seat := siptest.RegisterSeat(t, h, "8001")
		seatVoice(t, seat, 40*time.Second)
		seatRun := seat.Run(t, "seat_refer.xml", 60*time.Second, "ring_ms", "1000", "refer_ms", "2500", "refer_to", "12348001")
		lawyerRun, lawyerCap := startLawyer(t, h, trunkPort)
		const number = "13812340003"
		callerRun, callerCap := talkingCaller(t, h, number, 12*time.Second)
		sr := seatRun.Wait(t)
		expectSIPpOK(t, sr)
		if !strings.Contains(sr.Messages, "SIP/2.0 202") {
			t.Errorf("REFER not accepted:\n%s", sr.Messages)
		}
		expectSIPpOK(t, callerRun.Wait(t))
		expectSIPpOK(t, lawyerRun.Wait(t))
		if lvl := heardLevel(callerCap.Stop(t), lawyerHz); lvl < 0.02 {
			t.Errorf("the citizen did not hear the lawyer (%.4f)", lvl)
		}
		if lvl := heardLevel(lawyerCap.Stop(t), callerHz1); lvl < 0.02 {
			t.Errorf("the lawyer did not hear the citizen (%.4f)", lvl)
		}
		tk := waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
		if len(tk.Transfers) != 1 || tk.Transfers[0].Via != "refer" || tk.Transfers[0].By != "8001" || tk.Transfers[0].Outcome != "connected" {
			t.Fatalf("ticket's transfers %+v", tk.Transfers)
		}
	})
	t.Run("unlisted", func(t *testing.T) {
		t.Parallel()
		trunkPort := siptest.FreePort(t)
		spy := trunkSpy(t, trunkPort)
		h := xferHotline(t, trunkPort)
		seat := siptest.RegisterSeat(t, h, "8001")
		seatVoice(t, seat, 40*time.Second)
		seatRun := seat.Run(t, "seat_refer.xml", 60*time.Second, "ring_ms", "1000", "refer_ms", "2000", "refer_to", "12399999999")
		const number = "13812340004"
		callerRun, callerCap := talkingCaller(t, h, number, 8*time.Second)
		expectSIPpOK(t, callerRun.Wait(t))
		sr := seatRun.Wait(t)
		expectSIPpOK(t, sr)
		if !strings.Contains(sr.Messages, "SIP/2.0 403") {
			t.Errorf("REFER to an unlisted number not refused 403:\n%s", sr.Messages)
		}
		// The operator stayed with the citizen after the refusal.
		if lvl := heardLevel(callerCap.Stop(t), seatHz); lvl < 0.02 {
			t.Errorf("the citizen did not hear the operator (%.4f)", lvl)
		}
		if n := spy.Load(); n != 0 {
			t.Errorf("%d packets reached the trunk after a refused REFER", n)
		}
		tk := waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
		if len(tk.Transfers) != 0 {
			t.Errorf("a refused REFER left transfers on the ticket: %+v", tk.Transfers)
		}
		if m := scrape(t, h); !strings.Contains(m, `hotline_transfers_total{kind="unknown",mode="blind",outcome="refused"} 1`) {
			t.Error("/metrics lacks the refused REFER")
		}
	})
}

// Blind transfers inside the call centre: to a queue (人民调解: the citizen
// waits again in mediation, where seat 8006 answers; the first answer
// stands) and to a seat (值班律师: seat 8006 rung directly). Both times the
// citizen ends up hearing 8006, and the recording covers the whole call.
func TestTransferToQueueAndToSeat(t *testing.T) {
	t.Parallel()
	const otherHz = 1700.0
	for _, c := range []struct{ name, target, kind, outcome, number string }{
		{"queue", "人民调解", "queue", "requeued", "13812340005"},
		{"seat", "值班律师", "seat", "connected", "13812340006"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := xferHotline(t, siptest.FreePort(t))
			seat := siptest.RegisterSeat(t, h, "8001") // consult: takes the call first
			seatVoice(t, seat, 40*time.Second)
			seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
			other := siptest.RegisterSeat(t, h, "8006") // mediation, legal_aid: not consult
			st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x8006).Audio(siptest.Tone(40*time.Second, 0.25, otherHz))
			siptest.WritePCAPFile(t, other.Dir, "seat.pcap", st.Packets())
			otherRun := other.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")

			callerRun, callerCap := talkingCaller(t, h, c.number, 14*time.Second)
			tk := waitTicket(t, h, c.number, "answered", 15*time.Second, func(tk xferTicket) bool { return tk.AnsweredAt != nil })
			firstAnswer := *tk.AnsweredAt
			time.Sleep(2 * time.Second)
			if code, body := postTransfer(t, h, tk.ID, "/transfer", `{"target":"`+c.target+`","mode":"blind"}`); code != 202 {
				t.Fatalf("transfer to %s: %d %s", c.target, code, body)
			}
			if c.kind == "seat" {
				// The ACD offers 8006 no queue call while it has the
				// transferred caller; it is ready again after.
				other.WaitState(t, "not_ready", 5*time.Second)
				if r := h.Seats(t)["8006"].Reason; r != "transfer" {
					t.Errorf("seat 8006 talking to the transferred caller: not_ready %q, want \"transfer\"", r)
				}
			}
			expectSIPpOK(t, seatRun.Wait(t))
			expectSIPpOK(t, callerRun.Wait(t))
			expectSIPpOK(t, otherRun.Wait(t))
			if c.kind == "seat" {
				other.WaitState(t, "ready", 5*time.Second)
			}
			if lvl := heardLevel(callerCap.Stop(t), otherHz); lvl < 0.02 {
				t.Errorf("the citizen did not hear seat 8006 (%.4f)", lvl)
			}
			var full ticketJSON
			tk = waitTicket(t, h, c.number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
			for _, x := range ticketsOf(t, h, c.number) {
				full = x
			}
			if len(tk.Transfers) != 1 || tk.Transfers[0].Kind != c.kind || tk.Transfers[0].Outcome != c.outcome || tk.Transfers[0].Target != c.target {
				t.Fatalf("ticket's transfers %+v", tk.Transfers)
			}
			if str(full.SeatID) != "8001" && c.kind == "seat" {
				// The operator who took the call stays the ticket's seat; the
				// target seat is in transfers.
				t.Errorf("seat_id %s", str(full.SeatID))
			}
			if c.kind == "queue" && (str(full.SeatID) != "8006" || str(full.AnsweredAt) != firstAnswer) {
				t.Errorf("after the queue: seat_id %s answered_at %s, want 8006 and the first answer %s", str(full.SeatID), str(full.AnsweredAt), firstAnswer)
			}
			wav := recording(t, h, tk.ID)
			if s, o := siptest.ToneLevel(wav.Samples[1], seatHz), siptest.ToneLevel(wav.Samples[1], otherHz); s < 0.01 || o < 0.01 {
				t.Errorf("the recording lacks a seat: 8001 %.4f 8006 %.4f", s, o)
			}
			if m := scrape(t, h); !strings.Contains(m, fmt.Sprintf(`hotline_transfers_total{kind=%q,mode="blind",outcome=%q} 1`, c.kind, c.outcome)) {
				t.Errorf("/metrics lacks the %s transfer", c.kind)
			}
		})
	}
}

// The desk's 转接 button in headless Chromium: the operator picks
// 法律援助中心 and transfers blind; the citizen talks to the SIPp lawyer.
func TestTransferFromTheDesk(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	trunkPort := siptest.FreePort(t)
	h := xferHotline(t, trunkPort)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	seat := siptest.RegisterSeat(t, h, "8001")
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	lawyerRun, _ := startLawyer(t, h, trunkPort)

	const number = "13812340007"
	callerRun, callerCap := talkingCaller(t, h, number, 11*time.Second)
	desk.WaitFor("the call on the desk", `document.getElementById("pop-stage").textContent === "通话中"`, 20*time.Second)
	desk.WaitFor("the 转接 panel with the configured targets", `!document.getElementById("xfer").hidden && document.querySelectorAll("#xfer-target option").length === 3`, 10*time.Second)
	if got := siptest.Eval[string](desk, `[...document.querySelectorAll("#xfer-target option")].map(o => o.textContent).join(",")`); got != "法律援助中心（外线）,人民调解（队列）,值班律师（坐席）" {
		t.Errorf("targets offered: %q", got)
	}
	desk.WaitFor("my seat talking", `document.getElementById("my-state").textContent !== "振铃中"`, 10*time.Second)
	desk.Screenshot("console-transfer.png")
	desk.Do(chromedp.SetValue(chromedp.ID("xfer-target"), "法律援助中心"), chromedp.SetValue(chromedp.ID("xfer-mode"), "blind"), chromedp.Click(chromedp.ID("btn-transfer")))
	desk.WaitFor("the transfer confirmed", `document.getElementById("xfer-msg").textContent === "已转接至 法律援助中心"`, 10*time.Second)
	expectSIPpOK(t, seatRun.Wait(t))
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, lawyerRun.Wait(t))
	if lvl := heardLevel(callerCap.Stop(t), lawyerHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the lawyer (%.4f)", lvl)
	}
	tk := waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
	if len(tk.Transfers) != 1 || tk.Transfers[0].By != "8001" || tk.Transfers[0].Via != "console" || tk.Transfers[0].Outcome != "connected" {
		t.Fatalf("ticket's transfers %+v", tk.Transfers)
	}
}

// A consultation cancelled: the lawyer's leg ends, the operator talks to
// the citizen again (heard at the end of the call), the lawyer never heard
// the citizen.
func TestTransferConsultCancelled(t *testing.T) {
	t.Parallel()
	trunkPort := siptest.FreePort(t)
	h := xferHotline(t, trunkPort)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	lawyerRun, lawyerCap := startLawyer(t, h, trunkPort)

	const number = "13812340008"
	callerRun, callerCap := talkingCaller(t, h, number, 15*time.Second)
	tk := waitTicket(t, h, number, "answered", 15*time.Second, func(tk xferTicket) bool { return tk.AnsweredAt != nil })
	if code, body := postTransfer(t, h, tk.ID, "/transfer/cancel", ``); code != 409 {
		t.Errorf("cancel without a consultation: %d %s, want 409", code, body)
	}
	if code, body := postTransfer(t, h, tk.ID, "/transfer", `{"target":"法律援助中心","mode":"consult"}`); code != 202 {
		t.Fatalf("consult: %d %s", code, body)
	}
	waitTicket(t, h, number, "consulting", 10*time.Second, func(tk xferTicket) bool {
		return len(tk.Transfers) == 1 && tk.Transfers[0].Outcome == "consulting"
	})
	time.Sleep(2 * time.Second)
	if code, body := postTransfer(t, h, tk.ID, "/transfer/cancel", ``); code != 202 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	expectSIPpOK(t, lawyerRun.Wait(t)) // the switch hung up the lawyer
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	heard := callerCap.Stop(t)
	var last []siptest.Packet
	if n := len(heard); n > 0 {
		for _, p := range heard {
			if p.At > heard[n-1].At-4*time.Second {
				last = append(last, p)
			}
		}
	}
	if lvl := heardLevel(last, seatHz); lvl < 0.02 {
		t.Errorf("the citizen did not hear the operator again after cancel (%.4f over the last 4 s)", lvl)
	}
	if lvl := heardLevel(heard, lawyerHz); lvl > 0.005 {
		t.Errorf("the citizen heard the lawyer (%.4f) although the transfer was cancelled", lvl)
	}
	lawyerHeard := lawyerCap.Stop(t)
	if lvl := heardLevel(lawyerHeard, callerHz1); lvl > 0.005 {
		t.Errorf("the lawyer heard the citizen (%.4f)", lvl)
	}
	if lvl := heardLevel(lawyerHeard, seatHz); lvl < 0.02 {
		t.Errorf("the lawyer did not hear the operator (%.4f)", lvl)
	}
	tk = waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
	if len(tk.Transfers) != 1 || tk.Transfers[0].Outcome != "cancelled" || tk.Transfers[0].EndedAt == nil {
		t.Fatalf("ticket's transfers %+v", tk.Transfers)
	}
	if m := scrape(t, h); !strings.Contains(m, `hotline_transfers_total{kind="number",mode="consult",outcome="cancelled"} 1`) {
		t.Error("/metrics lacks the cancelled consultation")
	}
}

// A three-way conference from the desk in headless Chromium: the operator
// consults 法律援助中心 (the citizen held), presses 三方通话, and all three
// hear each other — each of them hears the other two in the same second
// of audio, so it is a mix, not turns — then 挂断第三方 ends the lawyer's
// leg and the operator talks to the citizen alone again. The ticket keeps
// the leg (mode conference), the recording covers it.
func TestConferenceFromTheDesk(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	trunkPort := siptest.FreePort(t)
	h := xferHotline(t, trunkPort)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	seat := siptest.RegisterSeat(t, h, "8001")
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")
	seatVoice(t, seat, 60*time.Second)
	seatCap := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", seat.MediaPort))
	seatRun := seat.Run(t, "seat_answer.xml", 90*time.Second, "ring_ms", "1000", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	lawyerRun, lawyerCap := startLawyer(t, h, trunkPort)

	const number = "13812340009"
	callerRun, callerCap := talkingCaller(t, h, number, 26*time.Second)
	desk.WaitFor("the call on the desk", `document.getElementById("pop-stage").textContent === "通话中"`, 20*time.Second)
	desk.WaitFor("the 转接 panel", `!document.getElementById("xfer").hidden && document.querySelectorAll("#xfer-target option").length === 3`, 10*time.Second)
	time.Sleep(time.Second)
	desk.Do(chromedp.SetValue(chromedp.ID("xfer-target"), "法律援助中心"), chromedp.SetValue(chromedp.ID("xfer-mode"), "consult"), chromedp.Click(chromedp.ID("btn-transfer")))
	desk.WaitFor("the lawyer answered (the ticket event)", `document.getElementById("xfer-msg").textContent === "正在与 法律援助中心 通话，来电人已保持"`, 10*time.Second)
	desk.WaitFor("三方通话 offered", `!document.getElementById("btn-xfer-conference").hidden`, 2*time.Second)
	time.Sleep(2 * time.Second) // operator and lawyer talk; the citizen is held
	desk.Do(chromedp.Click(chromedp.ID("btn-xfer-conference")))
	desk.WaitFor("the conference (the ticket event)", `document.getElementById("xfer-msg").textContent === "三方通话中：来电人、您与 法律援助中心"`, 10*time.Second)
	desk.Screenshot("console-conference.png")
	if tk := waitTicket(t, h, number, "in conference", 5*time.Second, func(tk xferTicket) bool { return len(tk.Transfers) == 1 && tk.Transfers[0].Mode == "conference" }); tk.Transfers[0].Outcome != "connected" || tk.Transfers[0].EndedAt != nil {
		t.Errorf("the conference leg on the ticket: %+v", tk.Transfers[0])
	}
	time.Sleep(5 * time.Second) // three-way
	desk.Do(chromedp.Click(chromedp.ID("btn-xfer-cancel")))
	desk.WaitFor("the lawyer's leg ended", `document.getElementById("xfer-msg").textContent === "已挂断第三方，回到来电人" && !document.getElementById("btn-transfer").hidden`, 10*time.Second)
	expectSIPpOK(t, lawyerRun.Wait(t)) // the switch hung up the lawyer
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))

	// Each party hears the other two at once, in some second of the call.
	for _, c := range []struct {
		who      string
		cap      *siptest.Capture
		hz1, hz2 float64
	}{
		{"the citizen", callerCap, seatHz, lawyerHz},
		{"the operator", seatCap, callerHz1, lawyerHz},
		{"the lawyer", lawyerCap, callerHz1, seatHz},
	} {
		pkts := c.cap.Stop(t)
		if a, b := bothHeard(pkts, c.hz1, c.hz2); a < 0.02 || b < 0.02 {
			t.Errorf("%s never heard the other two in one second (best %.4f and %.4f)", c.who, a, b)
		}
		if c.who == "the citizen" {
			var last []siptest.Packet
			for _, p := range pkts {
				if p.At > pkts[len(pkts)-1].At-3*time.Second {
					last = append(last, p)
				}
			}
			if s, l := heardLevel(last, seatHz), heardLevel(last, lawyerHz); s < 0.02 || l > 0.005 {
				t.Errorf("after 挂断第三方 the citizen hears the operator %.4f and the lawyer %.4f, want the operator only", s, l)
			}
		}
	}
	tk := waitTicket(t, h, number, "closed", 10*time.Second, func(tk xferTicket) bool { return tk.Status == "closed" })
	if len(tk.Transfers) != 1 || tk.Transfers[0].Mode != "conference" || tk.Transfers[0].Outcome != "connected" || tk.Transfers[0].EndedAt == nil || tk.Transfers[0].Via != "console" {
		t.Fatalf("ticket's transfers %+v", tk.Transfers)
	}
	checkWholeRecording(t, h, tk.ID)
	if m := scrape(t, h); !strings.Contains(m, `hotline_transfers_total{kind="number",mode="conference",outcome="connected"} 1`) {
		t.Error("/metrics lacks the conference")
	}
}

// bothHeard is, over the seconds of audio captured (50 packets each), the
// levels of hz1 and hz2 in the second where the weaker of the two is
// loudest.
func bothHeard(pkts []siptest.Packet, hz1, hz2 float64) (float64, float64) {
	var best1, best2 float64
	for i := 0; i+50 <= len(pkts); i += 25 {
		a, b := heardLevel(pkts[i:i+50], hz1), heardLevel(pkts[i:i+50], hz2)
		if min(a, b) > min(best1, best2) {
			best1, best2 = a, b
		}
	}
	return best1, best2
}
