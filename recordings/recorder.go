package recordings

import (
	"sync"
	"time"
)

// Placement parameters, in samples at 8 kHz.
const (
	// anchorTolerance: within one SSRC a packet goes where its RTP timestamp
	// says (so lost packets and silence suppression become silence of the
	// right length, RFC 3550 §5.1), unless that is further than this from
	// where its arrival time puts it: then the stream is re-anchored on
	// arrival time (a pause with a frozen timestamp, a restart, clock drift).
	anchorTolerance = 120 * SampleRate / 1000
	// reorderHold: audio is written this far behind the last sample both
	// sides delivered, so a reordered packet still lands in place.
	reorderHold = 60 * SampleRate / 1000
	// maxLatency: a side that delivers nothing is not waited for longer
	// than this behind the latest arrival: its part becomes silence. This
	// bounds memory (about (maxLatency+anchorTolerance) per channel) and the
	// delay between hearing and writing.
	maxLatency = 200 * SampleRate / 1000
	// block: audio is written in 20 ms blocks (Close writes the rest).
	block = 20 * SampleRate / 1000
	// chunk bounds the interleaving scratch buffer.
	chunk = 1024
)

// track is one channel's pending audio: pend[i] is file position
// flushed+i; positions nobody wrote stay zero (silence).
type track struct {
	pend     []int16
	hi       int64 // end (exclusive) of the latest audio placed on this track
	anchored bool
	ssrc     uint32
	ts0      uint32
	pos0     int64
}

// mixer places packets of 1 or 2 channels on one timeline whose origin is
// the first packet's start, and writes them in blocks.
type mixer struct {
	mu      sync.Mutex
	w       *WAVWriter
	tracks  []track
	started bool
	t0      time.Time
	now     int64 // latest arrival, as a file position
	flushed int64 // file frames written
	out     []int16
	err     error
	closed  bool
}

func newMixer(w *WAVWriter, channels int) *mixer {
	return &mixer{w: w, tracks: make([]track, channels), out: make([]int16, 0, chunk*channels)}
}

// position converts an arrival time to a file position (samples since t0).
func (m *mixer) position(at time.Time) int64 {
	return int64(at.Sub(m.t0)) * SampleRate / int64(time.Second)
}

func (m *mixer) write(ch int, ssrc, ts uint32, at time.Time, pcm []int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.err != nil || len(pcm) == 0 {
		return
	}
	n := int64(len(pcm))
	if !m.started {
		m.started = true
		m.t0 = at.Add(-time.Duration(n) * time.Second / SampleRate)
	}
	wallEnd := m.position(at)
	wallStart := wallEnd - n
	m.now = max(m.now, wallEnd)

	tr := &m.tracks[ch]
	if !tr.anchored || tr.ssrc != ssrc {
		tr.anchor(ssrc, ts, wallStart)
	}
	p := tr.pos0 + int64(int32(ts-tr.ts0))
	if d := p - wallStart; d > anchorTolerance || d < -anchorTolerance {
		tr.anchor(ssrc, ts, wallStart)
		p = wallStart
	}
	samples := pcm
	if p < m.flushed {
		skip := m.flushed - p // too late: that part of the file is written
		if skip >= n {
			return
		}
		samples = samples[skip:]
		p = m.flushed
	}
	off := int(p - m.flushed)
	if need := off + len(samples); need > len(tr.pend) {
		tr.extend(need)
	}
	copy(tr.pend[off:], samples)
	tr.hi = max(tr.hi, p+int64(len(samples)))
	m.flushLocked(false)
}

// extend grows pend to n samples, the new ones silent; the backing array is
// reused, so steady state does not allocate.
func (tr *track) extend(n int) {
	if cap(tr.pend) < n {
		p := make([]int16, len(tr.pend), 2*n)
		copy(p, tr.pend)
		tr.pend = p
	}
	old := len(tr.pend)
	tr.pend = tr.pend[:n]
	clear(tr.pend[old:])
}

func (tr *track) anchor(ssrc, ts uint32, pos int64) {
	tr.anchored = true
	tr.ssrc = ssrc
	tr.ts0 = ts
	tr.pos0 = pos
}

