package recordings

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pkt is one simulated RTP packet as a recorder sees it.
type pkt struct {
	ssrc uint32
	ts   uint32
	at   time.Time
	pcm  []int16
}

func constant(n int, v int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = v
	}
	return s
}

var base = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func TestMonoPlacesPacketsInTime(t *testing.T) {
	// Packets of 20 ms; each carries the value k+1 where k is its index on
	// the wall-clock grid, so position p of the file must hold p/160+1
	// (or 0 where nothing was heard).
	type step struct {
		k    int    // grid slot (arrival = base + (k+1)*20ms)
		ssrc uint32 // stream
		ts   uint32
	}
	var steps []step
	// 0-9 normal; 10-14 lost (ts jumps); 15-19 normal.
	for k := 0; k < 20; k++ {
		if k >= 10 && k < 15 {
			continue
		}
		steps = append(steps, step{k, 1, 1000 + uint32(k)*160})
	}
	// A pause of 2 s with a frozen timestamp (the sender stopped its clock):
	// slots 20-119 silent; resumes at slot 120 with ts continuing from 19.
	for k := 120; k < 130; k++ {
		steps = append(steps, step{k, 1, 1000 + uint32(20+k-120)*160})
	}
	// A new SSRC with an unrelated timestamp (a pcap replayed by SIPp).
	for k := 130; k < 140; k++ {
		steps = append(steps, step{k, 2, 77777 + uint32(k-130)*160})
	}
	// Reordered pair and a duplicate.
	steps = append(steps, step{141, 2, 77777 + 11*160}, step{140, 2, 77777 + 10*160}, step{141, 2, 77777 + 11*160})

	path := filepath.Join(t.TempDir(), "vm.wav")
	m, err := CreateMono(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		at := base.Add(time.Duration(s.k+1) * 20 * time.Millisecond)
		m.WritePCM(s.ssrc, s.ts, at, constant(160, int16(s.k+1)))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	w := readWAV(t, path)
	if w.channels != 1 {
		t.Fatal("not mono")
	}
	if len(w.samples) != 142*160 {
		t.Fatalf("%d samples (%v), want %d: length must follow the wall clock", len(w.samples), time.Duration(len(w.samples))*time.Second/8000, 142*160)
	}
	heard := map[int]bool{}
	for _, s := range steps {
		heard[s.k] = true
	}
	for p, v := range w.samples {
		k := p / 160
		want := int16(0)
		if heard[k] {
			want = int16(k + 1)
		}
		if v != want {
			t.Fatalf("sample %d (slot %d) = %d, want %d", p, k, v, want)
		}
	}
	if m.Duration() != 142*20*time.Millisecond {
		t.Fatalf("Duration %v", m.Duration())
	}
}

func TestMonoJitterDoesNotAddSilence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.wav")
	m, err := CreateMono(path)
	if err != nil {
		t.Fatal(err)
	}
	// 3 s of packets with up to 40 ms of arrival jitter, contiguous timestamps.
	for k := range 150 {
		jitter := time.Duration((k*37)%41) * time.Millisecond
		m.WritePCM(9, uint32(k*160), base.Add(time.Duration(k+1)*20*time.Millisecond+jitter), constant(160, 100))
	}
	m.Close()
	w := readWAV(t, path)
	if len(w.samples) != 150*160 {
		t.Fatalf("%d samples, want %d", len(w.samples), 150*160)
	}
	for p, v := range w.samples {
		if v != 100 {
			t.Fatalf("silence inserted at %d", p)
		}
	}
}

