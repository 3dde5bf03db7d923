package media

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func wavBytes(format, channels uint16, rate uint32, bits uint16, pcm []int16, extraChunk bool) []byte {
	data := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	b = append(b, "fmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, format)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels)*uint32(bits)/8)
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	if extraChunk {
		b = append(b, "LIST\x03\x00\x00\x00abc\x00"...) // odd size, padded
	}
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func TestLoadPromptWAV(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767, -32768}
	fsys := fstest.MapFS{
		"ok.wav":     {Data: wavBytes(1, 1, 8000, 16, pcm, true)},
		"stereo.wav": {Data: wavBytes(1, 2, 8000, 16, pcm, false)},
		"16k.wav":    {Data: wavBytes(1, 1, 16000, 16, pcm, false)},
		"8bit.wav":   {Data: wavBytes(1, 1, 8000, 8, pcm, false)},
		"alaw.wav":   {Data: wavBytes(6, 1, 8000, 8, pcm, false)},
		"text.wav":   {Data: []byte("hello")},
		"trunc.wav":  {Data: wavBytes(1, 1, 8000, 16, pcm, false)[:30]},
	}
	p, err := LoadPromptWAV(fsys, "ok.wav")
	if err != nil {
		t.Fatal(err)
	}
	if p.Samples() != len(pcm) || p.Name() != "ok.wav" || p.PCM()[3] != 32767 {
		t.Fatalf("prompt %+v", p)
	}
	for file, want := range map[string]string{
		"stereo.wav":  "2 channels, want mono",
		"16k.wav":     "sample rate 16000 Hz, want 8000",
		"8bit.wav":    "8 bits per sample, want 16",
		"alaw.wav":    "audio format 6",
		"text.wav":    "not a RIFF/WAVE file",
		"trunc.wav":   "truncated",
		"missing.wav": "missing.wav",
	} {
		_, err := LoadPromptWAV(fsys, file)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: err %v, want it to name the file and say %q", file, err, want)
		}
		if file != "missing.wav" && !errors.Is(err, ErrBadPrompt) {
			t.Errorf("%s: not ErrBadPrompt: %v", file, err)
		}
	}
}

func TestPromptPreEncoded(t *testing.T) {
	pcm := make([]int16, 400)
	for i := range pcm {
		pcm[i] = int16(i * 50)
	}
	p := NewPrompt("x", pcm)
	pcm[0] = 999 // the prompt owns a copy
	if p.PCM()[0] != 0 {
		t.Fatal("prompt did not copy its samples")
	}
	for _, c := range []Codec{CodecPCMU, CodecPCMA} {
		want := make([]byte, len(pcm))
		c.Encode(want, p.PCM())
		if string(p.encoded(c.law())) != string(want) {
			t.Fatalf("%s encoding differs", c.Name)
		}
	}
	if p.Duration() != 50*time.Millisecond {
		t.Fatalf("duration %v", p.Duration())
	}
}

func TestTone(t *testing.T) {
	p := Tone("beep", 1000, 300*time.Millisecond, 0.5)
	if p.Samples() != 2400 {
		t.Fatalf("samples %d", p.Samples())
	}
	var peak int16
	var zeroCross int
	s := p.PCM()
	for i, v := range s {
		peak = max(peak, v)
		if i > 0 && (s[i-1] < 0) != (v < 0) {
			zeroCross++
		}
	}
	if math.Abs(float64(peak)-16383) > 200 {
		t.Fatalf("peak %d", peak)
	}
	// 1 kHz for 0.3 s: ~600 zero crossings.
	if zeroCross < 590 || zeroCross > 610 {
		t.Fatalf("zero crossings %d", zeroCross)
	}
	if s[0] != 0 || math.Abs(float64(s[len(s)-1])) > 100 {
		t.Fatalf("no ramp: %d .. %d", s[0], s[len(s)-1])
	}
}
