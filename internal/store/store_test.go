package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The database, its -wal and -shm files are 0600 and the directory the
// store creates is 0700, whatever the umask; a database an older version
// left 0644 is made 0600.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which would give 0644
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "hotline.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// A write makes SQLite create -wal and -shm.
	if _, err := db.W.ExecContext(ctx, `INSERT INTO audit_log(at, user_name, action, object) VALUES (1,'u','a','o')`); err != nil {
		t.Fatal(err)
	}
	modes := func() {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(p), err)
			}
			if m := st.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
			}
		}
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o700 {
			t.Errorf("data dir: mode %o, want 700", m)
		}
	}
	modes()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// An older version's 0644 database is tightened on open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.W.ExecContext(ctx, `INSERT INTO audit_log(at, user_name, action, object) VALUES (2,'u','a','o')`); err != nil {
		t.Fatal(err)
	}
	modes()
}