// TestStereoAlignment: the caller (left) talks in 20 ms packets for 5 s; the
// seat (right) uses 30 ms packets and pauses from 1.5 s to 3.5 s. The file
// is continuous, both channels line up with when they were heard, the right
// channel is silent during its pause, and memory stays bounded.
func TestStereoAlignment(t *testing.T) {
	for _, frozen := range []bool{false, true} {
		name := "seat timestamps keep running"
		if frozen {
			name = "seat timestamps frozen during the pause"
		}
		t.Run(name, func(t *testing.T) {
			var pkts []pkt
			// Left: value = 1 + start ms of the packet. Arrival = end + jitter.
			for k := 0; k < 250; k++ {
				start := time.Duration(k) * 20 * time.Millisecond
				j := time.Duration((k*7)%5) * time.Millisecond
				pkts = append(pkts, pkt{ssrc: 0x1, ts: uint32(k * 160), at: base.Add(start + 20*time.Millisecond + j), pcm: constant(160, int16(1+start.Milliseconds()))})
			}
			// Right: value = -(1 + start ms).
			rts := uint32(5000)
			for k := 0; k < 166; k++ {
				start := time.Duration(k) * 30 * time.Millisecond
				if start >= 1500*time.Millisecond && start < 3500*time.Millisecond {
					if !frozen {
						rts += 240
					}
					continue
				}
				j := time.Duration((k*3)%4) * time.Millisecond
				pkts = append(pkts, pkt{ssrc: 0x2, ts: rts, at: base.Add(start + 30*time.Millisecond + j), pcm: constant(240, int16(-(1 + start.Milliseconds())))})
				rts += 240
			}
			// Deliver in arrival order (what two reader goroutines do in real time).
			sortByArrival(pkts)

			path := filepath.Join(t.TempDir(), "call.wav")
			s, err := CreateStereo(path)
			if err != nil {
				t.Fatal(err)
			}
			maxPend := 0
			for _, p := range pkts {
				f := s.Left()
				if p.ssrc == 0x2 {
					f = s.Right()
				}
				f.WritePCM(p.ssrc, p.ts, p.at, p.pcm)
				for _, tr := range s.m.tracks {
					maxPend = max(maxPend, len(tr.pend))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if maxPend > maxLatency+anchorTolerance+2*block+240 {
				t.Fatalf("pending audio grew to %d samples", maxPend)
			}
			w := readWAV(t, path)
			if w.channels != 2 {
				t.Fatal("not stereo")
			}
			left, right := w.channel(0), w.channel(1)
			// 5 s of audio (+ the seat's last packet may end up to 10 ms later).
			if n := len(left); n < 5*8000 || n > 5*8000+200 {
				t.Fatalf("%d frames, want about %d", n, 5*8000)
			}
			const slack = 10 // ms of alignment error tolerated (arrival jitter)
			for i := range left {
				ms := int64(i) / 8
				lv := int64(left[i])
				if lv == 0 && i < len(left)-200 {
					t.Fatalf("left channel has a gap at %d ms", ms)
				}
				if lv != 0 && (lv-1 > ms+slack || lv-1 < ms-20-slack) {
					t.Fatalf("left at %d ms carries audio from %d ms", ms, lv-1)
				}
				rv := -int64(right[i])
				inPause := ms >= 1500+slack+30 && ms < 3500-slack
				switch {
				case inPause && rv != 0:
					t.Fatalf("right not silent at %d ms during its pause (audio from %d ms)", ms, rv-1)
				case rv != 0 && (rv-1 > ms+slack || rv-1 < ms-30-slack):
					t.Fatalf("right at %d ms carries audio from %d ms", ms, rv-1)
				case rv == 0 && ms > 100 && ms < 1500-slack:
					t.Fatalf("right has a gap at %d ms", ms)
				case rv == 0 && ms > 3500+slack+30 && ms < 4900:
					t.Fatalf("right has a gap at %d ms after the pause", ms)
				}
			}
		})
	}
}

func sortByArrival(p []pkt) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].at.Before(p[j-1].at); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// Two goroutines feeding in real time, as the legs' readers do.
func TestStereoConcurrentFeeds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.wav")
	s, err := CreateStereo(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for ch, size := range []int{160, 240} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := s.Left()
			if ch == 1 {
				f = s.Right()
			}
			period := time.Duration(size) * time.Second / SampleRate
			for k := range int(500 * time.Millisecond / period) {
				time.Sleep(period)
				f.WritePCM(uint32(ch), uint32(k*size), time.Now(), constant(size, int16(ch+1)))
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := readWAV(t, path)
	d := time.Duration(len(w.samples)/2) * time.Second / SampleRate
	if d < 400*time.Millisecond || d > 700*time.Millisecond {
		t.Fatalf("duration %v for ~500 ms of feeding", d)
	}
	s.Left().WritePCM(0, 0, time.Now(), constant(160, 1)) // after Close: ignored
}

func TestRecorderChannelChecks(t *testing.T) {
	dir := t.TempDir()
	w1, _ := CreateWAV(filepath.Join(dir, "m.wav"), 1)
	defer w1.Close()
	w2, _ := CreateWAV(filepath.Join(dir, "s.wav"), 2)
	defer w2.Close()
	if _, err := NewStereo(w1); err == nil {
		t.Fatal("stereo on a mono writer")
	}
	if _, err := NewMono(w2); err == nil {
		t.Fatal("mono on a stereo writer")
	}
	m, err := NewMono(w1)
	if err != nil {
		t.Fatal(err)
	}
	// Closing with nothing recorded gives a valid empty file.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if h := readWAV(t, filepath.Join(dir, "m.wav")); h.dataSize != 0 || len(h.samples) != 0 {
		t.Fatalf("empty recording %+v", h)
	}
}

func TestMonoWriteAllocs(t *testing.T) {
	m, err := CreateMono(filepath.Join(t.TempDir(), "a.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pcm := constant(160, 5)
	k := 0
	at := base
	write := func() {
		k++
		at = at.Add(20 * time.Millisecond)
		m.WritePCM(1, uint32(k*160), at, pcm)
	}
	for range 100 {
		write()
	}
	if a := testing.AllocsPerRun(500, write); a > 0 {
		t.Fatalf("%v allocs per packet", a)
	}
}
