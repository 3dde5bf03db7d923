package media

import (
	"errors"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// tonePCMU is n samples of a sine at freq Hz (amplitude amp) in PCMU,
// starting at sample offset off.
func tonePCMU(freq float64, amp float64, off, n int) []byte {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(off+i)/SampleRate))
	}
	out := make([]byte, n)
	encodeLaw(lawU, out, pcm)
	return out
}

// goertzel is the power of pcm at freq, normalised by length and by a full
// scale sine (1.0 ≈ a full-scale tone at exactly that frequency).
func goertzel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	n := float64(len(pcm))
	return 4 * p / (n * n)
}

type mixParty struct {
	leg  *Leg
	peer *peer
	freq float64
}

// newMixParties makes n started legs, each latched to its own peer.
func newMixParties(t *testing.T, e *Engine, freqs ...float64) []*mixParty {
	t.Helper()
	var ps []*mixParty
	for _, f := range freqs {
		l, err := e.NewLeg(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := newPeer(t)
		p.ssrc = uint32(f)
		l.Start(SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: p.addr()})
		p.introduce(l, 0)
		ps = append(ps, &mixParty{leg: l, peer: p, freq: f})
	}
	return ps
}

// talk has every party send its tone at 50 packets/s for d while every
// party records what it receives; it returns the decoded audio and the
// packets each party received.
func talk(t *testing.T, ps []*mixParty, d time.Duration) ([][]int16, [][]rcvd) {
	t.Helper()
	for _, p := range ps {
		p.peer.drain()
	}
	heard := make([][]int16, len(ps))
	pkts := make([][]rcvd, len(ps))
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i, p := range ps {
		wg.Add(2)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			off := 0
			for time.Now().Before(stop) {
				<-tick.C
				p.peer.sendAudio(p.leg.LocalAddr(), 0, tonePCMU(p.freq, 8000, off, FrameSamples))
				off += FrameSamples
			}
		}()
		go func() {
			defer wg.Done()
			for {
				r, err := p.peer.tryRecv(time.Until(stop) + 50*time.Millisecond)
				if err != nil {
					return
				}
				pcm := make([]int16, len(r.payload))
				decodeLaw(lawU, pcm, r.payload)
				heard[i] = append(heard[i], pcm...)
				pkts[i] = append(pkts[i], r)
			}
		}()
	}
	wg.Wait()
	return heard, pkts
}

// hearsTone: the tone is clearly there (a 8000-amplitude sine scores
// about 0.06; silence and the other tones' leakage well under 0.001).
func hearsTone(pcm []int16, f float64) bool { return goertzel(pcm, f) > 0.01 }

func checkHears(t *testing.T, ps []*mixParty, heard [][]int16, want [][]bool) {
	t.Helper()
	for i, p := range ps {
		if len(heard[i]) < 20*FrameSamples {
			t.Fatalf("party %v received only %d samples", p.freq, len(heard[i]))
		}
		// Skip the first 100 ms (buffering up).
		pcm := heard[i][5*FrameSamples:]
		for j, q := range ps {
			got := hearsTone(pcm, q.freq)
			if got != want[i][j] {
				t.Errorf("party %v hears %v: %v (power %.5f), want %v", p.freq, q.freq, got, goertzel(pcm, q.freq), want[i][j])
			}
		}
	}
}

