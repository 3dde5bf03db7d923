package ticket

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/store"

	"github.com/hotline12348/hotline/internal/vocab"
)

// ErrNotFound is returned for an unknown ticket id.
var ErrNotFound = errors.New("ticket: not found")

// Store keeps tickets and their outbox in SQLite.
type Store struct {
	db     *store.DB
	nodeID string
	loc    *time.Location
	now    func() time.Time

	subMu sync.Mutex
	subs  []func(t *Ticket, event string)

	// seqMu guards the daily id counter (nextID).
	seqMu  sync.Mutex
	seqDay string
	seqN   int64

	// cbPolicy: the callback worklist (callback.go); nil: no tasks.
	cbPolicy *CallbackPolicy
}

// OnRevision registers fn to be called after every committed revision (to
// wake the delivery worker, feed the console's live events). fn gets its
// own copy of the ticket and must not block.
func (s *Store) OnRevision(fn func(t *Ticket, event string)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.subs = append(s.subs, fn)
}

// NewStore returns a ticket store on db for this node. Times are shown in loc.
func NewStore(db *store.DB, nodeID string, loc *time.Location, now func() time.Time) *Store {
	if loc == nil {
		loc = time.Local
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, nodeID: nodeID, loc: loc, now: now}
}

// Location is the time zone tickets are shown and counted in.
func (s *Store) Location() *time.Location { return s.loc }

// Open creates the ticket with revision 1 and writes its "opened" push to the
// outbox in the same transaction. It fills t.ID, t.Revision, t.Status,
// t.NodeID and defaults (channel "hotline", priority "normal", opened_at now).
func (s *Store) Open(ctx context.Context, t *Ticket) error {
	if err := s.Prepare(ctx, t); err != nil {
		return err
	}
	return s.Insert(ctx, t)
}

// Prepare fills what Open fills — the id, drawn from this node's daily
// counter kept in memory, revision 1 and the defaults — without writing
// anything, so that a call has its ticket id even while the database
// cannot take the row (Backlog). Insert writes it later.
func (s *Store) Prepare(ctx context.Context, t *Ticket) error {
	if t.OpenedAt.IsZero() {
		t.OpenedAt = s.now()
	}
	t.OpenedAt = t.OpenedAt.Truncate(time.Millisecond).In(s.loc)
	if t.Channel == "" {
		t.Channel = "hotline"
	}
	if t.Priority == "" {
		t.Priority = vocab.PriorityNormal
	}
	if t.Status == "" {
		t.Status = vocab.StatusOpen
	}
	t.NodeID = s.nodeID
	t.Revision = 1
	t.Workorder = Workorder{State: vocab.DeliveryPending}
	id, err := s.nextID(ctx, t.OpenedAt)
	if err != nil {
		return fmt.Errorf("ticket: open: %w", err)
	}
	t.ID = id
	return nil
}

