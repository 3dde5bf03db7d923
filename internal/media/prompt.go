package media

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"time"
)

// Prompt is a piece of 8 kHz mono audio to play on legs. It is encoded once
// per codec when it is created, so the packet path only copies bytes. A
// Prompt is immutable and may be played on any number of legs at once.
type Prompt struct {
	name string
	pcm  []int16
	ulaw []byte
	alaw []byte
}

// NewPrompt builds a prompt from 8 kHz mono linear PCM (copied).
func NewPrompt(name string, pcm []int16) *Prompt {
	p := &Prompt{
		name: name,
		pcm:  append([]int16(nil), pcm...),
		ulaw: make([]byte, len(pcm)),
		alaw: make([]byte, len(pcm)),
	}
	encodeLaw(lawU, p.ulaw, p.pcm)
	encodeLaw(lawA, p.alaw, p.pcm)
	return p
}

// Name is the name given at creation (the file path for LoadPromptWAV).
func (p *Prompt) Name() string { return p.name }

// Duration is the playing time.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.pcm)) * time.Second / SampleRate
}

// Samples is the number of 8 kHz samples.
func (p *Prompt) Samples() int { return len(p.pcm) }

// PCM returns the linear samples; callers must not modify them.
func (p *Prompt) PCM() []int16 { return p.pcm }

func (p *Prompt) encoded(l law) []byte {
	if l == lawA {
		return p.alaw
	}
	return p.ulaw
}

// Tone synthesises a sine tone (the voicemail beep: Tone("beep", 1000,
// 300*time.Millisecond, 0.3)). amplitude is a fraction of full scale (0..1);
// 5 ms ramps at both ends avoid clicks.
func Tone(name string, freqHz float64, d time.Duration, amplitude float64) *Prompt {
	n := int(d * SampleRate / time.Second)
	if n < 0 {
		n = 0
	}
	amplitude = math.Max(0, math.Min(1, amplitude))
	ramp := SampleRate * 5 / 1000
	pcm := make([]int16, n)
	for i := range pcm {
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		}
		if r := n - 1 - i; r < ramp {
			g = math.Min(g, float64(r)/float64(ramp))
		}
		v := amplitude * g * math.Sin(2*math.Pi*freqHz*float64(i)/SampleRate)
		pcm[i] = int16(math.Round(v * 32767))
	}
	return NewPrompt(name, pcm)
}

// LoadPromptWAV reads a prompt from a RIFF/WAVE file that must be 8 kHz, mono,
// 16-bit linear PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM
// subformat). Anything else is an ErrBadPrompt naming the file and the
// problem, e.g. "media: prompt welcome.wav: sample rate 16000 Hz, want 8000
// (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)".
func LoadPromptWAV(fsys fs.FS, path string) (*Prompt, error) {
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("media: prompt %s: %w", path, err)
	}
	pcm, err := decodeWAV(data)
	if err != nil {
		return nil, fmt.Errorf("media: prompt %s: %w (convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)", path, err)
	}
	return NewPrompt(path, pcm), nil
}

func decodeWAV(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrBadPrompt)
	}
	var (
		haveFmt  bool
		format   uint16
		channels uint16
		rate     uint32
		bits     uint16
	)
	rest := data[12:]
	for len(rest) >= 8 {
		id := string(rest[0:4])
		size := binary.LittleEndian.Uint32(rest[4:8])
		body := rest[8:]
		if uint64(size) > uint64(len(body)) {
			if id == "data" && haveFmt {
				// A writer that crashed before fixing the header: use what is there.
				size = uint32(len(body))
			} else {
				return nil, fmt.Errorf("%w: chunk %q truncated", ErrBadPrompt, id)
			}
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("%w: fmt chunk too short", ErrBadPrompt)
			}
			haveFmt = true
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if format == 0xFFFE && size >= 26 {
				format = binary.LittleEndian.Uint16(body[24:26]) // SubFormat GUID's first two bytes
			}
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadPrompt)
			}
			switch {
			case format != 1:
				return nil, fmt.Errorf("%w: audio format %d, want 1 (linear PCM)", ErrBadPrompt, format)
			case channels != 1:
				return nil, fmt.Errorf("%w: %d channels, want mono", ErrBadPrompt, channels)
			case rate != SampleRate:
				return nil, fmt.Errorf("%w: sample rate %d Hz, want %d", ErrBadPrompt, rate, SampleRate)
			case bits != 16:
				return nil, fmt.Errorf("%w: %d bits per sample, want 16", ErrBadPrompt, bits)
			}
			pcm := make([]int16, len(body)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, nil
		}
		adv := 8 + int(size) + int(size&1) // chunks are padded to even size
		if adv > len(rest) {
			break
		}
		rest = rest[adv:]
	}
	if !haveFmt {
		return nil, fmt.Errorf("%w: no fmt chunk", ErrBadPrompt)
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrBadPrompt)
}
