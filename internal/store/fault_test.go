package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type codeErr int

func (e codeErr) Error() string { return fmt.Sprintf("sqlite %d", int(e)) }
func (e codeErr) Code() int     { return int(e) }

func TestFaultKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, FaultNone},
		{codeErr(5), FaultBusy},
		{fmt.Errorf("store: begin: %w", codeErr(5|2<<8)), FaultBusy}, // SQLITE_BUSY_SNAPSHOT, wrapped
		{codeErr(6), FaultBusy},
		{codeErr(8), FaultReadOnly},
		{codeErr(14), FaultReadOnly},
		{codeErr(10 | 3<<8), FaultIO}, // SQLITE_IOERR_WRITE
		{codeErr(13), FaultFull},
		{codeErr(19), FaultNone}, // a constraint: the statement's fault
		{sql.ErrNoRows, FaultNone},
		{context.DeadlineExceeded, FaultOther},
		{errors.New("anything"), FaultNone},
	} {
		if got := Fault(tc.err); got != tc.want {
			t.Errorf("Fault(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The probe writes on a connection of its own: it sees another process's
// write lock as busy (within its short busy timeout) and a free database
// as fine.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if k, err := db.Probe(ctx, 100*time.Millisecond); k != FaultNone {
		t.Fatalf("probe of a free database: %q %v", k, err)
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE; INSERT INTO storage_probe(id, at) VALUES (9, 0)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if k, err := db.Probe(ctx, 100*time.Millisecond); k != FaultBusy {
		t.Fatalf("probe under another's lock: %q %v, want busy", k, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe took %s under a lock", d)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if k, err := db.Probe(ctx, 100*time.Millisecond); k != FaultNone {
		t.Fatalf("probe after the lock: %q %v", k, err)
	}
}

func TestProbeDir(t *testing.T) {
	dir := t.TempDir()
	if err := ProbeDir(dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the probe left %d files", len(left))
	}
	if err := ProbeDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory probed fine")
	}
}
