package media

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/metrictest"
)

func silent(payload []byte, b byte) bool {
	for _, x := range payload {
		if x != b {
			return false
		}
	}
	return len(payload) > 0
}

func TestLegSendsSilenceAndPlaysPrompts(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	ph := newPeer(t)
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Start(SessionParams{Codec: CodecPCMU, Remote: ph.addr(), Direction: SendRecv})

	first := ph.recv(time.Second)
	if !first.hdr.Marker || first.hdr.PayloadType != 0 || len(first.payload) != FrameSamples || !silent(first.payload, 0xFF) {
		t.Fatalf("first packet: marker=%v pt=%d len=%d", first.hdr.Marker, first.hdr.PayloadType, len(first.payload))
	}
	prev := first
	next := func() rcvd {
		t.Helper()
		r := ph.recv(time.Second)
		if r.hdr.SSRC != prev.hdr.SSRC || r.hdr.SequenceNumber != prev.hdr.SequenceNumber+1 || r.hdr.Timestamp != prev.hdr.Timestamp+FrameSamples {
			t.Fatalf("discontinuity: %d/%d/%x after %d/%d/%x", r.hdr.SequenceNumber, r.hdr.Timestamp, r.hdr.SSRC,
				prev.hdr.SequenceNumber, prev.hdr.Timestamp, prev.hdr.SSRC)
		}
		prev = r
		return r
	}
	for range 5 {
		if r := next(); r.hdr.Marker || !silent(r.payload, 0xFF) {
			t.Fatal("expected unmarked silence")
		}
	}

	// 110 ms + 50 ms: 8 frames; the click starts in the middle of the 6th.
	beep := Tone("beep", 1000, 110*time.Millisecond, 0.5)
	click := Tone("click", 500, 50*time.Millisecond, 0.5)
	done := l.Play(beep, click)
	want := append(append([]byte{}, beep.encoded(lawU)...), click.encoded(lawU)...)
	var got []byte
	for {
		r := next()
		if silent(r.payload, 0xFF) && len(got) == 0 {
			continue // frames sent before Play took effect
		}
		if len(got) == 0 && !r.hdr.Marker {
			t.Fatal("no marker on the first frame of the playback (RFC 3551 §4.1)")
		}
		got = append(got, r.payload...)
		if len(got) >= len(want) {
			break
		}
	}
	if !bytes.Equal(got[:len(want)], want) || (len(got) > len(want) && !silent(got[len(want):], 0xFF)) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("played audio differs from the prompts' encoding at byte %d of %d: got %x want %x", i, len(want), got[max(0, i-4):i+8], want[max(0, i-4):i+8])
			}
		}
		t.Fatal("played audio differs from the prompts' encoding")
	}
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("playback channel not closed")
	}
	if r := next(); !silent(r.payload, 0xFF) {
		t.Fatal("no silence after the playback")
	}

	// Play replaced by Play: the first channel closes at once; StopPlay closes the second.
	d1 := l.Play(NewPrompt("long", make([]int16, 8000*10)))
	d2 := l.Play(NewPrompt("long2", make([]int16, 8000*10)))
	<-d1
	l.StopPlay()
	<-d2
	if d := l.Play(); d == nil {
		t.Fatal("nil channel")
	} else {
		<-d
	}
}

