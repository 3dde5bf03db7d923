package call

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// fakeACD records what the call reports; the test sends the events.
type fakeACD struct {
	mu       sync.Mutex
	loggedIn int
	events   chan acd.Event
	log      []string
	// answerErr is what Answered returns (a stale offer, Redis down).
	answerErr error
}

// ring is the ring timeout the fake ACD's offers carry.
const ring = 15 * time.Second

func (a *fakeACD) note(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = append(a.log, fmt.Sprintf(format, args...))
}
func (a *fakeACD) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.log)
}
func (a *fakeACD) LoggedIn() int { return a.loggedIn }
func (a *fakeACD) Enqueue(id, skill, prio string, at time.Time) (<-chan acd.Event, error) {
	a.note("enqueue %s %s", skill, prio)
	return a.events, nil
}
func (a *fakeACD) Position(string) int { return 3 }
func (a *fakeACD) Abandon(id string) error {
	a.note("abandon")
	return nil
}
func (a *fakeACD) Answered(id, seat string, _ uint64) error {
	a.note("answered %s", seat)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.answerErr
}
func (a *fakeACD) NoAnswer(id, seat string, _ uint64) error {
	a.note("noanswer %s", seat)
	return nil
}
func (a *fakeACD) Declined(id, seat string, _ uint64) error {
	a.note("declined %s", seat)
	return nil
}
func (a *fakeACD) Hangup(id, seat string, _ uint64) error {
	a.note("hangup %s", seat)
	return nil
}

// seatScript says how a fake seat phone behaves.
type seatScript struct {
	ringAfter   time.Duration // 180 after this (0: never)
	answerAfter time.Duration // 200 after this (0: never)
	code        int           // final code instead of 200 (486, 603), after answerAfter
	// onAnswer runs as the phone sends its 200, before the call sees it.
	onAnswer func()
}

type fakeDialer struct {
	mu      sync.Mutex
	scripts map[string]seatScript
	calls   map[string]*fakeSeatCall
}

func (d *fakeDialer) Dial(ctx context.Context, seat string, offer []byte, _ func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (SeatCall, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sc := &fakeSeatCall{script: d.scripts[seat], ringing: make(chan struct{}), events: make(chan Event, 4), start: time.Now()}
	if d.calls == nil {
		d.calls = map[string]*fakeSeatCall{}
	}
	d.calls[seat] = sc
	return sc, nil
}

func (d *fakeDialer) call(seat string) *fakeSeatCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[seat]
}

type fakeSeatCall struct {
	script   seatScript
	start    time.Time
	ringing  chan struct{}
	events   chan Event
	mu       sync.Mutex
	hungUp   bool
	canceled bool
}

func (s *fakeSeatCall) Ringing() <-chan struct{} { return s.ringing }
func (s *fakeSeatCall) Wait(cancel <-chan struct{}) (SeatAnswer, error) {
	var ring, answer <-chan time.Time
	if s.script.ringAfter > 0 {
		ring = time.After(s.script.ringAfter)
	}
	if s.script.answerAfter > 0 {
		answer = time.After(s.script.answerAfter)
	}
	for {
		select {
		case <-ring:
			close(s.ringing)
			ring = nil
		case <-answer:
			if s.script.code != 0 {
				return SeatAnswer{Code: s.script.code}, nil
			}
			if s.script.onAnswer != nil {
				s.script.onAnswer()
			}
			return SeatAnswer{Code: 200, SDP: []byte("v=0"), Source: seatAddr}, nil
		case <-cancel:
			s.mu.Lock()
			s.canceled = true
			s.mu.Unlock()
			// The answer may cross the CANCEL: one more millisecond.
			select {
			case <-answer:
				return SeatAnswer{Code: 200, SDP: []byte("v=0"), Late: true, Source: seatAddr}, nil
			case <-time.After(time.Millisecond):
				return SeatAnswer{Code: 487}, nil
			}
		}
	}
}
func (s *fakeSeatCall) Events() <-chan Event                  { return s.events }
func (s *fakeSeatCall) SendDigit(context.Context, rune) error { return nil }
func (s *fakeSeatCall) Hangup(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hungUp = true
	return nil
}
func (s *fakeSeatCall) Close() {}

