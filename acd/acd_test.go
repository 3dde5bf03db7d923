package acd

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// noWrap serves calls back to back.
var noWrap = Config{RingTimeout: 15 * s, MaxWait: 10 * time.Minute, SkillFallback: 60 * s}

func TestPriorityThenFIFO(t *testing.T) {
	tests := []struct {
		name     string
		arrivals []string // "id/priority", one a second
		want     []string // the order one seat serves them in
	}{
		{"first come first served", []string{"n1/normal", "n2/normal", "n3/normal"}, []string{"n1", "n2", "n3"}},
		{"green first, FIFO among them", []string{"n1/normal", "g1/green", "n2/normal", "g2/green"}, []string{"g1", "g2", "n1", "n2"}},
		{"empty priority is normal", []string{"n1/", "g1/green", "n2/normal"}, []string{"g1", "n1", "n2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := start(t, noWrap, "8001")
				e.register("8001")
				e.ok(e.a.SetState("8001", agent.NotReady, "break"))
				for i, arr := range tt.arrivals {
					id, prio, _ := strings.Cut(arr, "/")
					// Different skills: order is across FIFOs.
					e.enqueue(id, allSkills[i%len(allSkills)], prio)
					e.sleep(s)
				}
				var queued []string
				for _, q := range e.a.Queue() {
					queued = append(queued, q.CallID)
				}
				if !slices.Equal(queued, tt.want) {
					t.Errorf("Queue() order %v, want %v", queued, tt.want)
				}
				e.ok(e.a.SetState("8001", agent.Ready, ""))
				for _, id := range tt.want {
					e.serve(id, "8001")
				}
				e.wantQueue()
			})
		})
	}
}

func TestLongestIdleSeat(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env) // seats 8001, 8002, 8003 registered in that order, a second apart
		want  agent.SeatID
	}{
		{"registered first", func(e *env) {}, "8001"},
		{"ready again after not_ready goes to the back", func(e *env) {
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
			e.ok(e.a.SetState("8001", agent.Ready, ""))
		}, "8002"},
		{"a call's wrap-up end counts as idle from then", func(e *env) {
			e.enqueue("c0", "consult", "")
			e.serve("c0", "8001")
			e.sleep(30 * s)
			e.seat("8001", agent.Ready, "")
		}, "8002"},
		{"a declined offer keeps the seat's place", func(e *env) {
			e.ok(e.a.SetState("8002", agent.NotReady, "break"))
			e.ok(e.a.SetState("8003", agent.NotReady, "break"))
			e.enqueue("c0", "consult", "")
			e.offered("c0", "8001")
			e.ok(e.declined("c0", "8001"))
			e.offered("c0", "8001") // nobody else could take it
			e.ok(e.a.Abandon("c0"))
			e.ok(e.a.SetState("8002", agent.Ready, ""))
			e.ok(e.a.SetState("8003", agent.Ready, ""))
		}, "8001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := start(t, cfg, "8001", "8002", "8003")
				for _, id := range []agent.SeatID{"8001", "8002", "8003"} {
					e.register(id)
					e.sleep(s)
				}
				tt.setup(e)
				e.enqueue("c1", "consult", "")
				e.offered("c1", tt.want)
				e.seat(tt.want, agent.Ringing, "")
			})
		})
	}
}

func TestSkillMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001:consult", "8002:legal_aid", "8003:notary")
		e.register("8001", "8002", "8003")
		e.enqueue("la", "legal_aid", "")
		e.offered("la", "8002") // not 8001, idle as long
		e.enqueue("med", "mediation", "")
		e.quiet("med") // nobody has mediation
		e.wantQueue("la:offered:0", "med:waiting:1")
		e.enqueue("con", "consult", "")
		e.offered("con", "8001") // the consult seat is not held back by med
	})
}

func TestSkillFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The seats ring past the fallback here: no ring watchdog
		// (TestRingWatchdog has it).
		cfg := cfg
		cfg.RingTimeout = 0
		e := start(t, cfg, "8001:consult", "8002:consult", "8003:notary")
		e.register("8001", "8002")
		e.sleep(s)
		e.register("8003")
		e.enqueue("n1", "notary", "")
		e.offered("n1", "8003")
		e.enqueue("n2", "notary", "")
		e.sleep(cfg.SkillFallback - time.Nanosecond)
		e.quiet("n2")
		e.sleep(time.Nanosecond)
		e.offered("n2", "8001") // exactly at the fallback, the longest idle of any
		if got := e.at() - s; got != cfg.SkillFallback {
			t.Errorf("offered after %v, want %v", got, cfg.SkillFallback)
		}
		// Past the fallback, a skilled seat is still preferred.
		e.ok(e.noAnswer("n1", "8003"))
		e.ok(e.a.SetState("8003", agent.Ready, ""))
		e.ok(e.noAnswer("n2", "8001"))
		e.offered("n2", "8003")
		e.offered("n1", "8002")
	})
}

func TestRONA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002", "8003")
		e.register("8001")
		e.sleep(s)
		e.register("8002")
		isErr(t, e.a.SetState("8003", agent.NotReady, "meeting"), agent.ErrOffline)
		e.enqueue("c1", "consult", "")
		e.offered("c1", "8001")
		e.sleep(s)
		e.enqueue("c2", "consult", "")
		e.offered("c2", "8002")
		e.sleep(s)
		e.enqueue("c3", "consult", "")
		e.quiet("c3")
		e.sleep(cfg.RingTimeout - 2*s - time.Nanosecond)
		e.quiet("c1")
		e.seat("8001", agent.Ringing, "")
		e.sleep(time.Nanosecond) // c1 has rung RingTimeout: the ACD's watchdog ends the offer
		e.expect("c1", Event{Kind: RingTimeout, Seat: "8001"})
		e.seat("8001", agent.NotReady, agent.ReasonNoAnswer)
		isErr(t, e.answered("c1", "8001"), ErrNotOffered)           // its late 200: hung up by the call layer
		e.wantQueue("c1:waiting:1", "c2:offered:0", "c3:waiting:2") // c1 back at its place, ahead of c3
		e.register("8003")
		e.offered("c1", "8003") // offered again before c3
		e.quiet("c3")
		e.ok(e.answered("c2", "8002"))
		e.ok(e.noAnswer("c1", "8003"))
		e.ok(e.a.SetState("8001", agent.Ready, ""))
		e.offered("c1", "8001")
		e.quiet("c3")
		isErr(t, e.noAnswer("c1", "8002"), ErrNotOffered)
		isErr(t, e.noAnswer("nope", "8001"), ErrUnknownCall)
		isErr(t, e.answered("nope", "8001"), ErrNotOffered)
	})
}

func TestDecline(t *testing.T) {
	t.Run("next seat", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, cfg, "8001", "8002", "8003")
			for _, id := range []agent.SeatID{"8001", "8002", "8003"} {
				e.register(id)
				e.sleep(s)
			}
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			e.ok(e.declined("c1", "8001"))
			before := e.seat("8001", agent.Ready, "")
			e.offered("c1", "8002")
			e.ok(e.declined("c1", "8002"))
			e.offered("c1", "8003")
			e.ok(e.declined("c1", "8003"))
			// Everyone declined and nobody else could take it: back to the longest idle.
			e.offered("c1", "8001")
			if st := e.seat("8001", agent.Ringing, ""); !st.IdleSince.Equal(before.IdleSince) {
				t.Errorf("IdleSince %v after a decline, want %v", st.IdleSince, before.IdleSince)
			}
		})
	})
	t.Run("the decliner serves the next call while the first waits for another seat", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001", "8002")
			e.register("8001", "8002")
			e.enqueue("c0", "consult", "")
			e.offered("c0", "8001")
			e.ok(e.answered("c0", "8001")) // 8001 busy
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8002")
			e.enqueue("c2", "consult", "")
			e.ok(e.declined("c1", "8002"))
			e.offered("c2", "8002") // c1 waits for 8001
			e.wantQueue("c1:waiting:1", "c2:offered:0")
			e.ok(e.answered("c2", "8002"))
			e.ok(e.hangup("c0", "8001"))
			e.offered("c1", "8001")
		})
	})
	t.Run("decliner offered again when the other seat leaves", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001", "8002")
			e.register("8001", "8002")
			e.enqueue("c0", "consult", "")
			e.offered("c0", "8001")
			e.ok(e.answered("c0", "8001"))
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8002")
			e.ok(e.declined("c1", "8002"))
			e.quiet("c1")
			e.ok(e.a.SeatUnregistered("8001"))
			e.offered("c1", "8002")
		})
	})
}

func TestTwoCallersOneSeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001")
		e.register("8001")
		e.enqueue("c1", "consult", "")
		e.enqueue("c2", "consult", "")
		e.offered("c1", "8001")
		e.quiet("c2")
		e.wantQueue("c1:offered:0", "c2:waiting:1")
		e.ok(e.answered("c1", "8001"))
		e.sleep(2 * time.Minute)
		e.ok(e.hangup("c1", "8001"))
		e.seat("8001", agent.WrapUp, "")
		e.sleep(cfg.WrapUp - time.Nanosecond)
		e.quiet("c2")
		e.sleep(time.Nanosecond)
		e.offered("c2", "8001")
	})
}

func TestAbandon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002")
		e.register("8001")
		e.sleep(s)
		e.register("8002")
		e.enqueue("c1", "consult", "")
		e.offered("c1", "8001")
		before := e.seat("8001", agent.Ringing, "")
		e.ok(e.a.Abandon("c1")) // hung up while ringing
		e.closed("c1")
		st := e.seat("8001", agent.Ready, "") // not not_ready: it did nothing wrong
		if !st.IdleSince.Equal(before.IdleSince) {
			t.Errorf("IdleSince %v, want %v", st.IdleSince, before.IdleSince)
		}
		e.enqueue("c2", "consult", "")
		e.offered("c2", "8001") // still the longest idle

		e.ok(e.a.SetState("8002", agent.NotReady, "break"))
		e.enqueue("c3", "consult", "")
		e.enqueue("c4", "consult", "")
		e.ok(e.a.Abandon("c3")) // hung up while waiting
		e.closed("c3")
		e.wantQueue("c2:offered:0", "c4:waiting:1")
		isErr(t, e.a.Abandon("c3"), ErrUnknownCall)

		// A not_ready asked while ringing applies when the caller hangs up.
		e.ok(e.a.SetState("8001", agent.NotReady, "meeting"))
		e.ok(e.a.Abandon("c2"))
		e.seat("8001", agent.NotReady, "meeting")
		e.quiet("c4")
	})
}

func TestUnregisterWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, noWrap, "8001", "8002")
		e.register("8001", "8002")
		e.enqueue("c0", "consult", "")
		e.offered("c0", "8001")
		e.ok(e.answered("c0", "8001"))
		e.enqueue("c1", "consult", "")
		e.offered("c1", "8002")
		e.sleep(s)
		e.enqueue("c2", "consult", "")
		e.ok(e.a.SeatUnregistered("8002"))
		e.expect("c1", Event{Kind: Withdrawn, Seat: "8002"})
		e.seat("8002", agent.Offline, "")
		e.wantQueue("c1:waiting:1", "c2:waiting:2")
		isErr(t, e.answered("c1", "8002"), ErrNotOffered) // answered anyway: too late
		e.ok(e.hangup("c0", "8001"))
		e.offered("c1", "8001") // from the head
		e.quiet("c2")
		// A connected seat that goes away: its call's hangup is accepted.
		e.ok(e.answered("c1", "8001"))
		e.ok(e.a.SeatUnregistered("8001"))
		e.ok(e.hangup("c1", "8001"))
		e.seat("8001", agent.Offline, "")
	})
}

func TestGreenOvertakesNormal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, noWrap, "8001")
		e.register("8001")
		e.enqueue("c0", "consult", "")
		e.offered("c0", "8001")
		e.ok(e.answered("c0", "8001"))
		for _, id := range []string{"n1", "n2", "n3"} {
			e.enqueue(id, "consult", "normal")
			e.sleep(s)
		}
		e.enqueue("g1", "legal_aid", "green")
		for id, want := range map[string]int{"g1": 1, "n1": 2, "n2": 3, "n3": 4, "c0": 0, "nope": 0} {
			if got := e.a.Position(id); got != want {
				t.Errorf("Position(%s) = %d, want %d", id, got, want)
			}
		}
		e.ok(e.hangup("c0", "8001"))
		e.serve("g1", "8001")
		e.serve("n1", "8001")
	})
}

