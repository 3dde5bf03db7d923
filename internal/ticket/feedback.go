package ticket

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// Feedback is one report of the work-order system about a ticket (SPEC §7:
// POST /api/workorder/feedback): its own id for the case, a status, a note.
type Feedback struct {
	ExternalID string    `json:"external_id"`
	Status     string    `json:"status"`
	Note       string    `json:"note"`
	At         time.Time `json:"at"`
	ReceivedAt time.Time `json:"received_at"`
}

// AddFeedback stores a report and the ticket's external id. It is
// bookkeeping of the work-order system, not a change of the hotline's: it
// makes no revision (and so no push back). The same report received twice
// (same external id, status and time) is stored once; added says whether
// it was new.
func (s *Store) AddFeedback(ctx context.Context, id ID, f Feedback) (added bool, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE id=?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ticket_feedback(ticket_id, external_id, status, note, at, received_at)
			VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			id, f.ExternalID, f.Status, f.Note, store.Millis(f.At), store.Millis(s.now()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		added = n > 0
		if f.ExternalID != "" {
			_, err = tx.ExecContext(ctx, `UPDATE tickets SET wo_external_id=? WHERE id=?`, f.ExternalID, id)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ticket: feedback %s: %w", id, err)
	}
	return added, nil
}

// attachFeedback loads the feedback history of the tickets, oldest first,
// in one query.
func (s *Store) attachFeedback(ctx context.Context, ts []*Ticket) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[string]*Ticket, len(ts))
	args := make([]any, 0, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
		args = append(args, t.ID)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT ticket_id, external_id, status, note, at, received_at FROM ticket_feedback
		WHERE ticket_id IN (?`+strings.Repeat(",?", len(args)-1)+`) ORDER BY at, id`, args...)
	if err != nil {
		return fmt.Errorf("ticket: feedback: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var f Feedback
		var at, rec int64
		if err := rows.Scan(&id, &f.ExternalID, &f.Status, &f.Note, &at, &rec); err != nil {
			return fmt.Errorf("ticket: feedback: %w", err)
		}
		f.At, f.ReceivedAt = store.FromMillis(at).In(s.loc), store.FromMillis(rec).In(s.loc)
		if t := byID[id]; t != nil {
			t.Feedback = append(t.Feedback, f)
		}
	}
	return rows.Err()
}
