package recordings

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// SampleRate is the recordings' sampling rate: G.711's 8 kHz.
const SampleRate = 8000

const (
	headerSize = 44
	// fixupEvery: the header's sizes are rewritten after every second of
	// audio, so a crash leaves a file that plays up to the last second.
	fixupEvery = SampleRate
	// unknownSize marks a header not fixed up yet ("streaming" WAV); sox and
	// ffmpeg then read to the end of the file.
	unknownSize = math.MaxUint32
	maxData     = math.MaxUint32 - headerSize
)

// WAVWriter streams 16-bit little-endian PCM at 8 kHz into a canonical
// 44-byte-header RIFF/WAVE file. It is safe for concurrent use.
type WAVWriter struct {
	mu       sync.Mutex
	f        io.WriteSeeker
	bw       *bufio.Writer
	channels int
	frames   int64
	sinceFix int64
	scratch  []byte
	err      error
	closed   bool
}

// CreateWAV creates the file at path (its directories with mode 0750, the
// file 0640) and writes the header. An existing file is never overwritten
// (a recording is evidence): the error then matches fs.ErrExist.
func CreateWAV(path string, channels int) (*WAVWriter, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("recordings: create %s: %d channels: %w", path, channels, ErrChannels)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("recordings: create %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("recordings: create %s: %w", path, err)
	}
	w, err := NewWAVWriter(f, channels)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

// NewWAVWriter writes a WAV stream to ws, which must be positioned at its
// start. Close closes ws if it is an io.Closer (and syncs it if it has
// Sync() error, as *os.File does).
func NewWAVWriter(ws io.WriteSeeker, channels int) (*WAVWriter, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("recordings: new wav writer: %d channels: %w", channels, ErrChannels)
	}
	w := &WAVWriter{f: ws, bw: bufio.NewWriterSize(ws, 32<<10), channels: channels}
	if _, err := w.bw.Write(header(channels, unknownSize)); err != nil {
		return nil, fmt.Errorf("recordings: write wav header: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return nil, fmt.Errorf("recordings: write wav header: %w", err)
	}
	return w, nil
}

// header is the canonical PCM header (RIFF, "fmt " of 16 bytes, "data").
func header(channels int, dataSize uint32) []byte {
	h := make([]byte, headerSize)
	copy(h[0:], "RIFF")
	riff := uint32(unknownSize)
	if dataSize != unknownSize {
		riff = dataSize + headerSize - 8
	}
	binary.LittleEndian.PutUint32(h[4:], riff)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // linear PCM
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*uint32(channels)*2)
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataSize)
	return h
}

// Channels is 1 or 2.
func (w *WAVWriter) Channels() int { return w.channels }

// Frames is the number of sample frames written (samples per channel).
func (w *WAVWriter) Frames() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// Write appends interleaved samples (L R L R ... for stereo); len(samples)
// must be a multiple of the channel count.
func (w *WAVWriter) Write(samples []int16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(samples)%w.channels != 0 {
		return fmt.Errorf("recordings: write %d samples to %d channels: %w", len(samples), w.channels, ErrChannels)
	}
	if (w.frames*int64(w.channels)+int64(len(samples)))*2 > maxData {
		w.err = ErrTooLarge
		return w.err
	}
	if cap(w.scratch) < 2*len(samples) {
		w.scratch = make([]byte, 2*len(samples))
	}
	b := w.scratch[:2*len(samples)]
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("recordings: write wav: %w", err)
		return w.err
	}
	n := int64(len(samples) / w.channels)
	w.frames += n
	w.sinceFix += n
	if w.sinceFix >= fixupEvery {
		w.sinceFix = 0
		if err := w.fixupLocked(); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// fixupLocked flushes buffered audio and writes the real sizes into the
// header, then returns to the end of the file.
func (w *WAVWriter) fixupLocked() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("recordings: write wav: %w", err)
	}
	size := uint32(w.frames * int64(w.channels) * 2)
	var b [4]byte
	if wa, ok := w.f.(io.WriterAt); ok {
		binary.LittleEndian.PutUint32(b[:], size+headerSize-8)
		if _, err := wa.WriteAt(b[:], 4); err != nil {
			return fmt.Errorf("recordings: fix wav header: %w", err)
		}
		binary.LittleEndian.PutUint32(b[:], size)
		if _, err := wa.WriteAt(b[:], 40); err != nil {
			return fmt.Errorf("recordings: fix wav header: %w", err)
		}
		return nil
	}
	for _, p := range []struct {
		off int64
		v   uint32
	}{{4, size + headerSize - 8}, {40, size}} {
		if _, err := w.f.Seek(p.off, io.SeekStart); err != nil {
			return fmt.Errorf("recordings: fix wav header: %w", err)
		}
		binary.LittleEndian.PutUint32(b[:], p.v)
		if _, err := w.f.Write(b[:]); err != nil {
			return fmt.Errorf("recordings: fix wav header: %w", err)
		}
	}
	if _, err := w.f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("recordings: fix wav header: %w", err)
	}
	return nil
}

// Close writes the final header, syncs and closes the file. Idempotent; it
// returns the first error the writer met.
func (w *WAVWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	err := w.err
	if ferr := w.fixupLocked(); err == nil {
		err = ferr
	}
	if s, ok := w.f.(interface{ Sync() error }); ok {
		if serr := s.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("recordings: sync wav: %w", serr)
		}
	}
	if c, ok := w.f.(io.Closer); ok {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("recordings: close wav: %w", cerr)
		}
	}
	w.err = err
	return err
}
