package agent

import (
	"fmt"
	"time"
)

// CanMove reports whether from → to is an edge of SPEC §6's state machine:
//
//	offline   → ready, not_ready                   (registered; not_ready if the operator chose it)
//	ready     → not_ready, ringing, offline
//	not_ready → ready, not_ready (new reason), offline
//	ringing   → busy (answered), ready (the offer ended through no fault of the seat),
//	            not_ready (rang out, or the operator asked meanwhile), offline
//	busy      → wrap_up, offline
//	wrap_up   → ready, not_ready, offline
//
// Every registered state may go offline: a registration can expire or be
// removed at any moment.
func CanMove(from, to State) bool {
	switch from {
	case Offline:
		return to == Ready || to == NotReady
	case Ready:
		return to == NotReady || to == Ringing || to == Offline
	case NotReady:
		return to == Ready || to == NotReady || to == Offline
	case Ringing:
		return to == Busy || to == Ready || to == NotReady || to == Offline
	case Busy:
		return to == WrapUp || to == Offline
	case WrapUp:
		return to == Ready || to == NotReady || to == Offline
	}
	return false
}

// move checks the edge and applies it. Since changes only when the state does.
func (s *Seat) move(action string, to State, now time.Time) error {
	if !CanMove(s.State, to) {
		return fmt.Errorf("agent: seat %s: %s: %s → %s: %w", s.ID, action, s.State, to, ErrIllegalTransition)
	}
	if to != s.State {
		s.Since = now
	}
	s.State = to
	s.Registered = to != Offline
	if to != NotReady {
		s.Reason = ""
	}
	if to == Offline || to == Ready || to == NotReady {
		s.CallID, s.Token = "", 0
	}
	if to != WrapUp {
		s.WrapUpUntil = time.Time{}
	}
	return nil
}

// checkCall refuses a report about a call the seat is not handling.
func (s *Seat) checkCall(action, callID string) error {
	if s.CallID != callID {
		return fmt.Errorf("agent: seat %s: %s of call %q: %s with call %q: %w", s.ID, action, callID, s.State, s.CallID, ErrWrongCall)
	}
	return nil
}

// free makes the seat free after a call or a refused offer: not_ready with
// the operator's reason if they asked for it, else ready. idle says whether
// the seat goes to the back of the longest-idle order (IdleSince = now).
func (s *Seat) free(action string, now time.Time, idle bool) error {
	if s.OperatorNotReady {
		if err := s.move(action, NotReady, now); err != nil {
			return err
		}
		s.Reason = s.OperatorReason
		return nil
	}
	if err := s.move(action, Ready, now); err != nil {
		return err
	}
	if idle {
		s.IdleSince = now
	}
	return nil
}

// Register is the seat's phone registering (SIP REGISTER, RFC 3261 §10):
// offline → ready, or not_ready again if the operator had chosen it. A
// refresh of a live registration changes nothing.
func (s *Seat) Register(now time.Time) error {
	if s.State != Offline {
		return nil
	}
	return s.free("register", now, true)
}

// Unregister is the registration expiring or being removed: any state →
// offline. Whatever call the seat was ringing for or connected to is no
// longer its own (the caller's side decides what happens to that call).
// The operator's not_ready choice survives.
func (s *Seat) Unregister(now time.Time) error {
	if s.State == Offline {
		return nil
	}
	return s.move("unregister", Offline, now)
}

// SetReady is the operator choosing ready. not_ready → ready; wrap_up →
// ready too (the ticket is done early); while ringing or busy it only
// withdraws an earlier not_ready request, so the seat goes ready when the
// call and its wrap-up end. Refused with ErrOffline while offline.
func (s *Seat) SetReady(now time.Time) error {
	if s.State == Offline {
		return fmt.Errorf("agent: seat %s: set ready: %w", s.ID, ErrOffline)
	}
	s.OperatorNotReady, s.OperatorReason = false, ""
	if s.State != NotReady && s.State != WrapUp {
		return nil
	}
	if err := s.move("set ready", Ready, now); err != nil {
		return err
	}
	s.IdleSince = now
	return nil
}

