// Package agent is the operator seat of the hotline: its identity, skills and
// the state machine of SPEC §6 (offline, ready, not_ready with a reason,
// ringing, busy, wrap_up).
//
// A Seat is a plain value; its methods are the only legal moves and refuse the
// others with ErrIllegalTransition (offline → busy, ready → wrap_up, …), so the
// ACD (package acd), which owns every seat and decides who rings, cannot put a
// seat in a state the operator's console could not explain. Time comes from
// the arguments: the package reads no clock.
//
// This is a domain package: it imports the standard library and
// internal/vocab (the shared words) only (no SIP, media, Redis, SQLite,
// Prometheus, and no other package of this module).
package agent

import (
	"slices"
	"time"

	"github.com/hotline12348/hotline/internal/vocab"
)

// SeatID names a seat; seats register as sip:<seat id>@<domain> (SPEC §3).
type SeatID string

// State is where a seat stands in SPEC §6's state machine.
type State string

// The seat states of SPEC §6, as the API and the hotline_seats{state} metric spell them.
const (
	Offline  State = vocab.SeatOffline  // no SIP registration
	Ready    State = vocab.SeatReady    // registered and free: may be offered a call
	NotReady State = vocab.SeatNotReady // registered, takes no calls; Seat.Reason says why
	Ringing  State = vocab.SeatRinging  // offered one call, its phone is ringing
	Busy     State = vocab.SeatBusy     // connected to a caller
	WrapUp   State = vocab.SeatWrapUp   // after a call: finishing the ticket, takes no calls
)

// States returns every state, in the order a console lists them.
func States() []State { return []State{Offline, Ready, NotReady, Ringing, Busy, WrapUp} }

// Valid reports whether s is one of the six states.
func (s State) Valid() bool { return slices.Contains(States(), s) }

// ReasonNoAnswer is the not_ready reason the ACD gives a seat that let an
// offered call ring out (RONA, SPEC §6). Operators' own reasons ("break",
// "meeting", …) are free text chosen on the console.
const ReasonNoAnswer = vocab.ReasonNoAnswer

// Seat is one operator position and where it stands. The zero State is not
// valid: a configured seat starts Offline (see New).
type Seat struct {
	ID     SeatID   `json:"id"`
	Name   string   `json:"name"`
	Skills []string `json:"skills"` // categories it serves: consult, legal_aid, mediation, notary, complaint
	State  State    `json:"state"`
	// Reason says why the seat is not_ready ("no_answer", "break", …); empty in other states.
	Reason string `json:"reason,omitempty"`
	// Since is when the seat entered State.
	Since time.Time `json:"since,omitzero"`
	// IdleSince is when the seat last became free: the end of its wrap-up, or
	// the moment it went ready from not_ready or offline. The longest-idle
	// ready seat (earliest IdleSince) is offered the next call. An offer that
	// ends through no fault of the seat (the caller hung up, the seat
	// declined) leaves it unchanged.
	IdleSince time.Time `json:"idle_since,omitzero"`
	// Registered is true while the seat's phone holds a SIP registration:
	// exactly when State is not Offline.
	Registered bool `json:"registered"`
	// CallID is the call the seat is ringing for (ringing), talking to (busy)
	// or writing up (wrap_up); empty otherwise.
	CallID string `json:"call_id,omitempty"`
	// Token is the fencing token of the offer that made the seat ring for
	// CallID (it grows with every offer, SPEC §11): every later report about
	// that offer — answered, no answer, declined, hung up — must carry it,
	// so a late report about an older offer is refused. Kept with CallID.
	Token uint64 `json:"token,omitempty"`
	// WrapUpUntil is when the wrap-up ends by itself; zero outside wrap_up.
	// It is state, not a timer, so whoever holds the seat can end it.
	WrapUpUntil time.Time `json:"wrap_up_until,omitzero"`
	// OperatorNotReady is the operator's own choice of not_ready, with
	// OperatorReason. It outlives the call in progress (applied when it and
	// its wrap-up end) and re-registration (a phone that re-registers comes
	// back not_ready). Choosing ready clears it.
	OperatorNotReady bool   `json:"operator_not_ready"`
	OperatorReason   string `json:"operator_reason,omitempty"`
	// Via is the node whose SIP socket holds the seat's registration, in a
	// cluster (SPEC §11); empty on a single node.
	Via string `json:"via,omitempty"`
}

// New returns a configured seat, offline until its phone registers.
func New(id SeatID, name string, skills []string) Seat {
	return Seat{ID: id, Name: name, Skills: slices.Clone(skills), State: Offline}
}

// HasSkill reports whether the seat serves the category skill.
func (s *Seat) HasSkill(skill string) bool { return slices.Contains(s.Skills, skill) }

// Available reports whether the seat takes calls now or will without the
// operator doing anything: registered and not not_ready (ready, ringing, busy
// or wrap_up).
func (s *Seat) Available() bool { return s.State != Offline && s.State != NotReady }
