package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hotline12348/hotline/internal/store"

	"github.com/hotline12348/hotline/internal/vocab"
)

// OutboxRow is one revision waiting to be pushed (or pushed).
type OutboxRow struct {
	TicketID  ID
	Revision  int
	Event     string
	Body      []byte
	CreatedAt time.Time
	State     string // pending | delivered | dead
	Attempts  int
	LastError string
}

// Due returns up to limit rows that may be pushed now: each the lowest
// pending revision of its ticket — revision n+1 never goes before n is
// delivered or dead (SPEC §7 order per ticket) — whose next attempt is due
// (ignoreBackoff: due anyway, for the flush at shutdown), oldest first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int, ignoreBackoff bool) ([]OutboxRow, error) {
	due := store.Millis(now)
	if ignoreBackoff {
		due = 1<<62 - 1
	}
	rows, err := s.db.R.QueryContext(ctx, `
		SELECT o.ticket_id, o.revision, o.event, o.body, o.created_at, o.state, o.attempts, o.last_error
		FROM outbox o
		WHERE o.state = 'pending' AND o.next_attempt_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM outbox p
		                  WHERE p.ticket_id = o.ticket_id AND p.state = 'pending' AND p.revision < o.revision)
		ORDER BY o.created_at, o.ticket_id, o.revision
		LIMIT ?`, due, limit)
	if err != nil {
		return nil, fmt.Errorf("ticket: outbox due: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		var created int64
		if err := rows.Scan(&r.TicketID, &r.Revision, &r.Event, &r.Body, &created, &r.State, &r.Attempts, &r.LastError); err != nil {
			return nil, fmt.Errorf("ticket: outbox due: %w", err)
		}
		r.CreatedAt = store.FromMillis(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// StillDue reports whether revision is still the ticket's lowest pending
// one: a list of due rows read before another worker finished the same
// row must not send it a second time (or after a later revision).
//
// It also returns that row's attempts and next attempt time as they are
// now: the row a worker read may predate an attempt that ended since (the
// worker then counts from, and waits for the backoff of, the fresh one).
func (s *Store) StillDue(ctx context.Context, id ID, revision int) (due bool, attempts int, next time.Time, err error) {
	var rev, ms int64
	err = s.db.R.QueryRowContext(ctx, `SELECT revision, attempts, next_attempt_at FROM outbox
		WHERE ticket_id=? AND state='pending' ORDER BY revision LIMIT 1`, id).Scan(&rev, &attempts, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, time.Time{}, nil
	}
	if err != nil {
		return false, 0, time.Time{}, fmt.Errorf("ticket: outbox: %w", err)
	}
	return int(rev) == revision, attempts, store.FromMillis(ms), nil
}

// NextDue is when the earliest pending row becomes due (zero: none pending).
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var ms sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'`).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, err
	}
	return store.FromMillis(ms.Int64), nil
}

// Delivery is the result of one push attempt.
type Delivery struct {
	Delivered bool
	Dead      bool      // no more attempts: other 4xx, or max_attempts spent
	Error     string    // why it failed (no URL, no secret)
	NextAt    time.Time // when to try again (retry)
}

// RecordAttempt stores the result of a push attempt on the row and the
// ticket's workorder summary, in one transaction. It never makes a revision.
func (s *Store) RecordAttempt(ctx context.Context, id ID, revision int, d Delivery) error {
	now := store.Millis(s.now())
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var q string
		var args []any
		switch {
		case d.Delivered:
			q, args = `UPDATE outbox SET state='delivered', attempts=attempts+1, delivered_at=?, last_error='' WHERE ticket_id=? AND revision=? AND state='pending'`,
				[]any{now, id, revision}
		case d.Dead:
			q, args = `UPDATE outbox SET state='dead', attempts=attempts+1, last_error=? WHERE ticket_id=? AND revision=? AND state='pending'`,
				[]any{d.Error, id, revision}
		default:
			q, args = `UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=? WHERE ticket_id=? AND revision=? AND state='pending'`,
				[]any{d.Error, store.Millis(d.NextAt), id, revision}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		return summarize(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("ticket: record delivery %s/%d: %w", id, revision, err)
	}
	return nil
}

// summarize recomputes the ticket's workorder fields from its outbox rows:
// dead if any revision is dead, else pending while any is pending, else
// delivered; attempts and last error of the row most recently tried.
func summarize(ctx context.Context, tx *sql.Tx, id ID) error {
	var dead, pending int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(state='dead'),0), coalesce(sum(state='pending'),0) FROM outbox WHERE ticket_id=?`, id).Scan(&dead, &pending); err != nil {
		return err
	}
	state := vocab.DeliveryDelivered
	switch {
	case dead > 0:
		state = vocab.DeliveryDead
	case pending > 0:
		state = vocab.DeliveryPending
	}
	var attempts int
	var lastErr string
	err := tx.QueryRowContext(ctx, `SELECT attempts, last_error FROM outbox WHERE ticket_id=? AND attempts > 0
		ORDER BY (state='dead') DESC, (state='pending') DESC, revision DESC LIMIT 1`, id).Scan(&attempts, &lastErr)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE tickets SET wo_state=?, wo_attempts=?, wo_last_error=? WHERE id=?`, state, attempts, lastErr, id)
	return err
}