// The supervision modes and the conference, on real sockets: distinct
// tones per party, energy at each party's frequency in what each receives.
func TestMixerWhoHearsWhom(t *testing.T) {
	e, _ := newTestEngine(t, Config{})
	ps := newMixParties(t, e, 500, 1100, 1700) // citizen, operator, supervisor
	cit, op, sup := ps[0].leg, ps[1].leg, ps[2].leg
	m, err := e.NewMixer()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, p := range ps {
		if err := m.Add(p.leg); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Add(cit); !errors.Is(err, ErrBridge) {
		t.Fatalf("adding a leg twice: %v", err)
	}
	if _, err := Bridge(cit, op, BridgeTap{}); !errors.Is(err, ErrBridge) {
		t.Fatalf("bridging a mixed leg: %v", err)
	}
	base := func(l, s *Leg) bool { return (l == cit && s == op) || (l == op && s == cit) }
	modes := []struct {
		name  string
		hears func(l, s *Leg) bool
		want  [][]bool // [listener][source]
	}{
		{"listen", func(l, s *Leg) bool { return base(l, s) || l == sup }, [][]bool{
			{false, true, false}, {true, false, false}, {true, true, false}}},
		{"whisper", func(l, s *Leg) bool { return base(l, s) || l == sup || (l == op && s == sup) }, [][]bool{
			{false, true, false}, {true, false, true}, {true, true, false}}},
		{"barge", func(_, _ *Leg) bool { return true }, [][]bool{
			{false, true, true}, {true, false, true}, {true, true, false}}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			m.Apply(mode.hears)
			heard, _ := talk(t, ps, 700*time.Millisecond)
			checkHears(t, ps, heard, mode.want)
		})
	}
	if !m.Hears(cit, sup) || m.Hears(cit, cit) {
		t.Error("Hears does not reflect the barge matrix")
	}
}

// Pacing while mixed: one packet per 20 ms, consecutive sequence numbers,
// timestamps +160, the leg's own SSRC kept from before the mix and after.
func TestMixerPacingAndHandBack(t *testing.T) {
	e, _ := newTestEngine(t, Config{})
	ps := newMixParties(t, e, 600, 1300)
	a := ps[0]
	before := a.peer.recv(time.Second)
	m, err := e.NewMixer()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := m.Add(p.leg); err != nil {
			t.Fatal(err)
		}
	}
	m.Conference()
	_, pkts := talk(t, ps, time.Second)
	got := pkts[0]
	if len(got) < 40 || len(got) > 55 {
		t.Fatalf("%d packets in 1 s, want about 50", len(got))
	}
	var maxGap, sum time.Duration
	steps160 := 0
	for i, r := range got {
		if r.hdr.SSRC != before.hdr.SSRC {
			t.Fatalf("SSRC changed in the mix: %x vs %x", r.hdr.SSRC, before.hdr.SSRC)
		}
		if i == 0 {
			continue
		}
		p := got[i-1]
		if r.hdr.SequenceNumber != p.hdr.SequenceNumber+1 {
			t.Fatalf("sequence %d after %d", r.hdr.SequenceNumber, p.hdr.SequenceNumber)
		}
		// A frame skipped after a tick over 100 ms late (a loaded host)
		// still passes in time: a step of a multiple of 160.
		step := r.hdr.Timestamp - p.hdr.Timestamp
		if step == 0 || step%FrameSamples != 0 || step > 20*FrameSamples {
			t.Fatalf("timestamp step %d at packet %d", step, i)
		}
		if step == FrameSamples {
			steps160++
		}
		g := r.at.Sub(p.at)
		sum += g
		maxGap = max(maxGap, g)
	}
	mean := sum / time.Duration(len(got)-1)
	t.Logf("%d mixed packets, mean gap %v, largest %v, %d steps of 160", len(got), mean, maxGap, steps160)
	if mean < 18*time.Millisecond || mean > 22*time.Millisecond {
		t.Errorf("mean gap between mixed packets %v, want 20 ms", mean)
	}
	if steps160 < (len(got)-1)*9/10 {
		t.Errorf("only %d of %d timestamp steps were one frame", steps160, len(got)-1)
	}
	if maxGap > 150*time.Millisecond {
		t.Errorf("largest gap between mixed packets %v", maxGap)
	}
	m.Remove(a.leg)
	if m.Len() != 1 {
		t.Fatalf("Len %d after Remove", m.Len())
	}
	// Back on the pacer: silence, same stream continuing.
	a.peer.drain()
	r1 := a.peer.recv(time.Second)
	r2 := a.peer.recv(time.Second)
	if r1.hdr.SSRC != before.hdr.SSRC || r2.hdr.SequenceNumber != r1.hdr.SequenceNumber+1 || r2.hdr.Timestamp-r1.hdr.Timestamp != FrameSamples {
		t.Fatalf("after Remove: %+v then %+v", r1.hdr, r2.hdr)
	}
	if r1.payload[0] != 0xFF {
		t.Errorf("after Remove the pacer should send silence, got %x", r1.payload[0])
	}
	m.Close()
	m.Close()
	// A leg given back can be bridged again.
	stop, err := Bridge(ps[0].leg, ps[1].leg, BridgeTap{})
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

