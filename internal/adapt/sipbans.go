package adapt

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"time"

	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/store"
)

// SQLBans keeps the registrar's bans (sip.BanStore) in the database, so a
// restart does not hand a password guesser a fresh start (issue 9).
//
// The table is created here, IF NOT EXISTS, rather than by a numbered
// migration: migrations are positional and migration 4 is being added on
// another branch (web-harden); this table is meant to become migration 5
// once that lands, which the IF NOT EXISTS keeps harmless for databases
// that already have it.
type SQLBans struct{ db *store.DB }

const sipBansSchema = `
CREATE TABLE IF NOT EXISTS sip_bans (
	prefix     TEXT PRIMARY KEY, -- an IPv4 /32 or IPv6 /64, or a wider prefix
	until      INTEGER NOT NULL  -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS sip_bans_until ON sip_bans(until);
`

func NewSQLBans(ctx context.Context, db *store.DB) (*SQLBans, error) {
	if _, err := db.W.ExecContext(ctx, sipBansSchema); err != nil {
		return nil, fmt.Errorf("adapt: sip_bans: %w", err)
	}
	return &SQLBans{db: db}, nil
}

// LoadBans implements sip.BanStore.
func (b *SQLBans) LoadBans(ctx context.Context, now time.Time) ([]sip.Ban, error) {
	rows, err := b.db.R.QueryContext(ctx, `SELECT prefix, until FROM sip_bans WHERE until > ?`, store.Millis(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sip.Ban
	for rows.Next() {
		var p string
		var until int64
		if err := rows.Scan(&p, &until); err != nil {
			return nil, err
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			continue // not ours to guess at
		}
		out = append(out, sip.Ban{Prefix: prefix, Until: store.FromMillis(until)})
	}
	return out, rows.Err()
}

// SaveBans implements sip.BanStore.
func (b *SQLBans) SaveBans(ctx context.Context, bans []sip.Ban) error {
	return b.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, ban := range bans {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sip_bans(prefix, until) VALUES(?, ?)
				ON CONFLICT(prefix) DO UPDATE SET until = max(until, excluded.until)`,
				ban.Prefix.Masked().String(), store.Millis(ban.Until)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteBansBefore implements sip.BanStore.
func (b *SQLBans) DeleteBansBefore(ctx context.Context, t time.Time) error {
	_, err := b.db.W.ExecContext(ctx, `DELETE FROM sip_bans WHERE until <= ?`, store.Millis(t))
	return err
}
