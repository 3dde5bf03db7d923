package siptest

import (
	"encoding/json"
	"testing"
	"time"
)

// Seat is an operator seat played by SIPp: it registers from a fixed port
// (the binding outlives the SIPp process, PEERS.md) and then answers calls
// on that port with a UAS scenario.
type Seat struct {
	ID        string
	Port      int
	MediaPort int
	Dir       string // working directory: seat.pcap
	h         *Hotline
}

// RegisterSeat registers seat id with digest authentication from a new port.
func RegisterSeat(t testing.TB, h *Hotline, id string) *Seat {
	t.Helper()
	s := &Seat{ID: id, Port: FreePort(t), MediaPort: FreePort(t), Dir: t.TempDir(), h: h}
	r := SIPp{
		Scenario: "seat_register.xml", Target: h.Ready.SIPUDP, Service: id, LocalPort: s.Port, Dir: s.Dir,
		Extra: []string{"-au", id, "-ap", SeatPassword(id), "-key", "domain", "12348.local"},
	}.Run(t, 15*time.Second)
	if r.ExitCode != 0 {
		t.Fatalf("seat %s REGISTER: sipp exit %d\n%s\n%s\n%s", id, r.ExitCode, r.Output, r.Errors, r.Messages)
	}
	s.WaitState(t, "ready", 5*time.Second)
	return s
}

// Run starts a seat scenario (seat_answer.xml, seat_no_answer.xml …) on the
// seat's registered port; keys are SIPp -key pairs.
func (s *Seat) Run(t testing.TB, scenario string, timeout time.Duration, keys ...string) *SIPpRun {
	t.Helper()
	extra := []string{"-key", "seat", s.ID}
	for i := 0; i+1 < len(keys); i += 2 {
		extra = append(extra, "-key", keys[i], keys[i+1])
	}
	return SIPp{
		Scenario: scenario, Target: s.h.Ready.SIPUDP, Service: s.ID, LocalPort: s.Port, MediaPort: s.MediaPort,
		Dir: s.Dir, Extra: extra,
	}.Start(t, timeout)
}

// SeatView is a seat as GET /api/seats shows it.
type SeatView struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	CallID string `json:"call_id"`
}

// Seats returns the floor as the API shows it.
func (h *Hotline) Seats(t testing.TB) map[string]SeatView {
	t.Helper()
	code, body := h.API(t, "GET", "/api/seats", "")
	if code != 200 {
		t.Fatalf("GET /api/seats: %d %s", code, body)
	}
	var r struct{ Seats []SeatView }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]SeatView{}
	for _, s := range r.Seats {
		out[s.ID] = s
	}
	return out
}

// WaitState waits (bounded) until the seat is in state.
func (s *Seat) WaitState(t testing.TB, state string, within time.Duration) SeatView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := s.h.Seats(t)[s.ID]
		if v.State == state {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("seat %s is %q (%s), want %q after %s", s.ID, v.State, v.Reason, state, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetState changes a seat's state over the API as a manager would.
func (h *Hotline) SetState(t testing.TB, seat, state, reason string) {
	t.Helper()
	code, body := h.API(t, "POST", "/api/seats/"+seat+"/state", `{"state":"`+state+`","reason":"`+reason+`"}`)
	if code != 200 {
		t.Fatalf("set %s %s: %d %s", seat, state, code, body)
	}
}
