package acd

import (
	"fmt"
	"slices"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// Enqueue queues a call and returns the channel on which the ACD tells the
// call's goroutine what to do (see the package comment). With no seat logged
// in at all (every seat offline) the call is not queued: the channel carries
// NoSeats and is closed at once. Otherwise the call waits for a seat, or for
// MaxWait. Errors: ErrBadCall, ErrDuplicateCall, ErrClosed.
func (a *ACD) Enqueue(c Call) (<-chan Event, error) {
	if c.Priority == "" {
		c.Priority = PriorityNormal
	}
	if c.ID == "" || c.Skill == "" || (c.Priority != PriorityNormal && c.Priority != PriorityGreen) {
		return nil, fmt.Errorf("acd: enqueue: id %q, skill %q, priority %q: %w", c.ID, c.Skill, c.Priority, ErrBadCall)
	}
	var ch chan Event
	err := a.do("enqueue", c.ID, func(now time.Time) error {
		if c.EnqueuedAt.IsZero() || c.EnqueuedAt.After(now) {
			c.EnqueuedAt = now
		}
		n, err := a.loggedIn()
		if err != nil {
			return err
		}
		ch = make(chan Event, eventBuffer)
		if n == 0 {
			ch <- Event{Kind: NoSeats}
			close(ch)
			a.publish(Change{Kind: CallNoSeats, At: now, Call: view(Entry{Call: c}, 0, now)})
			return nil
		}
		e, err := a.store.Add(c)
		if err != nil {
			return err
		}
		a.calls[c.ID] = ch
		pos, err := a.store.Position(c.ID)
		if err != nil {
			return err
		}
		a.publish(Change{Kind: CallQueued, At: now, Call: view(e, pos, now)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// Abandon is the caller hanging up while waiting or while a seat rings for
// them: the call leaves the queue and its channel is closed. A ringing seat
// goes back to ready with its IdleSince unchanged (it did nothing wrong), or
// to not_ready if its operator asked meanwhile. The call layer stops the
// ringing itself. ErrUnknownCall if the call is not queued (any more).
func (a *ACD) Abandon(callID string) error {
	return a.do("abandon", callID, func(now time.Time) error {
		e, err := a.store.Entry(callID)
		if err != nil {
			return err
		}
		var seat agent.Seat
		if e.Offered() {
			if seat, err = a.store.Seat(e.Seat); err != nil {
				return err
			}
			if err := seat.Release(callID, now); err != nil {
				return err
			}
			if err := a.putSeat(seat, now); err != nil {
				return err
			}
		}
		return a.finish(e, nil, CallAbandoned, seat, now)
	})
}

// Answered is the seat answering the call offered to it: seat → busy, and the
// call leaves the queue (its channel is closed). ErrNotOffered if the call is
// not (any more) offered to that seat — withdrawn, or even gone from the
// queue (then also ErrUnknownCall): hang up that seat's leg.
func (a *ACD) Answered(callID string, seat agent.SeatID, token uint64) error {
	return a.do("answered", callID, func(now time.Time) error {
		e, s, err := a.ringing(callID, seat, token)
		if err != nil {
			return err
		}
		if err := s.Answer(callID, now); err != nil {
			return err
		}
		if err := a.putSeat(s, now); err != nil {
			return err
		}
		return a.finish(e, nil, CallAnswered, s, now)
	})
}

// NoAnswer is the ring timeout (RONA): the seat goes not_ready with reason
// no_answer, and the call waits again at its place and is offered to the
// next seat. If the call has meanwhile waited MaxWait, it gets MaxWait now.
// ErrNotOffered if the call is not offered to that seat.
func (a *ACD) NoAnswer(callID string, seat agent.SeatID, token uint64) error {
	return a.do("no answer", callID, func(now time.Time) error {
		_, s, err := a.ringing(callID, seat, token)
		if err != nil {
			return err
		}
		if err := s.NoAnswer(callID, now); err != nil {
			return err
		}
		if err := a.putSeat(s, now); err != nil {
			return err
		}
		return a.offerFailed(callID, s, callNoAnswerReported, now)
	})
}

// Declined is the seat refusing the call (486 Busy Here, 603 Decline): the
// seat goes back to ready with IdleSince unchanged (or not_ready if its
// operator asked meanwhile); the call waits again at its place and is not
// offered to that seat again while another seat could take it. With nobody
// else, the decliner is offered it again once Config.DeclinePause has
// passed (a phone on do-not-disturb is not hammered). If the call has meanwhile waited MaxWait, it gets MaxWait
// now. ErrNotOffered if the call is not offered to that seat.
func (a *ACD) Declined(callID string, seat agent.SeatID, token uint64) error {
	return a.do("declined", callID, func(now time.Time) error {
		_, s, err := a.ringing(callID, seat, token)
		if err != nil {
			return err
		}
		if err := s.Release(callID, now); err != nil {
			return err
		}
		if err := a.putSeat(s, now); err != nil {
			return err
		}
		return a.offerFailed(callID, s, CallDeclined, now)
	})
}

// Hangup is the end of a connected call: the seat wraps up for
// Config.WrapUp, then goes ready (or not_ready, if its operator asked during
// the call or the wrap-up). If the seat went offline during the call there is
// nothing left to end: nil. ErrNotConnected if the seat is on another call
// or none, or connected to it by another offer than token.
func (a *ACD) Hangup(callID string, seat agent.SeatID, token uint64) error {
	return a.do("hangup", callID, func(now time.Time) error {
		s, err := a.store.Seat(seat)
		if err != nil {
			return err
		}
		if s.State == agent.Offline {
			return nil
		}
		if s.State != agent.Busy || s.CallID != callID || s.Token != token {
			return fmt.Errorf("seat %s (%s %s #%d): %w", seat, s.State, s.CallID, s.Token, ErrNotConnected)
		}
		if err := s.Hangup(callID, now.Add(max(a.cfg.WrapUp, 0)), now); err != nil {
			return err
		}
		return a.putSeat(s, now) // a zero wrap-up ends in settle, now
	})
}

// callNoAnswerReported is CallNoAnswer reported by the call layer (which
// knows already): offerFailed publishes it as CallNoAnswer and sends no
// event, whereas the watchdog's CallNoAnswer tells the call.
const callNoAnswerReported ChangeKind = -1

// offerFailed puts an offered call back to waiting, at its place. seat is the
// seat that did not take it, in its new state.
func (a *ACD) offerFailed(callID string, seat agent.Seat, kind ChangeKind, now time.Time) error {
	e, err := a.store.Entry(callID)
	if err != nil {
		return err
	}
	token := e.Token
	e.Seat, e.Token = "", 0
	if kind == CallDeclined {
		if !slices.Contains(e.Declined, seat.ID) {
			e.Declined = append(slices.Clip(e.Declined), seat.ID)
		}
		e.DeclinedAt = now
		if a.cfg.DeclinePause > 0 {
			a.wakes = append(a.wakes, now.Add(a.cfg.DeclinePause))
		}
	}
	if err := a.store.PutEntry(e); err != nil {
		return err
	}
	// The ACD ended the offer by itself (a withdrawal, the ring watchdog):
	// the call's goroutine is told to stop ringing.
	tell := EventKind(0)
	switch kind {
	case CallWithdrawn:
		tell = Withdrawn
	case CallNoAnswer:
		tell = RingTimeout
	case callNoAnswerReported:
		kind = CallNoAnswer
	}
	if tell != 0 && !a.send(callID, Event{Kind: tell, Seat: seat.ID, Token: token}) {
		return a.finish(e, nil, CallDropped, seat, now)
	}
	pos, err := a.store.Position(callID)
	if err != nil {
		return err
	}
	a.publish(Change{Kind: kind, At: now, Seat: seat, Call: view(e, pos, now)})
	return nil // settle expires it if MaxWait passed while it rang
}

// loggedIn counts the registered seats.
func (a *ACD) loggedIn() (int, error) {
	seats, err := a.seats()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range seats {
		if seats[i].Registered {
			n++
		}
	}
	return n, nil
}