func TestLegUpdateKeepsStream(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	ph1, ph2 := newPeer(t), newPeer(t)
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Start(SessionParams{Codec: CodecPCMU, Remote: ph1.addr()})
	last := ph1.recv(time.Second)
	// Re-INVITE: new address and codec.
	l.Update(SessionParams{Codec: CodecPCMA, Remote: ph2.addr(), Direction: SendRecv})
	for {
		r, err := ph1.tryRecv(100 * time.Millisecond)
		if err != nil {
			break
		}
		last = r
	}
	r := ph2.recv(time.Second)
	if r.hdr.SSRC != last.hdr.SSRC || r.hdr.SequenceNumber != last.hdr.SequenceNumber+1 || r.hdr.Timestamp != last.hdr.Timestamp+FrameSamples {
		t.Fatalf("stream broke across Update: %+v after %+v", r.hdr, last.hdr)
	}
	if r.hdr.PayloadType != 8 || !silent(r.payload, 0xD5) {
		t.Fatalf("after codec change: pt %d payload %x", r.hdr.PayloadType, r.payload[:4])
	}

	// Hold (peer sends a=sendonly -> we recvonly): we stop sending; the
	// timestamp keeps counting time, the sequence does not skip.
	l.Update(SessionParams{Codec: CodecPCMA, Remote: ph2.addr(), Direction: RecvOnly})
	time.Sleep(30 * time.Millisecond)
	ph2.drain()
	ph2.expectNone(150 * time.Millisecond)
	l.Update(SessionParams{Codec: CodecPCMA, Remote: ph2.addr(), Direction: SendRecv})
	after := ph2.recv(time.Second)
	if !after.hdr.Marker {
		t.Fatal("no marker when sending resumes")
	}
	if after.hdr.SSRC != r.hdr.SSRC {
		t.Fatal("SSRC changed across hold")
	}
	if gap := after.hdr.Timestamp - r.hdr.Timestamp; gap < 8*150 {
		t.Fatalf("timestamp advanced only %d samples across ~180 ms of hold", gap)
	}
}

type tapRec struct {
	mu    sync.Mutex
	ssrcs []uint32
	pcm   []int16
	calls int
}

func (r *tapRec) WritePCM(ssrc uint32, ts uint32, at time.Time, pcm []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ssrcs) == 0 || r.ssrcs[len(r.ssrcs)-1] != ssrc {
		r.ssrcs = append(r.ssrcs, ssrc)
	}
	r.pcm = append(r.pcm, pcm...)
	r.calls++
}

