package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// The races the anchors' users suffer from (Asterisk app_queue, FreeSWITCH
// mod_callcenter), each with real SIPp seats and callers against the real
// binary, asserting the seats' final states and the tickets.

// caller starts a SIPp caller who presses key during the welcome, talks,
// and hangs up after hangupAfter (from the ACK).
func caller(t *testing.T, h *siptest.Hotline, number string, key rune, hangupAfter time.Duration) *siptest.SIPpRun {
	t.Helper()
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit(key, 120*time.Millisecond).
		Audio(siptest.Tone(hangupAfter+5*time.Second, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	return siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number,
		Dir: dir, PauseMS: int(hangupAfter.Milliseconds()),
	}.Start(t, hangupAfter+40*time.Second)
}

// raceHotline starts a hotline with ring_timeout 3s and wrap_up 2s unless
// overridden ("ring_timeout: 20s").
func raceHotline(t *testing.T, overrides ...string) *siptest.Hotline {
	t.Helper()
	acd := map[string]string{"ring_timeout": "3s", "wrap_up": "2s"}
	for _, o := range overrides {
		k, v, _ := strings.Cut(o, ":")
		acd[k] = strings.TrimSpace(v)
	}
	var lines []string
	for k, v := range acd {
		lines = append(lines, k+": "+v)
	}
	h := siptest.StartHotline(t, siptest.Config{ACD: lines})
	h.Login(t)
	return h
}

func answerKeys(hangup string) []string {
	return []string{"ring_ms", "500", "talk_ms", "3000", "hangup", hangup, "pt", "0", "codec", "PCMU"}
}

// The caller hangs up while the seat rings: the seat gets CANCEL (and
// answers 487), goes back to ready — not not_ready, it did nothing wrong —
// and the ticket is abandoned at the ringing stage.
func TestRaceCallerHangsUpWhileSeatRings(t *testing.T) {
	t.Parallel()
	h := raceHotline(t, "ring_timeout: 20s")
	seat := siptest.RegisterSeat(t, h, "8001")
	seatRun := seat.Run(t, "seat_no_answer.xml", 60*time.Second)
	c := caller(t, h, "13900000001", '1', 3*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t)) // it got CANCEL, answered 200 and 487
	tk := closedTicket(t, h, "13900000001")
	if str(tk.Outcome) != "abandoned" || str(tk.AbandonStage) != "ringing" {
		t.Errorf("ticket: outcome %s stage %s, want abandoned / ringing", str(tk.Outcome), str(tk.AbandonStage))
	}
	seat.WaitState(t, "ready", 5*time.Second)
}

// The operator picking up just as ring_timeout fires: see
// TestLateAnswerRingTimeout (late_answer_test.go) — the ACD has ended the
// offer, so that 200 is hung up and the call goes to the next seat.

// Nobody answers (RONA): at ring_timeout the seat goes not_ready with reason
// no_answer and the call is offered at once to the next seat, which answers.
func TestRaceRingNoAnswerReoffers(t *testing.T) {
	t.Parallel()
	h := raceHotline(t)
	first := siptest.RegisterSeat(t, h, "8001") // longest idle: offered first
	time.Sleep(100 * time.Millisecond)
	second := siptest.RegisterSeat(t, h, "8002")
	seatVoice(t, second, 20*time.Second)
	firstRun := first.Run(t, "seat_no_answer.xml", 60*time.Second)
	secondRun := second.Run(t, "seat_answer.xml", 60*time.Second, answerKeys("caller")...)
	c := caller(t, h, "13900000003", '1', 9*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, firstRun.Wait(t))
	expectSIPpOK(t, secondRun.Wait(t))
	tk := closedTicket(t, h, "13900000003")
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8002" {
		t.Errorf("ticket: outcome %s seat %v, want answered by 8002", str(tk.Outcome), tk.SeatID)
	}
	if tk.WaitSeconds == nil || *tk.WaitSeconds < 3 {
		t.Errorf("wait %v: the call was answered before the first seat's ring timed out", tk.WaitSeconds)
	}
	v := first.WaitState(t, "not_ready", time.Second)
	if v.Reason != "no_answer" {
		t.Errorf("first seat's reason %q, want no_answer", v.Reason)
	}
}

