package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/vocab"
)

// Callback is one task of the callback worklist (SPEC §9a): a citizen who
// left a message, hung up waiting, or said "3 不满意" must be called back.
// A ticket has at most one task per reason; the tasks are part of the
// ticket (its "callbacks") and of every push of it.
type Callback struct {
	ID         int64      `json:"id"`
	TicketID   ID         `json:"ticket_id"`
	Reason     string     `json:"reason"`
	CreatedAt  time.Time  `json:"created_at"`
	DueAt      time.Time  `json:"due_at"`
	State      string     `json:"state"`
	AssignedTo Optional   `json:"assigned_to"`
	Attempts   int        `json:"attempts"`
	LastResult Optional   `json:"last_result"`
	ClosedAt   *time.Time `json:"closed_at"`
	// History: the calls back and the results recorded, oldest first.
	History []CallbackEntry `json:"history"`

	// In the worklist only (not in the ticket): the number to call and
	// the voicemail to hear first.
	Caller    string  `json:"caller,omitempty"`
	Recording *string `json:"recording,omitempty"`
}

// CallbackEntry is one line of a task's history.
type CallbackEntry struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// Kind: "call" (the switch dialled the citizen for the operator) or
	// "result" (the operator recorded the outcome).
	Kind string `json:"kind"`
	// Result: on a call, how it went (answered, no_answer, busy, failed,
	// operator_no_answer); on a result, the operator's result.
	Result      string     `json:"result"`
	RetryAt     *time.Time `json:"retry_at,omitempty"`
	TalkSeconds *float64   `json:"talk_seconds,omitempty"`
	Recording   string     `json:"recording,omitempty"`
}

// Kinds of CallbackEntry.
const (
	EntryCall   = "call"
	EntryResult = "result"
)

// CallbackPolicy says which tickets call for a callback and when it is due
// (callback.due, acd.short_abandon_seconds, callback.max_attempts).
type CallbackPolicy struct {
	Due          map[string]time.Duration // by reason
	ShortAbandon time.Duration
	MaxAttempts  int
}

// SetCallbackPolicy turns the callback worklist on. Without a policy no
// task is created (tests of other things).
func (s *Store) SetCallbackPolicy(p CallbackPolicy) {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	s.cbPolicy = &p
}

// Errors of the worklist.
var (
	ErrCallbackNotFound = errors.New("ticket: callback task not found")
	ErrCallbackTaken    = errors.New("ticket: callback task is assigned to someone else")
	ErrCallbackClosed   = errors.New("ticket: callback task is closed")
	ErrCallbackBadInput = errors.New("ticket: bad callback result")
)

// Dialable reports whether a caller number can be called back.
func Dialable(n string) bool {
	if n == "" || len(n) > 20 {
		return false
	}
	for i, r := range n {
		if (r < '0' || r > '9') && !(i == 0 && r == '+') {
			return false
		}
	}
	return true
}

// callbackReasons are the reasons t calls for a task under p.
func callbackReasons(t *Ticket, p *CallbackPolicy) []string {
	if !Dialable(t.Caller) || t.Status != vocab.StatusClosed {
		return nil
	}
	var out []string
	switch {
	case t.Callback: // a voicemail (left, or that could not be recorded)
		out = append(out, vocab.CallbackVoicemail)
	case string(t.Outcome) == vocab.OutcomeAbandoned && t.EndedAt != nil && t.EndedAt.Sub(t.OpenedAt) >= p.ShortAbandon:
		out = append(out, vocab.CallbackAbandoned)
	}
	if t.Satisfaction != nil && *t.Satisfaction == 3 {
		out = append(out, vocab.CallbackDissatisfied)
	}
	return out
}

