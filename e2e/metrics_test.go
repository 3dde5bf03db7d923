package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// metricValue sums the samples of name whose labels contain all of want
// (e.g. `queue="consult"`).
func metricValue(t *testing.T, text, name string, want ...string) float64 {
	t.Helper()
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		labels := line[:sp]
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(labels, w)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += v
		found = true
	}
	if !found {
		t.Fatalf("no %s%v in /metrics", name, want)
	}
	return sum
}

// After a scripted set of calls, /metrics says what the tickets say:
// offered = tickets not rejected, answered, abandoned by stage,
// satisfaction by score (issue "The console and the numbers").
func TestMetricsMatchTheTickets(t *testing.T) {
	t.Parallel()
	h := raceHotline(t, "wrap_up: 60s") // the seat takes one call in this test
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "500", "talk_ms", "3000", "hangup", "seat", "pt", "0", "codec", "PCMU")

	// A: answered, rated 2.
	dir := t.TempDir()
	callerPress(t, dir, '1', '2', 20*time.Second)
	a := siptest.SIPp{Scenario: "caller_rates.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13700000001", Dir: dir, PauseMS: 7000}.Start(t, 60*time.Second)
	// B: hangs up in the IVR.
	b := caller(t, h, "13700000002", '#', 300*time.Millisecond)
	// C: a number that is not ours (rejected).
	c := siptest.SIPp{Scenario: "caller_expect_404.xml", Target: h.Ready.SIPUDP, Service: "99999", Caller: "13700000003"}.Start(t, 20*time.Second)
	expectSIPpOK(t, a.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	expectSIPpOK(t, b.Wait(t))
	expectSIPpOK(t, c.Wait(t))
	// D: queued while the only seat is in its wrap-up, hangs up waiting.
	expectSIPpOK(t, caller(t, h, "13700000004", '3', 4*time.Second).Wait(t))

	for _, n := range []string{"13700000001", "13700000002", "13700000003", "13700000004"} {
		closedTicket(t, h, n)
	}
	tickets := allTickets(t, h)
	count := func(f func(ticketJSON) bool) float64 {
		n := 0
		for _, tk := range tickets {
			if f(tk) {
				n++
			}
		}
		return float64(n)
	}
	m := scrape(t, h)
	check := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: /metrics says %v, the tickets %v", what, got, want)
		}
	}
	check("offered", metricValue(t, m, "hotline_calls_offered_total"), count(func(tk ticketJSON) bool { return str(tk.Outcome) != "rejected" }))
	check("answered", metricValue(t, m, "hotline_calls_answered_total"), count(func(tk ticketJSON) bool { return str(tk.Outcome) == "answered" }))
	for _, stage := range []string{"ivr", "queue", "ringing"} {
		check("abandoned at "+stage, metricValue(t, m, "hotline_calls_abandoned_total", `stage="`+stage+`"`),
			count(func(tk ticketJSON) bool { return str(tk.Outcome) == "abandoned" && str(tk.AbandonStage) == stage }))
	}
	for _, score := range []int{1, 2, 3} {
		check(fmt.Sprintf("satisfaction %d", score), metricValue(t, m, "hotline_satisfaction_total", fmt.Sprintf(`score="%d"`, score)),
			count(func(tk ticketJSON) bool { return tk.Satisfaction != nil && *tk.Satisfaction == score }))
	}
	check("rejected", metricValue(t, m, "hotline_calls_ended_total", `outcome="rejected"`), count(func(tk ticketJSON) bool { return str(tk.Outcome) == "rejected" }))
	// The numbers behind the hand-checked expectations: 4 calls, 3 offered.
	if got := metricValue(t, m, "hotline_calls_offered_total"); got != 3 {
		t.Errorf("offered %v, want 3 (A, B, D)", got)
	}

	// And the stats API, computed from SQLite, agrees.
	code, body := h.API(t, "GET", "/api/stats/today", "")
	if code != 200 {
		t.Fatalf("/api/stats/today: %d %s", code, body)
	}
	var st struct {
		Offered, Answered, Abandoned, Rated int
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Offered != 3 || st.Answered != 1 || st.Abandoned != 2 || st.Rated != 1 {
		t.Errorf("stats today: %+v, want offered 3, answered 1, abandoned 2, rated 1", st)
	}
}
