package acd

import "errors"

var (
	// ErrClosed: the ACD was closed.
	ErrClosed = errors.New("acd: closed")
	// ErrUnknownSeat: no configured seat has that ID.
	ErrUnknownSeat = errors.New("acd: unknown seat")
	// ErrUnknownCall: the call is not in the ACD (never queued, or already
	// answered, abandoned, timed out or dropped).
	ErrUnknownCall = errors.New("acd: unknown call")
	// ErrDuplicateCall: a call with that ID is already queued.
	ErrDuplicateCall = errors.New("acd: call already queued")
	// ErrBadCall: the call lacks an ID or a skill, or has an unknown priority.
	ErrBadCall = errors.New("acd: invalid call")
	// ErrNotOffered: the call is not being offered to that seat (the offer was
	// withdrawn, or ended otherwise). The call layer must hang up any leg it
	// still has to that seat.
	ErrNotOffered = errors.New("acd: call is not offered to that seat")
	// ErrNotConnected: the seat is not connected to that call.
	ErrNotConnected = errors.New("acd: seat is not connected to that call")
	// ErrPlaceChanged: a Store was asked to move an entry (its place is fixed
	// by priority, enqueue time and sequence).
	ErrPlaceChanged = errors.New("acd: store: entry place cannot change")
)

// ErrUnavailable: the shared state (Redis, SPEC §11) cannot be reached; the
// step was not taken. The call layer goes on with what it holds: a new
// caller goes to voicemail, a seat that answered stays connected (the node
// re-asserts it once the state is back).
var ErrUnavailable = errors.New("acd: shared state unavailable")