func TestWrapUp(t *testing.T) {
	tests := []struct {
		name       string
		during     func(e *env) // while busy
		afterCall  func(e *env) // 10 s into the wrap-up
		want       agent.State
		wantReason string
		wantAt     time.Duration // after the hangup
	}{
		{"ready after wrap-up", nil, nil, agent.Ready, "", cfg.WrapUp},
		{"not_ready asked during the call applies after wrap-up", func(e *env) {
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
			e.seat("8001", agent.Busy, "")
		}, nil, agent.NotReady, "break", cfg.WrapUp},
		{"not_ready asked during wrap-up", nil, func(e *env) {
			e.ok(e.a.SetState("8001", agent.NotReady, "meeting"))
			e.seat("8001", agent.WrapUp, "")
		}, agent.NotReady, "meeting", cfg.WrapUp},
		{"ready during the call withdraws the request", func(e *env) {
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
			e.ok(e.a.SetState("8001", agent.Ready, ""))
			e.seat("8001", agent.Busy, "")
		}, nil, agent.Ready, "", cfg.WrapUp},
		{"ready during wrap-up ends it early", func(e *env) {
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
		}, func(e *env) {
			e.ok(e.a.SetState("8001", agent.Ready, ""))
		}, agent.Ready, "", 10 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := start(t, cfg, "8001")
				e.register("8001")
				e.enqueue("c1", "consult", "")
				e.offered("c1", "8001")
				e.ok(e.answered("c1", "8001"))
				e.enqueue("c2", "consult", "")
				if tt.during != nil {
					tt.during(e)
				}
				e.ok(e.hangup("c1", "8001"))
				hungUp := time.Now()
				isErr(t, e.hangup("c1", "8001"), ErrNotConnected)
				e.sleep(10 * s)
				if tt.afterCall != nil {
					tt.afterCall(e)
				}
				if tt.wantAt > 10*s {
					e.sleep(tt.wantAt - 10*s - time.Nanosecond)
					e.seat("8001", agent.WrapUp, "")
					e.sleep(time.Nanosecond)
				}
				if got := time.Since(hungUp); got != tt.wantAt {
					t.Fatalf("checked at %v", got)
				}
				if tt.want == agent.Ready {
					e.offered("c2", "8001")
					return
				}
				e.seat("8001", tt.want, tt.wantReason)
				e.quiet("c2")
			})
		})
	}
}

func TestOperatorNotReadySurvivesReRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002")
		e.register("8001", "8002")
		e.ok(e.a.SetState("8001", agent.NotReady, "break"))
		e.ok(e.a.SeatUnregistered("8001"))
		e.seat("8001", agent.Offline, "")
		e.register("8001")
		e.seat("8001", agent.NotReady, "break")
		e.register("8001") // a refresh changes nothing
		e.seat("8001", agent.NotReady, "break")

		// A seat sent not_ready by the ACD (no answer) comes back ready.
		e.enqueue("c1", "consult", "")
		e.offered("c1", "8002")
		e.ok(e.noAnswer("c1", "8002"))
		e.seat("8002", agent.NotReady, agent.ReasonNoAnswer)
		e.ok(e.a.SeatUnregistered("8002"))
		e.register("8002")
		e.offered("c1", "8002")
	})
}

func TestSetStateErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001")
		isErr(t, e.a.SetState("8001", agent.Ready, ""), agent.ErrOffline)
		isErr(t, e.a.SetState("8001", agent.NotReady, "break"), agent.ErrOffline)
		e.register("8001")
		isErr(t, e.a.SetState("8001", agent.Busy, ""), agent.ErrBadState)
		isErr(t, e.a.SetState("9999", agent.Ready, ""), ErrUnknownSeat)
		isErr(t, e.a.SeatRegistered("9999"), ErrUnknownSeat)
		err := e.a.SetState("8001", agent.Offline, "")
		if !strings.HasPrefix(err.Error(), "acd: set state 8001: ") {
			t.Errorf("error %q not prefixed", err)
		}
	})
}

