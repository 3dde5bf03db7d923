package acd

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// The states of a queued call in QueueEntry.State.
const (
	EntryWaiting = "waiting" // waits for a seat
	EntryOffered = "offered" // a seat rings for it
)

// QueueEntry is one queued call as the console and the API show it.
type QueueEntry struct {
	CallID   string `json:"call_id"`
	Skill    string `json:"skill"`
	Priority string `json:"priority"`
	State    string `json:"state"` // EntryWaiting or EntryOffered
	// Position is the 1-based place among waiting calls in dispatch order;
	// 0 when offered (or, in a Change, once the call has left).
	Position   int           `json:"position"`
	Seat       agent.SeatID  `json:"seat,omitempty"` // the seat ringing for it
	Node       string        `json:"node,omitempty"` // the node carrying the call (cluster)
	EnqueuedAt time.Time     `json:"enqueued_at"`
	Wait       time.Duration `json:"-"` // since EnqueuedAt; in JSON as wait_seconds
}

// MarshalJSON writes Wait as wait_seconds.
func (q QueueEntry) MarshalJSON() ([]byte, error) {
	type plain QueueEntry
	return json.Marshal(struct {
		plain
		WaitSeconds float64 `json:"wait_seconds"`
	}{plain(q), q.Wait.Seconds()})
}

func view(e Entry, pos int, now time.Time) QueueEntry {
	q := QueueEntry{
		CallID: e.ID, Skill: e.Skill, Priority: e.Priority, State: EntryWaiting, Position: pos,
		Seat: e.Seat, EnqueuedAt: e.EnqueuedAt, Wait: now.Sub(e.EnqueuedAt),
	}
	if e.Offered() {
		q.State = EntryOffered
	}
	return q
}

// ChangeKind says what a Change is about.
type ChangeKind int

// The changes a subscriber sees.
const (
	SeatChanged   ChangeKind = iota + 1 // Seat is the seat's new state
	CallQueued                          // Call joined the queue
	CallOffered                         // Call is offered to Seat (now ringing)
	CallNoAnswer                        // Seat let Call ring out (RONA); Call waits again
	CallDeclined                        // Seat declined Call; Call waits again
	CallWithdrawn                       // Seat went offline while ringing for Call; Call waits again
	CallAnswered                        // Seat answered Call, which left the queue
	CallAbandoned                       // the caller hung up (Seat: the one that rang, if any)
	CallTimedOut                        // Call waited MaxWait and left for voicemail
	CallNoSeats                         // Call arrived with no seat logged in and went to voicemail
	CallDropped                         // Call's goroutine stopped reading its events: dropped
)

var changeNames = [...]string{
	SeatChanged: "seat_changed", CallQueued: "call_queued", CallOffered: "call_offered",
	CallNoAnswer: "call_no_answer", CallDeclined: "call_declined", CallWithdrawn: "call_withdrawn",
	CallAnswered: "call_answered", CallAbandoned: "call_abandoned", CallTimedOut: "call_timed_out",
	CallNoSeats: "call_no_seats", CallDropped: "call_dropped",
}

func (k ChangeKind) String() string {
	if k > 0 && int(k) < len(changeNames) {
		return changeNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one step of the ACD, for metrics and the live console. Changes
// arrive in the order they happened.
type Change struct {
	Kind ChangeKind
	At   time.Time
	// Seat is the seat's new state for SeatChanged, and the seat involved
	// in a call change (zero if none).
	Seat agent.Seat
	// Call is the call of a call change, as it stands after it.
	Call QueueEntry
	// Missed counts the changes this subscriber lost just before this one
	// because its buffer was full: re-read Seats and Queue when it is not 0.
	Missed int
}

// Subscribe returns every change from now on, and a function that ends the
// subscription and closes the channel. Delivery never blocks the ACD: a
// subscriber that falls behind by more than its buffer (256) loses changes
// and is told so by Change.Missed. The channel is also closed by Close.
func (a *ACD) Subscribe() (<-chan Change, func()) { return a.subs.Subscribe() }

func (a *ACD) publish(c Change) { a.subs.Publish(c) }

// Seats returns every seat, ordered by ID.
func (a *ACD) Seats() []agent.Seat {
	a.mu.Lock()
	defer a.mu.Unlock()
	seats, err := a.store.Seats(nil)
	if err != nil {
		a.log.Error("acd: seats", "err", err)
		return nil
	}
	for i := range seats {
		seats[i].Skills = slices.Clone(seats[i].Skills)
	}
	return seats
}

// Seat returns one seat, or ErrUnknownSeat.
func (a *ACD) Seat(id agent.SeatID) (agent.Seat, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.store.Seat(id)
	if err != nil {
		return agent.Seat{}, fmt.Errorf("acd: seat %s: %w", id, err)
	}
	s.Skills = slices.Clone(s.Skills)
	return s, nil
}

// LoggedIn counts the seats whose phone is registered (any state but offline).
func (a *ACD) LoggedIn() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.loggedIn()
	if err != nil {
		a.log.Error("acd: logged in", "err", err)
	}
	return n
}

// Position is a waiting call's 1-based place among all waiting calls in
// dispatch order (priority, then first come): 1 is next. 0 when the call is
// offered to a seat or not queued. "Callers ahead of you" is Position-1.
func (a *ACD) Position(callID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	pos, err := a.store.Position(callID)
	if err != nil {
		a.log.Error("acd: position", "err", err)
	}
	return pos
}

// Queue returns every queued call, waiting and offered, in dispatch order.
func (a *ACD) Queue() []QueueEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	entries, err := a.store.Entries()
	if err != nil {
		a.log.Error("acd: queue", "err", err)
		return nil
	}
	now := a.now()
	out := make([]QueueEntry, len(entries))
	pos := 0
	for i, e := range entries {
		p := 0
		if !e.Offered() {
			pos++
			p = pos
		}
		out[i] = view(e, p, now)
	}
	return out
}

// Counts is a snapshot for the gauges hotline_queue_waiting{queue} and
// hotline_seats{state} (SPEC §10).
type Counts struct {
	Waiting map[string]int      // waiting calls by skill (both priorities)
	Offered int                 // calls a seat rings for
	Seats   map[agent.State]int // seats by state; every state present
}

// Counts returns the current counts.
func (a *ACD) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := Counts{Waiting: make(map[string]int), Seats: make(map[agent.State]int)}
	for _, st := range agent.States() {
		c.Seats[st] = 0
	}
	seats, err := a.seats()
	if err != nil {
		a.log.Error("acd: counts", "err", err)
	}
	for i := range seats {
		c.Seats[seats[i].State]++
		if seats[i].State == agent.Ringing {
			c.Offered++
		}
	}
	queues, err := a.queues()
	if err != nil {
		a.log.Error("acd: counts", "err", err)
	}
	for _, q := range queues {
		c.Waiting[q.Key.Skill] += q.Waiting
	}
	return c
}
