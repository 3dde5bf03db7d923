package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Fault kinds: why the database could not take a write.
const (
	FaultNone     = ""
	FaultBusy     = "busy"     // another process holds the write lock: transient
	FaultReadOnly = "readonly" // the file or its file system is not writable
	FaultIO       = "io"       // an I/O error (also: a file made immutable under an open handle)
	FaultFull     = "full"     // the disk is full
	FaultOther    = "other"    // anything else SQLite or the context reported
)

// SQLite result codes (the primary code is the low byte of an extended one).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
)

// Fault classifies a database error: FaultNone for nil and for errors that
// are about the statement (a constraint, no such row) rather than the
// storage; FaultOther for a cancelled or timed-out context.
func Fault(err error) string {
	if err == nil {
		return FaultNone
	}
	var c interface{ Code() int }
	if errors.As(err, &c) {
		switch c.Code() & 0xff {
		case sqliteBusy, sqliteLocked:
			return FaultBusy
		case sqliteReadOnly, sqliteCantOpen:
			return FaultReadOnly
		case sqliteIOErr, sqliteCorrupt, sqliteNoMem, sqliteProtocol:
			return FaultIO
		case sqliteFull:
			return FaultFull
		}
		return FaultNone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return FaultOther
	}
	return FaultNone
}

// ResetWriter closes the write connection when idle, so that the next
// write opens the file afresh: SQLite opens a file it may not write read
// only and keeps it so, and a handle that met an I/O error is best
// replaced once the storage is back.
func (db *DB) ResetWriter() {
	db.W.SetMaxIdleConns(0)
	db.W.SetMaxIdleConns(1)
}

// Probe tries one small write transaction on a connection of its own,
// opened for this probe with a short busy timeout, and returns its fault
// (FaultNone: the database takes writes). A fresh connection is what
// notices a file made read-only after the server's own were opened.
func (db *DB) Probe(ctx context.Context, busy time.Duration) (string, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	p, err := sql.Open("sqlite", "file:"+db.Path+"?"+q.Encode())
	if err != nil {
		return FaultOther, err
	}
	defer p.Close()
	p.SetMaxOpenConns(1)
	tx, err := p.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO storage_probe(id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at`, Millis(time.Now()))
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
	}
	if err != nil {
		k := Fault(err)
		if k == FaultNone {
			k = FaultOther
		}
		return k, err
	}
	return FaultNone, nil
}

// ProbeDir creates, writes, syncs and removes a small file in dir: whether
// recordings can be written there now.
func ProbeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write([]byte("probe"))
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close(), os.Remove(name))
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return nil
}
