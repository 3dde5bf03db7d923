// Package ticket keeps the consultation ticket of every call (SPEC §7) in
// SQLite, with a transactional outbox: every revision of a ticket is written
// to the outbox in the same transaction that changes the ticket, so the
// push to the work-order system can never miss one.
//
// It imports internal/store for the database and nothing else of this module.
package ticket

import (
	"encoding/json"
	"strings"
	"time"
)

// ID is a ticket identifier: <yyyymmdd>-<hhmmss>-<node>-<nnnn>, human
// readable, unique across nodes (the node id is in it) and sortable by time.
type ID = string

// The words a ticket carries (status, outcome, abandon stage, priority,
// delivery state) are internal/vocab's.

// Events of the work-order push (SPEC §7).
const (
	EventOpened  = "opened"
	EventUpdated = "updated"
	EventClosed  = "closed"
)

// RecordingRoute is the HTTP API route of a ticket's recording (served by
// internal/web); a ticket's recording field is RecordingURL of its id.
const RecordingRoute = "/api/tickets/{id}/recording"

// RecordingURL is the API path of ticket id's recording.
func RecordingURL(id ID) string { return strings.Replace(RecordingRoute, "{id}", id, 1) }

// VoicemailRoute serves the message a caller left: the ticket's recording
// when the call never reached an operator, or the file beside it when a
// transfer sent the call back to a queue and nobody answered
// (<id>-voicemail.wav; the recording stays the conversation).
const VoicemailRoute = "/api/tickets/{id}/voicemail"

// VoicemailURL is the API path of ticket id's voicemail.
func VoicemailURL(id ID) string { return strings.Replace(VoicemailRoute, "{id}", id, 1) }

// Ticket is one consultation ticket. JSON names are SPEC §7's.
type Ticket struct {
	ID           ID         `json:"id"`
	CallID       string     `json:"call_id"`
	Caller       string     `json:"caller"`
	Called       string     `json:"called"`
	Channel      string     `json:"channel"`
	Category     string     `json:"category"`
	Priority     string     `json:"priority"`
	IVRPath      string     `json:"ivr_path"`
	Status       string     `json:"status"`
	Outcome      Optional   `json:"outcome"`
	AbandonStage Optional   `json:"abandon_stage"`
	EndReason    Optional   `json:"end_reason"`
	SeatID       Optional   `json:"seat_id"`
	NodeID       string     `json:"node_id"`
	OpenedAt     time.Time  `json:"opened_at"`
	QueuedAt     *time.Time `json:"queued_at"`
	AnsweredAt   *time.Time `json:"answered_at"`
	EndedAt      *time.Time `json:"ended_at"`
	WaitSeconds  *float64   `json:"wait_seconds"`
	TalkSeconds  *float64   `json:"talk_seconds"`
	Summary      string     `json:"summary"`
	Disposition  string     `json:"disposition"`
	LegalDomain  string     `json:"legal_domain"`
	// Callback marks a ticket whose caller must be called back (voicemail).
	Callback     bool    `json:"callback"`
	Satisfaction *int    `json:"satisfaction"`
	Recording    *string `json:"recording"`
	// RecordingFailed: the caller wanted to leave a message that could not
	// be recorded (recordings directory not writable); the callback stands.
	RecordingFailed    bool       `json:"recording_failed"`
	RecordingDeletedAt *time.Time `json:"recording_deleted_at,omitempty"`
	// Transfers are the legs the call was handed to, in order (issue 11).
	Transfers []Transfer `json:"transfers,omitempty"`
	Workorder Workorder  `json:"workorder"`
	Revision  int        `json:"revision"`
	// History is what was done to the live call from the console (hold,
	// resume, mute, unmute, dtmf, hangup), oldest first. It is part of the
	// ticket's revisions and of the push; absent while empty.
	History []HistoryEntry `json:"history,omitempty"`
	// Feedback is what the work-order system reported back, oldest first.
	// It is not part of the ticket's revisions (never pushed back).
	Feedback []Feedback `json:"feedback,omitempty"`
	// Callbacks are the ticket's callback tasks (callback.go), in every
	// revision pushed since the worklist exists.
	Callbacks []Callback `json:"callbacks,omitempty"`
}

// HistoryEntry is one action on the call: when, what (an action name, e.g.
// "hold"), by whom (the console user's name) and, for some, a detail (the
// keys of a "dtmf").
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	By     string    `json:"by"`
	Detail string    `json:"detail,omitempty"`
}

// Workorder is the delivery state of the ticket's push. It is bookkeeping of
// the push itself, so changing it never makes a new revision.
type Workorder struct {
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	LastError  string `json:"last_error"`
	ExternalID string `json:"external_id"`
}

// Optional is a string that is JSON null while empty.
type Optional string

// MarshalJSON writes null for the empty string.
func (o Optional) MarshalJSON() ([]byte, error) {
	if o == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(o))
}

// UnmarshalJSON reads null as the empty string.
func (o *Optional) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*o = Optional(s)
	return nil
}

// Push is the body of one work-order push (SPEC §7).
type Push struct {
	Event    string  `json:"event"`
	Revision int     `json:"revision"`
	Ticket   *Ticket `json:"ticket"`
}

// TimePtr returns a pointer to t truncated to milliseconds (the stored precision).
func TimePtr(t time.Time) *time.Time {
	t = t.Truncate(time.Millisecond)
	return &t
}

// Seconds returns d in seconds, to the millisecond, as a pointer.
func Seconds(d time.Duration) *float64 {
	s := float64(d.Milliseconds()) / 1000
	return &s
}

// Transfer is one leg a call was handed to (SPEC §9a): who asked, the
// configured target, when, and how it ended.
type Transfer struct {
	Target     string     `json:"target"` // transfer.targets[].name
	Kind       string     `json:"kind"`   // number | queue | seat
	Mode       string     `json:"mode"`   // blind | consult
	By         string     `json:"by"`     // the seat (or manager) who asked
	Via        string     `json:"via"`    // console | refer
	StartedAt  time.Time  `json:"started_at"`
	AnsweredAt *time.Time `json:"answered_at"`
	EndedAt    *time.Time `json:"ended_at"`
	// Outcome: ringing, consulting, connected (the citizen talks to the
	// target), requeued (a queue target, or back to the queue when the
	// target did not answer), cancelled, no_answer, failed, ended.
	Outcome string `json:"outcome"`
}
