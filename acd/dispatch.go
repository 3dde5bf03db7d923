package acd

import (
	"cmp"
	"slices"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// dispatch is the one pass that pairs waiting calls with ready seats, best
// call first, until no ready seat can take any waiting call. seats is the
// current state of every seat; offers update it.
//
// The best call is found from the heads of the FIFOs: within a FIFO, if a
// call cannot be served, the ones behind it (same skill, waited less) cannot
// either — unless the call is held back only by seats that declined it,
// which is rare, and then the walk goes on to the next.
func (a *ACD) dispatch(now time.Time, seats []agent.Seat) error {
	for {
		ready := readyOrder(seats, a.readyBuf[:0])
		a.readyBuf = ready
		if len(ready) == 0 {
			return nil
		}
		queues, err := a.queues()
		if err != nil {
			return err
		}
		var best Entry
		bestSeat := -1
		for _, q := range queues {
			if q.Waiting == 0 {
				continue
			}
			if bestSeat >= 0 && best.Priority == PriorityGreen && q.Key.Priority != PriorityGreen {
				break // queues are listed green first
			}
			err := a.walk(q.Key, func(e *Entry) bool {
				if bestSeat >= 0 && compareEntries(e, &best) >= 0 {
					return false
				}
				i, more := a.pick(e, seats, ready, now)
				if i >= 0 {
					best, bestSeat = *e, i
					return false
				}
				return more
			})
			if err != nil {
				return err
			}
		}
		if bestSeat < 0 {
			return nil
		}
		if err := a.offer(best, &seats[bestSeat], now); err != nil {
			return err
		}
	}
}

// readyOrder appends the indexes of the ready seats, longest idle first
// (earliest IdleSince, then ID). An insertion sort: there are a handful.
func readyOrder(seats []agent.Seat, buf []int) []int {
	for i := range seats {
		if seats[i].State != agent.Ready {
			continue
		}
		buf = append(buf, i)
		for j := len(buf) - 1; j > 0 && idleLonger(&seats[buf[j]], &seats[buf[j-1]]); j-- {
			buf[j], buf[j-1] = buf[j-1], buf[j]
		}
	}
	return buf
}

func idleLonger(a, b *agent.Seat) bool {
	return cmp.Or(a.IdleSince.Compare(b.IdleSince), cmp.Compare(a.ID, b.ID)) < 0
}

// pick chooses the seat for call e among the ready seats (indexes into seats,
// longest idle first), or returns -1 and whether a call behind e in its FIFO
// might still be served. The rules of SPEC §6, in order:
//
//  1. the longest-idle ready seat with the skill that has not declined e;
//  2. once e has waited SkillFallback, the longest-idle ready seat that has
//     not declined it;
//  3. a seat that declined e, only if no other seat could take it (one
//     eligible by 1 or 2 that is registered and not not_ready) and
//     Config.DeclinePause has passed since the decline; else e waits and the
//     calls behind it are served meanwhile.
func (a *ACD) pick(e *Entry, seats []agent.Seat, ready []int, now time.Time) (seat int, more bool) {
	past := now.Sub(e.EnqueuedAt) >= a.cfg.SkillFallback
	anyOther := -1
	for _, i := range ready {
		s := &seats[i]
		if slices.Contains(e.Declined, s.ID) {
			continue
		}
		if s.HasSkill(e.Skill) {
			return i, true
		}
		if past && anyOther < 0 {
			anyOther = i
		}
	}
	if anyOther >= 0 {
		return anyOther, true
	}
	if len(e.Declined) == 0 {
		// No ready seat has the skill and e is not past the fallback (with a
		// ready seat, a call past it always finds one): nor are those behind.
		return -1, false
	}
	eligible := func(s *agent.Seat) bool { return past || s.HasSkill(e.Skill) }
	for i := range seats {
		if s := &seats[i]; s.Available() && eligible(s) && !slices.Contains(e.Declined, s.ID) {
			return -1, true // another seat will take e: wait for it
		}
	}
	if now.Before(e.DeclinedAt.Add(a.cfg.DeclinePause)) {
		return -1, true // only decliners left: not again so soon (rearm wakes us)
	}
	for _, i := range ready {
		if seats[i].HasSkill(e.Skill) {
			return i, true
		}
	}
	if past {
		return ready[0], true
	}
	return -1, false
}

// offer makes seat s ringing and call e offered in one step and tells the
// call's goroutine. A call whose goroutine stopped reading (buffer full) is
// dropped instead: the ACD never blocks.
func (a *ACD) offer(e Entry, s *agent.Seat, now time.Time) error {
	if ch, ok := a.calls[e.ID]; !ok || len(ch) == cap(ch) {
		return a.finish(e, nil, CallDropped, agent.Seat{}, now)
	}
	n := *s
	a.fence++
	if err := n.Offer(e.ID, a.fence, now); err != nil {
		return err
	}
	e.Seat, e.Token = n.ID, a.fence
	if err := a.store.PutEntry(e); err != nil {
		return err
	}
	if err := a.putSeat(n, now); err != nil {
		return err
	}
	*s = n
	a.send(e.ID, Event{Kind: Offer, Seat: n.ID, Token: e.Token, Ring: max(a.cfg.RingTimeout, 0)}) // room checked above; only the ACD sends
	a.publish(Change{Kind: CallOffered, At: now, Seat: n, Call: view(e, 0, now)})
	return nil
}
