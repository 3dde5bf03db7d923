package acd

import (
	"cmp"
	"time"

	"github.com/hotline12348/hotline/agent"

	"github.com/hotline12348/hotline/internal/vocab"
)

// Priorities of SPEC §6: the green channel (农民工欠薪绿色通道) goes first.
const (
	PriorityGreen  = vocab.PriorityGreen
	PriorityNormal = vocab.PriorityNormal
)

// QueueKey names one FIFO: a priority and a skill (the call's category).
type QueueKey struct {
	Priority string
	Skill    string
}

// QueueLen is one FIFO and how many calls wait in it (offered ones not counted).
type QueueLen struct {
	Key     QueueKey
	Waiting int
}

// Entry is a call as the Store keeps it: the call, its fixed place in the
// queue, and the offer in progress.
type Entry struct {
	Call
	// Seq is the arrival order, given by the Store (unique; in a shared store
	// an INCR). It breaks ties between equal EnqueuedAt.
	Seq uint64
	// Seat is the seat the call is offered to; empty while it waits. An
	// offered entry keeps its place: if the offer fails it waits again where
	// it was, ahead of everyone who came after it.
	Seat agent.SeatID
	// Token is the fencing token of the offer to Seat; 0 while it waits.
	Token uint64
	// Declined lists the seats that refused this call (486/603); read-only.
	Declined []agent.SeatID
	// DeclinedAt is when the last of them refused it (Config.DeclinePause).
	DeclinedAt time.Time
}

// Offered reports whether the call is being offered to a seat.
func (e *Entry) Offered() bool { return e.Seat != "" }

// compareEntries is dispatch order: green before normal, then first come
// (EnqueuedAt, then Seq) first served. Skills do not order calls.
func compareEntries(a, b *Entry) int {
	if ga, gb := a.Priority == PriorityGreen, b.Priority == PriorityGreen; ga != gb {
		if ga {
			return -1
		}
		return 1
	}
	if c := a.EnqueuedAt.Compare(b.EnqueuedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// Store holds the state the ACD decides from: the seats and the queued calls.
// The ACD calls it only while holding its own mutex, one operation at a time,
// and never keeps what it returns beyond the operation; a Store need not be
// safe for concurrent use by itself. Channels, timers and subscribers are not
// in the Store: they belong to the node that runs the call. MemoryStore is the
// implementation for one node.
//
// Several nodes (SPEC §11) do not share a Store: a store that only reads and
// writes cannot make a decision atomic across nodes without a cluster-wide
// lock. internal/cluster implements Floor instead, with every step — change
// and dispatch together — one Lua script run on the Redis server, by the
// rules of this package (its differential test holds the two to the same
// answers).
type Store interface {
	// Seat returns one seat, or ErrUnknownSeat.
	Seat(id agent.SeatID) (agent.Seat, error)
	// Seats appends every seat to buf, ordered by ID. Skills slices are
	// shared: read-only.
	Seats(buf []agent.Seat) ([]agent.Seat, error)
	// PutSeat adds or replaces a seat.
	PutSeat(s agent.Seat) error

	// Add queues a new call as a waiting entry, giving it its Seq, or
	// returns ErrDuplicateCall.
	Add(c Call) (Entry, error)
	// Entry returns a queued call (waiting or offered), or ErrUnknownCall.
	Entry(callID string) (Entry, error)
	// PutEntry replaces the offer state (Seat, Declined) of a queued call.
	// Its place cannot change: ErrPlaceChanged.
	PutEntry(e Entry) error
	// Remove takes a call out of the queue, or returns ErrUnknownCall.
	Remove(callID string) error

	// Queues appends the FIFOs holding calls to buf, green ones first.
	Queues(buf []QueueLen) ([]QueueLen, error)
	// Waiting appends to buf at most n waiting (not offered) entries of one
	// FIFO, in dispatch order, starting with the skip+1st from its head: the
	// ACD pages through a FIFO from the head and usually stops in the first
	// page. Declined slices are shared: read-only.
	Waiting(q QueueKey, skip, n int, buf []Entry) ([]Entry, error)
	// Position is the 1-based place of a waiting call among all waiting
	// calls in dispatch order (priority, then EnqueuedAt, then Seq); 0 when
	// it is offered or not queued.
	Position(callID string) (int, error)
	// Entries returns every queued call, waiting and offered, in dispatch order.
	Entries() ([]Entry, error)
}
