package ticket

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

const ticketColumns = `id, call_id, caller, called, channel, category, priority, ivr_path, status,
	outcome, abandon_stage, end_reason, seat_id, node_id, opened_at, queued_at, answered_at, ended_at,
	wait_seconds, talk_seconds, summary, disposition, legal_domain, callback, satisfaction, recording,
	recording_deleted_at, recording_failed, revision, transfers, wo_state, wo_attempts, wo_last_error, wo_external_id, history`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

func getTicket(ctx context.Context, q querier, id ID, loc *time.Location) (*Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id), loc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

func scanTicket(r scanner, loc *time.Location) (*Ticket, error) {
	var (
		t                                   Ticket
		outcome, stage, reason, seat        string
		opened                              int64
		queued, answered, ended, recDeleted sql.NullInt64
		wait, talk                          sql.NullFloat64
		satisfaction                        sql.NullInt64
		recording                           sql.NullString
		callback, recFailed                 bool
		history                             string
		transfers                           string
	)
	err := r.Scan(&t.ID, &t.CallID, &t.Caller, &t.Called, &t.Channel, &t.Category, &t.Priority, &t.IVRPath, &t.Status,
		&outcome, &stage, &reason, &seat, &t.NodeID, &opened, &queued, &answered, &ended,
		&wait, &talk, &t.Summary, &t.Disposition, &t.LegalDomain, &callback, &satisfaction, &recording,
		&recDeleted, &recFailed, &t.Revision, &transfers, &t.Workorder.State, &t.Workorder.Attempts, &t.Workorder.LastError, &t.Workorder.ExternalID, &history)
	if err != nil {
		return nil, err
	}
	if history != "" {
		if err := json.Unmarshal([]byte(history), &t.History); err != nil {
			return nil, fmt.Errorf("ticket %s: history: %w", t.ID, err)
		}
		for i := range t.History {
			t.History[i].At = t.History[i].At.In(loc)
		}
	}
	t.Outcome, t.AbandonStage, t.EndReason, t.SeatID = Optional(outcome), Optional(stage), Optional(reason), Optional(seat)
	t.OpenedAt = store.FromMillis(opened).In(loc)
	tm := func(v sql.NullInt64) *time.Time {
		if !v.Valid {
			return nil
		}
		x := store.FromMillis(v.Int64).In(loc)
		return &x
	}
	t.QueuedAt, t.AnsweredAt, t.EndedAt, t.RecordingDeletedAt = tm(queued), tm(answered), tm(ended), tm(recDeleted)
	if wait.Valid {
		t.WaitSeconds = &wait.Float64
	}
	if talk.Valid {
		t.TalkSeconds = &talk.Float64
	}
	if satisfaction.Valid {
		v := int(satisfaction.Int64)
		t.Satisfaction = &v
	}
	if recording.Valid {
		t.Recording = &recording.String
	}
	t.Callback, t.RecordingFailed = callback, recFailed
	if transfers != "" {
		if err := json.Unmarshal([]byte(transfers), &t.Transfers); err != nil {
			return nil, fmt.Errorf("ticket %s: transfers: %w", t.ID, err)
		}
	}
	return &t, nil
}

// values returns the ticket's columns after id in ticketColumns order, up to
// and including recording_deleted_at, recording_failed and revision (the wo_* columns are
// written only by the delivery bookkeeping), then history (JSON, "" while empty).
func values(t *Ticket) []any {
	ms := func(p *time.Time) any {
		if p == nil {
			return nil
		}
		return store.Millis(*p)
	}
	var sat any
	if t.Satisfaction != nil {
		sat = *t.Satisfaction
	}
	var rec any
	if t.Recording != nil {
		rec = *t.Recording
	}
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return []any{t.CallID, t.Caller, t.Called, t.Channel, t.Category, t.Priority, t.IVRPath, t.Status,
		string(t.Outcome), string(t.AbandonStage), string(t.EndReason), string(t.SeatID), t.NodeID,
		store.Millis(t.OpenedAt), ms(t.QueuedAt), ms(t.AnsweredAt), ms(t.EndedAt),
		f(t.WaitSeconds), f(t.TalkSeconds), t.Summary, t.Disposition, t.LegalDomain, t.Callback, sat, rec,
		ms(t.RecordingDeletedAt), t.RecordingFailed, t.Revision, historyJSON(t.History), transfersJSON(t)}
}

// historyJSON is the history column: "" while empty.
func historyJSON(h []HistoryEntry) string {
	if len(h) == 0 {
		return ""
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "" // cannot happen: times and strings
	}
	return string(b)
}

// transfersJSON is the transfers column: "" when there were none.
func transfersJSON(t *Ticket) string {
	if len(t.Transfers) == 0 {
		return ""
	}
	b, _ := json.Marshal(t.Transfers) // plain strings and times: cannot fail
	return string(b)
}

func insertTicket(ctx context.Context, tx *sql.Tx, t *Ticket) error {
	args := append([]any{t.ID}, values(t)...)
	_, err := tx.ExecContext(ctx, `INSERT INTO tickets(id, call_id, caller, called, channel, category, priority, ivr_path, status,
	outcome, abandon_stage, end_reason, seat_id, node_id, opened_at, queued_at, answered_at, ended_at,
	wait_seconds, talk_seconds, summary, disposition, legal_domain, callback, satisfaction, recording,
	recording_deleted_at, recording_failed, revision, history, transfers) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
	return err
}

func updateTicket(ctx context.Context, tx *sql.Tx, t *Ticket) error {
	args := append(values(t), t.ID)
	_, err := tx.ExecContext(ctx, `UPDATE tickets SET call_id=?, caller=?, called=?, channel=?, category=?, priority=?, ivr_path=?, status=?,
	outcome=?, abandon_stage=?, end_reason=?, seat_id=?, node_id=?, opened_at=?, queued_at=?, answered_at=?, ended_at=?,
	wait_seconds=?, talk_seconds=?, summary=?, disposition=?, legal_domain=?, callback=?, satisfaction=?, recording=?,
	recording_deleted_at=?, recording_failed=?, revision=?, history=?, transfers=? WHERE id=?`, args...)
	return err
}