func TestMaxWait(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, cfg, "8001")
			e.register("8001")
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
			e.enqueue("c1", "consult", "")
			e.sleep(s)
			e.enqueue("c2", "consult", "green")
			e.sleep(cfg.MaxWait - s - time.Nanosecond)
			e.quiet("c1")
			e.sleep(time.Nanosecond)
			e.expect("c1", Event{Kind: MaxWait})
			e.closed("c1")
			e.wantQueue("c2:waiting:1")
			isErr(t, e.a.Abandon("c1"), ErrUnknownCall)
			e.sleep(s)
			e.expect("c2", Event{Kind: MaxWait})
			e.wantQueue()
		})
	})
	t.Run("not while ringing; when the offer fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, cfg, "8001", "8002")
			e.register("8001", "8002")
			e.ok(e.a.SetState("8002", agent.NotReady, "break"))
			e.ok(e.a.SetState("8001", agent.NotReady, "break"))
			e.enqueue("c1", "consult", "")
			e.sleep(cfg.MaxWait - s)
			e.ok(e.a.SetState("8001", agent.Ready, ""))
			e.offered("c1", "8001")
			e.sleep(10 * s) // past MaxWait, ringing
			e.quiet("c1")
			e.ok(e.a.SetState("8002", agent.Ready, ""))
			e.ok(e.noAnswer("c1", "8001"))
			e.expect("c1", Event{Kind: MaxWait}) // not offered to 8002
			e.closed("c1")
			e.seat("8002", agent.Ready, "")
		})
	})
}

func TestNoSeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002")
		e.enqueue("c1", "consult", "")
		e.expect("c1", Event{Kind: NoSeats})
		e.closed("c1")
		e.wantQueue()
		if n := e.a.LoggedIn(); n != 0 {
			t.Errorf("LoggedIn() = %d", n)
		}
		// Logged in but on a break: the caller waits.
		e.register("8001")
		e.ok(e.a.SetState("8001", agent.NotReady, "break"))
		e.enqueue("c2", "consult", "")
		e.quiet("c2")
		if n := e.a.LoggedIn(); n != 1 {
			t.Errorf("LoggedIn() = %d", n)
		}
	})
}

func TestPosition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001:consult", "8002:notary")
		e.register("8001", "8002")
		e.enqueue("busy1", "consult", "")
		e.enqueue("busy2", "notary", "")
		e.offered("busy1", "8001")
		e.ok(e.answered("busy1", "8001"))
		e.offered("busy2", "8002") // left ringing
		arrivals := []struct{ id, skill, prio string }{
			{"a", "consult", "normal"}, {"b", "notary", "normal"}, {"c", "legal_aid", "green"},
			{"d", "consult", "normal"}, {"e", "mediation", "green"}, {"f", "notary", "normal"},
		}
		for _, c := range arrivals {
			e.enqueue(c.id, c.skill, c.prio)
			e.sleep(s)
		}
		want := map[string]int{"c": 1, "e": 2, "a": 3, "b": 4, "d": 5, "f": 6, "busy1": 0, "busy2": 0, "zz": 0}
		for id, w := range want {
			if got := e.a.Position(id); got != w {
				t.Errorf("Position(%s) = %d, want %d", id, got, w)
			}
		}
		e.wantQueue("c:waiting:1", "e:waiting:2", "busy2:offered:0", "a:waiting:3", "b:waiting:4", "d:waiting:5", "f:waiting:6")
		e.ok(e.a.Abandon("e"))
		e.ok(e.noAnswer("busy2", "8002")) // back at its place: first of the normal ones
		e.wantQueue("c:waiting:1", "busy2:waiting:2", "a:waiting:3", "b:waiting:4", "d:waiting:5", "f:waiting:6")
	})
}

func TestEnqueueErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001")
		e.register("8001")
		e.ok(e.a.SetState("8001", agent.NotReady, "break"))
		for _, c := range []Call{{Skill: "consult"}, {ID: "x"}, {ID: "x", Skill: "consult", Priority: "urgent"}} {
			_, err := e.a.Enqueue(c)
			isErr(t, err, ErrBadCall)
		}
		e.enqueue("c1", "consult", "")
		_, err := e.a.Enqueue(Call{ID: "c1", Skill: "consult"})
		isErr(t, err, ErrDuplicateCall)
		// EnqueuedAt from the caller counts (an earlier arrival goes first).
		early := time.Now().Add(-time.Minute)
		ch, err := e.a.Enqueue(Call{ID: "c0", Skill: "consult", EnqueuedAt: early})
		e.ok(err)
		e.calls["c0"] = ch
		e.wantQueue("c0:waiting:1", "c1:waiting:2")
		if q := e.a.Queue()[0]; !q.EnqueuedAt.Equal(early) || q.Wait != time.Minute {
			t.Errorf("queue entry %+v", q)
		}
	})
}

func TestSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001")
		ch, cancel := e.a.Subscribe()
		slow, cancelSlow := e.a.Subscribe()
		defer cancelSlow()
		e.register("8001")
		e.enqueue("c1", "consult", "green")
		e.offered("c1", "8001")
		e.ok(e.answered("c1", "8001"))
		var got []string
		for range 5 {
			c := <-ch
			got = append(got, c.Kind.String()+" "+string(c.Seat.State)+" "+c.Seat.CallID+" "+c.Call.CallID)
		}
		want := []string{"seat_changed ready  ", "call_queued   c1", "seat_changed ringing c1 ", "call_offered ringing c1 c1", "seat_changed busy c1 "}
		if !slices.Equal(got, want) {
			t.Errorf("changes %q\nwant %q", got, want)
		}
		if c := <-ch; c.Kind != CallAnswered || c.Call.Seat != "8001" || c.Missed != 0 {
			t.Errorf("last change %+v", c)
		}
		cancel()
		cancel()
		if _, ok := <-ch; ok {
			t.Error("channel open after cancel")
		}
		// slow has read nothing: it loses what does not fit and is told.
		for i := range changeBuffer {
			e.ok(e.a.SetState("8001", agent.NotReady, string(rune('a'+i%26))))
		}
		for range changeBuffer {
			<-slow
		}
		e.ok(e.a.SetState("8001", agent.NotReady, "last"))
		if c := <-slow; c.Missed != 6 || c.Seat.OperatorReason != "last" {
			t.Errorf("after overflow: Missed %d, reason %q; want 6, last", c.Missed, c.Seat.OperatorReason)
		}
	})
}

func TestCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002", "8003")
		e.register("8001", "8002")
		e.ok(e.a.SetState("8002", agent.NotReady, "break"))
		e.enqueue("c1", "consult", "")
		e.enqueue("c2", "notary", "green")
		e.enqueue("c3", "notary", "")
		c := e.a.Counts()
		if c.Offered != 1 || c.Waiting["notary"] != 2 || c.Waiting["consult"] != 0 ||
			c.Seats[agent.Ringing] != 1 || c.Seats[agent.NotReady] != 1 || c.Seats[agent.Offline] != 1 || len(c.Seats) != 6 {
			t.Errorf("Counts() = %+v", c)
		}
	})
}

func TestCloseAndDroppedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, cfg, "8001", "8002")
		e.register("8002")
		e.ok(e.a.SetState("8002", agent.NotReady, "break"))
		e.enqueue("c1", "consult", "")
		e.enqueue("c2", "consult", "")
		// c1's goroutine reads nothing while 8001 flaps: Offer, Withdrawn, … until
		// the buffer is full; then the call is dropped rather than block the ACD.
		for range eventBuffer / 2 {
			e.register("8001")
			e.ok(e.a.SeatUnregistered("8001"))
		}
		e.register("8001")
		e.offered("c2", "8001")
		for range eventBuffer {
			if ev, _ := e.event("c1"); ev.Kind != Offer && ev.Kind != Withdrawn {
				t.Fatalf("c1 event %+v", ev)
			}
		}
		e.closed("c1")
		e.wantQueue("c2:offered:0")

		e.enqueue("c3", "consult", "")
		e.ok(e.a.Close())
		e.ok(e.a.Close())
		e.closed("c2")
		e.closed("c3")
		isErr(t, e.answered("c2", "8001"), ErrClosed)
		_, err := e.a.Enqueue(Call{ID: "c4", Skill: "consult"})
		isErr(t, err, ErrClosed)
		ch, cancel := e.a.Subscribe()
		cancel()
		if _, ok := <-ch; ok {
			t.Error("subscription open after Close")
		}
	})
}

