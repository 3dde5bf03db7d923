package media

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// Who sends in the latching table. Loopback addresses, never bound and never
// sent to: the table drives handlePacket on legs without a pacer.
var latchBook = map[string]netip.AddrPort{
	"peer":      netip.MustParseAddrPort("127.0.0.1:4000"),  // the SDP's c= and m=
	"neighbour": netip.MustParseAddrPort("127.0.0.1:4002"),  // the SDP's address, another port
	"stranger":  netip.MustParseAddrPort("127.0.0.2:4000"),  // in no SDP, no SIP
	"nat":       netip.MustParseAddrPort("127.0.0.1:61000"), // a NATed peer's RTP: its signalling address
	"nat2":      netip.MustParseAddrPort("127.0.0.1:62000"), // the same NAT, another port
	"moved":     netip.MustParseAddrPort("127.0.0.3:5000"),  // where a re-offer moves the peer
}

var (
	sdpPeer    = latchBook["peer"]
	sdpPrivate = netip.MustParseAddrPort("10.0.0.5:4000") // a NATed seat's SDP
	sigLocal   = netip.MustParseAddr("127.0.0.1")         // where its REGISTER came from
)

// latchStep is one thing that happens to the leg: n in-sequence packets from
// a sender of latchBook, or an offer/answer (do), or a check (do).
type latchStep struct {
	who   string
	n     int
	ssrc  uint32        // non-zero: the sender starts a new SSRC (a new pcap)
	skip  uint16        // the sender's sequence jumps this far first
	pause time.Duration // quiet before (VAD/DTX); latching ignores time
	do    func(t *testing.T, l *Leg)
}

// voiceTap counts, per sender, the packets that reached the receive tap
// (each sender's payload is its own byte): what the other side would hear.
type voiceTap struct {
	mu    sync.Mutex
	heard map[int16]int
}

func (v *voiceTap) WritePCM(_ uint32, _ uint32, _ time.Time, pcm []int16) {
	v.mu.Lock()
	v.heard[pcm[0]]++
	v.mu.Unlock()
}

func sendingTo(want netip.AddrPort) func(*testing.T, *Leg) {
	return func(t *testing.T, l *Leg) {
		t.Helper()
		if got := l.Stats().SendingTo; got != want {
			t.Fatalf("sending to %v, want %v", got, want)
		}
	}
}

func reoffer(remote netip.AddrPort, dir Direction) func(*testing.T, *Leg) {
	return func(_ *testing.T, l *Leg) {
		l.Update(SessionParams{Codec: CodecPCMU, Remote: remote, Direction: dir})
	}
}

// alternate is rounds of one packet from a, then one from b.
func alternate(a, b string, rounds int) []latchStep {
	var out []latchStep
	for range rounds {
		out = append(out, latchStep{who: a, n: 1}, latchStep{who: b, n: 1})
	}
	return out
}

