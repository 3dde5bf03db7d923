package call

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12348/hotline/internal/vocab"
)

// The fakes' call-control state (fakeMedia implements Controllable here).
var ctlState = struct {
	sync.Mutex
	held    map[*fakeMedia]bool
	digits  map[*fakeMedia][]string
	noEvent map[*fakeMedia]bool
}{held: map[*fakeMedia]bool{}, digits: map[*fakeMedia][]string{}, noEvent: map[*fakeMedia]bool{}}

func (m *fakeMedia) HoldRelay(held bool) {
	ctlState.Lock()
	defer ctlState.Unlock()
	ctlState.held[m] = held
}

func (m *fakeMedia) SendDigits(d string) error {
	ctlState.Lock()
	defer ctlState.Unlock()
	if ctlState.noEvent[m] {
		return ErrNoTelephoneEvent
	}
	ctlState.digits[m] = append(ctlState.digits[m], d)
	return nil
}

func heldOf(m *fakeMedia) bool {
	ctlState.Lock()
	defer ctlState.Unlock()
	return ctlState.held[m]
}

func (m *fakeMedia) playedSoFar() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.played)
}

// The operator holds, resumes, mutes, unmutes, sends keys and hangs up from
// the console: each acts on the legs as it says, bad requests are refused
// with the error the API maps, and every action lands in the ticket's
// history in order; the hang-up ends the call like the seat's BYE (survey).
func TestCallControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: 2 * time.Second}})
		ctx := context.Background()
		if _, err := r.svc.Control(ctx, "nope", ActionHold, "op1", ""); !errors.Is(err, ErrNotLive) {
			t.Fatalf("control of an unknown call: %v", err)
		}
		done := r.start(ctx)
		id := r.tickets.get().ID
		if _, err := r.svc.Control(ctx, id, ActionHold, "op1", ""); !errors.Is(err, ErrNotLive) {
			t.Fatalf("hold while queued: %v, want ErrNotLive", err)
		}
		a.events <- QueueOffer1("8001")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		lc, ok := r.svc.Live(id)
		if !ok || lc.Seat != "8001" || lc.Held || lc.Muted || lc.AnsweredAt.IsZero() {
			t.Fatalf("live call %+v %v", lc, ok)
		}
		f := r.svc.Media.(*fakeFactory)
		f.mu.Lock()
		seatLeg := f.seatLegs[0]
		f.mu.Unlock()

		do := func(action, digits string, want error) LiveCall {
			t.Helper()
			lc, err := r.svc.Control(ctx, id, action, "op1", digits)
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("%s %q: %v, want %v", action, digits, err, want)
			}
			synctest.Wait()
			return lc
		}
		do(ActionResume, "", ErrCallState)
		if lc := do(ActionHold, "", nil); !lc.Held {
			t.Fatalf("after hold: %+v", lc)
		}
		do(ActionHold, "", ErrCallState)
		if !heldOf(r.media) || !heldOf(seatLeg) {
			t.Fatal("hold: both directions must be held back")
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		played := r.media.playedSoFar()
		if i := slices.Index(played, HoldPrompt); i < 0 || !slices.Contains(played[i:], r.svc.Menu.Queue.Announcements[0]) {
			t.Fatalf("while held the caller heard %q, want %s then the announcements", played, HoldPrompt)
		}
		do(ActionResume, "", nil)
		if heldOf(r.media) || heldOf(seatLeg) {
			t.Fatal("resume: a direction still held back")
		}
		if lc := do(ActionMute, "", nil); !lc.Muted {
			t.Fatalf("after mute: %+v", lc)
		}
		if !heldOf(r.media) || heldOf(seatLeg) {
			t.Fatal("mute: only the caller's direction is held back")
		}
		do(ActionUnmute, "", nil)
		do(ActionUnmute, "", ErrCallState)
		if heldOf(r.media) {
			t.Fatal("unmute: the caller still hears nothing")
		}
		do(ActionDTMF, "", ErrBadDigits)
		do(ActionDTMF, "12x", ErrBadDigits)
		do(ActionDTMF, "1234567890123456789012345678901234", ErrBadDigits)
		do(ActionDTMF, "12#", nil)
		ctlState.Lock()
		sent := slices.Clone(ctlState.digits[r.media])
		ctlState.Unlock()
		if !slices.Equal(sent, []string{"12#"}) {
			t.Fatalf("keys sent to the caller %q", sent)
		}
		do("transfer", "", ErrCallState)
		do(ActionHangup, "", nil)
		do(ActionHangup, "", ErrNotLive)
		synctest.Wait()
		r.media.digits <- '2' // the survey
		<-done
		if _, ok := r.svc.Live(id); ok {
			t.Fatal("the call is still live after it ended")
		}
		tk := r.tickets.get()
		if str(tk.EndReason) != vocab.EndSeatHangup || tk.Satisfaction == nil || *tk.Satisfaction != 2 || !d.call("8001").wasHungUp() {
			t.Fatalf("after the console's hang-up: end_reason %s satisfaction %v seat hung up %v", str(tk.EndReason), tk.Satisfaction, d.call("8001").wasHungUp())
		}
		var got []string
		for _, h := range tk.History {
			if h.By != "op1" || h.At.IsZero() {
				t.Fatalf("history entry %+v", h)
			}
			got = append(got, h.Action+h.Detail)
		}
		want := []string{"hold", "resume", "mute", "unmute", "dtmf12#", "hangup"}
		if !slices.Equal(got, want) {
			t.Fatalf("history %q, want %q", got, want)
		}
	})
}

// With no telephone-event toward the caller the keys go by SIP INFO.
func TestCallControlDigitsByINFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, a, d := newQueueRig(t, map[string]seatScript{"8001": {ringAfter: time.Second, answerAfter: 2 * time.Second}})
		ctlState.Lock()
		ctlState.noEvent[r.media] = true
		ctlState.Unlock()
		done := r.start(context.Background())
		id := r.tickets.get().ID
		a.events <- QueueOffer1("8001")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if _, err := r.svc.Control(context.Background(), id, ActionDTMF, "boss", "9*"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := r.in.infoDigits(); got != "9*" {
			t.Fatalf("SIP INFO keys %q, want 9*", got)
		}
		r.in.events <- Event{Kind: EventHangup}
		<-done
		_ = d
	})
}

// The keys the fake caller's leg was sent by SIP INFO.
var infoSent = struct {
	sync.Mutex
	m map[*fakeInbound]string
}{m: map[*fakeInbound]string{}}

func noteInfo(f *fakeInbound, d rune) {
	infoSent.Lock()
	defer infoSent.Unlock()
	infoSent.m[f] += string(d)
}

func (f *fakeInbound) infoDigits() string {
	infoSent.Lock()
	defer infoSent.Unlock()
	return infoSent.m[f]
}
