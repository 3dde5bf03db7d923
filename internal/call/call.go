// Package call runs one citizen's call from arrival to close: ticket on
// arrival, answer, IVR, queue (voicemail while no seat is logged in), and
// the ticket closed with an honest outcome whatever happens on the way.
//
// It defines the small interfaces it needs — the caller's signalling
// (Inbound), the media of a leg (Media), the ticket sink (Tickets) — and the
// transport packages implement them; internal/app connects the two. It must
// not import internal/sip or internal/media.
package call

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"
)

// EventKind is a signalling event of the caller's leg.
type EventKind int

// Signalling events.
const (
	EventHangup         EventKind = iota + 1 // BYE from the caller
	EventCancel                              // CANCEL before answer
	EventDigit                               // DTMF by SIP INFO
	EventSessionExpired                      // RFC 4028 timer ran out
	EventNoAck                               // our 200 OK was never acknowledged
)

// Event is one signalling event.
type Event struct {
	Kind  EventKind
	Digit rune
}

// Inbound is the SIP side of the caller's leg.
type Inbound interface {
	CallID() string
	// Caller is the normalised calling number, or "anonymous".
	Caller() string
	// Called is the number dialled.
	Called() string
	// Offer is the INVITE's SDP (nil for a delayed offer).
	Offer() []byte
	// Source is the address the INVITE came from (the carrier's SBC). The
	// media leg accepts the caller's RTP only from the offer's c=/m= or
	// from this address (a peer behind NAT), never from anyone else.
	Source() netip.Addr
	Answer(sdp []byte, onOffer func(offer []byte) ([]byte, error)) error
	Reject(code int, reason string) error
	Hangup(ctx context.Context) error
	Events() <-chan Event
	Logger() *slog.Logger
	// SendDigit passes a key to the caller by SIP INFO.
	SendDigit(ctx context.Context, d rune) error
}

// Media is the RTP side of a leg: prompts, digits, recording.
type Media interface {
	ivr.Channel
	// Reoffer applies an offer received mid-call (hold, refresh) and returns the answer.
	Reoffer(offer []byte) ([]byte, error)
	// StartRecording records what the peer says into a mono WAV at path.
	StartRecording(path string) error
	// StopRecording stops it and returns the length recorded.
	StopRecording() (time.Duration, error)
	// ApplyAnswer starts a leg made by MediaFactory.Offer with the peer's
	// answer; from is where the peer's SIP comes from (SeatAnswer.Source),
	// the one address besides the answer's c=/m= its RTP is taken from.
	ApplyAnswer(sdp []byte, from netip.Addr) error
	// Done is closed when media ended by itself (RTP inactivity); Err says why.
	Done() <-chan struct{}
	Err() error
	Close() error
}

// MediaFactory negotiates offers and sets up and bridges legs.
type MediaFactory interface {
	// Answer allocates a leg for offer and returns it with the SDP answer.
	// from is the offer's signalling source (Inbound.Source): the leg
	// takes RTP only from the offer's c=/m= or from there. An error
	// wrapping ErrNoCommonCodec means 488.
	Answer(offer []byte, from netip.Addr, log *slog.Logger) (Media, []byte, error)
	// Offer allocates a leg toward seat speaking like's codec and
	// returns it with our SDP offer (SRTP for a seat configured so);
	// ApplyAnswer starts it.
	Offer(like Media, seat string, log *slog.Logger) (Media, []byte, error)
	// Bridge relays the two legs (no decode) and records them in stereo
	// to recordPath ("" = no recording); stop ends both and returns the
	// recorded length.
	Bridge(caller, seat Media, recordPath string) (stop func() (time.Duration, error), err error)
}

// ErrNoCommonCodec is returned by a MediaFactory when the offer has no codec we speak.
var ErrNoCommonCodec = errors.New("call: no common codec")

// Tickets is where the call's ticket lives.
type Tickets interface {
	Open(ctx context.Context, t *ticket.Ticket) error
	Update(ctx context.Context, id ticket.ID, fn func(t *ticket.Ticket) error) (*ticket.Ticket, error)
}

// Distributor is the ACD as a call sees it (SPEC §6). The ACD decides
// which seat gets which call and for how long it rings (its ring watchdog);
// the call rings the seat, obeys the ACD's events and reports what
// happened. Every report returns the ACD's answer: an error wrapping
// acd.ErrNotOffered (or acd.ErrUnknownCall, acd.ErrNotConnected) means the
// ACD had moved on — the offer ended, the call left the queue — and what
// it decided arrives as an event; acd.ErrUnavailable means the shared
// state cannot be reached (the report is kept and replayed).
type Distributor interface {
	// LoggedIn is the number of seats that are not offline.
	LoggedIn() int
	// Enqueue queues the call; the ACD's events for it (acd.Offer,
	// acd.Withdrawn, acd.RingTimeout, acd.MaxWait, acd.NoSeats) arrive on
	// the channel, which the ACD closes when it lets go of the call.
	Enqueue(callID, skill, priority string, at time.Time) (<-chan acd.Event, error)
	// Position is the 1-based place in the queue, 0 when not waiting.
	Position(callID string) int
	// Abandon: the caller hung up while waiting or while a seat rang.
	Abandon(callID string) error
	// Answered reports that the seat answered the offer token. An error
	// wrapping acd.ErrNotOffered means the offer is stale (withdrawn, rung
	// out, or the call or seat went to someone else meanwhile): the seat's
	// leg must be hung up. acd.ErrUnavailable means the shared state cannot
	// be reached: the answer is real, the call goes on (the ACD layer
	// re-asserts it later).
	Answered(callID, seat string, token uint64) error
	// NoAnswer: the seat's phone failed, or rang past the ACD's deadline
	// without the ACD saying so: the seat goes not_ready (no_answer).
	NoAnswer(callID, seat string, token uint64) error
	// Declined: the seat refused the call (486, 600, 603).
	Declined(callID, seat string, token uint64) error
	// Hangup: the connected call ended; the seat wraps up.
	Hangup(callID, seat string, token uint64) error
}

// ErrSeatUnreachable: the seat's phone cannot be reached through no fault
// of its operator (in a cluster, the node holding its registration is
// gone). The offer is reported declined, not rung out: the seat stays
// ready and the call goes to another seat.
var ErrSeatUnreachable = errors.New("call: seat unreachable")

// SeatDialer rings seats.
type SeatDialer interface {
	// Dial sends the INVITE (with our SDP offer) to the seat's registered
	// phone, showing the caller of ticket t; onOffer answers the phone's own
	// offers later (the operator puts the caller on hold).
	Dial(ctx context.Context, seat string, offer []byte, onOffer func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (SeatCall, error)
}

// SeatAnswer is a seat's final answer to our INVITE.
type SeatAnswer struct {
	Code int
	SDP  []byte
	// Late: the 200 crossed our CANCEL.
	Late bool
	// Source is where the seat's SIP comes from: its registration's source
	// address, which differs from the private address in its SDP when the
	// phone is behind NAT (its RTP comes from there too).
	Source netip.Addr
}

// SeatCall is the SIP side of a seat's leg.
type SeatCall interface {
	Ringing() <-chan struct{}
	// Wait returns the final answer; closing cancel sends CANCEL.
	Wait(cancel <-chan struct{}) (SeatAnswer, error)
	Events() <-chan Event
	SendDigit(ctx context.Context, d rune) error
	Hangup(ctx context.Context) error
	Close()
}