func (s *fakeSeatCall) wasCanceled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

func (s *fakeSeatCall) wasHungUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hungUp
}

func newQueueRig(t *testing.T, scripts map[string]seatScript) (*rig, *fakeACD, *fakeDialer) {
	r := newRig(t)
	a := &fakeACD{loggedIn: 2, events: make(chan acd.Event, 4)}
	d := &fakeDialer{scripts: scripts}
	r.svc.ACD, r.svc.Dialer = a, d
	return r, a, d
}

// start runs a call that presses 1 and is queued.
func (r *rig) start(ctx context.Context) chan struct{} {
	done := make(chan struct{})
	go func() { r.svc.Handle(ctx, r.in); close(done) }()
	time.Sleep(500 * time.Millisecond)
	r.media.digits <- '1'
	synctest.Wait()
	return done
}

func expectACD(t *testing.T, a *fakeACD, want ...string) {
	t.Helper()
	if got := a.calls(); !slices.Equal(got, want) {
		t.Fatalf("ACD calls %q, want %q", got, want)
	}
}

func TestAnsweredThenSurvey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: 3 * time.Second}})
		done := r.start(context.Background())
		time.Sleep(10 * time.Second) // waiting: announcements
		a.events <- QueueOffer1("8001")
		time.Sleep(4 * time.Second) // rings, answers
		time.Sleep(60 * time.Second)
		d.call("8001").events <- Event{Kind: EventHangup} // the seat hangs up first
		synctest.Wait()
		r.media.digits <- '1' // survey: satisfied
		<-done
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeAnswered || str(tk.SeatID) != "8001" || tk.Satisfaction == nil || *tk.Satisfaction != 1 {
			t.Fatalf("ticket %+v", tk)
		}
		if *tk.WaitSeconds != 13 || *tk.TalkSeconds != 61 || tk.AnsweredAt == nil || tk.Recording == nil {
			t.Fatalf("wait %v talk %v recording %v", *tk.WaitSeconds, *tk.TalkSeconds, tk.Recording)
		}
		if str(tk.EndReason) != vocab.EndSeatHangup {
			t.Fatalf("end_reason %s", str(tk.EndReason))
		}
		expectACD(t, a, "enqueue consult normal", "answered 8001", "hangup 8001")
		// Each leg was told where its peer's SIP came from: the caller's
		// the INVITE's source, the seat's its registration's.
		f := r.svc.Media.(*fakeFactory)
		f.mu.Lock()
		answerFrom, seatLegs := f.answerFrom, f.seatLegs
		f.mu.Unlock()
		if answerFrom != sbcAddr || len(seatLegs) != 1 {
			t.Fatalf("caller leg's signalling source %v, %d seat legs", answerFrom, len(seatLegs))
		}
		seatLegs[0].mu.Lock()
		applied := seatLegs[0].appliedFrom
		seatLegs[0].mu.Unlock()
		if applied != seatAddr {
			t.Fatalf("seat leg's signalling source %v, want %v", applied, seatAddr)
		}
		if v := r.counter(t, "hotline_satisfaction_total", "score", "1"); v != 1 {
			t.Fatalf("satisfaction{1} = %v", v)
		}
		if v := r.counter(t, "hotline_calls_answered_total", "queue", "consult"); v != 1 {
			t.Fatalf("answered{consult} = %v", v)
		}
		if v := r.counter(t, "hotline_queue_waiting", "queue", "consult"); v != 0 {
			t.Fatalf("waiting{consult} = %v after the call", v)
		}
	})
}

func TestCallerHangsUpFirstNoSurvey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: 2 * time.Second}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(30 * time.Second)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeAnswered || tk.Satisfaction != nil || str(tk.EndReason) != vocab.EndCallerHangup {
			t.Fatalf("ticket %+v", tk)
		}
		if !d.call("8001").wasHungUp() {
			t.Fatal("seat not hung up after the caller left")
		}
		expectACD(t, a, "enqueue consult normal", "answered 8001", "hangup 8001")
	})
}

func QueueOffer1(seat string) acd.Event {
	return acd.Event{Kind: acd.Offer, Seat: agent.SeatID(seat), Ring: ring}
}

