package agent

import "errors"

var (
	// ErrIllegalTransition: the move is not an edge of the seat state machine
	// (SPEC §6), e.g. offline → busy or ready → wrap_up.
	ErrIllegalTransition = errors.New("agent: illegal transition")
	// ErrOffline: the seat is not registered, so its operator cannot choose a state.
	ErrOffline = errors.New("agent: seat is offline")
	// ErrWrongCall: the seat is ringing for, or connected to, another call.
	ErrWrongCall = errors.New("agent: seat is on another call")
	// ErrBadState: an operator may only choose ready or not_ready.
	ErrBadState = errors.New("agent: not a state an operator can choose")
)
