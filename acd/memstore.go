package acd

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hotline12348/hotline/agent"
)

// MemoryStore is the Store of a single node: maps and one sorted slice per
// FIFO. Picking is cheap however long the queue: the ACD reads only the heads
// of the FIFOs (at most 2 priorities × the categories), and the offers in
// progress stay in their slices, so sending a call back to the head is a
// field change. Adding at the tail and removing near the head (where answered
// and timed-out calls are) cost O(1) amortised; Position is a binary search
// per FIFO. It is not safe for concurrent use: the ACD's mutex guards it.
type MemoryStore struct {
	seats  map[agent.SeatID]agent.Seat
	ids    []agent.SeatID // sorted
	calls  map[string]*Entry
	queues map[QueueKey]*memQueue
	order  []*memQueue // green first, then by skill
	seq    uint64
}

// memQueue is one FIFO: every queued entry of a (priority, skill), waiting
// or offered, sorted by (EnqueuedAt, Seq).
type memQueue struct {
	key     QueueKey
	items   []*Entry
	offered []*Entry // the entries of items being offered: few (at most one per seat)
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		seats:  make(map[agent.SeatID]agent.Seat),
		calls:  make(map[string]*Entry),
		queues: make(map[QueueKey]*memQueue),
	}
}

// Seat implements Store.
func (m *MemoryStore) Seat(id agent.SeatID) (agent.Seat, error) {
	s, ok := m.seats[id]
	if !ok {
		return agent.Seat{}, fmt.Errorf("seat %s: %w", id, ErrUnknownSeat)
	}
	return s, nil
}

// Seats implements Store.
func (m *MemoryStore) Seats(buf []agent.Seat) ([]agent.Seat, error) {
	for _, id := range m.ids {
		buf = append(buf, m.seats[id])
	}
	return buf, nil
}

// PutSeat implements Store.
func (m *MemoryStore) PutSeat(s agent.Seat) error {
	if _, ok := m.seats[s.ID]; !ok {
		i, _ := slices.BinarySearch(m.ids, s.ID)
		m.ids = slices.Insert(m.ids, i, s.ID)
	}
	m.seats[s.ID] = s
	return nil
}

// Add implements Store.
func (m *MemoryStore) Add(c Call) (Entry, error) {
	if _, ok := m.calls[c.ID]; ok {
		return Entry{}, fmt.Errorf("call %s: %w", c.ID, ErrDuplicateCall)
	}
	m.seq++
	e := &Entry{Call: c, Seq: m.seq}
	q := m.queue(QueueKey{c.Priority, c.Skill})
	// Usually the newest: insert from the tail.
	i := len(q.items)
	for i > 0 && compareEntries(q.items[i-1], e) > 0 {
		i--
	}
	q.items = slices.Insert(q.items, i, e)
	m.calls[c.ID] = e
	return *e, nil
}

// queue returns the FIFO for k, creating it.
func (m *MemoryStore) queue(k QueueKey) *memQueue {
	if q, ok := m.queues[k]; ok {
		return q
	}
	q := &memQueue{key: k}
	m.queues[k] = q
	i, _ := slices.BinarySearchFunc(m.order, k, func(q *memQueue, k QueueKey) int { return compareKeys(q.key, k) })
	m.order = slices.Insert(m.order, i, q)
	return q
}

func compareKeys(a, b QueueKey) int {
	if ga, gb := a.Priority == PriorityGreen, b.Priority == PriorityGreen; ga != gb {
		if ga {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Skill, b.Skill))
}

// Entry implements Store.
func (m *MemoryStore) Entry(callID string) (Entry, error) {
	e, ok := m.calls[callID]
	if !ok {
		return Entry{}, fmt.Errorf("call %s: %w", callID, ErrUnknownCall)
	}
	return *e, nil
}

// PutEntry implements Store.
func (m *MemoryStore) PutEntry(n Entry) error {
	e, ok := m.calls[n.ID]
	if !ok {
		return fmt.Errorf("call %s: %w", n.ID, ErrUnknownCall)
	}
	if n.Seq != e.Seq || n.Priority != e.Priority || n.Skill != e.Skill || !n.EnqueuedAt.Equal(e.EnqueuedAt) {
		return fmt.Errorf("call %s: %w", n.ID, ErrPlaceChanged)
	}
	q := m.queues[QueueKey{e.Priority, e.Skill}]
	switch {
	case !e.Offered() && n.Offered():
		q.offered = append(q.offered, e)
	case e.Offered() && !n.Offered():
		q.offered = deleteEntry(q.offered, e)
	}
	e.Seat, e.Token = n.Seat, n.Token
	e.DeclinedAt = n.DeclinedAt
	if !slices.Equal(e.Declined, n.Declined) {
		e.Declined = slices.Clone(n.Declined)
	}
	return nil
}

func deleteEntry(s []*Entry, e *Entry) []*Entry {
	if i := slices.Index(s, e); i >= 0 {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// Remove implements Store.
func (m *MemoryStore) Remove(callID string) error {
	e, ok := m.calls[callID]
	if !ok {
		return fmt.Errorf("call %s: %w", callID, ErrUnknownCall)
	}
	q := m.queues[QueueKey{e.Priority, e.Skill}]
	i, found := slices.BinarySearchFunc(q.items, e, compareEntries)
	if !found || q.items[i] != e {
		return fmt.Errorf("call %s: memory store: queue out of order", callID) // unreachable: items is kept sorted
	}
	delete(m.calls, callID)
	if e.Offered() {
		q.offered = deleteEntry(q.offered, e)
	}
	if i < len(q.items)/2 {
		// Near the head (answered, timed out): shift the front instead of the tail.
		copy(q.items[1:i+1], q.items[:i])
		q.items[0] = nil
		q.items = q.items[1:]
	} else {
		q.items = slices.Delete(q.items, i, i+1)
	}
	return nil
}

// Queues implements Store.
func (m *MemoryStore) Queues(buf []QueueLen) ([]QueueLen, error) {
	for _, q := range m.order {
		if len(q.items) > 0 {
			buf = append(buf, QueueLen{q.key, len(q.items) - len(q.offered)})
		}
	}
	return buf, nil
}

// Waiting implements Store.
func (m *MemoryStore) Waiting(k QueueKey, skip, n int, buf []Entry) ([]Entry, error) {
	q, ok := m.queues[k]
	if !ok {
		return buf, nil
	}
	for _, e := range q.items {
		switch {
		case n == 0:
			return buf, nil
		case e.Offered():
		case skip > 0:
			skip--
		default:
			buf = append(buf, *e)
			n--
		}
	}
	return buf, nil
}

// Position implements Store.
func (m *MemoryStore) Position(callID string) (int, error) {
	e, ok := m.calls[callID]
	if !ok || e.Offered() {
		return 0, nil
	}
	pos := 1
	for _, q := range m.order {
		if len(q.items) == 0 {
			continue
		}
		// Every entry of q sorts before e, none does, or (same priority)
		// those up to e's key do.
		n, _ := slices.BinarySearchFunc(q.items, e, compareEntries)
		for _, o := range q.offered {
			if compareEntries(o, e) < 0 {
				n--
			}
		}
		pos += n
	}
	return pos, nil
}

// Entries implements Store.
func (m *MemoryStore) Entries() ([]Entry, error) {
	out := make([]Entry, 0, len(m.calls))
	for _, q := range m.order {
		for _, e := range q.items {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareEntries(&a, &b) })
	return out, nil
}