// SetNotReady is the operator choosing not_ready with a reason ("break",
// "meeting", …). ready or not_ready → not_ready at once; while ringing, busy
// or in wrap-up the request is remembered (OperatorNotReady) and applied when
// the call and its wrap-up end. Refused with ErrOffline while offline.
func (s *Seat) SetNotReady(reason string, now time.Time) error {
	if s.State == Offline {
		return fmt.Errorf("agent: seat %s: set not_ready: %w", s.ID, ErrOffline)
	}
	s.OperatorNotReady, s.OperatorReason = true, reason
	if s.State != Ready && s.State != NotReady {
		return nil
	}
	if err := s.move("set not_ready", NotReady, now); err != nil {
		return err
	}
	s.Reason = reason
	return nil
}

// Set is SetReady or SetNotReady by name, for the console's
// {"state": "ready"|"not_ready", "reason"}; other states are ErrBadState.
func (s *Seat) Set(state State, reason string, now time.Time) error {
	switch state {
	case Ready:
		return s.SetReady(now)
	case NotReady:
		return s.SetNotReady(reason, now)
	}
	return fmt.Errorf("agent: seat %s: set %q: %w", s.ID, state, ErrBadState)
}

// Offer is a call being offered to the seat: ready → ringing. token is the
// offer's fencing token (Seat.Token).
func (s *Seat) Offer(callID string, token uint64, now time.Time) error {
	if s.State != Ready {
		return fmt.Errorf("agent: seat %s: offer of call %q: %s → %s: %w", s.ID, callID, s.State, Ringing, ErrIllegalTransition)
	}
	if err := s.move("offer", Ringing, now); err != nil {
		return err
	}
	s.CallID, s.Token = callID, token
	return nil
}

// ringingFor checks that the seat is ringing for callID.
func (s *Seat) ringingFor(action, callID string) error {
	if s.State != Ringing {
		return fmt.Errorf("agent: seat %s: %s of call %q while %s: %w", s.ID, action, callID, s.State, ErrIllegalTransition)
	}
	return s.checkCall(action, callID)
}

// Answer is the seat picking up the call it was ringing for: ringing → busy.
func (s *Seat) Answer(callID string, now time.Time) error {
	if err := s.ringingFor("answer", callID); err != nil {
		return err
	}
	return s.move("answer", Busy, now)
}

// NoAnswer is the call ringing out at the seat (RONA): ringing → not_ready
// with reason no_answer, so no more calls ring at an empty desk until the
// operator comes back and chooses ready.
func (s *Seat) NoAnswer(callID string, now time.Time) error {
	if err := s.ringingFor("no answer", callID); err != nil {
		return err
	}
	if err := s.move("no answer", NotReady, now); err != nil {
		return err
	}
	s.Reason = ReasonNoAnswer
	return nil
}

// Release ends an offer through no fault of the seat (it declined with 486
// or 603, or the caller hung up while it rang): ringing → ready with
// IdleSince unchanged, so it keeps its place in the longest-idle order; or
// not_ready if the operator asked for it meanwhile.
func (s *Seat) Release(callID string, now time.Time) error {
	if err := s.ringingFor("release", callID); err != nil {
		return err
	}
	return s.free("release", now, false)
}

// Hangup is the end of the connected call: busy → wrap_up until until. The
// seat keeps CallID during wrap-up (the console's ticket form is for it).
func (s *Seat) Hangup(callID string, until, now time.Time) error {
	if s.State != Busy {
		return fmt.Errorf("agent: seat %s: hangup of call %q while %s: %w", s.ID, callID, s.State, ErrIllegalTransition)
	}
	if err := s.checkCall("hangup", callID); err != nil {
		return err
	}
	if err := s.move("hangup", WrapUp, now); err != nil {
		return err
	}
	s.WrapUpUntil = until
	return nil
}

// EndWrapUp ends the wrap-up: wrap_up → ready (IdleSince = now), or
// not_ready with the operator's reason if they asked for it during the call.
func (s *Seat) EndWrapUp(now time.Time) error {
	if s.State != WrapUp {
		return fmt.Errorf("agent: seat %s: end wrap-up while %s: %w", s.ID, s.State, ErrIllegalTransition)
	}
	return s.free("end wrap-up", now, true)
}