// Redeliver puts the ticket's dead revisions back in the outbox (attempts
// reset), in their order; it returns how many.
func (s *Store) Redeliver(ctx context.Context, id ID) (int, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE id=?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET state='pending', attempts=0, next_attempt_at=?, last_error='' WHERE ticket_id=? AND state='dead'`,
			store.Millis(s.now()), id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return summarize(ctx, tx, id)
	})
	if err != nil {
		return 0, fmt.Errorf("ticket: redeliver %s: %w", id, err)
	}
	return int(n), nil
}

// OutboxStats is the backlog for metrics.
type OutboxStats struct {
	Pending       int
	Dead          int
	OldestPending time.Time // zero when nothing is pending
}

// Outbox returns the backlog.
func (s *Store) Outbox(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT coalesce(sum(state='pending'),0), coalesce(sum(state='dead'),0),
		min(CASE WHEN state='pending' THEN created_at END) FROM outbox WHERE state <> 'delivered'`).Scan(&st.Pending, &st.Dead, &oldest)
	if err != nil {
		return st, fmt.Errorf("ticket: outbox stats: %w", err)
	}
	if oldest.Valid {
		st.OldestPending = store.FromMillis(oldest.Int64)
	}
	return st, nil
}

// DeadTickets returns the tickets with a dead revision (the console's dead
// letters), newest first.
func (s *Store) DeadTickets(ctx context.Context, limit int) ([]*Ticket, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	out, err := s.query(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE wo_state = 'dead' ORDER BY opened_at DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("ticket: dead letters: %w", err)
	}
	return out, s.attachFeedback(ctx, out)
}

// Reconciliation compares a day's tickets with what reached the work-order
// system.
type Reconciliation struct {
	Date              string   `json:"date"`
	Tickets           int      `json:"tickets"`
	Revisions         int      `json:"revisions"`
	Delivered         int      `json:"revisions_delivered"`
	Pending           int      `json:"revisions_pending"`
	Dead              int      `json:"revisions_dead"`
	TicketsDelivered  int      `json:"tickets_fully_delivered"`
	NotFullyDelivered []string `json:"not_fully_delivered"`
}

// Reconcile reports the tickets opened on day (in the store's time zone).
func (s *Store) Reconcile(ctx context.Context, day time.Time) (Reconciliation, error) {
	y, m, d := day.In(s.loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, s.loc)
	to := from.AddDate(0, 0, 1)
	r := Reconciliation{Date: from.Format("2006-01-02"), NotFullyDelivered: []string{}}
	rows, err := s.db.R.QueryContext(ctx, `
		SELECT t.id, count(o.revision), coalesce(sum(o.state='delivered'),0), coalesce(sum(o.state='pending'),0), coalesce(sum(o.state='dead'),0)
		FROM tickets t LEFT JOIN outbox o ON o.ticket_id = t.id
		WHERE t.opened_at >= ? AND t.opened_at < ?
		GROUP BY t.id ORDER BY t.id`, store.Millis(from), store.Millis(to))
	if err != nil {
		return r, fmt.Errorf("ticket: reconcile: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n, del, pend, dead int
		if err := rows.Scan(&id, &n, &del, &pend, &dead); err != nil {
			return r, fmt.Errorf("ticket: reconcile: %w", err)
		}
		r.Tickets++
		r.Revisions += n
		r.Delivered += del
		r.Pending += pend
		r.Dead += dead
		if del == n && n > 0 {
			r.TicketsDelivered++
		} else if len(r.NotFullyDelivered) < 1000 {
			r.NotFullyDelivered = append(r.NotFullyDelivered, id)
		}
	}
	return r, rows.Err()
}
