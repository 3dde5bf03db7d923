package recordings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Sweep deletes the recordings (regular *.wav files) under root last
// written before olderThan, removes the directories it emptied that way
// (never root itself, never a directory it deleted nothing from, so today's
// freshly created folder is safe) and returns the deleted files' paths. It keeps going
// past errors and returns them joined. A missing root is not an error.
func Sweep(root string, olderThan time.Time) ([]string, error) {
	var deleted []string
	var errs []error
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			errs = append(errs, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() || !strings.EqualFold(filepath.Ext(path), ".wav") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !info.ModTime().Before(olderThan) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			return nil
		}
		deleted = append(deleted, path)
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	// The emptied date directories, deepest first (DD, then MM, then
	// YYYY); a directory that is not empty stays.
	var dirs []string
	clean := filepath.Clean(root)
	for _, f := range deleted {
		for d := filepath.Dir(f); d != clean && len(d) > len(clean) && !slices.Contains(dirs, d); d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("recordings: sweep %s: %w", root, err)
	}
	return deleted, nil
}
