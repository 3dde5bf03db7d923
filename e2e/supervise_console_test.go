package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

// The manager works supervision from the wallboard in headless Chromium:
// 监听 on the live call's card rings their SIPp phone and joins it; the
// operator's desk shows the banner; 耳语 changes it; 结束 ends it.
func TestConsoleManagerSupervisesFromWallboard(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	h := siptest.StartHotline(t, siptest.Config{ManagerSeats: []string{"8009"}})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	addUser(t, h, "boss", "manager", "8009", "boss-password-1")

	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 30*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "300", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	mgr := siptest.RegisterPhone(t, h, "8009")
	siptest.WritePCAPFile(t, mgr.Dir, "seat.pcap", siptest.NewStream(sippAddr, farEnd, 0, 101, 0xB055).Audio(siptest.Tone(30*time.Second, 0.25, managerHz)).Packets())
	mgrRun := mgr.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "300", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")

	board := br.NewPage(t, "wallboard", 1366, 768)
	consoleLogin(t, h, board, "boss", "boss-password-1", "board-view")
	desk := br.NewPage(t, "desk", 1366, 768)
	consoleLogin(t, h, desk, "op1", "op1-password-1", "desk-view")

	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(30*time.Second, 0.25, callerHz1))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	callerRun := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13900002222", Dir: dir, PauseMS: 10000}.Start(t, 60*time.Second)

	listen := `#seat-grid [data-seat="8001"] .sup-btn[data-mode="listen"]`
	board.WaitFor("监听 on the live call's card", `document.querySelector('`+listen+`')`, 20*time.Second)
	board.Do(chromedp.Click(chromedp.CSS(listen)))
	desk.WaitFor("the operator's banner: 值班长正在监听", `(() => { const b = document.getElementById("sup-banner"); return b && !b.hidden && b.textContent.includes("值班长正在监听") && b.textContent.includes("boss"); })()`, 15*time.Second)
	board.WaitFor("监听 pressed", `document.querySelector('`+listen+`').getAttribute("aria-pressed") === "true"`, 5*time.Second)
	board.Screenshot("supervision-wallboard.png")
	desk.Screenshot("supervision-operator-banner.png")

	whisper := `#seat-grid [data-seat="8001"] .sup-btn[data-mode="whisper"]`
	board.Do(chromedp.Click(chromedp.CSS(whisper)))
	desk.WaitFor("the banner says 耳语", `document.getElementById("sup-banner").textContent.includes("耳语")`, 10*time.Second)

	board.Do(chromedp.Click(chromedp.CSS(`#seat-grid [data-seat="8001"] .sup-btn[data-mode="off"]`)))
	desk.WaitFor("the banner gone", `document.getElementById("sup-banner").hidden`, 10*time.Second)
	expectSIPpOK(t, mgrRun.Wait(t))
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))

	n := 0
	for _, l := range auditLines(t, h) {
		if l == "boss|call.monitor.listen|"+closedTicket(t, h, "13900002222").ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("audit: %d rows of the wallboard's listen", n)
	}
}
