package acd

import (
	"cmp"
	"time"

	"github.com/hotline12348/hotline/agent"
)

// Priorities of SPEC §6: the green channel (农民工欠薪绿色通道) goes first.
const (
	PriorityGreen  = "green"
	PriorityNormal = "normal"
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
// # Towards several nodes (SPEC §11, acd.backend: redis)
//
// A Redis store is not written yet. What it must guarantee, and how:
//
//   - One decision point across nodes. Each ACD operation (one section under
//     the ACD mutex: a change plus its dispatch pass) must also be one
//     critical section of the cluster. The Redis store takes a lease
//     (SET acd:lease <node> NX PX 2000) and a fencing token (INCR
//     acd:fence) when the operation starts and commits its writes with one
//     Lua script that first checks the token is still the newest, so a node
//     that stalled past its lease cannot write over a newer decision. The
//     interface will then gain a Begin/Commit pair around each operation
//     (the memory store's would be empty). The matching rules stay in this
//     package, in Go, once: the store only reads and writes state. At a
//     hotline's rate (tens of operations a second) a cluster-wide lease is
//     cheap; per-key Lua claims are the alternative if it ever is not.
//   - No seat offered twice. The offer is one write of both halves — seat
//     ready → ringing with CallID, entry waiting → offered to that seat — so
//     with the fence above no two nodes claim one seat or one call. Every
//     report (Answered, NoAnswer, Declined) is checked against the seat's
//     CallID and state, which is the fence for late reports about an offer
//     that was withdrawn or given to someone else.
//   - A call on one node answered by a seat registered on another. Seats are
//     hashes (acd:seat:<id>) holding agent.Seat plus the registering node and
//     the binding's expiry; the INVITE to a seat goes from the caller's node
//     to the seat's Contact. Entries are hashes (acd:call:<id>) with the
//     owning node (Entry will gain Node), placed in one sorted set per
//     QueueKey scored by EnqueuedAt (ties by Seq) — Waiting is a ZRANGE
//     page from the head, Position a ZCOUNT over the same-or-higher-priority
//     sets. An offer
//     for another node's call is published on acd:node:<owner>; that node's
//     ACD delivers it on the call's channel.
//   - A dead node leaves nothing stuck. Each node refreshes acd:alive:<node>
//     with a TTL; on every timer tick a node removes the entries of dead
//     nodes (their callers' dialogs died with them), frees the seats ringing
//     for or talking to those calls, and sets offline the seats whose binding
//     expired. Deadlines that outlive a call are state, not timers: the
//     wrap-up end is agent.Seat.WrapUpUntil, so any node ends it. MaxWait
//     and fallback depend only on EnqueuedAt and are timed by the call's
//     owner, which is alive as long as the call is.
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
