package siptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
)

// WAV is a decoded 16-bit PCM WAV file.
type WAV struct {
	Channels   int
	SampleRate int
	Samples    [][]int16 // per channel
}

// Duration of the audio.
func (w WAV) Duration() time.Duration {
	if w.SampleRate == 0 || len(w.Samples) == 0 {
		return 0
	}
	return time.Duration(len(w.Samples[0])) * time.Second / time.Duration(w.SampleRate)
}

// ParseWAV decodes a RIFF/WAVE 16-bit PCM file.
func ParseWAV(b []byte) (WAV, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return WAV{}, errors.New("not a RIFF/WAVE file")
	}
	var w WAV
	bits := 0
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8:]
		if size > len(body) {
			size = len(body) // a file cut by a crash: take what is there
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return WAV{}, errors.New("short fmt chunk")
			}
			if f := binary.LittleEndian.Uint16(body); f != 1 {
				return WAV{}, fmt.Errorf("format %d is not PCM", f)
			}
			w.Channels = int(binary.LittleEndian.Uint16(body[2:]))
			w.SampleRate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if bits != 16 || w.Channels < 1 {
				return WAV{}, fmt.Errorf("want 16-bit PCM before data, got %d bits, %d channels", bits, w.Channels)
			}
			n := size / 2 / w.Channels
			w.Samples = make([][]int16, w.Channels)
			for c := range w.Samples {
				w.Samples[c] = make([]int16, n)
			}
			for i := range n {
				for c := range w.Channels {
					w.Samples[c][i] = int16(binary.LittleEndian.Uint16(body[(i*w.Channels+c)*2:]))
				}
			}
			return w, nil
		}
		off += 8 + size + size%2
	}
	return WAV{}, errors.New("no data chunk")
}

// WAVDuration is the length of a WAV file on disk.
func WAVDuration(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	w, err := ParseWAV(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return w.Duration(), nil
}
