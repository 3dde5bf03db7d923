package acd

import (
	"errors"
	"fmt"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// SeatRegistered is the registrar telling that seat id's phone registered
// (or refreshed its registration): offline → ready, or not_ready again if
// its operator had chosen not_ready (that choice survives re-registration).
// A refresh changes nothing.
func (a *ACD) SeatRegistered(id agent.SeatID) error {
	return a.do("seat registered", string(id), func(now time.Time) error {
		s, err := a.store.Seat(id)
		if err != nil {
			return err
		}
		n := s
		if err := n.Register(now); err != nil {
			return err
		}
		return a.putChanged(&s, n, now)
	})
}

// SeatUnregistered is the registrar telling that seat id's registration
// expired or was removed: → offline. If the seat was ringing, the offer is
// withdrawn: the call gets Event Withdrawn and waits again at its place (the
// head, usually). If it was connected, the call goes on without the ACD:
// its Hangup returns nil while the seat stays offline (ErrNotConnected once
// the seat is back and on something else) and changes nothing.
func (a *ACD) SeatUnregistered(id agent.SeatID) error {
	return a.do("seat unregistered", string(id), func(now time.Time) error {
		s, err := a.store.Seat(id)
		if err != nil {
			return err
		}
		if s.State == agent.Offline {
			return nil
		}
		n := s
		if err := n.Unregister(now); err != nil {
			return err
		}
		if err := a.putSeat(n, now); err != nil {
			return err
		}
		if s.State == agent.Ringing {
			if err := a.offerFailed(s.CallID, n, CallWithdrawn, now); err != nil {
				return err
			}
		}
		return a.noSeatsLeft(now)
	})
}

// noSeatsLeft sends every waiting call to voicemail when the last seat has
// logged out: nobody can answer them (SPEC §5: no seat logged in →
// voicemail), and a citizen should not hear announcements until max_wait.
func (a *ACD) noSeatsLeft(now time.Time) error {
	if n, err := a.loggedIn(); err != nil || n > 0 {
		return err
	}
	queues, err := a.queues()
	if err != nil {
		return err
	}
	var gone []Entry
	for _, q := range queues {
		err := a.walk(q.Key, func(e *Entry) bool {
			gone = append(gone, *e)
			return true
		})
		if err != nil {
			return err
		}
	}
	for _, e := range gone {
		if err := a.finish(e, &Event{Kind: NoSeats}, CallNoSeats, agent.Seat{}, now); err != nil {
			return err
		}
	}
	return nil
}

// SetState is the operator's choice on the console: agent.Ready, or
// agent.NotReady with a reason ("break", "meeting", …). Refused while the
// seat is offline (agent.ErrOffline) and for any other state
// (agent.ErrBadState). While the seat rings, talks or wraps up, not_ready is
// remembered and applied when the call and its wrap-up end; ready withdraws
// that request, and in wrap-up ends the wrap-up at once.
func (a *ACD) SetState(id agent.SeatID, state agent.State, reason string) error {
	return a.do("set state", string(id), func(now time.Time) error {
		s, err := a.store.Seat(id)
		if err != nil {
			return err
		}
		n := s
		if err := n.Set(state, reason, now); err != nil {
			return err
		}
		return a.putChanged(&s, n, now)
	})
}

// putChanged stores seat n unless the transition from old changed nothing
// (a registration refresh, ready when ready).
func (a *ACD) putChanged(old *agent.Seat, n agent.Seat, now time.Time) error {
	if sameSeat(old, &n) {
		return nil
	}
	return a.putSeat(n, now)
}

// sameSeat reports whether a transition changed nothing.
func sameSeat(a, b *agent.Seat) bool {
	return a.State == b.State && a.Reason == b.Reason && a.CallID == b.CallID &&
		a.Since.Equal(b.Since) && a.IdleSince.Equal(b.IdleSince) && a.WrapUpUntil.Equal(b.WrapUpUntil) &&
		a.OperatorNotReady == b.OperatorNotReady && a.OperatorReason == b.OperatorReason
}

// ringing returns the call's entry and the seat it is offered to by the
// offer token, or ErrNotOffered (also ErrUnknownCall if the call has left
// the queue): a report about an offer that was withdrawn, or that is older
// than the current one, changes nothing.
func (a *ACD) ringing(callID string, id agent.SeatID, token uint64) (Entry, agent.Seat, error) {
	e, err := a.store.Entry(callID)
	if errors.Is(err, ErrUnknownCall) {
		// Gone meanwhile (timed out after a withdrawal): not offered either.
		return Entry{}, agent.Seat{}, fmt.Errorf("seat %s: %w: %w", id, ErrNotOffered, err)
	}
	if err != nil {
		return Entry{}, agent.Seat{}, err
	}
	if e.Seat != id || e.Token != token {
		return Entry{}, agent.Seat{}, fmt.Errorf("seat %s offer #%d (current: %s #%d): %w", id, token, e.Seat, e.Token, ErrNotOffered)
	}
	s, err := a.store.Seat(id)
	if err != nil {
		return Entry{}, agent.Seat{}, err
	}
	return e, s, nil
}