func TestMixerClipping(t *testing.T) {
	m := &Mixer{}
	for i := range 3 {
		m.members[i] = &mixMember{slot: i, has: true}
	}
	for k := range FrameSamples {
		m.members[0].voice[k] = 30000
		m.members[1].voice[k] = 20000
		m.members[2].voice[k] = -30000
	}
	m.members[0].voice[1], m.members[1].voice[1] = -30000, -20000
	m.hears[2][0], m.hears[2][1] = true, true
	out := m.mixFor(2)
	if out[0] != 32767 || out[1] != -32768 {
		t.Fatalf("clipped mix %d %d, want 32767 -32768", out[0], out[1])
	}
	// Its own voice never: member 2 hearing itself is ignored even if set.
	m.hears[2][2] = true
	m.hears[2][0], m.hears[2][1] = false, false
	if out := m.mixFor(2); out[0] != 0 {
		t.Fatalf("self echo: %d", out[0])
	}
	m.hears[0][1], m.hears[0][2] = true, true
	if out := m.mixFor(0); out[0] != -10000 {
		t.Fatalf("sum %d, want 20000-30000", out[0])
	}
}

func TestMixInputJitter(t *testing.T) {
	var in mixInput
	dst := make([]int16, FrameSamples)
	frame := make([]int16, FrameSamples)
	for i := range frame {
		frame[i] = 7
	}
	in.push(frame)
	if in.pull(dst) {
		t.Fatal("mixed before 40 ms were buffered")
	}
	in.push(frame)
	if !in.pull(dst) || dst[0] != 7 {
		t.Fatal("primed input not mixed")
	}
	// A burst beyond the depth bound is cut back: latency stays bounded.
	for range 10 {
		in.push(frame)
	}
	in.pull(dst)
	if d := in.w - in.r; d > mixMaxDepth {
		t.Fatalf("depth %d after a burst", d)
	}
}

// The recording follows the citizen: left what it says, right what it
// hears (so a whisper to the operator is not in it, a barge is).
func TestMixerRecording(t *testing.T) {
	e, _ := newTestEngine(t, Config{})
	ps := newMixParties(t, e, 500, 1100, 1700)
	cit, op, sup := ps[0].leg, ps[1].leg, ps[2].leg
	m, err := e.NewMixer()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, p := range ps {
		if err := m.Add(p.leg); err != nil {
			t.Fatal(err)
		}
	}
	left, right := &pcmTap{}, &pcmTap{}
	if err := m.SetRecording(cit, BridgeTap{A: left, B: right}); err != nil {
		t.Fatal(err)
	}
	m.Apply(func(l, s *Leg) bool { return l == sup || (l == op) || (l == cit && s == op) }) // whisper
	talk(t, ps, 600*time.Millisecond)
	L, R := left.get()[5*FrameSamples:], right.get()[5*FrameSamples:]
	if !hearsTone(L, 500) || hearsTone(L, 1100) || hearsTone(L, 1700) {
		t.Errorf("left channel: citizen %.4f operator %.4f supervisor %.4f", goertzel(L, 500), goertzel(L, 1100), goertzel(L, 1700))
	}
	if hearsTone(R, 500) || !hearsTone(R, 1100) || hearsTone(R, 1700) {
		t.Errorf("right channel (whisper): citizen %.4f operator %.4f supervisor %.4f", goertzel(R, 500), goertzel(R, 1100), goertzel(R, 1700))
	}
	if err := m.SetRecording(sup, BridgeTap{}); err != nil {
		t.Fatal(err)
	}
	m.Remove(sup)
	if err := m.SetRecording(sup, BridgeTap{}); !errors.Is(err, ErrBridge) {
		t.Fatalf("recording a non-member: %v", err)
	}
}