func (r *tapRec) snapshot() (calls int, ssrcs []uint32, pcm []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, slices.Clone(r.ssrcs), slices.Clone(r.pcm)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLegReceiveTapSSRCChangeAndGarbage(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	ph := newPeer(t)
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The tap is in place before the introduction: its last packet (the one
	// that latches) reaches the tap on the reader goroutine after Latched is
	// visible, so a tap set after introduce may or may not see it.
	tap := &tapRec{}
	l.SetTap(tap)
	l.Start(SessionParams{Codec: CodecPCMA, DTMFType: 101, Remote: ph.addr(), Direction: SendRecv})
	ph.introduce(l, 8)
	waitFor(t, time.Second, "introduction at the tap", func() bool { c, _, _ := tap.snapshot(); return c == 1 })

	frame := make([]byte, 160)
	for i := range frame {
		frame[i] = byte(i)
	}
	ph.sendAudio(l.LocalAddr(), 8, frame)
	ph.ssrc = 0x12345678 // a new source mid-call (SIPp replaying a pcap)
	ph.sendAudio(l.LocalAddr(), 8, frame)
	waitFor(t, time.Second, "tap", func() bool { c, _, _ := tap.snapshot(); return c == 3 })
	_, ssrcs, pcm := tap.snapshot()
	if !slices.Equal(ssrcs, []uint32{0xabcdef01, 0x12345678}) {
		t.Fatalf("ssrcs %x", ssrcs)
	}
	for i, s := range pcm[160:320] {
		if s != alawToPCM[frame[i]] {
			t.Fatalf("sample %d decoded %d", i, s)
		}
	}
	if s := l.Stats(); s.SSRCIn != 0x12345678 || s.PacketsIn != 3 { // the introduction's last packet, and these two
		t.Fatalf("stats %+v", s)
	}

	garbage := [][]byte{
		{1, 2, 3},
		bytes.Repeat([]byte{0}, 20), // version 0 (STUN-like)
		{0x80, 0xc8, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8},                         // RTCP SR on the RTP port
		{0x8f, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0},                      // 15 CSRCs announced, none there
		{0xa0, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff},                   // padding longer than the packet
		{0x90, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff}, // extension overflow
	}
	for _, g := range garbage {
		if _, err := ph.conn.WriteToUDPAddrPort(g, l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	// Still alive and decoding after the garbage.
	ph.sendAudio(l.LocalAddr(), 8, frame)
	waitFor(t, time.Second, "tap after garbage", func() bool { c, _, _ := tap.snapshot(); return c == 4 })
	if s := l.Stats(); s.Dropped != uint64(len(garbage)+learnPackets-1) {
		t.Fatalf("dropped %d, want %d garbage and %d learning", s.Dropped, len(garbage), learnPackets-1)
	}

	// DTMF from SIPp's key-1 packets: exactly one '1'.
	for i, h := range sippKey1 {
		p, _ := hex.DecodeString(h)
		ph.send(l.LocalAddr(), 101, i == 0, 13280, p)
	}
	select {
	case d := <-l.Digits():
		if d != '1' {
			t.Fatalf("digit %q", d)
		}
	case <-time.After(time.Second):
		t.Fatal("no digit")
	}
	select {
	case d := <-l.Digits():
		t.Fatalf("extra digit %q", d)
	case <-time.After(100 * time.Millisecond):
	}
	l.SetTap(nil)
}

// Replays SIPp's pcaps over UDP the way SIPp does (recorded headers, so the
// same SSRC for every key and the same timestamp when a key repeats).
func TestLegDigitsFromSIPpPcaps(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	ph := newPeer(t)
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Start(SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: ph.addr(), Direction: SendRecv})
	files := map[rune]string{}
	for _, f := range sippDTMFPcaps {
		files[f.digit] = f.file
	}
	keys := "91*1#"
	for _, k := range keys {
		for _, p := range loadSIPpPcap(t, files[k]) {
			if _, err := ph.conn.WriteToUDPAddrPort(p.payload, l.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var got []rune
	timeout := time.After(2 * time.Second)
	for len(got) < len(keys) {
		select {
		case d := <-l.Digits():
			got = append(got, d)
		case <-timeout:
			t.Fatalf("got %q, want %q", string(got), keys)
		}
	}
	if string(got) != keys {
		t.Fatalf("got %q, want %q", string(got), keys)
	}
}

func TestLegInactivity(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{Inactivity: 200 * time.Millisecond})
	ph, feeder := newPeer(t), newPeer(t)
	newStarted := func(dir Direction, remote *peer) *Leg {
		l, err := e.NewLeg(nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		l.Start(SessionParams{Codec: CodecPCMU, Remote: remote.addr(), Direction: dir})
		return l
	}
	silentPeer := newStarted(SendRecv, ph)
	playing := silentPeer.Play(NewPrompt("long", make([]int16, 8000*60)))
	held := newStarted(SendOnly, ph) // the peer offered recvonly: it will not send
	fed := newStarted(SendRecv, feeder)
	// The feeder's first packets are learned from (dropped): send them at
	// once, so that learning never races the 200 ms timeout.
	for range learnPackets {
		feeder.sendAudio(fed.LocalAddr(), 0, make([]byte, 160))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				feeder.sendAudio(fed.LocalAddr(), 0, make([]byte, 160))
			}
		}
	}()

	select {
	case <-silentPeer.Done():
		if !errors.Is(silentPeer.Err(), ErrInactivity) {
			t.Fatalf("err %v", silentPeer.Err())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("silent leg did not time out")
	}
	select {
	case <-playing:
	case <-time.After(time.Second):
		t.Fatal("playback channel still open after the leg ended")
	}
	if d := silentPeer.Play(Tone("x", 400, time.Second, 0.1)); d != nil {
		<-d // an ended leg plays nothing: closed at once
	}
	select {
	case <-held.Done():
		t.Fatal("held leg timed out")
	case <-fed.Done():
		t.Fatal("fed leg timed out")
	case <-time.After(600 * time.Millisecond):
	}
	close(stop)
	wg.Wait()
	// Unhold: the clock starts again, and with no packets the leg ends.
	held.Update(SessionParams{Codec: CodecPCMU, Remote: ph.addr(), Direction: SendRecv})
	select {
	case <-held.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("unheld leg did not time out")
	}
	if !errors.Is(held.Err(), ErrInactivity) {
		t.Fatalf("err %v", held.Err())
	}
}

// freeRange finds n consecutive even ports in 40000-59999 that bind now.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 40000 + rand.IntN(9000)*2
		ok := true
		for i := range n {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2*i})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func TestPortPool(t *testing.T) {
	leakCheck(t)
	base := freeRange(t, 3)
	// Odd PortMin is rounded up: base-1 -> base. Even ports base, base+2, base+4.
	e, reg := newTestEngine(t, Config{PortMin: base - 1, PortMax: base + 5})
	squatter, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2})
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()

	l1, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Drawn at random, the squatted port retried past: the other two.
	if got := []int{min(l1.LocalPort(), l2.LocalPort()), max(l1.LocalPort(), l2.LocalPort())}; got[0] != base || got[1] != base+4 {
		t.Fatalf("ports %d %d, want %d and %d (skipping the squatted %d)", l1.LocalPort(), l2.LocalPort(), base, base+4, base+2)
	}
	if _, err := e.NewLeg(nil); !errors.Is(err, ErrNoFreePort) {
		t.Fatalf("err %v, want ErrNoFreePort", err)
	}
	if v := gaugeValue(t, reg, "hotline_rtp_ports_in_use"); v != 2 {
		t.Fatalf("ports_in_use %v", v)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	l3, err := e.NewLeg(nil)
	if err != nil || l3.LocalPort() != l1.LocalPort() {
		t.Fatalf("after release: %v %v", l3, err)
	}
	if v := gaugeValue(t, reg, "hotline_rtp_legs"); v != 2 {
		t.Fatalf("legs %v", v)
	}

	for _, bad := range []Config{
		{BindIP: loopback, PortMin: 20001, PortMax: 20001},
		{BindIP: loopback, PortMin: 30000, PortMax: 20000},
		{BindIP: loopback, PortMin: 0, PortMax: 70000},
		{PortMin: 20000, PortMax: 20010},
		{BindIP: loopback, Inactivity: -1},
		{BindIP: loopback, PacerMode: 7},
	} {
		if _, err := NewEngine(bad, nil, nil); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: err %v", bad, err)
		}
	}
}

// A leg's port is drawn at random from the range: knowing one call's port
// tells an attacker nothing about the next call's (RTP Bleed guessed them).
func TestPortsAreRandom(t *testing.T) {
	leakCheck(t)
	const lo, hi = 40000, 59998
	e, _ := newTestEngine(t, Config{PortMin: lo, PortMax: hi})
	var ports []int
	seen := map[int]bool{}
	for range 24 {
		l, err := e.NewLeg(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		p := l.LocalPort()
		if p%2 != 0 || p < lo || p > hi || seen[p] {
			t.Fatalf("port %d: odd, out of %d-%d, or handed out twice", p, lo, hi)
		}
		seen[p] = true
		ports = append(ports, p)
	}
	// Sequential allocation makes every step +2; at random from 10,000 even
	// ports, two neighbours in a row are a 1-in-5,000 event.
	next, up := 0, 0
	for i := 1; i < len(ports); i++ {
		if d := ports[i] - ports[i-1]; d == 2 {
			next++
		} else if d > 0 {
			up++
		}
	}
	if next > 2 || up == len(ports)-1 {
		t.Fatalf("ports look sequential: %v", ports)
	}
}

func TestEngineCloseEndsEverything(t *testing.T) {
	leakCheck(t)
	for _, mode := range []PacerMode{PacerShared, PacerPerLeg} {
		t.Run(mode.String(), func(t *testing.T) {
			e, err := NewEngine(Config{BindIP: loopback, PacerMode: mode, Inactivity: time.Minute}, nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ph := newPeer(t)
			var legs []*Leg
			for range 5 {
				l, err := e.NewLeg(nil)
				if err != nil {
					t.Fatal(err)
				}
				l.Start(SessionParams{Codec: CodecPCMU, Remote: ph.addr()})
				legs = append(legs, l)
			}
			unstarted, _ := e.NewLeg(nil)
			ph.recv(time.Second)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			for _, l := range append(legs, unstarted) {
				select {
				case <-l.Done():
				default:
					t.Fatal("leg not done")
				}
				if !errors.Is(l.Err(), ErrClosed) {
					t.Fatalf("err %v", l.Err())
				}
				if _, open := <-l.Digits(); open {
					t.Fatal("digits channel open")
				}
			}
			if _, err := e.NewLeg(nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("NewLeg after Close: %v", err)
			}
			// Start after close is a no-op, not a goroutine leak.
			legs[0].Start(SessionParams{Codec: CodecPCMU, Remote: ph.addr()})
		})
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	return metrictest.Value(t, reg, name, labels...)
}

func TestMetrics(t *testing.T) {
	leakCheck(t)
	e, reg := newTestEngine(t, Config{})
	ph := newPeer(t)
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every drop reason is there, at 0, before anything happened.
	for _, r := range dropLabels {
		if v := gaugeValue(t, reg, "hotline_rtp_dropped_packets_total", "reason", r); v != 0 {
			t.Fatalf("dropped{reason=%q} %v at start", r, v)
		}
	}
	l.Start(SessionParams{Codec: CodecPCMU, Remote: ph.addr()})
	ph.recv(time.Second)
	ph.introduce(l, 0) // learnPackets-1 dropped while learning, the last one in
	stranger := newPeer(t)
	stranger.sendAudio(l.LocalAddr(), 0, make([]byte, 160))
	waitFor(t, time.Second, "stranger counted", func() bool { return l.Stats().Dropped == learnPackets })
	if v := gaugeValue(t, reg, "hotline_rtp_legs"); v != 1 {
		t.Fatalf("legs %v", v)
	}
	if v := gaugeValue(t, reg, "hotline_rtp_packets_total", "direction", "in"); v != 1 {
		t.Fatalf("in %v", v)
	}
	for r, want := range map[string]float64{"learning": learnPackets - 1, "stranger": 1, "not_latched": 0, "malformed": 0, "rtcp": 0} {
		if v := gaugeValue(t, reg, "hotline_rtp_dropped_packets_total", "reason", r); v != want {
			t.Errorf("dropped{reason=%q} %v, want %v", r, v, want)
		}
	}
	l.Close()
	out := gaugeValue(t, reg, "hotline_rtp_packets_total", "direction", "out")
	if out < 1 {
		t.Fatalf("out %v", out)
	}
	// Closed legs' packets stay counted (counters never go down).
	if v := gaugeValue(t, reg, "hotline_rtp_packets_total", "direction", "in"); v != 1 {
		t.Fatalf("in after close %v", v)
	}
	if v := gaugeValue(t, reg, "hotline_rtp_legs"); v != 0 {
		t.Fatalf("legs %v", v)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "hotline_rtp_") {
			t.Errorf("metric %s not prefixed", mf.GetName())
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "direction" && lp.GetName() != "reason" {
					t.Errorf("%s has label %s", mf.GetName(), lp.GetName())
				}
			}
		}
	}
	// A second engine on the same registry is refused, not a panic.
	if _, err := NewEngine(Config{BindIP: loopback}, nil, reg); err == nil {
		t.Fatal("duplicate registration accepted")
	}
}

type nopTap struct{ n int }

func (n *nopTap) WritePCM(uint32, uint32, time.Time, []int16) { n.n++ }

// The packet paths must not allocate: send (paced frame with playback),
// receive (audio with tap, DTMF, padding, header extension) and relay.
func TestPacketPathsDoNotAllocate(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	sink := newPeer(t)
	a, _ := e.NewLeg(nil)
	b, _ := e.NewLeg(nil)
	defer a.Close()
	defer b.Close()
	p := SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: sink.addr(), Direction: SendRecv}
	startNoGoroutines(a, p)
	startNoGoroutines(b, SessionParams{Codec: CodecPCMU, DTMFType: 96, Remote: sink.addr(), Direction: SendRecv})
	a.Play(NewPrompt("long", make([]int16, 8000*60)))

	T := int64(0)
	if n := testing.AllocsPerRun(500, func() {
		a.txMu.Lock()
		T += frameNS
		a.paceLocked(T)
		a.txMu.Unlock()
	}); n != 0 {
		t.Fatalf("send path: %v allocs per frame", n)
	}

	tap := &nopTap{}
	a.SetTap(tap)
	src := sink.addr()
	audio := mustPacket(t, 0, false, nil, make([]byte, 160))
	event, _ := hex.DecodeString("8065000100000000abcdef01010a0140")
	padded := append(mustPacket(t, 0, false, nil, make([]byte, 160)), 0, 0, 4)
	padded[0] |= 0x20
	withExt := mustPacket(t, 0, false, []byte{0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0}, make([]byte, 160))
	pkts := [][]byte{audio, event, padded, withExt}
	// A stranger (another address) and the peer's SDP address on another
	// port: both dropped, and dropping does not allocate either.
	stranger := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), src.Port())
	otherPort := netip.AddrPortFrom(src.Addr(), src.Port()+1)
	strange := mustPacket(t, 0, false, nil, make([]byte, 160))
	seq := uint16(0)
	run := func() {
		for _, pk := range pkts {
			seq++
			pk[2], pk[3] = byte(seq>>8), byte(seq)
			a.handlePacket(pk, src, time.Now())
			strange[2], strange[3] = byte(seq>>8), byte(seq)
			a.handlePacket(strange, stranger, time.Now())
			a.handlePacket(strange, otherPort, time.Now())
		}
	}
	run() // learn the peer (and log the first stranger) before measuring
	if n := testing.AllocsPerRun(300, run); n != 0 {
		t.Fatalf("receive path: %v allocs per 4 packets", n)
	}
	c := a.counters()
	if tap.n == 0 || c.dropped[dropLearning] != learnPackets-1 || c.dropped[dropMalformed] != 0 || c.dropped[dropStranger] == 0 {
		t.Fatalf("tap calls %d, drops %v", tap.n, c.dropped)
	}

	stop, err := Bridge(a, b, BridgeTap{A: tap})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	before := b.Stats().Relayed
	if n := testing.AllocsPerRun(300, run); n != 0 {
		t.Fatalf("relay path: %v allocs per 4 packets", n)
	}
	if b.Stats().Relayed == before {
		t.Fatal("nothing relayed")
	}
}

