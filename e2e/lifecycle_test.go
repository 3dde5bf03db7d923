package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// SIGTERM: the node refuses new calls with 503 at once, lets the call in
// progress finish by itself, then exits 0; the finished call's ticket is
// what the caller did, not "interrupted".
func TestSIGTERMDrainsThenExits(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{Grace: "60s"})
	h.Login(t)
	const caller, late = "13200007777", "13200008888"
	dir := quietCaller(t, 12*time.Second)
	inCall := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, PauseMS: 6000,
	}.Start(t, 30*time.Second)
	waitActive(t, h, 1)

	stopped := time.Now()
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	refused := siptest.SIPp{Scenario: "caller_expect_503.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: late}.Run(t, 15*time.Second)
	expectSIPpOK(t, refused)
	expectSIPpOK(t, inCall.Wait(t))

	select {
	case <-h.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("hotline still running 20 s after its last call ended")
	}
	if err := h.ExitErr(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	if took := time.Since(stopped); took > 15*time.Second {
		t.Errorf("shutdown took %s: it should end soon after the last call", took)
	}

	// Restart on the same data: the ticket is the caller's own hang-up.
	h.Start(t)
	h.Login(t)
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "abandoned" || str(tk.EndReason) != "caller_hangup" {
		t.Errorf("call finished during the drain: outcome %s end_reason %s", str(tk.Outcome), str(tk.EndReason))
	}
	if ts := ticketsOf(t, h, late); len(ts) != 0 {
		t.Errorf("a call refused with 503 left a ticket: %+v", ts)
	}
}

// When shutdown.grace runs out, the switch ends the remaining calls itself
// (BYE to the caller) and says so on the ticket: interrupted, shutdown.
func TestSIGTERMGraceRunsOut(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{Grace: "2s"})
	h.Login(t)
	const caller = "13100009999"
	dir := quietCaller(t, 30*time.Second)
	run := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller, Dir: dir}.Start(t, 40*time.Second)
	waitActive(t, h, 1)
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectSIPpOK(t, run.Wait(t)) // the caller got our BYE and answered it
	select {
	case <-h.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("hotline did not exit after its grace period")
	}
	if err := h.ExitErr(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	h.Start(t)
	h.Login(t)
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "interrupted" || str(tk.EndReason) != "shutdown" {
		t.Errorf("outcome %s end_reason %s, want interrupted / shutdown", str(tk.Outcome), str(tk.EndReason))
	}
}

// SIGKILL mid-call: at the next start the ticket of the lost call is closed
// as interrupted (never left open, never blamed on the caller).
func TestCrashLeavesNoOpenTicket(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13000001234"
	dir := quietCaller(t, 20*time.Second)
	run := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller, Dir: dir}.Start(t, 30*time.Second)
	waitActive(t, h, 1)
	if ts := ticketsOf(t, h, caller); len(ts) != 1 || ts[0].Status != "open" {
		t.Fatalf("before the crash: %+v", ts)
	}
	if err := h.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.Exited()
	var ee *exec.ExitError
	if !errors.As(h.ExitErr(), &ee) {
		t.Fatalf("process was not killed: %v", h.ExitErr())
	}
	run.Kill()
	h.Start(t)
	h.Login(t)
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "interrupted" || str(tk.EndReason) != "process_restart" || tk.EndedAt == nil {
		t.Errorf("after the crash: outcome %s end_reason %s ended_at %v", str(tk.Outcome), str(tk.EndReason), tk.EndedAt)
	}
}

// waitActive waits until the hotline reports n active calls.
func waitActive(t *testing.T, h *siptest.Hotline, n int) {
	t.Helper()
	want := fmt.Sprintf("hotline_active_calls %d", n)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := scrape(t, h); slices.Contains(strings.Split(m, "\n"), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("never saw %q", want)
}
