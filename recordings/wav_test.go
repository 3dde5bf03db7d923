package recordings

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWAVWriter(t *testing.T) {
	for _, channels := range []int{1, 2} {
		path := filepath.Join(t.TempDir(), "a", "b", "x.wav")
		w, err := CreateWAV(path, channels)
		if err != nil {
			t.Fatal(err)
		}
		// Right after open: a valid header with the "unknown size" marker.
		if h := readWAV(t, path); h.dataSize != unknownSize || h.channels != channels || h.rate != 8000 {
			t.Fatalf("placeholder header %+v", h)
		}
		frame := make([]int16, 160*channels)
		for i := range frame {
			frame[i] = int16(i - 100)
		}
		// 1.5 s: the header has been fixed up after the first second, so a
		// crash now leaves a file that plays at least that far.
		for range 75 {
			if err := w.Write(frame); err != nil {
				t.Fatal(err)
			}
		}
		h := readWAV(t, path)
		if h.dataSize != 8000*2*uint32(channels) || h.riffSize != h.dataSize+36 {
			t.Fatalf("periodic fix-up: data %d riff %d", h.dataSize, h.riffSize)
		}
		if len(h.samples) < 8000*channels {
			t.Fatalf("only %d samples on disk after a second was fixed up", len(h.samples))
		}
		extra := 0
		if channels == 2 {
			if err := w.Write(frame[:1]); !errors.Is(err, ErrChannels) {
				t.Fatalf("partial frame accepted: %v", err)
			}
		} else {
			if err := w.Write(frame[:2]); err != nil {
				t.Fatal(err)
			}
			extra = 2
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(frame); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}
		h = readWAV(t, path)
		wantFrames := 75*160 + extra
		if int(h.dataSize) != wantFrames*2*channels || len(h.samples) != wantFrames*channels {
			t.Fatalf("final: data %d bytes, %d samples, want %d frames", h.dataSize, len(h.samples), wantFrames)
		}
		if h.samples[1] != frame[1] {
			t.Fatal("sample values")
		}
		if w.Frames() != int64(wantFrames) {
			t.Fatalf("Frames %d", w.Frames())
		}
		st, _ := os.Stat(filepath.Dir(path))
		if st.Mode().Perm() != 0o750 {
			t.Fatalf("dir mode %v", st.Mode().Perm())
		}
	}
}

func TestCreateWAVRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	w, err := CreateWAV(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := CreateWAV(path, 1); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrote an existing recording: %v", err)
	}
	if _, err := CreateWAV(filepath.Join(t.TempDir(), "y.wav"), 3); !errors.Is(err, ErrChannels) {
		t.Fatalf("3 channels: %v", err)
	}
}

func TestPath(t *testing.T) {
	loc := time.Local
	at := time.Date(2026, 3, 7, 23, 30, 0, 0, loc)
	for id, want := range map[string]string{
		"T20260307-0001": "T20260307-0001.wav",
		"../../etc/pw":   "_._.._etc_pw.wav",
		".hidden":        "_hidden.wav",
		"":               "_.wav",
		"工单1":            "__1.wav",
	} {
		got := Path("/data/recordings", id, at)
		if got != filepath.Join("/data/recordings", "2026", "03", "07", want) {
			t.Errorf("Path(%q) = %s", id, got)
		}
	}
	// The local date of t, whatever zone t carries.
	utc := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	if got, want := Path("r", "x", utc), filepath.Join("r", utc.Local().Format("2006/01/02"), "x.wav"); got != want {
		t.Errorf("Path in UTC = %s, want %s", got, want)
	}
}

func TestSweep(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.Local)
	mk := func(rel string, age time.Duration) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("RIFF"), 0o640); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old1 := mk("2025/11/01/T1.wav", 200*24*time.Hour)
	old2 := mk("2025/11/01/T2.WAV", 190*24*time.Hour)
	keep := mk("2026/05/30/T3.wav", 2*24*time.Hour)
	notWav := mk("2025/10/01/notes.txt", 300*24*time.Hour)
	if err := os.MkdirAll(filepath.Join(root, "2026", "06", "01"), 0o750); err != nil { // today's, empty
		t.Fatal(err)
	}
	deleted, err := Sweep(root, now.Add(-180*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || !contains(deleted, old1) || !contains(deleted, old2) {
		t.Fatalf("deleted %v", deleted)
	}
	for _, p := range []string{keep, notWav, filepath.Join(root, "2026", "06", "01")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s should remain: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "2025", "11")); !os.IsNotExist(err) {
		t.Errorf("emptied date directories not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "2025")); err != nil {
		t.Errorf("2025 still holds notes.txt: %v", err)
	}
	if d, err := Sweep(filepath.Join(root, "nope"), now); err != nil || len(d) != 0 {
		t.Fatalf("missing root: %v %v", d, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
