package media

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// MaxMixLegs is the most legs one Mixer takes (citizen, operator, and a
// few of supervisor, lawyer, interpreter).
const MaxMixLegs = 8

const (
	// mixRing is a member's input buffer: 160 ms of decoded audio.
	mixRing = 8 * FrameSamples
	// mixPrime: a member's voice is mixed once 40 ms are buffered (absorbs
	// the phase between its packets and the mixer's ticks), and again so
	// after an underrun.
	mixPrime = 2 * FrameSamples
	// mixMaxDepth: more buffered than this (a sender running fast, a burst
	// after a stall) is cut back to mixPrime, so the mix never lags.
	mixMaxDepth = 5 * FrameSamples
)

// Mixer mixes N legs of one engine (a supervised call, a three-way
// conference): every 20 ms it takes one frame of each member's voice
// (decoded from G.711 on the member's reader goroutine into a small
// buffer), and sends each member the clipped sum of the voices it hears —
// never its own — encoded in its own law. Who hears whom is a per-pair
// matrix (SetHears, Apply, Conference): listen is "the supervisor hears
// citizen and operator, nobody hears the supervisor", whisper adds "the
// operator hears the supervisor", barge is everyone hears everyone.
//
// Ownership: a leg in a mixer is written by the mixer's goroutine only,
// under the leg's transmit mutex (the pacer leaves it alone, as it leaves a
// bridged leg to its relay), so the one-writer rule holds; the mixer ticks
// on a fixed 20 ms grid like the pacer, so pacing holds too. A leg is in at
// most one bridge or mixer. Removing a leg (or Close) returns it to the
// pacer seamlessly: same SSRC, sequence and timestamps continue, marker set.
//
// SetRecording keeps a stereo recording going while mixed: left is what one
// member says (the citizen), right what that member hears (the operator,
// and whoever barges or is conferenced in; a whisper is not in it, since
// the citizen does not hear it).
//
// Nothing on the per-frame path allocates.
type Mixer struct {
	e *Engine

	// mu guards everything below; the tick holds it for a whole frame.
	// Lock order: Engine.bridgeMu, then mu, then a leg's txMu.
	mu      sync.Mutex
	members [MaxMixLegs]*mixMember
	hears   [MaxMixLegs][MaxMixLegs]bool // hears[listener][source]
	closed  bool
	rec     mixRecording
	acc     [FrameSamples]int32
	out     [FrameSamples]int16

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type mixRecording struct {
	on    bool
	slot  int // the member recorded
	tap   BridgeTap
	ssrcA uint32
	ssrcB uint32
	ts    uint32
}

// mixMember is one leg's place in a mixer.
type mixMember struct {
	m    *Mixer
	leg  *Leg
	slot int
	in   mixInput
	// voice is this tick's frame of what the member said (mixer goroutine).
	voice [FrameSamples]int16
	has   bool
}

// mixInput is a member's decoded voice between its reader (push) and the
// mixer's tick (pull): a ring of int16 samples behind a mutex held for a
// copy of at most a packet.
type mixInput struct {
	mu     sync.Mutex
	buf    [mixRing]int16
	r, w   uint64 // samples ever read and written
	primed bool
}

func (in *mixInput) push(pcm []int16) {
	in.mu.Lock()
	for _, s := range pcm {
		in.buf[in.w%mixRing] = s
		in.w++
	}
	if in.w-in.r > mixRing {
		in.r = in.w - mixRing
	}
	in.mu.Unlock()
}

// pull fills dst with the next samples (zeros where there are none) and
// reports whether any audio was there.
func (in *mixInput) pull(dst []int16) bool {
	in.mu.Lock()
	avail := in.w - in.r
	if !in.primed && avail >= mixPrime {
		in.primed = true
	}
	if in.primed && avail > mixMaxDepth {
		in.r = in.w - mixPrime
		avail = mixPrime
	}
	n := 0
	if in.primed {
		n = int(min(avail, uint64(len(dst))))
		for i := range n {
			dst[i] = in.buf[(in.r+uint64(i))%mixRing]
		}
		in.r += uint64(n)
		if n < len(dst) {
			in.primed = false // underrun: buffer up again
		}
	}
	in.mu.Unlock()
	clear(dst[n:])
	return n > 0
}

// NewMixer starts an empty mixer; Add legs to it. Close it when done.
func (e *Engine) NewMixer() (*Mixer, error) {
	m := &Mixer{e: e, stop: make(chan struct{}), done: make(chan struct{})}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("media: new mixer: %w", ErrClosed)
	}
	e.wg.Add(1)
	e.mu.Unlock()
	e.m.activeMixers.Add(1)
	go m.run()
	return m, nil
}