type queueJSON struct {
	Queue []struct {
		CallID   string `json:"call_id"`
		Priority string `json:"priority"`
		State    string `json:"state"`
		Position int    `json:"position"`
	}
}

func queueOf(t *testing.T, h *siptest.Hotline) queueJSON {
	t.Helper()
	code, body := h.API(t, "GET", "/api/queue", "")
	if code != 200 {
		t.Fatalf("GET /api/queue: %d %s", code, body)
	}
	var q queueJSON
	if err := json.Unmarshal(body, &q); err != nil {
		t.Fatal(err)
	}
	return q
}

// Two callers, one ready seat: the second waits (the seat is never offered
// two calls — the SIPp seat fails on an INVITE it does not expect) and is
// connected after the first call and the seat's wrap-up.
func TestRaceTwoCallersOneSeat(t *testing.T) {
	t.Parallel()
	h := raceHotline(t)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 30*time.Second)
	seatRun := siptest.SIPp{
		Scenario: "seat_answer.xml", Target: h.Ready.SIPUDP, Service: seat.ID, LocalPort: seat.Port, MediaPort: seat.MediaPort,
		Dir: seat.Dir, Calls: 2, Limit: 1, Extra: append([]string{"-key", "seat", seat.ID}, keysToArgs(answerKeys("caller"))...),
	}.Start(t, 90*time.Second)
	a := caller(t, h, "13900000004", '1', 5*time.Second)
	time.Sleep(700 * time.Millisecond)
	b := caller(t, h, "13900000005", '1', 14*time.Second)
	time.Sleep(2500 * time.Millisecond)
	// A talks, B waits first in line.
	q := queueOf(t, h)
	if len(q.Queue) != 1 || q.Queue[0].Position != 1 || q.Queue[0].State != "waiting" {
		t.Errorf("queue while the seat is busy: %+v", q.Queue)
	}
	if s := h.Seats(t)["8001"]; s.State != "busy" {
		t.Errorf("seat is %s while talking", s.State)
	}
	expectSIPpOK(t, a.Wait(t))
	expectSIPpOK(t, b.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	ta, tb := closedTicket(t, h, "13900000004"), closedTicket(t, h, "13900000005")
	for _, tk := range []ticketJSON{ta, tb} {
		if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
			t.Errorf("ticket %s: outcome %s seat %v", tk.Caller, str(tk.Outcome), tk.SeatID)
		}
	}
	if tb.WaitSeconds == nil || *tb.WaitSeconds < 5 {
		t.Errorf("second caller waited %v s: it cannot have been connected before the first call and the wrap-up ended", tb.WaitSeconds)
	}
}

func keysToArgs(keys []string) []string {
	var out []string
	for i := 0; i+1 < len(keys); i += 2 {
		out = append(out, "-key", keys[i], keys[i+1])
	}
	return out
}

// The seat's operator logs out while it rings: the switch CANCELs that
// INVITE and offers the call to the next seat; the first seat is offline.
// The registrar tells the ACD in a goroutine of its own, so the CANCEL may
// reach the phone before the 200 to its un-REGISTER (on a loaded machine
// under -race it did, and the scenario, which took one order only, failed
// with "sipp exit 1"): seat_unregister.xml takes either order.
func TestRaceSeatUnregistersMidRing(t *testing.T) {
	t.Parallel()
	h := seatUnregistersWhileRinging(t, "seat_unregister.xml", "13900000006")
	floorSettles(t, h)
}