type pcmTap struct {
	mu  sync.Mutex
	pcm []int16
}

func (p *pcmTap) WritePCM(_, _ uint32, _ time.Time, pcm []int16) {
	p.mu.Lock()
	p.pcm = append(p.pcm, pcm...)
	p.mu.Unlock()
}

func (p *pcmTap) get() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.pcm...)
}

// BenchmarkMixerFrame is one 20 ms mixer frame for a supervised call
// (3 legs: pull, mix per listener, encode, sendto) plus the readers'
// pushes of one packet each: allocs/op must be 0.
func BenchmarkMixerFrame(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(map[int]string{3: "legs=3", 5: "legs=5"}[n], func(b *testing.B) {
			e, err := NewEngine(Config{BindIP: loopback}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			sink, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			defer sink.Close()
			to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			m, err := e.NewMixer()
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			var legs []*Leg
			for range n {
				l, _ := e.NewLeg(nil)
				startNoGoroutines(l, SessionParams{Codec: CodecPCMU, Remote: to})
				if err := m.Add(l); err != nil {
					b.Fatal(err)
				}
				legs = append(legs, l)
			}
			m.Conference()
			tap := &nopTap{}
			_ = m.SetRecording(legs[0], BridgeTap{A: tap, B: tap})
			pcm := make([]int16, FrameSamples)
			for i := range pcm {
				pcm[i] = int16(i * 100)
			}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range legs {
					l.mix.Load().in.push(pcm)
				}
				m.mu.Lock()
				m.frameLocked(now)
				m.mu.Unlock()
			}
		})
	}
}

// A mixed leg held back (hold, mute: SetRelayHeld) hears silence, not the
// mix, and hears it again once released; keys sent to a mixed leg
// (SendDigits) go out as RFC 4733 events in place of the mix.
func TestMixerHeldLegAndDigits(t *testing.T) {
	e, _ := newTestEngine(t, Config{})
	ps := newMixParties(t, e, 500, 1100, 1700)
	cit := ps[0].leg
	m, err := e.NewMixer()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, p := range ps {
		if err := m.Add(p.leg); err != nil {
			t.Fatal(err)
		}
	}
	m.Conference()
	cit.SetRelayHeld(true)
	heard, _ := talk(t, ps, 600*time.Millisecond)
	for _, f := range []float64{1100, 1700} {
		if hearsTone(heard[0][5*FrameSamples:], f) {
			t.Errorf("the held citizen hears %v Hz of the mix", f)
		}
	}
	if !hearsTone(heard[1][5*FrameSamples:], 500) {
		t.Error("the others no longer hear the held citizen")
	}
	cit.SetRelayHeld(false)
	heard, _ = talk(t, ps, 600*time.Millisecond)
	if !hearsTone(heard[0][5*FrameSamples:], 1100) || !hearsTone(heard[0][5*FrameSamples:], 1700) {
		t.Error("the citizen does not hear the mix again after the hold")
	}

	if err := cit.SendDigits("5"); err != nil {
		t.Fatal(err)
	}
	_, pkts := talk(t, ps, 500*time.Millisecond)
	events := 0
	for _, r := range pkts[0] {
		if r.hdr.PayloadType == 101 {
			events++
			if len(r.payload) < 4 || r.payload[0] != 5 {
				t.Fatalf("event payload %x, want key 5", r.payload)
			}
		}
	}
	if events < 3 {
		t.Errorf("the mixed citizen leg sent %d RFC 4733 packets for a key, want the event", events)
	}
}