func TestStrictLatching(t *testing.T) {
	leakCheck(t)
	type drops = map[dropReason]uint64
	for _, tc := range []struct {
		name   string
		remote netip.AddrPort // the peer's SDP
		sig    netip.Addr     // the peer's signalling source
		steps  []latchStep
		heard  map[string]int // packets of each sender that got through
		drops  drops
		// at the end: the source latched to, and where our RTP goes
		latched, sendTo netip.AddrPort
	}{
		{
			name:   "peer learned from three in-sequence packets",
			remote: sdpPeer,
			steps:  []latchStep{{do: sendingTo(sdpPeer)}, {who: "peer", n: 5}},
			heard:  map[string]int{"peer": 3}, drops: drops{dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "stranger before the first peer packet",
			remote: sdpPeer,
			steps:  []latchStep{{who: "stranger", n: 1}, {who: "peer", n: 5}},
			heard:  map[string]int{"peer": 3}, drops: drops{dropStranger: 1, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "stranger sends an in-sequence run from another address",
			remote: sdpPeer,
			steps:  []latchStep{{who: "stranger", n: 50}, {do: sendingTo(sdpPeer)}, {who: "peer", n: 4}},
			heard:  map[string]int{"peer": 2}, drops: drops{dropStranger: 50, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "the peer's address on another port is a stranger",
			remote: sdpPeer,
			steps:  []latchStep{{who: "neighbour", n: 10}, {who: "peer", n: 3}, {who: "neighbour", n: 10}},
			heard:  map[string]int{"peer": 1}, drops: drops{dropStranger: 20, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "stranger during a pause",
			remote: sdpPeer,
			steps: []latchStep{
				{who: "peer", n: 10},
				// The old latch took any source after 1 s of silence and 2 packets.
				{who: "stranger", n: 3, pause: 1200 * time.Millisecond},
				{who: "stranger", n: 50, pause: 20 * time.Millisecond},
				{who: "peer", n: 10, pause: 3 * time.Second},
			},
			heard: map[string]int{"peer": 18}, drops: drops{dropStranger: 53, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "interleaved stranger, from the first packet on",
			remote: sdpPeer,
			steps:  alternate("stranger", "peer", 20),
			heard:  map[string]int{"peer": 18}, drops: drops{dropStranger: 20, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "interleaved stranger once latched",
			remote: sdpPeer,
			steps:  append([]latchStep{{who: "peer", n: 3}}, alternate("peer", "stranger", 20)...),
			heard:  map[string]int{"peer": 21}, drops: drops{dropStranger: 20, dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "NATed peer: SDP says 10.0.0.5, packets come from the signalling source",
			remote: sdpPrivate, sig: sigLocal,
			steps: []latchStep{
				// Nothing goes to the private address: it is not the peer's here.
				{do: sendingTo(netip.AddrPort{})},
				{who: "stranger", n: 5},
				{who: "nat", n: 6},
			},
			heard: map[string]int{"nat": 4}, drops: drops{dropStranger: 5, dropLearning: 2},
			latched: latchBook["nat"], sendTo: latchBook["nat"],
		},
		{
			name:   "NATed peer latched: the same NAT's other port is refused",
			remote: sdpPrivate, sig: sigLocal,
			steps: []latchStep{{who: "nat", n: 3}, {who: "nat2", n: 10, pause: 2 * time.Second}, {who: "nat", n: 2}},
			heard: map[string]int{"nat": 3}, drops: drops{dropLearning: 2, dropNotLatched: 10},
			latched: latchBook["nat"], sendTo: latchBook["nat"],
		},
		{
			name:   "signalling source with the SDP on the same host: both accepted before the latch",
			remote: sdpPeer, sig: sigLocal,
			steps: []latchStep{{do: sendingTo(sdpPeer)}, {who: "nat", n: 3}, {who: "peer", n: 3}},
			heard: map[string]int{"nat": 1}, drops: drops{dropLearning: 2, dropNotLatched: 3},
			latched: latchBook["nat"], sendTo: latchBook["nat"],
		},
		{
			name:   "a broken run starts learning again",
			remote: sdpPeer,
			steps: []latchStep{
				{who: "peer", n: 2}, {who: "peer", n: 2, skip: 5}, // seq gap
				{who: "peer", n: 2, ssrc: 0x5eed}, // SSRC change
				{who: "peer", n: 1},
			},
			heard: map[string]int{"peer": 1}, drops: drops{dropLearning: 6},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "new SSRC from the latched address",
			remote: sdpPeer,
			steps: []latchStep{
				{who: "peer", n: 4},
				{who: "peer", n: 5, ssrc: 0x12345678, skip: 30000}, // SIPp starts the next pcap
				{who: "peer", n: 1, ssrc: 0x9abcdef0},
			},
			heard: map[string]int{"peer": 8}, drops: drops{dropLearning: 2},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "re-offer moves the peer to a new address",
			remote: sdpPeer,
			steps: []latchStep{
				{who: "peer", n: 4},
				{do: reoffer(latchBook["moved"], SendRecv)},
				{do: sendingTo(latchBook["moved"])}, // at once, before its packets
				{who: "peer", n: 3},                 // no longer announced
				{who: "moved", n: 4},
				{who: "stranger", n: 2},
			},
			heard: map[string]int{"peer": 2, "moved": 2}, drops: drops{dropLearning: 4, dropStranger: 5},
			latched: latchBook["moved"], sendTo: latchBook["moved"],
		},
		{
			name:   "re-offers at the same address keep the latch (refresh, hold, c=0.0.0.0)",
			remote: sdpPeer,
			steps: []latchStep{
				{who: "peer", n: 3},
				{do: reoffer(sdpPeer, SendRecv)},
				{do: reoffer(sdpPeer, RecvOnly)}, // the peer holds with sendonly
				{who: "peer", n: 2},
				{do: reoffer(netip.AddrPort{}, SendRecv)}, // RFC 3264 §8.4 old-style hold
				{do: sendingTo(sdpPeer)},
				{who: "peer", n: 2},
				{do: reoffer(sdpPeer, SendRecv)},
				{who: "peer", n: 2},
				{who: "stranger", n: 3},
			},
			heard: map[string]int{"peer": 7}, drops: drops{dropLearning: 2, dropStranger: 3},
			latched: sdpPeer, sendTo: sdpPeer,
		},
		{
			name:   "a seat's signalling source learned after the offer",
			remote: sdpPrivate,
			steps: []latchStep{
				{who: "nat", n: 3}, // not announced yet: a stranger
				{do: func(_ *testing.T, l *Leg) { l.SetSignallingSource(sigLocal) }},
				{do: sendingTo(netip.AddrPort{})},
				{who: "nat", n: 3},
			},
			heard: map[string]int{"nat": 1}, drops: drops{dropStranger: 3, dropLearning: 2},
			latched: latchBook["nat"], sendTo: latchBook["nat"],
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestEngine(t, Config{})
			l, err := e.NewLeg(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.SetSignallingSource(tc.sig)
			startNoGoroutines(l, SessionParams{Codec: CodecPCMU, Remote: tc.remote, Direction: SendRecv})
			tap := &voiceTap{heard: map[int16]int{}}
			l.SetTap(tap)

			// Every sender has its own voice (payload byte), SSRC and sequence.
			names := make([]string, 0, len(latchBook))
			for n := range latchBook {
				names = append(names, n)
			}
			slices.Sort(names)
			type state struct {
				voice byte
				ssrc  uint32
				seq   uint16
			}
			senders := map[string]*state{}
			byVoice := map[int16]string{}
			for i, n := range names {
				s := &state{voice: byte(0x10 + i), ssrc: 0xabc00000 + uint32(i), seq: uint16(1000 * i)}
				senders[n] = s
				byVoice[ulawToPCM[s.voice]] = n
			}

			wall := time.Now()
			for _, st := range tc.steps {
				wall = wall.Add(st.pause)
				if st.do != nil {
					st.do(t, l)
					continue
				}
				s := senders[st.who]
				if s == nil {
					t.Fatalf("no sender %q", st.who)
				}
				if st.ssrc != 0 {
					s.ssrc = st.ssrc
				}
				s.seq += st.skip
				for range st.n {
					pkt := mustPacket(t, 0, false, nil, bytes.Repeat([]byte{s.voice}, 160))
					binary.BigEndian.PutUint16(pkt[2:], s.seq)
					binary.BigEndian.PutUint32(pkt[8:], s.ssrc)
					s.seq++
					wall = wall.Add(20 * time.Millisecond)
					l.handlePacket(pkt, latchBook[st.who], wall)
				}
			}

			heard := map[string]int{}
			for v, n := range tap.heard {
				heard[byVoice[v]] += n
			}
			if !mapsEqual(heard, tc.heard) {
				t.Errorf("heard %v, want %v", heard, tc.heard)
			}
			var want [numDropReasons]uint64
			for r, n := range tc.drops {
				want[r] = n
			}
			if got := l.counters().dropped; got != want {
				t.Errorf("drops %v, want %v (%v)", got, want, dropLabels)
			}
			if s := l.Stats(); s.Latched != tc.latched || s.SendingTo != tc.sendTo {
				t.Errorf("latched %v sending to %v, want %v and %v", s.Latched, s.SendingTo, tc.latched, tc.sendTo)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// The same through real sockets, the reader goroutine and the pacer: a
// stranger (bound on 127.0.0.2) that sends first and keeps sending hears
// nothing and is not heard; the peer's audio goes through; a NATed peer's
// private SDP address is never sent to.
func TestStrictLatchingOverUDP(t *testing.T) {
	leakCheck(t)
	e, reg := newTestEngine(t, Config{})
	ph := newPeer(t)
	stranger, err := listenOn(t, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A NATed peer: its SDP names a private address, its RTP comes from
	// its signalling source, 127.0.0.1.
	l.SetSignallingSource(sigLocal)
	l.Start(SessionParams{Codec: CodecPCMU, Remote: sdpPrivate, Direction: SendRecv})
	tap := &voiceTap{heard: map[int16]int{}}
	l.SetTap(tap)

	loud := bytes.Repeat([]byte{0x22}, 160)
	for range 20 { // an in-sequence run, before the peer's first packet
		stranger.sendAudio(l.LocalAddr(), 0, loud)
	}
	waitFor(t, time.Second, "stranger dropped", func() bool { return l.counters().dropped[dropStranger] == 20 })
	time.Sleep(60 * time.Millisecond) // three pacer frames: none may go anywhere
	if s := l.Stats(); s.PacketsOut != 0 || s.SendingTo.IsValid() || s.Latched.IsValid() {
		t.Fatalf("before the peer's first packet: %+v", s)
	}
	ph.introduce(l, 0)
	for range 5 {
		ph.sendAudio(l.LocalAddr(), 0, bytes.Repeat([]byte{0x33}, 160))
		stranger.sendAudio(l.LocalAddr(), 0, loud)
	}
	ph.recv(time.Second) // our RTP now reaches the peer, at its NAT's address
	waitFor(t, time.Second, "the peer heard", func() bool {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		return tap.heard[ulawToPCM[0x33]] == 5
	})
	stranger.expectNone(100 * time.Millisecond)
	tap.mu.Lock()
	if n := tap.heard[ulawToPCM[0x22]]; n != 0 {
		t.Errorf("the stranger was heard %d times", n)
	}
	tap.mu.Unlock()
	if v := gaugeValue(t, reg, "hotline_rtp_dropped_packets_total", "reason", "stranger"); v != 25 {
		t.Errorf("dropped{reason=stranger} %v, want 25", v)
	}
}

// listenOn binds a peer on another loopback address (Linux routes all of
// 127.0.0.0/8 to lo).
func listenOn(t *testing.T, ip string) (*peer, error) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c, seq: 7000, ts: 9000, ssrc: 0x57a2}, nil
}