// Add puts a started, open leg that is in no bridge or mixer into the mix.
// It hears nobody and nobody hears it until SetHears/Apply/Conference say
// so. Any playback on it is stopped.
func (m *Mixer) Add(l *Leg) error {
	if l == nil || l.e != m.e {
		return fmt.Errorf("media: mixer: add: leg of another engine: %w", ErrBridge)
	}
	e := m.e
	e.bridgeMu.Lock()
	defer e.bridgeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("media: mixer: add: %w", ErrClosed)
	}
	slot := -1
	for i, mb := range m.members {
		if mb == nil && slot < 0 {
			slot = i
		}
	}
	if slot < 0 {
		return fmt.Errorf("media: mixer: add: already %d legs: %w", MaxMixLegs, ErrBridge)
	}
	c, ok := l.bridgeable()
	if !ok || c.law() == lawNone {
		return fmt.Errorf("media: mixer: add: leg must be started, open, G.711 and in no bridge or mixer: %w", ErrBridge)
	}
	mb := &mixMember{m: m, leg: l, slot: slot}
	m.members[slot] = mb
	for i := range MaxMixLegs {
		m.hears[slot][i] = false
		m.hears[i][slot] = false
	}
	l.txMu.Lock()
	l.tx.mix = m
	l.tx.marker = true
	l.tx.stopPlayLocked()
	l.txMu.Unlock()
	l.mix.Store(mb)
	return nil
}

// Remove takes l out of the mix and gives it back to the pacer. A leg that
// is not a member is ignored.
func (m *Mixer) Remove(l *Leg) {
	m.e.bridgeMu.Lock()
	defer m.e.bridgeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(l)
}

func (m *Mixer) removeLocked(l *Leg) {
	mb := m.memberLocked(l)
	if mb == nil {
		return
	}
	m.members[mb.slot] = nil
	for i := range MaxMixLegs {
		m.hears[mb.slot][i] = false
		m.hears[i][mb.slot] = false
	}
	if m.rec.on && m.rec.slot == mb.slot {
		m.rec = mixRecording{}
	}
	l.mix.CompareAndSwap(mb, nil)
	l.txMu.Lock()
	if l.tx.mix == m {
		l.tx.mix = nil
		l.tx.marker = true
		l.tx.scheduled = false // the pacer takes the clock from here
	}
	l.txMu.Unlock()
}

func (m *Mixer) memberLocked(l *Leg) *mixMember {
	for _, mb := range m.members {
		if mb != nil && mb.leg == l {
			return mb
		}
	}
	return nil
}

// Len is the number of members.
func (m *Mixer) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, mb := range m.members {
		if mb != nil {
			n++
		}
	}
	return n
}

// SetHears sets whether listener hears source. Both must be members; a leg
// never hears itself.
func (m *Mixer) SetHears(listener, source *Leg, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, b := m.memberLocked(listener), m.memberLocked(source)
	if a == nil || b == nil {
		return fmt.Errorf("media: mixer: set hears: not a member: %w", ErrBridge)
	}
	m.hears[a.slot][b.slot] = on && a != b
	return nil
}

// Apply sets the whole matrix at once (a mode change is atomic: no frame
// is mixed half old, half new): hears(listener, source) for every pair of
// members.
func (m *Mixer) Apply(hears func(listener, source *Leg) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, a := range m.members {
		for j, b := range m.members {
			m.hears[i][j] = a != nil && b != nil && i != j && hears(a.leg, b.leg)
		}
	}
}

// Conference makes every member hear every other member.
func (m *Mixer) Conference() {
	m.Apply(func(_, _ *Leg) bool { return true })
}

// Hears reports whether listener hears source.
func (m *Mixer) Hears(listener, source *Leg) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, b := m.memberLocked(listener), m.memberLocked(source)
	return a != nil && b != nil && m.hears[a.slot][b.slot]
}

// SetRecording records member l in stereo from the next frame: tap.A gets
// what l says, tap.B what l hears (either may be nil). nil l stops it.
func (m *Mixer) SetRecording(l *Leg, tap BridgeTap) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l == nil {
		m.rec = mixRecording{}
		return nil
	}
	mb := m.memberLocked(l)
	if mb == nil {
		return fmt.Errorf("media: mixer: recording: not a member: %w", ErrBridge)
	}
	m.rec = mixRecording{on: true, slot: mb.slot, tap: tap, ssrcA: rand.Uint32(), ssrcB: rand.Uint32(), ts: rand.Uint32()}
	return nil
}