// syncCallbacks, inside the transaction writing revision t, creates the
// tasks t calls for (once per ticket and reason, however often the
// revision is retried) and loads t's tasks into t.Callbacks for the push.
func (s *Store) syncCallbacks(ctx context.Context, tx *sql.Tx, t *Ticket) error {
	if p := s.cbPolicy; p != nil {
		now := s.now()
		for _, reason := range callbackReasons(t, p) {
			base := now
			if t.EndedAt != nil {
				base = *t.EndedAt
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO callbacks(ticket_id, reason, created_at, due_at) VALUES (?,?,?,?)
				ON CONFLICT(ticket_id, reason) DO NOTHING`, t.ID, reason, store.Millis(now), store.Millis(base.Add(p.Due[reason]))); err != nil {
				return fmt.Errorf("callback task: %w", err)
			}
		}
	}
	cbs, err := s.loadCallbacks(ctx, tx, "c.ticket_id = ?", []any{t.ID}, true)
	if err != nil {
		return err
	}
	t.Callbacks = forTicket(cbs)
	return nil
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const callbackColumns = `c.id, c.ticket_id, c.reason, c.created_at, c.due_at, c.state, c.assigned_to, c.attempts, c.last_result, c.closed_at, t.caller, t.recording, t.answered_at IS NOT NULL`

// loadCallbacks reads tasks matching where (over callbacks c joined with
// tickets t), oldest due first, with their history when asked.
func (s *Store) loadCallbacks(ctx context.Context, q rowsQuerier, where string, args []any, history bool) ([]Callback, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+callbackColumns+` FROM callbacks c JOIN tickets t ON t.id = c.ticket_id
		WHERE `+where+` ORDER BY c.due_at, c.id LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("callback tasks: %w", err)
	}
	var out []Callback
	for rows.Next() {
		var (
			c                      Callback
			created, due           int64
			closed                 sql.NullInt64
			assigned, last, caller string
			rec                    sql.NullString
			talked                 bool
		)
		if err := rows.Scan(&c.ID, &c.TicketID, &c.Reason, &created, &due, &c.State, &assigned, &c.Attempts, &last, &closed, &caller, &rec, &talked); err != nil {
			rows.Close()
			return nil, fmt.Errorf("callback tasks: %w", err)
		}
		c.CreatedAt, c.DueAt = store.FromMillis(created).In(s.loc), store.FromMillis(due).In(s.loc)
		c.AssignedTo, c.LastResult = Optional(assigned), Optional(last)
		if closed.Valid {
			v := store.FromMillis(closed.Int64).In(s.loc)
			c.ClosedAt = &v
		}
		c.Caller = caller
		switch {
		case c.Reason != vocab.CallbackVoicemail:
		case talked: // the message is beside the conversation's recording
			v := VoicemailURL(c.TicketID)
			c.Recording = &v
		case rec.Valid:
			v := rec.String
			c.Recording = &v
		}
		c.History = []CallbackEntry{}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !history || len(out) == 0 {
		return out, nil
	}
	byID := map[int64]*Callback{}
	ids := make([]any, 0, len(out))
	for i := range out {
		byID[out[i].ID] = &out[i]
		ids = append(ids, out[i].ID)
	}
	hr, err := q.QueryContext(ctx, `SELECT callback_id, at, user_name, kind, result, retry_at, talk_seconds, recording FROM callback_history
		WHERE callback_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY at, id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("callback history: %w", err)
	}
	defer hr.Close()
	for hr.Next() {
		var (
			id, at int64
			e      CallbackEntry
			retry  sql.NullInt64
			talk   sql.NullFloat64
		)
		if err := hr.Scan(&id, &at, &e.By, &e.Kind, &e.Result, &retry, &talk, &e.Recording); err != nil {
			return nil, fmt.Errorf("callback history: %w", err)
		}
		e.At = store.FromMillis(at).In(s.loc)
		if retry.Valid {
			v := store.FromMillis(retry.Int64).In(s.loc)
			e.RetryAt = &v
		}
		if talk.Valid {
			e.TalkSeconds = &talk.Float64
		}
		if c := byID[id]; c != nil {
			c.History = append(c.History, e)
		}
	}
	return out, hr.Err()
}

// forTicket strips what only the worklist shows.
func forTicket(cbs []Callback) []Callback {
	for i := range cbs {
		cbs[i].Caller, cbs[i].Recording = "", nil
	}
	return cbs
}

// attachCallbacks loads the tasks of the tickets read by Get and List.
func (s *Store) attachCallbacks(ctx context.Context, ts []*Ticket) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[string]*Ticket, len(ts))
	args := make([]any, 0, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
		args = append(args, t.ID)
	}
	cbs, err := s.loadCallbacks(ctx, s.db.R, "c.ticket_id IN (?"+strings.Repeat(",?", len(args)-1)+")", args, true)
	if err != nil {
		return err
	}
	for _, c := range forTicket(cbs) {
		if t := byID[c.TicketID]; t != nil {
			t.Callbacks = append(t.Callbacks, c)
		}
	}
	return nil
}

// CallbackFilter selects tasks for Callbacks.
type CallbackFilter struct {
	// State: "open" (open or assigned), "done" (done or unreachable), "" all.
	State  string
	Reason string
	// User, when set, limits the list to what an operator sees: open
	// unassigned tasks and the tasks assigned to (or last worked by) them.
	User string
}

// Callbacks lists tasks, oldest due first.
func (s *Store) Callbacks(ctx context.Context, f CallbackFilter) ([]Callback, error) {
	where := []string{"1"}
	var args []any
	switch f.State {
	case "":
	case "open":
		where = append(where, "c.state IN ('open','assigned')")
	case "done":
		where = append(where, "c.state IN ('done','unreachable')")
	default:
		return nil, fmt.Errorf("%w: state must be open or done", ErrCallbackBadInput)
	}
	if f.Reason != "" {
		if !vocab.CallbackReasons.Has(f.Reason) {
			return nil, fmt.Errorf("%w: reason must be voicemail, abandoned or dissatisfied", ErrCallbackBadInput)
		}
		where = append(where, "c.reason = ?")
		args = append(args, f.Reason)
	}
	if f.User != "" {
		where = append(where, "(c.state = 'open' OR c.assigned_to = ?)")
		args = append(args, f.User)
	}
	return s.loadCallbacks(ctx, s.db.R, strings.Join(where, " AND "), args, false)
}

// Callback returns one task with its history.
func (s *Store) Callback(ctx context.Context, id int64) (*Callback, error) {
	cbs, err := s.loadCallbacks(ctx, s.db.R, "c.id = ?", []any{id}, true)
	if err != nil {
		return nil, err
	}
	if len(cbs) == 0 {
		return nil, ErrCallbackNotFound
	}
	return &cbs[0], nil
}

// CallbackTickets returns the ids of the tickets with tasks an operator
// may work: open unassigned ones and those assigned to user.
func (s *Store) CallbackTickets(ctx context.Context, user string) ([]ID, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT DISTINCT ticket_id FROM callbacks WHERE state = 'open' OR assigned_to = ? LIMIT 1000`, user)
	if err != nil {
		return nil, fmt.Errorf("callback tickets: %w", err)
	}
	defer rows.Close()
	var out []ID
	for rows.Next() {
		var id ID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// changeCallback applies fn to task id in one transaction with a new
// revision of its ticket (the push carries the task's state).
func (s *Store) changeCallback(ctx context.Context, id int64, fn func(tx *sql.Tx, c *Callback) error) (*Callback, error) {
	var (
		out *Ticket
		cb  *Callback
	)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		cbs, err := s.loadCallbacks(ctx, tx, "c.id = ?", []any{id}, false)
		if err != nil {
			return err
		}
		if len(cbs) == 0 {
			return ErrCallbackNotFound
		}
		c := cbs[0]
		if err := fn(tx, &c); err != nil {
			return err
		}
		var closed any
		if c.ClosedAt != nil {
			closed = store.Millis(*c.ClosedAt)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET due_at=?, state=?, assigned_to=?, attempts=?, last_result=?, closed_at=? WHERE id=?`,
			store.Millis(c.DueAt), c.State, string(c.AssignedTo), c.Attempts, string(c.LastResult), closed, c.ID); err != nil {
			return err
		}
		t, err := getTicket(ctx, tx, c.TicketID, s.loc)
		if err != nil {
			return err
		}
		t.Revision++
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET revision = ? WHERE id = ?`, t.Revision, t.ID); err != nil {
			return err
		}
		if err := s.syncCallbacks(ctx, tx, t); err != nil {
			return err
		}
		t.Callbacks = forTicket(t.Callbacks)
		for i := range t.Callbacks {
			if t.Callbacks[i].ID == id {
				v := t.Callbacks[i]
				cb = &v
			}
		}
		out = t
		return s.enqueue(ctx, tx, t, EventUpdated)
	})
	if err != nil {
		return nil, fmt.Errorf("ticket: callback %d: %w", id, err)
	}
	s.notify(out, EventUpdated)
	return cb, nil
}

// ClaimCallback assigns an open task to user. A task already theirs is
// returned as it is; one assigned to another user is ErrCallbackTaken
// unless force (a manager hands it over).
func (s *Store) ClaimCallback(ctx context.Context, id int64, user string, force bool) (*Callback, error) {
	return s.changeCallback(ctx, id, func(_ *sql.Tx, c *Callback) error {
		switch {
		case c.State == vocab.CallbackDone || c.State == vocab.CallbackUnreachable:
			return ErrCallbackClosed
		case c.State == vocab.CallbackAssigned && string(c.AssignedTo) != user && !force:
			return fmt.Errorf("%w (%s)", ErrCallbackTaken, c.AssignedTo)
		}
		c.State, c.AssignedTo = vocab.CallbackAssigned, Optional(user)
		return nil
	})
}

// AssignOldest gives the open unassigned task due first to user, if any
// (automatic assignment); nil when there is none.
func (s *Store) AssignOldest(ctx context.Context, user string) (*Callback, error) {
	var id int64
	err := s.db.R.QueryRowContext(ctx, `SELECT id FROM callbacks WHERE state = 'open' ORDER BY due_at, id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.changeCallback(ctx, id, func(_ *sql.Tx, c *Callback) error {
		if c.State != vocab.CallbackOpen {
			return ErrCallbackTaken // taken meanwhile
		}
		c.State, c.AssignedTo = vocab.CallbackAssigned, Optional(user)
		return nil
	})
}

// HasAssigned reports whether user has a task assigned and not closed.
func (s *Store) HasAssigned(ctx context.Context, user string) (bool, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM callbacks WHERE state = 'assigned' AND assigned_to = ?`, user).Scan(&n)
	return n > 0, err
}

// RecordCallbackCall writes a call back into the task's history.
func (s *Store) RecordCallbackCall(ctx context.Context, id int64, e CallbackEntry) (*Callback, error) {
	e.Kind = EntryCall
	return s.changeCallback(ctx, id, func(tx *sql.Tx, c *Callback) error {
		return insertEntry(ctx, tx, c.ID, e, s.now())
	})
}

func insertEntry(ctx context.Context, tx *sql.Tx, id int64, e CallbackEntry, now time.Time) error {
	if e.At.IsZero() {
		e.At = now
	}
	var retry, talk any
	if e.RetryAt != nil {
		retry = store.Millis(*e.RetryAt)
	}
	if e.TalkSeconds != nil {
		talk = *e.TalkSeconds
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO callback_history(callback_id, at, user_name, kind, result, retry_at, talk_seconds, recording) VALUES (?,?,?,?,?,?,?,?)`,
		id, store.Millis(e.At), e.By, e.Kind, e.Result, retry, talk, e.Recording)
	return err
}

// CallbackResult records what a call back came to. The task must be
// assigned to user (any task for a manager). reached closes it done;
// wrong_number closes it unreachable; no_answer and retry put it back in
// the shared list (due at retry_at when given; retry needs one in the
// future) until callback.max_attempts results, when it closes unreachable.
func (s *Store) CallbackResult(ctx context.Context, id int64, user string, manager bool, result string, retryAt *time.Time) (*Callback, error) {
	now := s.now()
	switch result {
	case vocab.ResultReached, vocab.ResultWrongNumber, vocab.ResultNoAnswer:
	case vocab.ResultRetry:
		if retryAt == nil || !retryAt.After(now) {
			return nil, fmt.Errorf("%w: retry needs retry_at in the future", ErrCallbackBadInput)
		}
	default:
		return nil, fmt.Errorf("%w: result must be reached, no_answer, wrong_number or retry", ErrCallbackBadInput)
	}
	max := 1
	if s.cbPolicy != nil {
		max = s.cbPolicy.MaxAttempts
	}
	return s.changeCallback(ctx, id, func(tx *sql.Tx, c *Callback) error {
		switch {
		case c.State == vocab.CallbackDone || c.State == vocab.CallbackUnreachable:
			return ErrCallbackClosed
		case !manager && (c.State != vocab.CallbackAssigned || string(c.AssignedTo) != user):
			return fmt.Errorf("%w: claim the task first", ErrCallbackTaken)
		}
		c.Attempts++
		c.LastResult = Optional(result)
		closed := func(state string) {
			c.State = state
			t := now
			c.ClosedAt = &t
		}
		switch {
		case result == vocab.ResultReached:
			closed(vocab.CallbackDone)
		case result == vocab.ResultWrongNumber, c.Attempts >= max:
			closed(vocab.CallbackUnreachable)
		default:
			c.State, c.AssignedTo = vocab.CallbackOpen, ""
			if retryAt != nil {
				c.DueAt = *retryAt
			}
		}
		return insertEntry(ctx, tx, c.ID, CallbackEntry{At: now, By: user, Kind: EntryResult, Result: result, RetryAt: retryAt}, now)
	})
}

// CallbackCounts is the worklist on the wallboard.
type CallbackCounts struct {
	Open        int `json:"open"`              // open or assigned
	Overdue     int `json:"overdue"`           // of those, past due
	DoneToday   int `json:"done_today"`        // closed reached today
	Unreachable int `json:"unreachable_today"` // closed unreachable today
	// CompletionRate is today's closed tasks over today's closed plus the
	// open backlog: the share of the work in hand finished today (null
	// when there is none).
	CompletionRate *float64 `json:"completion_rate"`
}

// CountCallbacks counts the worklist at now; the day starts at dayStart.
func (s *Store) CountCallbacks(ctx context.Context, now, dayStart time.Time) (CallbackCounts, error) {
	var c CallbackCounts
	err := s.db.R.QueryRowContext(ctx, `SELECT
		coalesce(sum(state IN ('open','assigned')), 0),
		coalesce(sum(state IN ('open','assigned') AND due_at < ?), 0),
		coalesce(sum(state = 'done' AND closed_at >= ?), 0),
		coalesce(sum(state = 'unreachable' AND closed_at >= ?), 0)
		FROM callbacks WHERE state IN ('open','assigned') OR closed_at >= ?`,
		store.Millis(now), store.Millis(dayStart), store.Millis(dayStart), store.Millis(dayStart)).Scan(&c.Open, &c.Overdue, &c.DoneToday, &c.Unreachable)
	if err != nil {
		return c, fmt.Errorf("ticket: count callbacks: %w", err)
	}
	if n := c.DoneToday + c.Unreachable + c.Open; n > 0 {
		r := float64(c.DoneToday+c.Unreachable) / float64(n)
		c.CompletionRate = &r
	}
	return c, nil
}
