package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
)

// sessionPruneEvery is how often expired console sessions are deleted (a
// login deletes them too).
const sessionPruneEvery = 10 * time.Minute

// pruneSessions deletes expired sessions at start and every period until
// ctx ends: an expired session is refused anyway, but its row would stay.
func pruneSessions(ctx context.Context, users *auth.Store, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := users.PruneExpired(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("pruning expired sessions", "error", err)
			}
		} else if n > 0 {
			log.Debug("expired sessions pruned", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