func TestQueueEntryJSON(t *testing.T) {
	q := QueueEntry{CallID: "c1", Skill: "consult", Priority: "green", State: EntryOffered, Seat: "8001",
		EnqueuedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Wait: 1500 * time.Millisecond}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"call_id":"c1","skill":"consult","priority":"green","state":"offered","position":0,"seat":"8001","enqueued_at":"2026-03-01T09:00:00Z","wait_seconds":1.5}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
}

// When the last seat logs out, the waiting calls go to voicemail at once
// instead of hearing announcements until max_wait.
func TestLastSeatLogsOutSendsWaitingToVoicemail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := New(Config{RingTimeout: 15 * time.Second, WrapUp: 30 * time.Second, MaxWait: 10 * time.Minute, SkillFallback: time.Minute},
			[]agent.Seat{agent.New("8001", "a", []string{"notary"})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := a.SeatRegistered("8001"); err != nil {
			t.Fatal(err)
		}
		ev, err := a.Enqueue(Call{ID: "c1", Skill: "consult", Priority: "normal"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if a.Position("c1") != 1 {
			t.Fatal("c1 should wait (no seat with its skill, fallback not reached)")
		}
		if err := a.SeatUnregistered("8001"); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-ev:
			if e.Kind != NoSeats {
				t.Fatalf("event %v, want NoSeats", e.Kind)
			}
		default:
			t.Fatal("no event after the last seat logged out")
		}
		if a.Position("c1") != 0 || len(a.Queue()) != 0 {
			t.Fatal("the call is still queued")
		}
	})
}

// The only seat declines: it is offered the call again, but not before
// DeclinePause — a phone on do-not-disturb is not hammered with INVITEs.
func TestDeclinePauseWithOneSeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := New(Config{RingTimeout: 15 * time.Second, MaxWait: 10 * time.Minute, SkillFallback: time.Minute, DeclinePause: 5 * time.Second},
			[]agent.Seat{agent.New("8001", "a", []string{"consult"})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := a.SeatRegistered("8001"); err != nil {
			t.Fatal(err)
		}
		ev, err := a.Enqueue(Call{ID: "c1", Skill: "consult", Priority: "normal"})
		if err != nil {
			t.Fatal(err)
		}
		first := <-ev
		if first.Kind != Offer || first.Seat != "8001" {
			t.Fatalf("first event %+v", first)
		}
		if err := a.Declined("c1", "8001", first.Token); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e := <-ev
		if e.Kind != Offer || e.Seat != "8001" {
			t.Fatalf("after the decline: %+v", e)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Fatalf("re-offered after %s, want the 5 s DeclinePause", waited)
		}
	})
}

// TestStaleTokenRefused: a report about an older offer of the same call to
// the same seat (a late 200 or a late ring timeout from the first INVITE)
// is refused, and the current offer stands (SPEC §11 fencing tokens).
func TestStaleTokenRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, Config{RingTimeout: 15 * s, MaxWait: 10 * time.Minute, DeclinePause: 5 * s}, "8001")
		e.register("8001")
		e.enqueue("c1", "consult", "")
		e.offered("c1", "8001")
		first := e.tokens["c1"]
		e.ok(e.declined("c1", "8001"))
		e.sleep(5 * s)
		e.offered("c1", "8001")
		second := e.tokens["c1"]
		if second <= first {
			t.Fatalf("tokens %d then %d: must grow", first, second)
		}
		isErr(t, e.a.Answered("c1", "8001", first), ErrNotOffered)
		isErr(t, e.a.NoAnswer("c1", "8001", first), ErrNotOffered)
		isErr(t, e.a.Declined("c1", "8001", first), ErrNotOffered)
		st := e.seat("8001", agent.Ringing, "")
		if st.Token != second || st.CallID != "c1" {
			t.Fatalf("seat %+v, want ringing for c1 with token %d", st, second)
		}
		e.ok(e.answered("c1", "8001"))
		isErr(t, e.a.Hangup("c1", "8001", first), ErrNotConnected)
		e.ok(e.hangup("c1", "8001"))
	})
}

