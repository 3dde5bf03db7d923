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
	"time"

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
	Answer(sdp []byte, onOffer func(offer []byte) ([]byte, error)) error
	Reject(code int, reason string) error
	Hangup(ctx context.Context) error
	Events() <-chan Event
	Logger() *slog.Logger
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
	// Done is closed when media ended by itself (RTP inactivity); Err says why.
	Done() <-chan struct{}
	Err() error
	Close() error
}

// MediaFactory negotiates an offer and sets up a leg.
type MediaFactory interface {
	// Answer allocates a leg for offer and returns it with the SDP answer.
	// An error wrapping ErrNoCommonCodec means 488.
	Answer(offer []byte, log *slog.Logger) (Media, []byte, error)
}

// ErrNoCommonCodec is returned by a MediaFactory when the offer has no codec we speak.
var ErrNoCommonCodec = errors.New("call: no common codec")

// Tickets is where the call's ticket lives.
type Tickets interface {
	Open(ctx context.Context, t *ticket.Ticket) error
	Update(ctx context.Context, id ticket.ID, fn func(t *ticket.Ticket) error) (*ticket.Ticket, error)
}

// Seats tells whether anyone can take a call now.
type Seats interface {
	// LoggedIn is the number of seats registered and not offline.
	LoggedIn() int
}

// NoSeats is the Seats of a hotline without an ACD: nobody is logged in.
type NoSeats struct{}

// LoggedIn implements Seats.
func (NoSeats) LoggedIn() int { return 0 }

// End reasons written to the ticket: why the call ended, for whoever reads
// the ticket later.
const (
	EndCallerHangup   = "caller_hangup"
	EndCallerCancel   = "caller_cancel"
	EndRTPTimeout     = "rtp_timeout"
	EndSessionExpired = "session_expired"
	EndNoAck          = "no_ack"
	EndCompleted      = "completed"
	EndShutdown       = "shutdown"
	EndUnknownNumber  = "unknown_number"
	EndNoCommonCodec  = "no_common_codec"
	EndMediaError     = "media_error"
)