// Close stops the mixer and gives every member back to the pacer.
// Idempotent.
func (m *Mixer) Close() {
	m.stopOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.e.bridgeMu.Lock()
		m.mu.Lock()
		m.closed = true
		for _, mb := range m.members {
			if mb != nil {
				m.removeLocked(mb.leg)
			}
		}
		m.mu.Unlock()
		m.e.bridgeMu.Unlock()
		m.e.m.activeMixers.Add(-1)
	})
}

// run is the mixer's goroutine: the pacer's grid logic (scheduled time,
// not wake-up time; catch-up bounded by maxCatchUp).
func (m *Mixer) run() {
	e := m.e
	defer e.wg.Done()
	defer close(m.done)
	now := e.now()
	next := (now/frameNS + 1) * frameNS
	timer := time.NewTimer(time.Duration(next - now))
	defer timer.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-e.stop:
			return
		case <-timer.C:
		}
		now = e.now()
		due := 1
		if late := now - next; late >= frameNS {
			e.m.lateTicks.Inc()
			due += int(late / frameNS)
		}
		wall := time.Now()
		m.mu.Lock()
		for i := range min(due, maxCatchUp) {
			m.frameLocked(wall.Add(-time.Duration(min(due, maxCatchUp)-1-i) * frameDur))
		}
		if due > maxCatchUp {
			m.skipLocked(due - maxCatchUp)
		}
		m.mu.Unlock()
		next += int64(due) * frameNS
		timer.Reset(time.Duration(next - e.now()))
	}
}

// skipLocked lets n frames' time pass on every member's stream without
// sending (the receivers see a gap in time, not a jump back).
func (m *Mixer) skipLocked(n int) {
	m.e.m.skipped.Add(float64(n))
	for _, mb := range m.members {
		if mb == nil {
			continue
		}
		l := mb.leg
		l.txMu.Lock()
		if l.tx.mix == m {
			l.tx.ts += uint32(n * FrameSamples)
		}
		l.txMu.Unlock()
	}
	m.rec.ts += uint32(n * FrameSamples)
}

// frameLocked mixes and sends one 20 ms frame; at is its wall time (for
// the recording). It does not allocate.
func (m *Mixer) frameLocked(at time.Time) {
	for _, mb := range m.members {
		if mb != nil {
			mb.has = mb.in.pull(mb.voice[:])
		}
	}
	for j, lj := range m.members {
		if lj == nil {
			continue
		}
		out := m.mixFor(j)
		l := lj.leg
		l.txMu.Lock()
		l.mixSendLocked(m, out)
		l.txMu.Unlock()
		if m.rec.on && m.rec.slot == j && m.rec.tap.B != nil {
			m.rec.tap.B.WritePCM(m.rec.ssrcB, m.rec.ts, at, out)
		}
	}
	if m.rec.on {
		if mb := m.members[m.rec.slot]; mb != nil && m.rec.tap.A != nil {
			m.rec.tap.A.WritePCM(m.rec.ssrcA, m.rec.ts, at, mb.voice[:])
		}
		m.rec.ts += FrameSamples
	}
}

// mixFor sums the voices listener j hears, clipped to 16 bits, into m.out.
func (m *Mixer) mixFor(j int) []int16 {
	acc := &m.acc
	clear(acc[:])
	row := &m.hears[j]
	for i, mb := range m.members {
		if mb == nil || i == j || !row[i] || !mb.has {
			continue
		}
		for k, s := range mb.voice {
			acc[k] += int32(s)
		}
	}
	out := &m.out
	for k, v := range acc {
		out[k] = clip16(v)
	}
	return out[:]
}

func clip16(v int32) int16 {
	switch {
	case v > 32767:
		return 32767
	case v < -32768:
		return -32768
	}
	return int16(v)
}

// mixSendLocked sends one mixed frame on the leg's own stream, and
// advances its clock. As in a bridge, the leg's own source goes first: a
// playback started on it while mixed (a hold message), what SetRelayHeld
// holds back (hold, mute: the leg hears its playback or silence, not the
// mix), keys going out (SendDigits). It does not allocate.
func (l *Leg) mixSendLocked(m *Mixer, pcm []int16) {
	tx := &l.tx
	if tx.mix != m || tx.closed || !tx.started {
		return
	}
	if tx.play != nil || tx.paced() {
		l.sendFrameLocked()
		return
	}
	encodeLaw(tx.law, tx.buf[12:12+FrameSamples], pcm)
	l.sendBufferedFrameLocked()
}