// flushLocked writes what is ready: up to where every track has delivered
// (minus the reorder hold), or, when a track lags, up to maxLatency behind
// the latest arrival; in whole blocks unless final.
func (m *mixer) flushLocked(final bool) {
	hiMin, hiMax := m.tracks[0].hi, m.tracks[0].hi
	for _, tr := range m.tracks[1:] {
		hiMin = min(hiMin, tr.hi)
		hiMax = max(hiMax, tr.hi)
	}
	upto := max(hiMin-reorderHold, m.now-maxLatency)
	upto = min(upto, hiMax)
	if final {
		upto = hiMax
	} else {
		upto = m.flushed + (upto-m.flushed)/block*block
	}
	for m.flushed < upto && m.err == nil {
		frames := min(upto-m.flushed, chunk)
		m.out = m.out[:0]
		for i := range int(frames) {
			for c := range m.tracks {
				var v int16
				if i < len(m.tracks[c].pend) {
					v = m.tracks[c].pend[i]
				}
				m.out = append(m.out, v)
			}
		}
		if err := m.w.Write(m.out); err != nil {
			m.err = err
			return
		}
		for c := range m.tracks {
			tr := &m.tracks[c]
			k := min(int(frames), len(tr.pend))
			tr.pend = tr.pend[:copy(tr.pend, tr.pend[k:])]
		}
		m.flushed += frames
	}
}

func (m *mixer) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return m.err
	}
	m.closed = true
	if m.started && m.err == nil {
		m.flushLocked(true)
	}
	if err := m.w.Close(); m.err == nil {
		m.err = err
	}
	return m.err
}

func (m *mixer) duration() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(m.flushed) * time.Second / SampleRate
}

func (m *mixer) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Mono records one direction (voicemail). Feed it from a media leg's tap;
// the file's length follows the wall clock from the first packet to the
// last: gaps (lost packets, silence suppression, pauses) are silence.
type Mono struct{ m *mixer }

// NewMono records into w, which must be mono.
func NewMono(w *WAVWriter) (*Mono, error) {
	if w.Channels() != 1 {
		return nil, ErrChannels
	}
	return &Mono{m: newMixer(w, 1)}, nil
}

// CreateMono creates path (see CreateWAV) and records into it.
func CreateMono(path string) (*Mono, error) {
	w, err := CreateWAV(path, 1)
	if err != nil {
		return nil, err
	}
	return &Mono{m: newMixer(w, 1)}, nil
}

// WritePCM takes one packet's decoded samples (copied). It never blocks for
// long and never fails: the first error is kept for Err and Close.
func (r *Mono) WritePCM(ssrc uint32, timestamp uint32, at time.Time, pcm []int16) {
	r.m.write(0, ssrc, timestamp, at, pcm)
}

// Close writes what is pending and closes the file. Idempotent.
func (r *Mono) Close() error { return r.m.close() }

// Err is the first error met (nil while all is well).
func (r *Mono) Err() error { return r.m.failure() }

// Duration is the audio written to the file so far.
func (r *Mono) Duration() time.Duration { return r.m.duration() }

// Stereo records a bridged call: the caller on the left channel, the seat on
// the right. The two feeds may be written from two goroutines, at their own
// pace and packet sizes (20 or 30 ms); they are aligned by arrival time,
// silence where a side is silent, and neither side's pause holds the other
// back for more than 200 ms.
type Stereo struct {
	m           *mixer
	left, right *Feed
}

// Feed is one channel of a Stereo recorder.
type Feed struct {
	m  *mixer
	ch int
}

// NewStereo records into w, which must be stereo.
func NewStereo(w *WAVWriter) (*Stereo, error) {
	if w.Channels() != 2 {
		return nil, ErrChannels
	}
	m := newMixer(w, 2)
	return &Stereo{m: m, left: &Feed{m: m, ch: 0}, right: &Feed{m: m, ch: 1}}, nil
}

// CreateStereo creates path (see CreateWAV) and records into it.
func CreateStereo(path string) (*Stereo, error) {
	w, err := CreateWAV(path, 2)
	if err != nil {
		return nil, err
	}
	return NewStereo(w)
}

// Left is the caller's channel.
func (s *Stereo) Left() *Feed { return s.left }

// Right is the seat's channel.
func (s *Stereo) Right() *Feed { return s.right }

// WritePCM takes one packet's decoded samples for this channel (copied).
func (f *Feed) WritePCM(ssrc uint32, timestamp uint32, at time.Time, pcm []int16) {
	f.m.write(f.ch, ssrc, timestamp, at, pcm)
}

// Close writes what is pending (the shorter side padded with silence) and
// closes the file. Idempotent.
func (s *Stereo) Close() error { return s.m.close() }

// Err is the first error met.
func (s *Stereo) Err() error { return s.m.failure() }

// Duration is the audio written to the file so far.
func (s *Stereo) Duration() time.Duration { return s.m.duration() }