// Insert writes a ticket made by Prepare, with its "opened" push, in one
// transaction. Inserting the same ticket again is a no-op (a retry after
// a commit whose success was not reported): revision 1 is pushed once.
func (s *Store) Insert(ctx context.Context, t *Ticket) error {
	event := EventOpened
	inserted := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var callID string
		err := tx.QueryRowContext(ctx, `SELECT call_id FROM tickets WHERE id = ?`, t.ID).Scan(&callID)
		switch {
		case err == nil && callID == t.CallID:
			return nil // already there
		case err == nil:
			return fmt.Errorf("id %s already taken by another call", t.ID)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ticket_seq(day, n) VALUES (?, ?)
			ON CONFLICT(day) DO UPDATE SET n = max(n, excluded.n)`, idDay(t.ID), idSeq(t.ID)); err != nil {
			return fmt.Errorf("next id: %w", err)
		}
		if err := insertTicket(ctx, tx, t); err != nil {
			return err
		}
		inserted = true
		if err := s.syncCallbacks(ctx, tx, t); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, t, event)
	})
	if err != nil {
		return fmt.Errorf("ticket: open: %w", err)
	}
	if inserted {
		s.notify(t, event)
	}
	return nil
}

// nextID draws the next per-node daily number: 20261126-083015-km-1-0042.
// The counter lives in memory, read once a day from ticket_seq (WAL: a
// read is never blocked by a writer); Insert moves ticket_seq up to each
// number it writes, so a restart continues after the last one stored.
func (s *Store) nextID(ctx context.Context, at time.Time) (string, error) {
	local := at.In(s.loc)
	day := local.Format("20060102")
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	if s.seqDay != day {
		var n int64
		err := s.db.R.QueryRowContext(ctx, `SELECT n FROM ticket_seq WHERE day = ?`, day).Scan(&n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("next id: %w", err)
		}
		s.seqDay, s.seqN = day, n
	}
	s.seqN++
	return fmt.Sprintf("%s-%s-%s-%04d", day, local.Format("150405"), s.nodeID, s.seqN), nil
}

// idDay and idSeq take the day and the daily number out of an id.
func idDay(id ID) string { return id[:min(8, len(id))] }

func idSeq(id ID) int64 {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.ParseInt(id[i+1:], 10, 64)
	return n
}

// Update applies fn to the ticket and, if fn changed anything, stores it as
// the next revision with its push in the outbox, atomically. The event is
// "closed" when this revision closes the ticket, else "updated". fn must not
// change id, revision or workorder; an error from fn aborts the update.
func (s *Store) Update(ctx context.Context, id ID, fn func(t *Ticket) error) (*Ticket, error) {
	var (
		out   *Ticket
		event string
	)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := getTicket(ctx, tx, id, s.loc)
		if err != nil {
			return err
		}
		next := cur.clone()
		if err := fn(next); err != nil {
			return err
		}
		next.ID, next.Revision, next.Workorder, next.NodeID = cur.ID, cur.Revision, cur.Workorder, cur.NodeID
		next.Feedback, next.Callbacks = cur.Feedback, cur.Callbacks
		normalize(next, s.loc)
		if reflect.DeepEqual(cur, next) {
			out = cur
			return nil
		}
		next.Revision = cur.Revision + 1
		event = EventUpdated
		if next.Status == vocab.StatusClosed && cur.Status != vocab.StatusClosed {
			event = EventClosed
		}
		if err := updateTicket(ctx, tx, next); err != nil {
			return err
		}
		if err := s.syncCallbacks(ctx, tx, next); err != nil {
			return err
		}
		next.Callbacks = forTicket(next.Callbacks)
		out = next
		return s.enqueue(ctx, tx, next, event)
	})
	if err != nil {
		return nil, fmt.Errorf("ticket: update %s: %w", id, err)
	}
	if event != "" {
		s.notify(out, event)
	}
	return out, nil
}

func (s *Store) notify(t *Ticket, event string) {
	s.subMu.Lock()
	subs := s.subs
	s.subMu.Unlock()
	for _, fn := range subs {
		fn(t.clone(), event)
	}
}

// enqueue writes the push of this revision to the outbox.
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, t *Ticket, event string) error {
	body, err := json.Marshal(Push{Event: event, Revision: t.Revision, Ticket: t})
	if err != nil {
		return fmt.Errorf("encode push: %w", err)
	}
	now := store.Millis(s.now())
	_, err = tx.ExecContext(ctx,
		`INSERT INTO outbox(ticket_id, revision, event, body, created_at, next_attempt_at) VALUES (?,?,?,?,?,?)`,
		t.ID, t.Revision, event, body, now, now)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE tickets SET wo_state = 'pending' WHERE id = ? AND wo_state <> 'pending'`, t.ID)
	return err
}

// Get returns one ticket.
func (s *Store) Get(ctx context.Context, id ID) (*Ticket, error) {
	t, err := getTicket(ctx, s.db.R, id, s.loc)
	if err != nil {
		return nil, fmt.Errorf("ticket: get %s: %w", id, err)
	}
	if err := s.attachCallbacks(ctx, []*Ticket{t}); err != nil {
		return nil, err
	}
	return t, s.attachFeedback(ctx, []*Ticket{t})
}

// Filter selects tickets for List. Zero fields do not filter.
type Filter struct {
	Caller string
	Status string
	From   time.Time // opened_at >= From
	To     time.Time // opened_at < To
	Limit  int       // default 100, at most 1000
	// Scope, when set, limits the list to what one operator may see.
	Scope *Scope
}

// Scope is what an operator may see of the tickets (web's role scoping):
// the tickets their seat answered, the tickets named one by one (the call
// on their seat now, the callbacks they wrote up), the current caller's
// tickets, and the callbacks nobody has written up yet. A zero Scope
// matches nothing.
type Scope struct {
	SeatID           string
	IDs              []string
	Caller           string
	PendingCallbacks bool
}

// PendingCallback reports whether t is callback work nobody has written up
// yet: marked for callback, answered by no seat, closed, no disposition.
func PendingCallback(t *Ticket) bool {
	return t.Callback && t.SeatID == "" && t.Status == vocab.StatusClosed && t.Disposition == ""
}