// TestRingTimeoutThenNextSeat: the ACD's ring watchdog ends the offer; the
// call CANCELs (it does not report: the ACD decided) and rings the next seat.
func TestRingTimeoutThenNextSeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{
			"8001": {ringAfter: time.Second}, // never answers
			"8002": {ringAfter: time.Second, answerAfter: 2 * time.Second}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(ring - time.Millisecond)
		synctest.Wait()
		if d.call("8001").wasCanceled() {
			t.Fatal("CANCEL before the ACD said the ring timed out")
		}
		a.events <- acd.Event{Kind: acd.RingTimeout, Seat: "8001"}
		a.events <- QueueOffer1("8002")
		synctest.Wait()
		if !d.call("8001").wasCanceled() {
			t.Fatal("no CANCEL to the seat when the ACD's ring watchdog fired")
		}
		time.Sleep(10 * time.Second)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "answered 8002", "hangup 8002")
		if tk := r.tickets.get(); str(tk.SeatID) != "8002" {
			t.Fatalf("seat %s", str(tk.SeatID))
		}
	})
}

// TestRingBackstop: with no word from the ACD (the shared state
// unreachable) long past its ring deadline, the call gives up on the seat
// itself and reports it rang out.
func TestRingBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(ring + ringBackstop - time.Millisecond)
		synctest.Wait()
		if d.call("8001").wasCanceled() {
			t.Fatal("CANCEL before the backstop")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if !d.call("8001").wasCanceled() {
			t.Fatal("no CANCEL at the backstop")
		}
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "noanswer 8001", "abandon")
	})
}

// TestAnswerAsRingTimesOutIsHungUp: the seat's 200 crosses the CANCEL sent
// for the ACD's ring timeout: the ACD decided, so that leg is hung up, not
// connected, and counted; the call waits on.
func TestAnswerAsRingTimesOutIsHungUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: ring}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(ring - 500*time.Microsecond)
		a.events <- acd.Event{Kind: acd.RingTimeout, Seat: "8001"}
		time.Sleep(time.Second)
		if !d.call("8001").wasHungUp() {
			t.Fatal("the late answer's leg was not hung up")
		}
		if v := r.counter(t, "hotline_acd_late_answers_total", "reason", LateRingTimeout); v != 1 {
			t.Fatalf("late answers{ring_timeout} = %v", v)
		}
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "abandon")
		if tk := r.tickets.get(); str(tk.Outcome) != vocab.OutcomeAbandoned || str(tk.AbandonStage) != vocab.StageQueue || str(tk.SeatID) != "" {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

func TestDeclineGoesBackToQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, _ := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: 2 * time.Second, code: 486}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(5 * time.Second)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "declined 8001", "abandon")
		if tk := r.tickets.get(); str(tk.AbandonStage) != vocab.StageQueue {
			t.Fatalf("stage %s", str(tk.AbandonStage))
		}
	})
}

func TestCallerHangsUpWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(3 * time.Second)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		if !d.call("8001").wasCanceled() {
			t.Fatal("the ringing seat got no CANCEL")
		}
		expectACD(t, a, "enqueue consult normal", "abandon")
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeAbandoned || str(tk.AbandonStage) != vocab.StageRinging {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

func TestWithdrawnWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second}, "8002": {answerAfter: time.Second}})
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(3 * time.Second)
		a.events <- acd.Event{Kind: acd.Withdrawn, Seat: "8001"} // 8001 unregistered mid-ring
		time.Sleep(time.Second)
		if !d.call("8001").wasCanceled() {
			t.Fatal("no CANCEL to the seat that went away")
		}
		a.events <- QueueOffer1("8002")
		time.Sleep(5 * time.Second)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "answered 8002", "hangup 8002")
	})
}

