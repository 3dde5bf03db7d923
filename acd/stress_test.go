package acd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// TestStressInvariants hammers one ACD from many goroutines — seats
// registering, going away and changing state, callers arriving, hanging up,
// answering, letting it ring out, declining, views and a subscriber — with
// every deadline short, and checks the invariants (no seat offered two calls,
// no call offered to two seats, no seat idle beside a call it may take, …)
// after every single step of the ACD.
func TestStressInvariants(t *testing.T) {
	c := Config{RingTimeout: time.Millisecond, WrapUp: 2 * time.Millisecond, MaxWait: 60 * time.Millisecond, SkillFallback: 15 * time.Millisecond}
	specs := []string{"8001", "8002:consult,legal_aid", "8003:mediation", "8004:notary,complaint", "8005:consult", "8006:legal_aid"}
	a, err := New(c, seatSpecs(specs...), nil)
	if err != nil {
		t.Fatal(err)
	}
	var steps atomic.Int64
	var firstViolation atomic.Pointer[error]
	watch(a, func(err error) { firstViolation.CompareAndSwap(nil, &err) })
	a.mu.Lock()
	check := a.verify
	a.verify = func(now time.Time) { steps.Add(1); check(now) }
	a.mu.Unlock()

	var unexpected atomic.Pointer[error]
	tolerate := func(err error, ok ...error) {
		if err == nil {
			return
		}
		for _, o := range ok {
			if errors.Is(err, o) {
				return
			}
		}
		unexpected.CompareAndSwap(nil, &err)
	}
	var outcomes sync.Map // outcome → *atomic.Int64
	count := func(what string) {
		v, _ := outcomes.LoadOrStore(what, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}

	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	pause := func(r *rand.Rand, max time.Duration) { time.Sleep(time.Duration(r.Int64N(int64(max)))) }
	var wg sync.WaitGroup
	for i, sp := range seatSpecs(specs...) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(1, uint64(i)))
			for !stopped() {
				switch n := r.IntN(20); {
				case n == 0:
					tolerate(a.SeatUnregistered(sp.ID))
				case n < 4:
					tolerate(a.SeatRegistered(sp.ID))
				case n < 6:
					tolerate(a.SetState(sp.ID, agent.NotReady, "break"), agent.ErrOffline)
				default:
					tolerate(a.SetState(sp.ID, agent.Ready, ""), agent.ErrOffline)
				}
				pause(r, 3*time.Millisecond)
			}
		})
	}
	for i := range 24 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(2, uint64(i)))
			for n := 0; !stopped(); n++ {
				id := fmt.Sprintf("c%d-%d", i, n)
				prio := PriorityNormal
				if r.IntN(5) == 0 {
					prio = PriorityGreen
				}
				ch, err := a.Enqueue(Call{ID: id, Skill: allSkills[r.IntN(len(allSkills))], Priority: prio})
				if err != nil {
					tolerate(err)
					return
				}
				count(caller(a, r, id, ch, stop, tolerate, count))
			}
		})
	}
	wg.Go(func() { // views and a slow subscriber
		r := rand.New(rand.NewPCG(3, 0))
		changes, cancel := a.Subscribe()
		defer cancel()
		for !stopped() {
			for _, q := range a.Queue() {
				a.Position(q.CallID)
			}
			a.Seats()
			a.Counts()
			for range r.IntN(50) {
				select {
				case <-changes:
				default:
				}
			}
			pause(r, 2*time.Millisecond)
		}
	})
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if p := firstViolation.Load(); p != nil {
		t.Fatalf("invariant broken: %v", *p)
	}
	if p := unexpected.Load(); p != nil {
		t.Fatalf("unexpected error: %v", *p)
	}
	var summary []string
	outcomes.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("%d steps checked; calls: %v", steps.Load(), summary)
	if steps.Load() < 2000 {
		t.Errorf("only %d steps: the test exercised too little", steps.Load())
	}
	for _, k := range []string{"answered", "no_answer", "declined", "abandoned_ringing", "abandoned_waiting", "max_wait", "withdrawn", "ring_timeout"} {
		if _, ok := outcomes.Load(k); !ok {
			t.Errorf("no call ended %s", k)
		}
	}
}

// caller is one call's goroutine, as internal/call will be, with a random
// caller and seats; it returns how the call ended and counts failed offers.
func caller(a *ACD, r *rand.Rand, id string, ch <-chan Event, stop <-chan struct{}, tolerate func(error, ...error), count func(string)) string {
	patience := time.NewTimer(time.Duration(r.Int64N(int64(100 * time.Millisecond))))
	if r.IntN(4) == 0 {
		patience.Stop() // waits for MaxWait if need be
	}
	defer patience.Stop()
	for {
		select {
		case <-stop:
			a.Abandon(id) // whatever state it is in: the test is over
			return "stopped"
		case <-patience.C:
			if err := a.Abandon(id); err == nil {
				return "abandoned_waiting"
			} else {
				tolerate(err, ErrUnknownCall, ErrClosed)
			}
		case ev, ok := <-ch:
			if !ok {
				return "closed"
			}
			switch ev.Kind {
			case MaxWait:
				return "max_wait"
			case NoSeats:
				return "no_seats"
			case Withdrawn:
				count("withdrawn")
				continue
			case RingTimeout:
				count("ring_timeout")
				continue
			}
			time.Sleep(time.Duration(r.Int64N(int64(time.Millisecond)))) // ringing
			switch n := r.IntN(10); {
			case n < 4:
				err := a.Answered(id, ev.Seat, ev.Token)
				if err != nil {
					tolerate(err, ErrNotOffered, ErrClosed)
					continue // withdrawn: its event follows
				}
				time.Sleep(time.Duration(r.Int64N(int64(15 * time.Millisecond)))) // talking
				tolerate(a.Hangup(id, ev.Seat, ev.Token), ErrNotConnected, ErrClosed)
				return "answered"
			case n < 6:
				if err := a.NoAnswer(id, ev.Seat, ev.Token); err == nil {
					count("no_answer")
				} else {
					tolerate(err, ErrNotOffered, ErrClosed)
				}
			case n < 8:
				if err := a.Declined(id, ev.Seat, ev.Token); err == nil {
					count("declined")
				} else {
					tolerate(err, ErrNotOffered, ErrClosed)
				}
			default:
				if err := a.Abandon(id); err == nil {
					return "abandoned_ringing"
				} else {
					tolerate(err, ErrUnknownCall, ErrClosed)
				}
			}
		}
	}
}
