package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// One owner per call: every goroutine a call starts ends with it. A hundred
// calls of each outcome — refused (404), hung up in the menu, voicemail
// with nobody logged in, answered by a seat and rated — and the process's
// goroutine count (go_goroutines on /metrics) comes back to where it was
// once the SIP transactions have run out (RFC 3261 §17: Timer H/I/J, up to
// 64·T1 = 32 s after a call).
func TestCallsLeaveNoGoroutinesBehind(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"ring_timeout: 5s", "wrap_up: 0s"}})
	h.Login(t)
	goroutines := func() float64 { return metricValue(t, scrape(t, h), "go_goroutines") }
	time.Sleep(2 * time.Second) // let start-up settle
	baseline := goroutines()

	const n = 100
	run := func(scenario, service, caller, dir string, pauseMS int, within time.Duration) *siptest.SIPpRun {
		return siptest.SIPp{Scenario: scenario, Target: h.Ready.SIPUDP, Service: service, Caller: caller, Dir: dir,
			Calls: n, Rate: "25", PauseMS: pauseMS}.Start(t, within)
	}
	// Nobody logged in: refused, menu hang-ups and voicemail, at once.
	rejected := run("caller_expect_404.xml", "99999", "13100000001", t.TempDir(), 0, 60*time.Second)
	inMenu := run("caller_hangs_up.xml", "12348", "13100000002", quietCaller(t, 10*time.Second), 1500, 60*time.Second)
	vmLen := promptLength(t, "welcome", "menu") + 5*time.Second + promptLength(t, "voicemail") + 3*time.Second
	// The callers stay well past the voicemail prompt: under the whole
	// -race suite on two cores, 200 callers' menus ended ~2 s late, and a
	// 3 s margin left them hanging up before the recording began.
	vmLen += 10 * time.Second
	voicemail := run("caller_hangs_up.xml", "12348", "13100000003", quietCaller(t, vmLen+10*time.Second), int(vmLen.Milliseconds()), 120*time.Second)
	for _, r := range []*siptest.SIPpRun{rejected, inMenu, voicemail} {
		expectSIPpOK(t, r.Wait(t))
	}

	// Four seats answer a hundred callers, hang up after a moment, and the
	// callers sit through the survey until the switch hangs up.
	var seats []*siptest.SIPpRun
	for _, id := range []string{"8001", "8002", "8003", "8006"} {
		s := siptest.RegisterSeat(t, h, id)
		seatVoice(t, s, 5*time.Second)
		seats = append(seats, siptest.SIPp{
			Scenario: "seat_answer.xml", Target: h.Ready.SIPUDP, Service: s.ID, LocalPort: s.Port, MediaPort: s.MediaPort,
			Dir: s.Dir, Calls: n, Limit: 1,
			Extra: append([]string{"-key", "seat", s.ID}, keysToArgs([]string{"ring_ms", "100", "talk_ms", "300", "hangup", "seat", "pt", "0", "codec", "PCMU"})...),
		}.Start(t, 120*time.Second))
	}
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(90*time.Second, 0.25, callerHz1))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	answered := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13100000004",
		Dir: dir, Calls: n, Rate: "10"}.Start(t, 110*time.Second)
	expectSIPpOK(t, answered.Wait(t))
	for _, s := range seats {
		s.Kill() // each would wait for more calls
	}

	m := scrape(t, h)
	for outcome, want := range map[string]float64{"rejected": n, "abandoned": n, "voicemail": n, "answered": n} {
		if got := metricValue(t, m, "hotline_calls_ended_total", fmt.Sprintf(`outcome=%q`, outcome)); got != want {
			t.Errorf("%s calls: %v, want %v", outcome, got, want)
		}
	}
	var now float64
	took := waitUntil(t, "goroutines back to the baseline", 60*time.Second, func() bool {
		now = goroutines()
		return now <= baseline+3
	})
	t.Logf("goroutines: %v before, %v after %d calls of each outcome (settled %s after the last call)", baseline, now, n, took.Round(time.Second))
}