// sql returns the scope's condition and its arguments.
func (sc *Scope) sql() (string, []any) {
	var (
		or   []string
		args []any
	)
	if sc.SeatID != "" {
		or = append(or, "seat_id = ?")
		args = append(args, sc.SeatID)
	}
	if len(sc.IDs) > 0 {
		or = append(or, "id IN (?"+strings.Repeat(",?", len(sc.IDs)-1)+")")
		for _, id := range sc.IDs {
			args = append(args, id)
		}
	}
	if sc.Caller != "" {
		or = append(or, "caller = ?")
		args = append(args, sc.Caller)
	}
	if sc.PendingCallbacks {
		// PendingCallback, in SQL.
		or = append(or, "(callback = 1 AND seat_id = '' AND status = ? AND disposition = '')")
		args = append(args, vocab.StatusClosed)
	}
	if len(or) == 0 {
		return "0", nil
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// List returns tickets matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Ticket, error) {
	var (
		where []string
		args  []any
	)
	if f.Caller != "" {
		where = append(where, "caller = ?")
		args = append(args, f.Caller)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if !f.From.IsZero() {
		where = append(where, "opened_at >= ?")
		args = append(args, store.Millis(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "opened_at < ?")
		args = append(args, store.Millis(f.To))
	}
	if f.Scope != nil {
		w, a := f.Scope.sql()
		where = append(where, w)
		args = append(args, a...)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := "SELECT " + ticketColumns + " FROM tickets"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	out, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ticket: list: %w", err)
	}
	if err := s.attachCallbacks(ctx, out); err != nil {
		return nil, fmt.Errorf("ticket: list: %w", err)
	}
	return out, s.attachFeedback(ctx, out)
}

// query runs a SELECT of ticketColumns and scans every row.
func (s *Store) query(ctx context.Context, q string, args ...any) ([]*Ticket, error) {
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Ticket
	for rows.Next() {
		t, err := scanTicket(rows, s.loc)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// OpenTickets returns the tickets still open that this node created: at start,
// those are calls the previous process did not finish.
func (s *Store) OpenTickets(ctx context.Context) ([]*Ticket, error) {
	out, err := s.query(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE status = 'open' AND node_id = ? ORDER BY opened_at", s.nodeID)
	if err != nil {
		return nil, fmt.Errorf("ticket: open tickets: %w", err)
	}
	return out, nil
}

func (t *Ticket) clone() *Ticket {
	c := *t
	cp := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	c.QueuedAt, c.AnsweredAt, c.EndedAt, c.RecordingDeletedAt = cp(t.QueuedAt), cp(t.AnsweredAt), cp(t.EndedAt), cp(t.RecordingDeletedAt)
	c.History = slices.Clone(t.History)
	if t.WaitSeconds != nil {
		v := *t.WaitSeconds
		c.WaitSeconds = &v
	}
	if t.TalkSeconds != nil {
		v := *t.TalkSeconds
		c.TalkSeconds = &v
	}
	if t.Satisfaction != nil {
		v := *t.Satisfaction
		c.Satisfaction = &v
	}
	if t.Recording != nil {
		v := *t.Recording
		c.Recording = &v
	}
	return &c
}

// normalize brings times to the stored precision and zone so that an
// unchanged ticket compares equal to what was read back.
func normalize(t *Ticket, loc *time.Location) {
	t.OpenedAt = t.OpenedAt.Truncate(time.Millisecond).In(loc)
	for _, p := range []**time.Time{&t.QueuedAt, &t.AnsweredAt, &t.EndedAt, &t.RecordingDeletedAt} {
		if *p != nil {
			v := store.FromMillis(store.Millis(**p)).In(loc)
			*p = &v
		}
	}
	for i := range t.History {
		t.History[i].At = store.FromMillis(store.Millis(t.History[i].At)).In(loc)
	}
	for _, p := range []**float64{&t.WaitSeconds, &t.TalkSeconds} {
		if *p != nil {
			v := float64(int64(**p*1000+0.5)) / 1000
			*p = &v
		}
	}
}

// RecordingsBefore returns up to limit tickets opened before cutoff that
// still have a recording (the retention sweep's work list), oldest first.
func (s *Store) RecordingsBefore(ctx context.Context, cutoff time.Time, limit int) ([]*Ticket, error) {
	out, err := s.query(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE recording IS NOT NULL AND opened_at < ? ORDER BY opened_at LIMIT ?",
		store.Millis(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("ticket: recordings before %s: %w", cutoff.Format(time.DateOnly), err)
	}
	return out, nil
}
