package call

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12348/hotline/internal/ticket"
)

// mixFactory is fakeFactory with Mixing: it records joins, leaves and the
// current matrix.
type mixFactory struct {
	fakeFactory
	mu     sync.Mutex
	joined []Media
	left   []Media
	hears  func(l, s Media) bool
}

func (f *mixFactory) Join(_, p Media) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joined = append(f.joined, p)
	return nil
}
func (f *mixFactory) SetHears(_ Media, h func(l, s Media) bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hears = h
	return nil
}
func (f *mixFactory) Leave(_, p Media) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, p)
}
func (f *mixFactory) matrix() func(l, s Media) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hears
}

type noticeLog struct {
	mu sync.Mutex
	n  []MonitorNotice
}

func (l *noticeLog) add(n MonitorNotice) { l.mu.Lock(); l.n = append(l.n, n); l.mu.Unlock() }
func (l *noticeLog) wait(t *testing.T, state, mode string) MonitorNotice {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, n := range l.n {
			if n.State == state && n.Mode == mode {
				l.mu.Unlock()
				return n
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s/%s notice in %+v", state, mode, l.n)
	return MonitorNotice{}
}

func TestSupervisionModes(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewSupervision(reg)
	if err != nil {
		t.Fatal(err)
	}
	f := &mixFactory{}
	d := &fakeDialer{scripts: map[string]seatScript{"8009": {ringAfter: 10 * time.Millisecond, answerAfter: 30 * time.Millisecond}}}
	s.Media, s.Dialer = f, d
	var notes noticeLog
	s.SetNotify(notes.add)

	citizen, operator := newFakeMedia(), newFakeMedia()
	tk := &ticket.Ticket{ID: "T1"}
	live := s.connected(tk, citizen, operator, "8001")
	ctx := context.Background()

	if _, err := s.Monitor(ctx, "NOPE", "boss", "8009", MonitorListen); !errors.Is(err, ErrNotLive) {
		t.Fatalf("unknown call: %v", err)
	}
	if _, err := s.Monitor(ctx, "T1", "boss", "8009", "spy"); !errors.Is(err, ErrBadMonitor) {
		t.Fatalf("bad mode: %v", err)
	}
	st, err := s.Monitor(ctx, "T1", "boss", "8009", MonitorListen)
	if err != nil || st != MonitorRinging {
		t.Fatalf("listen: %q %v", st, err)
	}
	if n := notes.wait(t, MonitorActive, MonitorListen); n.Seat != "8001" || n.Manager != "boss" || n.ManagerSeat != "8009" || n.TicketID != "T1" {
		t.Fatalf("notice %+v", n)
	}
	if _, err := s.Monitor(ctx, "T1", "other", "8010", MonitorBarge); !errors.Is(err, ErrMonitorBusy) {
		t.Fatalf("second manager: %v", err)
	}
	f.mu.Lock()
	mgr := f.joined[0]
	f.mu.Unlock()

	type pair struct {
		l, s Media
		want bool
	}
	check := func(mode string, pairs []pair) {
		t.Helper()
		h := f.matrix()
		for _, p := range pairs {
			if got := h(p.l, p.s); got != p.want {
				t.Errorf("%s: hears = %v, want %v", mode, got, p.want)
			}
		}
	}
	common := []pair{
		{citizen, operator, true}, {operator, citizen, true},
		{mgr, citizen, true}, {mgr, operator, true},
		{citizen, citizen, false}, {operator, operator, false}, {mgr, mgr, false},
	}
	check("listen", append(common, pair{citizen, mgr, false}, pair{operator, mgr, false}))

	if st, err := s.Monitor(ctx, "T1", "boss", "8009", MonitorWhisper); err != nil || st != MonitorActive {
		t.Fatalf("whisper: %q %v", st, err)
	}
	check("whisper", append(common, pair{citizen, mgr, false}, pair{operator, mgr, true}))
	if st, err := s.Monitor(ctx, "T1", "boss", "8009", MonitorBarge); err != nil || st != MonitorActive {
		t.Fatalf("barge: %q %v", st, err)
	}
	check("barge", append(common, pair{citizen, mgr, true}, pair{operator, mgr, true}))

	if err := s.Stop("T1", "other"); !errors.Is(err, ErrMonitorBusy) {
		t.Fatalf("another manager's stop: %v", err)
	}
	if err := s.Stop("T1", "boss"); err != nil {
		t.Fatal(err)
	}
	n := notes.wait(t, MonitorEnded, MonitorOff)
	if n.Reason != "stopped" {
		t.Errorf("ended reason %q", n.Reason)
	}
	f.mu.Lock()
	left := len(f.left)
	f.mu.Unlock()
	if left != 1 || !d.call("8009").hungUp {
		t.Errorf("after Stop: %d leaves, manager phone hung up %v", left, d.call("8009").hungUp)
	}
	if err := s.Stop("T1", "boss"); !errors.Is(err, ErrNotMonitored) {
		t.Fatalf("stop twice: %v", err)
	}
	for mode, want := range map[string]float64{MonitorListen: 1, MonitorWhisper: 1, MonitorBarge: 1} { // before the hang-up case below
		if got := testutil.ToFloat64(s.total.WithLabelValues(mode)); got != want {
			t.Errorf("hotline_monitor_sessions_total{mode=%q} = %v", mode, got)
		}
	}

	// The manager hanging up their phone ends it too.
	if _, err := s.Monitor(ctx, "T1", "boss", "8009", MonitorBarge); err != nil {
		t.Fatal(err)
	}
	notes.mu.Lock()
	notes.n = nil
	notes.mu.Unlock()
	notes.wait(t, MonitorActive, MonitorBarge)
	d.call("8009").events <- Event{Kind: EventHangup}
	if n := notes.wait(t, MonitorEnded, MonitorOff); n.Reason != "manager_hung_up" {
		t.Errorf("ended by the manager's hang-up: reason %q", n.Reason)
	}
	waitGone := time.Now().Add(2 * time.Second)
	for {
		live.mu.Lock()
		gone := live.mon == nil
		live.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(waitGone) {
			t.Fatal("session still there after the manager hung up")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The call ending while the manager's phone rings cancels it.
	d.mu.Lock()
	d.scripts["8009"] = seatScript{ringAfter: 10 * time.Millisecond, answerAfter: 10 * time.Second}
	d.mu.Unlock()
	if _, err := s.Monitor(ctx, "T1", "boss", "8009", MonitorListen); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.ended(live); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the call's end waited for the ringing manager phone")
	}
	if !d.call("8009").wasCanceled() {
		t.Error("the ringing manager phone was not cancelled")
	}
	if _, ok := s.Live("T1"); ok {
		t.Error("the ended call is still live")
	}
}

// A nil Supervision (not configured) is a no-op for the call.
func TestSupervisionNil(t *testing.T) {
	var s *Supervision
	l := s.connected(&ticket.Ticket{ID: "x"}, newFakeMedia(), newFakeMedia(), "8001")
	s.ended(l)
}
