package siptest

import (
	"testing"
	"time"
)

// RegisterPhone registers the phone of seat id with digest authentication
// from a new port, like RegisterSeat, without waiting for a state on the
// ACD floor: for a manager's phone (seats[].role: manager), which is never
// on it.
func RegisterPhone(t testing.TB, h *Hotline, id string) *Seat {
	t.Helper()
	s := &Seat{ID: id, Port: FreePort(t), MediaPort: FreePort(t), Dir: t.TempDir(), h: h}
	r := SIPp{
		Scenario: "seat_register.xml", Target: h.Ready.SIPUDP, Service: id, LocalPort: s.Port, Dir: s.Dir,
		Extra: []string{"-au", id, "-ap", SeatPassword(id), "-key", "domain", "12348.local"},
	}.Run(t, 15*time.Second)
	if r.ExitCode != 0 {
		t.Fatalf("phone %s REGISTER: sipp exit %d\n%s\n%s\n%s", id, r.ExitCode, r.Output, r.Errors, r.Messages)
	}
	return s
}
