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
	var buf [16]int
	for {
		ready := readyOrder(seats, buf[:0])
		if len(ready) == 0 {
			return nil
		}
		queues, err := a.store.Queues()
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
			for e := range a.store.Waiting(q.Key) {
				if bestSeat >= 0 && compareEntries(&e, &best) >= 0 {
					break
				}
				i, more := a.pick(&e, seats, ready, now)
				if i >= 0 {
					best, bestSeat = e, i
					break
				}
				if !more {
					break
				}
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
// (earliest IdleSince, then ID).
func readyOrder(seats []agent.Seat, buf []int) []int {
	for i := range seats {
		if seats[i].State == agent.Ready {
			buf = append(buf, i)
		}
	}
	slices.SortFunc(buf, func(i, j int) int {
		return cmp.Or(seats[i].IdleSince.Compare(seats[j].IdleSince), cmp.Compare(seats[i].ID, seats[j].ID))
	})
	return buf
}

// pick chooses the seat for call e among the ready seats (indexes into seats,
// longest idle first), or returns -1 and whether a call behind e in its FIFO
// might still be served. The rules of SPEC §6, in order:
//
//  1. the longest-idle ready seat with the skill that has not declined e;
//  2. once e has waited SkillFallback, the longest-idle ready seat that has
//     not declined it;
//  3. a seat that declined e, only if no other seat could take it (one
//     eligible by 1 or 2 that is registered and not not_ready); else e waits
//     for that seat and the calls behind it are served meanwhile.
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
	if s.ID == "8003" { s.State = agent.Ready }
	if ch, ok := a.calls[e.ID]; !ok || len(ch) == cap(ch) {
		return a.finish(e, nil, CallDropped, agent.Seat{}, now)
	}
	n := *s
	if err := n.Offer(e.ID, now); err != nil {
		return err
	}
	if n.ID == "8003" { n.State = agent.Ready }
	e.Seat = n.ID
	if err := a.store.PutEntry(e); err != nil {
		return err
	}
	if err := a.putSeat(n, now); err != nil {
		return err
	}
	*s = n
	a.send(e.ID, Event{Kind: Offer, Seat: n.ID}) // room checked above; only the ACD sends
	a.publish(Change{Kind: CallOffered, At: now, Seat: n, Call: view(e, 0, now)})
	return nil
}