// The ring watchdog and the four crossings of a seat's 200 with the end of
// its offer: each late Answered is refused (the call layer hangs that leg
// up), no seat is left ringing for a call nobody dials, no entry is left.
func TestRingWatchdog(t *testing.T) {
	t.Run("ring timeout vs 200", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001", "8002")
			e.register("8001")
			e.sleep(s)
			e.register("8002")
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			e.sleep(noWrap.RingTimeout - time.Nanosecond)
			e.quiet("c1")
			e.sleep(time.Nanosecond)
			e.expect("c1", Event{Kind: RingTimeout, Seat: "8001"})
			e.seat("8001", agent.NotReady, agent.ReasonNoAnswer)
			stale := e.tokens["c1"]
			e.offered("c1", "8002") // at once, at the head
			isErr(t, e.a.Answered("c1", "8001", stale), ErrNotOffered)
			e.seat("8001", agent.NotReady, agent.ReasonNoAnswer)
			e.seat("8002", agent.Ringing, "")
			e.wantQueue("c1:offered:0")
			e.ok(e.answered("c1", "8002"))
			e.wantQueue()
		})
	})
	t.Run("a report after the deadline, before the timer woke, finds the offer over", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var now time.Time
			c := noWrap
			c.Now = func() time.Time { return now }
			now = time.Now()
			e := start(t, c, "8001")
			e.register("8001")
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			now = now.Add(c.RingTimeout) // the clock moved; nobody settled
			isErr(t, e.answered("c1", "8001"), ErrNotOffered)
			e.expect("c1", Event{Kind: RingTimeout, Seat: "8001"})
			e.seat("8001", agent.NotReady, agent.ReasonNoAnswer)
			e.wantQueue("c1:waiting:1")
		})
	})
	t.Run("withdraw vs 200", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001", "8002")
			e.register("8001")
			e.sleep(s)
			e.register("8002")
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			stale := e.tokens["c1"]
			e.ok(e.a.SeatUnregistered("8001"))
			e.expect("c1", Event{Kind: Withdrawn, Seat: "8001"})
			e.offered("c1", "8002")
			isErr(t, e.a.Answered("c1", "8001", stale), ErrNotOffered)
			e.seat("8001", agent.Offline, "")
			e.seat("8002", agent.Ringing, "")
			e.wantQueue("c1:offered:0")
			// The next seat's offer has a watchdog of its own.
			e.sleep(noWrap.RingTimeout)
			e.expect("c1", Event{Kind: RingTimeout, Seat: "8002"})
			e.seat("8002", agent.NotReady, agent.ReasonNoAnswer)
			e.wantQueue("c1:waiting:1")
		})
	})
	t.Run("CANCEL vs 200", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001")
			e.register("8001")
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			e.ok(e.a.Abandon("c1"))
			e.closed("c1")
			err := e.answered("c1", "8001")
			isErr(t, err, ErrNotOffered)
			isErr(t, err, ErrUnknownCall)
			e.seat("8001", agent.Ready, "")
			e.wantQueue()
			e.sleep(noWrap.RingTimeout) // nothing left to time out
			e.seat("8001", agent.Ready, "")
		})
	})
	t.Run("logout vs 200, the last seat", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := start(t, noWrap, "8001")
			e.register("8001")
			e.enqueue("c1", "consult", "")
			e.offered("c1", "8001")
			e.ok(e.a.SeatUnregistered("8001"))
			err := e.answered("c1", "8001")
			isErr(t, err, ErrNotOffered)
			e.expect("c1", Event{Kind: Withdrawn, Seat: "8001"})
			e.expect("c1", Event{Kind: NoSeats}) // nobody left: voicemail
			e.closed("c1")
			e.seat("8001", agent.Offline, "")
			e.wantQueue()
		})
	})
}