func TestMaxWaitAndNoSeatsGoToVoicemail(t *testing.T) {
	for _, kind := range []acd.EventKind{acd.MaxWait, acd.NoSeats} {
		synctest.Test(t, func(t *testing.T) {
			r, a, _ := newQueueRig(t, nil)
			done := r.start(context.Background())
			time.Sleep(2 * time.Second)
			left := time.Now()
			a.events <- acd.Event{Kind: kind}
			time.Sleep(10 * time.Second) // invitation, beep, message
			r.media.digits <- '#'
			<-done
			tk := r.tickets.get()
			if str(tk.Outcome) != vocab.OutcomeVoicemail || !tk.Callback {
				t.Fatalf("%v: ticket %+v", kind, tk)
			}
			// The wait is the time in the queue, not until the message ended.
			if tk.QueuedAt == nil || tk.WaitSeconds == nil || *tk.WaitSeconds != left.Sub(*tk.QueuedAt).Seconds() {
				t.Fatalf("%v: queued_at %v wait %v, want the time until %v", kind, tk.QueuedAt, tk.WaitSeconds, left)
			}
		})
	}
}

func TestNobodyLoggedInSkipsTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, _ := newQueueRig(t, nil)
		a.loggedIn = 0
		done := r.start(context.Background())
		time.Sleep(10 * time.Second)
		r.media.digits <- '#'
		<-done
		if len(a.calls()) != 0 {
			t.Fatalf("enqueued with nobody logged in: %v", a.calls())
		}
		if tk := r.tickets.get(); str(tk.Outcome) != vocab.OutcomeVoicemail || tk.QueuedAt != nil || tk.WaitSeconds != nil {
			t.Fatalf("outcome %s, queued_at %v, wait %v: a call that never queued has no queue wait", str(tk.Outcome), tk.QueuedAt, tk.WaitSeconds)
		}
	})
}

// TestStaleAnswerIsHungUp: the ACD refuses the answer of an offer that is
// no longer ours (ErrNotOffered): the seat's leg is hung up at once and the
// call waits on for the next offer (SPEC §11: a late 200 for a stale offer
// gets ACK + BYE). With the shared state unreachable instead
// (ErrUnavailable), the answer is real and the call is connected.
func TestStaleAnswerIsHungUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {answerAfter: time.Second}, "8002": {answerAfter: time.Second}})
		a.answerErr = fmt.Errorf("stale: %w", acd.ErrNotOffered)
		done := r.start(context.Background())
		a.events <- QueueOffer1("8001")
		time.Sleep(3 * time.Second)
		if !d.call("8001").wasHungUp() {
			t.Fatal("the stale answer's leg was not hung up")
		}
		a.mu.Lock()
		a.answerErr = fmt.Errorf("redis down: %w", acd.ErrUnavailable)
		a.mu.Unlock()
		a.events <- QueueOffer1("8002")
		time.Sleep(5 * time.Second)
		if d.call("8002").wasHungUp() {
			t.Fatal("connected call's seat leg hung up while the shared state was unreachable")
		}
		if v := r.counter(t, "hotline_acd_late_answers_total", "reason", LateNotOffered); v != 1 {
			t.Fatalf("late answers{not_offered} = %v", v)
		}
		r.in.events <- Event{Kind: EventHangup}
		<-done
		expectACD(t, a, "enqueue consult normal", "answered 8001", "answered 8002", "hangup 8002")
		if tk := r.tickets.get(); str(tk.Outcome) != vocab.OutcomeAnswered || str(tk.SeatID) != "8002" {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

// TestACDLetsGoOfTheCall: the ACD closes the call's channel without a word
// (it dropped the call), while it waits or while a seat rings: the ringing
// is CANCELled and the caller goes to voicemail; the call never spins on
// the closed channel.
func TestACDLetsGoOfTheCall(t *testing.T) {
	for _, ringing := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second}})
			done := r.start(context.Background())
			if ringing {
				a.events <- QueueOffer1("8001")
				time.Sleep(2 * time.Second)
			}
			close(a.events)
			time.Sleep(10 * time.Second) // invitation, beep, message
			r.media.digits <- '#'
			<-done
			if ringing && !d.call("8001").wasCanceled() {
				t.Fatal("the seat still rings for a call the ACD let go of")
			}
			tk := r.tickets.get()
			if str(tk.Outcome) != vocab.OutcomeVoicemail || !tk.Callback {
				t.Fatalf("ringing %v: ticket %+v", ringing, tk)
			}
		})
	}
}