// mustPacket builds a raw RTP packet; ext is a full extension block
// (profile, length, data) or nil.
func mustPacket(t testing.TB, pt uint8, marker bool, ext []byte, payload []byte) []byte {
	t.Helper()
	b := []byte{0x80, pt, 0, 1, 0, 0, 0x10, 0, 0xab, 0xcd, 0xef, 0x01}
	if marker {
		b[1] |= 0x80
	}
	if ext != nil {
		b[0] |= 0x10
		b = append(b, ext...)
	}
	return append(b, payload...)
}

func FuzzRTPReceive(f *testing.F) {
	e, err := NewEngine(Config{BindIP: loopback}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	sinkConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sinkConn.Close() })
	sink := sinkConn.LocalAddr().(*net.UDPAddr).AddrPort()
	a, _ := e.NewLeg(nil)
	b, _ := e.NewLeg(nil)
	startNoGoroutines(a, SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: sink})
	startNoGoroutines(b, SessionParams{Codec: CodecPCMU, DTMFType: 96, Remote: sink})
	a.SetTap(&nopTap{})
	if _, err := Bridge(a, b, BridgeTap{A: &nopTap{}}); err != nil {
		f.Fatal(err)
	}
	event, _ := hex.DecodeString("80e51f30000033e00e05384e010a0000")
	f.Add(event)
	f.Add(append([]byte{0x80, 0x00, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, make([]byte, 160)...))
	f.Add([]byte{0x80, 0xc8, 0, 6})
	f.Add([]byte{0xb0, 0x08, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 0xbe, 0xde, 0, 1, 0x22, 1, 2, 3, 4})
	f.Add([]byte{0x9f, 0x65, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 0x10, 0x00, 0, 2})
	srcs := []netip.AddrPort{sink, netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("[::ffff:127.0.0.1]:9")}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for i, src := range srcs {
			a.handlePacket(pkt, src, time.Now().Add(time.Duration(i)*2*time.Second))
		}
		// Drain digits so the channel never fills up.
		for {
			select {
			case <-a.Digits():
				continue
			default:
			}
			break
		}
	})
}