// seatUnregistersWhileRinging: seats 8001 and 8002, a caller; 8001 runs
// scenario (it un-REGISTERs while the call rings it), 8002 answers. The
// call is 8002's, 8001 is offline.
func seatUnregistersWhileRinging(t *testing.T, scenario, number string) *siptest.Hotline {
	t.Helper()
	h := raceHotline(t, "ring_timeout: 20s")
	first := siptest.RegisterSeat(t, h, "8001")
	time.Sleep(100 * time.Millisecond)
	second := siptest.RegisterSeat(t, h, "8002")
	seatVoice(t, second, 20*time.Second)
	firstRun := siptest.SIPp{
		Scenario: scenario, Target: h.Ready.SIPUDP, Service: first.ID, LocalPort: first.Port, MediaPort: first.MediaPort,
		Dir: first.Dir, Extra: []string{"-key", "seat", "8001", "-key", "domain", "12348.local", "-key", "pt", "0", "-key", "codec", "PCMU",
			"-au", "8001", "-ap", siptest.SeatPassword("8001")},
	}.Start(t, 60*time.Second)
	secondRun := second.Run(t, "seat_answer.xml", 60*time.Second, answerKeys("caller")...)
	c := caller(t, h, number, '1', 8*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, firstRun.Wait(t))
	expectSIPpOK(t, secondRun.Wait(t))
	tk := closedTicket(t, h, number)
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8002" {
		t.Errorf("ticket: outcome %s seat %v, want answered by 8002", str(tk.Outcome), tk.SeatID)
	}
	first.WaitState(t, "offline", time.Second)
	return h
}

// A green-channel caller (key 9, 农民工欠薪) who arrives last is served
// first: priority, then first-come first-served.
func TestRaceGreenChannelOvertakes(t *testing.T) {
	t.Parallel()
	h := raceHotline(t, "wrap_up: 6s") // the seat takes no second call before the others hang up
	seat := siptest.RegisterSeat(t, h, "8001")
	h.SetState(t, "8001", "not_ready", "meeting")
	seatVoice(t, seat, 20*time.Second)
	n1 := caller(t, h, "13900000007", '1', 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	n2 := caller(t, h, "13900000008", '2', 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	g := caller(t, h, "13900000009", '9', 7*time.Second)
	time.Sleep(2500 * time.Millisecond)
	q := queueOf(t, h)
	if len(q.Queue) != 3 || q.Queue[0].Priority != "green" || q.Queue[0].Position != 1 {
		t.Fatalf("queue %+v: the green call must be first", q.Queue)
	}
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, answerKeys("caller")...)
	h.SetState(t, "8001", "ready", "")
	expectSIPpOK(t, g.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	expectSIPpOK(t, n1.Wait(t))
	expectSIPpOK(t, n2.Wait(t))
	if tk := closedTicket(t, h, "13900000009"); str(tk.Outcome) != "answered" || tk.Priority != "green" {
		t.Errorf("green caller: outcome %s priority %s", str(tk.Outcome), tk.Priority)
	}
	for _, n := range []string{"13900000007", "13900000008"} {
		if tk := closedTicket(t, h, n); str(tk.Outcome) != "abandoned" || str(tk.AbandonStage) != "queue" {
			t.Errorf("normal caller %s: outcome %s stage %s, want abandoned in the queue", n, str(tk.Outcome), str(tk.AbandonStage))
		}
	}
}

// A notary call (key 4) with only a mediation/legal-aid seat logged in
// waits skill_fallback, then that seat may take it.
func TestRaceSkillFallback(t *testing.T) {
	t.Parallel()
	h := raceHotline(t, "skill_fallback: 4s")
	seat := siptest.RegisterSeat(t, h, "8006") // skills: mediation, legal_aid
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, answerKeys("caller")...)
	c := caller(t, h, "13900000010", '4', 10*time.Second)
	time.Sleep(3 * time.Second)
	if s := h.Seats(t)["8006"]; s.State != "ready" {
		t.Errorf("the mediation seat was offered a notary call before skill_fallback: %s", s.State)
	}
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	tk := closedTicket(t, h, "13900000010")
	if str(tk.Outcome) != "answered" || tk.Category != "notary" || tk.SeatID == nil || *tk.SeatID != "8006" {
		t.Errorf("ticket: outcome %s category %s seat %v", str(tk.Outcome), tk.Category, tk.SeatID)
	}
	if tk.WaitSeconds == nil || *tk.WaitSeconds < 4 {
		t.Errorf("answered after %v s, before skill_fallback (4 s)", tk.WaitSeconds)
	}
}
