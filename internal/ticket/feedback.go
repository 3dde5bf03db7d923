package ticket

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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
	// Key identifies the report for deduplication (FeedbackKey); empty:
	// the key of its fields, At included.
	Key string `json:"-"`
}

// FeedbackKey is the dedupe key of a report as the work-order system wrote
// it: a hash of the ticket id, external id, status, note and "at" exactly
// as given ("" when absent). A replay of a signed request, or the system
// sending the same report again, has the same key whatever its timestamp
// or JSON layout; a report without "at" is identified by what it says.
func FeedbackKey(ticketID, externalID, status, note, at string) string {
	b, _ := json.Marshal([]string{ticketID, externalID, status, note, at})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AddFeedback stores a report and the ticket's external id. It is
// bookkeeping of the work-order system, not a change of the hotline's: it
// makes no revision (and so no push back). The same report received twice
// (same Key, or same external id, status and time) is stored once; added
// says whether it was new.
func (s *Store) AddFeedback(ctx context.Context, id ID, f Feedback) (added bool, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE id=?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		key := f.Key
		if key == "" {
			key = FeedbackKey(id, f.ExternalID, f.Status, f.Note, f.At.UTC().Format(time.RFC3339Nano))
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ticket_feedback(ticket_id, external_id, status, note, at, received_at, dedupe_key)
			VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			id, f.ExternalID, f.Status, f.Note, store.Millis(f.At), store.Millis(s.now()), key)
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
