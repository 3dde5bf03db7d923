package call

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"

	"github.com/hotline12348/hotline/internal/vocab"
)

// The four crossings of a seat's 200 with the end of its offer, against
// the real ACD (package acd): the ACD decides, the call obeys. Each time
// the late seat's leg is ACKed and hung up and counted, the caller stays in
// the queue and reaches the next seat, no seat is left ringing and no entry
// is left in the queue.

// floor adapts an *acd.ACD to Distributor, as internal/app does.
type floor struct{ a *acd.ACD }

func (f floor) LoggedIn() int { return f.a.LoggedIn() }
func (f floor) Enqueue(id, skill, prio string, at time.Time) (<-chan acd.Event, error) {
	return f.a.Enqueue(acd.Call{ID: id, Skill: skill, Priority: prio, EnqueuedAt: at})
}
func (f floor) Position(id string) int  { return f.a.Position(id) }
func (f floor) Abandon(id string) error { return f.a.Abandon(id) }
func (f floor) Answered(id, seat string, tok uint64) error {
	return f.a.Answered(id, agent.SeatID(seat), tok)
}
func (f floor) NoAnswer(id, seat string, tok uint64) error {
	return f.a.NoAnswer(id, agent.SeatID(seat), tok)
}
func (f floor) Declined(id, seat string, tok uint64) error {
	return f.a.Declined(id, agent.SeatID(seat), tok)
}
func (f floor) Hangup(id, seat string, tok uint64) error {
	return f.a.Hangup(id, agent.SeatID(seat), tok)
}

// acdRig is a call against a real ACD with seats 8001 (idle longest: offered
// first) and 8002, both ready; 8002 answers after a second.
func acdRig(t *testing.T, first seatScript) (*rig, *acd.ACD, *fakeDialer) {
	t.Helper()
	a, err := acd.New(acd.Config{RingTimeout: ring, WrapUp: time.Second, MaxWait: 10 * time.Minute},
		[]agent.Seat{agent.New("8001", "一号", []string{"consult"}), agent.New("8002", "二号", []string{"consult"})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	for _, id := range []agent.SeatID{"8001", "8002"} {
		if err := a.SeatRegistered(id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	r := newRig(t)
	d := &fakeDialer{scripts: map[string]seatScript{"8001": first, "8002": {ringAfter: 100 * time.Millisecond, answerAfter: time.Second}}}
	r.svc.ACD, r.svc.Dialer = floor{a}, d
	return r, a, d
}

// settled checks what the ACD holds once the call is over: no seat rings,
// no entry is left, the late seat is in state and 8002 took the call.
func settled(t *testing.T, r *rig, a *acd.ACD, d *fakeDialer, late agent.State, reason, lateReason string) {
	t.Helper()
	for _, s := range a.Seats() {
		if s.State == agent.Ringing {
			t.Errorf("seat %s left ringing for %s", s.ID, s.CallID)
		}
	}
	if q := a.Queue(); len(q) != 0 {
		t.Errorf("queue entries left: %+v", q)
	}
	s, err := a.Seat("8001")
	if err != nil {
		t.Fatal(err)
	}
	if s.State != late || string(s.Reason) != reason {
		t.Errorf("late seat: %s (%s), want %s (%s)", s.State, s.Reason, late, reason)
	}
	if !d.call("8001").wasHungUp() {
		t.Error("the late seat's leg was not hung up (BYE)")
	}
	for _, r2 := range LateReasons {
		want := 0.0
		if r2 == lateReason {
			want = 1
		}
		if v := r.counter(t, "hotline_acd_late_answers_total", "reason", r2); v != want {
			t.Errorf("late answers{%s} = %v, want %v", r2, v, want)
		}
	}
}

// answeredBy8002 runs the rest of a call that reached 8002 and checks the ticket.
func answeredBy8002(t *testing.T, r *rig, d *fakeDialer, done chan struct{}) {
	t.Helper()
	time.Sleep(5 * time.Second)
	if sc := d.call("8002"); sc == nil || sc.wasHungUp() {
		t.Fatal("the call did not reach 8002")
	}
	r.in.events <- Event{Kind: EventHangup}
	<-done
	tk := r.tickets.get()
	if str(tk.Outcome) != vocab.OutcomeAnswered || str(tk.SeatID) != "8002" {
		t.Fatalf("ticket: outcome %s seat %s, want answered by 8002", str(tk.Outcome), str(tk.SeatID))
	}
}

func TestLateAnswerRingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 8001 answers exactly at ring_timeout: the 200 and the ACD's
		// watchdog cross, in whichever order the bubble runs them.
		r, a, d := acdRig(t, seatScript{ringAfter: 100 * time.Millisecond, answerAfter: ring})
		done := r.start(context.Background())
		time.Sleep(ring)
		answeredBy8002(t, r, d, done)
		settled(t, r, a, d, agent.NotReady, agent.ReasonNoAnswer, LateRingTimeout)
	})
}

func TestLateAnswerWithdrawn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 8001's registration goes away; its 200 crosses the CANCEL.
		r, a, d := acdRig(t, seatScript{ringAfter: 100 * time.Millisecond, answerAfter: 3 * time.Second})
		done := r.start(context.Background())
		time.Sleep(3*time.Second - 500*time.Microsecond)
		if err := a.SeatUnregistered("8001"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !d.call("8001").wasCanceled() {
			t.Fatal("no CANCEL to the withdrawn seat")
		}
		answeredBy8002(t, r, d, done)
		settled(t, r, a, d, agent.Offline, "", LateWithdrawn)
	})
}

func TestLateAnswerLogout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 8001 logs out (un-REGISTER) as its phone sends 200: the ACD has
		// withdrawn the offer before the call hears of it.
		var a *acd.ACD
		r, a, d := acdRig(t, seatScript{ringAfter: 100 * time.Millisecond, answerAfter: 3 * time.Second,
			onAnswer: func() {
				if err := a.SeatUnregistered("8001"); err != nil {
					t.Error(err)
				}
			}})
		done := r.start(context.Background())
		answeredBy8002(t, r, d, done)
		settled(t, r, a, d, agent.Offline, "", LateWithdrawn)
	})
}

func TestLateAnswerCallerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The caller hangs up as 8001 answers: our CANCEL crosses its 200.
		r, a, d := acdRig(t, seatScript{ringAfter: 100 * time.Millisecond, answerAfter: 3 * time.Second})
		done := r.start(context.Background())
		time.Sleep(3*time.Second - 500*time.Microsecond)
		r.in.events <- Event{Kind: EventCancel}
		<-done
		if !d.call("8001").wasCanceled() {
			t.Fatal("no CANCEL to the ringing seat")
		}
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeAbandoned || str(tk.AbandonStage) != vocab.StageRinging {
			t.Fatalf("ticket: outcome %s stage %s, want abandoned while ringing", str(tk.Outcome), str(tk.AbandonStage))
		}
		settled(t, r, a, d, agent.Ready, "", LateCallerGone)
		if d.call("8002") != nil {
			t.Error("8002 was rung for a caller who had gone")
		}
	})
}
