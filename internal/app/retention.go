package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/recordings"
)

// retentionEvery is how often old recordings are looked for.
const retentionEvery = time.Hour

// runRetention deletes recordings older than days (SPEC §8) at start and
// every hour until ctx ends.
func runRetention(ctx context.Context, tickets *ticket.Store, root string, days int, log *slog.Logger) {
	if days <= 0 {
		return
	}
	for {
		cutoff := time.Now().AddDate(0, 0, -days)
		if n, err := sweepRecordings(ctx, tickets, root, cutoff); err != nil {
			log.Error("recording retention", "error", err)
		} else if n > 0 {
			log.Info("recordings past retention deleted", "count", n, "older_than", cutoff.Format(time.DateOnly))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retentionEvery):
		}
	}
}

// sweepRecordings deletes the recordings of tickets opened before cutoff
// and says so on each ticket (recording null, recording_deleted_at set: a
// revision, pushed like any other); then files no ticket refers to that
// are older than cutoff. It returns how many tickets lost their recording.
func sweepRecordings(ctx context.Context, tickets *ticket.Store, root string, cutoff time.Time) (int, error) {
	n := 0
	for {
		list, err := tickets.RecordingsBefore(ctx, cutoff, 200)
		if err != nil || len(list) == 0 {
			_, serr := recordings.Sweep(root, cutoff)
			return n, errors.Join(err, serr)
		}
		for _, t := range list {
			path := recordings.Path(root, t.ID, t.OpenedAt.In(tickets.Location()))
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			now := time.Now()
			if _, err := tickets.Update(ctx, t.ID, func(t *ticket.Ticket) error {
				t.Recording, t.RecordingDeletedAt = nil, ticket.TimePtr(now)
				return nil
			}); err != nil {
				return n, err
			}
			n++
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}
