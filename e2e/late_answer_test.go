package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// A seat's late answer (issue 10): a 200 for an offer the ACD has ended —
// the ring timed out, the operator logged out, the caller hung up — crosses
// the switch's CANCEL. The ACD decides and the switch obeys: that 200 is
// ACKed and hung up at once (the SIPp seat fails without the BYE within
// 5 s), counted in hotline_acd_late_answers_total{reason}, and the caller
// goes on to the next seat; no seat is left ringing and no queue entry is
// left behind.

// floorSettles checks, bounded, that no seat rings and nobody is queued.
func floorSettles(t *testing.T, h *siptest.Hotline) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ringing []string
		for id, s := range h.Seats(t) {
			if s.State == "ringing" {
				ringing = append(ringing, id+" for "+s.CallID)
			}
		}
		q := queueOf(t, h).Queue
		if len(ringing) == 0 && len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the calls: seats ringing %v, queue %+v", ringing, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lateAnswers checks hotline_acd_late_answers_total: one, for reason, and
// the log line that says so.
func lateAnswers(t *testing.T, h *siptest.Hotline, reason string) {
	t.Helper()
	m := scrape(t, h)
	for _, r := range []string{"withdrawn", "ring_timeout", "caller_gone", "not_offered"} {
		want := 0.0
		if r == reason {
			want = 1
		}
		if got := metricValue(t, m, "hotline_acd_late_answers_total", `reason="`+r+`"`); got != want {
			t.Errorf("hotline_acd_late_answers_total{reason=%q} = %v, want %v", r, got, want)
		}
	}
	if log := h.Log(); !strings.Contains(log, "late answer") || !strings.Contains(log, "reason="+reason) {
		t.Errorf("no log line for the late answer (reason %s)", reason)
	}
}

// Ring timeout vs 200: the operator picks up just as ring_timeout ends the
// offer. The ACD already made the seat not_ready (no_answer) and offered
// the call to the next seat, which takes it.
func TestLateAnswerRingTimeout(t *testing.T) {
	t.Parallel()
	h := raceHotline(t)
	first := siptest.RegisterSeat(t, h, "8001") // longest idle: offered first
	time.Sleep(100 * time.Millisecond)
	second := siptest.RegisterSeat(t, h, "8002")
	seatVoice(t, second, 20*time.Second)
	firstRun := first.Run(t, "seat_late_answer.xml", 60*time.Second, "pt", "0", "codec", "PCMU")
	secondRun := second.Run(t, "seat_answer.xml", 60*time.Second, answerKeys("caller")...)
	c := caller(t, h, "13900000021", '1', 10*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, firstRun.Wait(t)) // ACK, then BYE at once
	expectSIPpOK(t, secondRun.Wait(t))
	tk := closedTicket(t, h, "13900000021")
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8002" {
		t.Errorf("ticket: outcome %s seat %v, want answered by 8002", str(tk.Outcome), tk.SeatID)
	}
	if tk.WaitSeconds == nil || *tk.WaitSeconds < 3 {
		t.Errorf("wait %v: answered before the first seat's ring timed out", tk.WaitSeconds)
	}
	if v := first.WaitState(t, "not_ready", time.Second); v.Reason != "no_answer" {
		t.Errorf("late seat: reason %q, want no_answer", v.Reason)
	}
	floorSettles(t, h)
	lateAnswers(t, h, "ring_timeout")
}

// Logout vs 200 (the crossing of issue 10): the operator logs out while
// the phone rings and its 200 crosses the CANCEL. The ACD withdrew the
// offer and gave the call to the next seat: the late 200 is hung up, the
// next seat talks, the first is offline, nothing is left ringing.
func TestLateAnswerSeatUnregisters(t *testing.T) {
	t.Parallel()
	h := seatUnregistersWhileRinging(t, "seat_unregister_late_answer.xml", "13900000022")
	floorSettles(t, h)
	lateAnswers(t, h, "withdrawn")
}

// CANCEL vs 200: the caller hangs up while the only seat rings, and the
// seat's 200 crosses the switch's CANCEL. Nobody to talk to: the seat's
// leg is hung up, the seat is ready again (it did nothing wrong), the
// ticket is abandoned while ringing.
func TestLateAnswerCallerHangsUp(t *testing.T) {
	t.Parallel()
	h := raceHotline(t, "ring_timeout: 20s")
	seat := siptest.RegisterSeat(t, h, "8001")
	seatRun := seat.Run(t, "seat_late_answer.xml", 60*time.Second, "pt", "0", "codec", "PCMU")
	c := caller(t, h, "13900000023", '1', 3*time.Second)
	expectSIPpOK(t, c.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	tk := closedTicket(t, h, "13900000023")
	if str(tk.Outcome) != "abandoned" || str(tk.AbandonStage) != "ringing" || tk.SeatID != nil {
		t.Errorf("ticket: outcome %s stage %s seat %v, want abandoned while ringing, no seat", str(tk.Outcome), str(tk.AbandonStage), tk.SeatID)
	}
	seat.WaitState(t, "ready", 5*time.Second)
	floorSettles(t, h)
	lateAnswers(t, h, "caller_gone")
}
