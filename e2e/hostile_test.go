package e2e

// Issue 9, "Hostile network": RTP Bleed (CVE-2017-14099) tried on the real
// binary. A stranger on another loopback address, in no SDP and no SIP
// message, sends RTP to a call's legs: before the peer's first packet, while
// the peer pauses (VAD/DTX) and interleaved with the peer's stream. It must
// get nothing back, and nothing it sends may reach the other party or the
// recording. A seat behind NAT (private address in its SDP, RTP from its
// REGISTER source) must still be heard and hear.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// The strangers' "voices": one per leg attacked, so a failure says which.
const (
	strangerTrunkHz = 2000.0 // sent to the caller's (trunk) leg
	strangerSeatHz  = 2500.0 // sent to the seat's leg
)

// stranger sends an RTP stream (PCMU, one SSRC, in sequence, every 20 ms:
// exactly what a latch learns from) from its own loopback address, and
// counts what comes back.
type stranger struct {
	conn *net.UDPConn
	hz   float64
	sent atomic.Int64
	got  atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newStranger(t *testing.T, ip string, hz float64) *stranger {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("stranger on %s: %v (only 127.0.0.0/8 is usable here)", ip, err)
	}
	s := &stranger{conn: conn, hz: hz, cancel: func() {}}
	s.wg.Add(1)
	go func() { // anything the switch sends it is a leak
		defer s.wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
			s.got.Add(1)
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// attack starts sending to dst until stop.
func (s *stranger) attack(dst netip.AddrPort) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	pkts := siptest.NewStream(netip.AddrPort{}, dst, 0, 101, 0xBAD0BAD).Audio(siptest.Tone(40*time.Second, 0.3, s.hz)).Packets()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		to := net.UDPAddrFromAddrPort(dst)
		for _, p := range pkts {
			if _, err := s.conn.WriteToUDP(p.Payload, to); err == nil {
				s.sent.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (s *stranger) stop() {
	s.cancel()
	_ = s.conn.Close()
	s.wg.Wait()
}

func (s *stranger) addr() netip.Addr {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
}

var mAudio = regexp.MustCompile(`(?m)^m=audio (\d+) `)

// sdpPort finds, among captured SIP datagrams from the switch to dst, the
// first whose start line begins with first and that carries SDP: the
// switch's RTP port for that peer.
func sdpPort(pkts []siptest.Packet, from netip.AddrPort, dst int, first string) (int, bool) {
	for _, p := range pkts {
		if p.Src != from || int(p.Dst.Port()) != dst || !strings.HasPrefix(string(p.Payload), first) {
			continue
		}
		if m := mAudio.FindSubmatch(p.Payload); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			return n, true
		}
	}
	return 0, false
}

// rtpTo returns the RTP packets to the switch's port from addr, in order.
func rtpTo(pkts []siptest.Packet, port int, from netip.Addr) []siptest.Packet {
	var out []siptest.Packet
	for _, p := range pkts {
		if int(p.Dst.Port()) == port && p.Src.Addr() == from {
			if _, ok := siptest.ParseRTP(p.Payload); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// rtpFrom returns what the switch sent from its port to 127.0.0.1.
func rtpFrom(pkts []siptest.Packet, port int) []siptest.Packet {
	var out []siptest.Packet
	for _, p := range pkts {
		if int(p.Src.Port()) == port && p.Dst.Addr() == netip.MustParseAddr("127.0.0.1") {
			out = append(out, p)
		}
	}
	return out
}

// attackWindows checks that the stranger really struck in each of the three
// moments (else the test proves nothing): before the peer's first packet,
// inside a pause of the peer of more than 1.2 s, and interleaved with the
// peer's packets. It returns how many of the stranger's packets arrived
// while the peer was still sending: all of them reached an open leg.
func attackWindows(t *testing.T, leg string, peer, bad []siptest.Packet) int {
	t.Helper()
	if len(peer) == 0 || len(bad) == 0 {
		t.Fatalf("%s leg: captured %d packets of the peer and %d of the stranger", leg, len(peer), len(bad))
	}
	firstPeer, lastPeer := peer[0].At, peer[len(peer)-1].At
	var before, inPause, interleaved, total int
	var pauses []string
	for i := 1; i < len(peer); i++ {
		if gap := peer[i].At - peer[i-1].At; gap > 1200*time.Millisecond {
			pauses = append(pauses, fmt.Sprintf("%s at %s", gap.Round(time.Millisecond), peer[i-1].At.Round(time.Millisecond)))
			for _, b := range bad {
				if b.At > peer[i-1].At && b.At < peer[i].At {
					inPause++
				}
			}
		}
	}
	j := 0
	for _, b := range bad {
		switch {
		case b.At < firstPeer:
			before++
		case b.At <= lastPeer:
			total++
			// interleaved: a peer packet within 40 ms either side
			for j < len(peer)-1 && peer[j+1].At < b.At {
				j++
			}
			if b.At-peer[j].At < 40*time.Millisecond && j+1 < len(peer) && peer[j+1].At-b.At < 40*time.Millisecond {
				interleaved++
			}
		}
	}
	t.Logf("%s leg: peer sent %d packets (%s..%s, pauses %v); stranger %d before the peer's first, %d in its pauses, %d interleaved",
		leg, len(peer), firstPeer.Round(time.Millisecond), lastPeer.Round(time.Millisecond), pauses, before, inPause, interleaved)
	if before < 10 || len(pauses) == 0 || inPause < 30 || interleaved < 50 {
		t.Fatalf("%s leg: the attack did not happen as planned (before %d, pauses %v with %d stranger packets, interleaved %d)",
			leg, before, pauses, inPause, interleaved)
	}
	return before + total
}

// pcmOf decodes the PCMU packets, in order.
func pcmOf(pkts []siptest.Packet) []int16 {
	var pcm []int16
	for _, p := range pkts {
		if rtp, ok := siptest.ParseRTP(p.Payload); ok && rtp.PT == 0 {
			pcm = append(pcm, siptest.DecodeG711(0, rtp.Payload)...)
		}
	}
	return pcm
}

// onlyVoice checks that pcm carries the voice at hz and neither stranger's.
func onlyVoice(t *testing.T, what string, pcm []int16, hz float64) {
	t.Helper()
	own := siptest.ToneLevel(pcm, hz)
	st1, st2 := siptest.ToneLevel(pcm, strangerTrunkHz), siptest.ToneLevel(pcm, strangerSeatHz)
	t.Logf("%s (%s): its voice (%.0f Hz) %.4f, trunk stranger %.4f, seat stranger %.4f",
		what, time.Duration(len(pcm))*time.Second/8000, hz, own, st1, st2)
	if own < 0.02 {
		t.Errorf("%s lacks its voice (%.0f Hz at %.4f)", what, hz, own)
	}
	if st1 > 0.005 || st2 > 0.005 {
		t.Errorf("%s carries a stranger: %.0f Hz at %.4f, %.0f Hz at %.4f", what, strangerTrunkHz, st1, strangerSeatHz, st2)
	}
}

// mediaHotline starts a hotline whose RTP port range the test knows, logged
// in; it returns its SIP address and a tcpdump filter for its SIP and RTP
// ports.
func mediaHotline(t *testing.T) (*siptest.Hotline, netip.AddrPort, string) {
	t.Helper()
	rtpPorts := siptest.RTPRange()
	lo, hi, _ := strings.Cut(rtpPorts, "-")
	h := siptest.StartHotline(t, siptest.Config{RTPPorts: rtpPorts})
	h.Login(t)
	sip := netip.MustParseAddrPort(h.Ready.SIPUDP)
	return h, sip, fmt.Sprintf("portrange %s-%s or port %d", lo, hi, sip.Port())
}

// A stranger on 127.0.0.5 attacks the caller's (trunk) leg and one on
// 127.0.0.6 the seat's leg, each from the moment the switch names the port
// in its SDP (before the peer's first packet), through the peer's 1.5 s
// pause and interleaved with the peer's stream, until the call ends. The
// strangers get nothing back; what the switch sends to the seat and to the
// caller, and the recording's two channels, carry the caller's and the
// seat's voices and none of the strangers'; every stranger packet that
// reached an open leg is counted as dropped, reason "stranger".
func TestStrangerRTPIsNeverHeard(t *testing.T) {
	t.Parallel()
	h, hotlineSIP, switchPorts := mediaHotline(t)
	trunkStranger := newStranger(t, "127.0.0.5", strangerTrunkHz)
	seatStranger := newStranger(t, "127.0.0.6", strangerSeatHz)

	seat := siptest.RegisterSeat(t, h, "8001")
	// The operator talks 3 s, pauses 1.5 s (DTX), talks on.
	seatPCAP := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x5eA7).
		Audio(siptest.Tone(3*time.Second, 0.25, seatHz)).
		Silence(1500 * time.Millisecond).
		Audio(siptest.Tone(12*time.Second, 0.25, seatHz))
	siptest.WritePCAPFile(t, seat.Dir, "seat.pcap", seatPCAP.Packets())

	// The citizen is quiet 1.5 s after the ACK, presses 1, talks 4 s,
	// pauses 1.5 s, talks 5 s, hangs up 11 s after starting to talk.
	dir := t.TempDir()
	callerPCAP := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(4*time.Second, 0.25, callerHz1, callerHz2)).
		Silence(1500 * time.Millisecond).
		Audio(siptest.Tone(5*time.Second, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "audio.pcap", callerPCAP.Packets())
	callerSIP, callerMP := siptest.FreePort(t), siptest.FreePort(t)

	capture := siptest.StartCapture(t, fmt.Sprintf("udp and (%s or host %s or host %s)", switchPorts, trunkStranger.addr(), seatStranger.addr()))

	seatRun := seat.Run(t, "seat_answer.xml", 40*time.Second, "ring_ms", "1000", "talk_ms", "0", "hangup", "caller", "pt", "0", "codec", "PCMU")
	const caller = "13911112222"
	callerRun := siptest.SIPp{
		Scenario: "caller_quiet_then_talks.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, LocalPort: callerSIP, MediaPort: callerMP, PauseMS: 11000,
		Extra: []string{"-key", "quiet_ms", "1500"},
	}.Start(t, 40*time.Second)

	// Each stranger strikes as soon as the switch names its leg's port: the
	// 200 OK to the caller, the INVITE to the seat.
	var trunkPort, seatPort int
	deadline := time.Now().Add(15 * time.Second)
	for trunkPort == 0 || seatPort == 0 {
		if time.Now().After(deadline) {
			// A hijacked caller leg never hears the caller's key: no seat rings.
			t.Fatalf("no SDP from the switch in 15 s (caller leg port %d, seat leg port %d); the switch sent the stranger on %s %d packets",
				trunkPort, seatPort, trunkStranger.addr(), trunkStranger.got.Load())
		}
		time.Sleep(20 * time.Millisecond)
		pkts := capture.Packets(t)
		if p, ok := sdpPort(pkts, hotlineSIP, callerSIP, "SIP/2.0 200 "); ok && trunkPort == 0 {
			trunkPort = p
			trunkStranger.attack(netip.AddrPortFrom(hotlineSIP.Addr(), uint16(p)))
		}
		if p, ok := sdpPort(pkts, hotlineSIP, seat.Port, "INVITE "); ok && seatPort == 0 {
			seatPort = p
			seatStranger.attack(netip.AddrPortFrom(hotlineSIP.Addr(), uint16(p)))
		}
	}
	t.Logf("switch ports: caller leg %d, seat leg %d", trunkPort, seatPort)

	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	trunkStranger.stop()
	seatStranger.stop()
	pkts := capture.Stop(t)

	// The attack happened as described, on both legs.
	local := netip.MustParseAddr("127.0.0.1")
	atOpenLegs := attackWindows(t, "caller", rtpTo(pkts, trunkPort, local), rtpTo(pkts, trunkPort, trunkStranger.addr())) +
		attackWindows(t, "seat", rtpTo(pkts, seatPort, local), rtpTo(pkts, seatPort, seatStranger.addr()))

	// The strangers got nothing.
	for _, s := range []*stranger{trunkStranger, seatStranger} {
		var leaked int
		for _, p := range pkts {
			if p.Dst.Addr() == s.addr() {
				leaked++
			}
		}
		if leaked > 0 || s.got.Load() > 0 {
			t.Errorf("the switch sent %d packets to the stranger on %s (it read %d)", leaked, s.addr(), s.got.Load())
		}
		t.Logf("stranger %s sent %d packets", s.addr(), s.sent.Load())
	}

	// What the switch sent each side: the other's voice, no stranger.
	onlyVoice(t, "the switch's RTP to the seat", pcmOf(rtpFrom(pkts, seatPort)), callerHz1)
	onlyVoice(t, "the switch's RTP to the caller", pcmOf(rtpFrom(pkts, trunkPort)), seatHz)

	// The recording: caller left, seat right, no stranger on either.
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "answered" {
		t.Fatalf("ticket outcome %s, want answered", str(tk.Outcome))
	}
	wav := recording(t, h, tk.ID)
	if wav.Channels != 2 {
		t.Fatalf("recording has %d channels, want 2", wav.Channels)
	}
	onlyVoice(t, "the recording's caller channel (left)", wav.Samples[0], callerHz1)
	onlyVoice(t, "the recording's seat channel (right)", wav.Samples[1], seatHz)

	// Counted: every stranger packet that reached an open leg.
	dropped := metricValue(t, scrape(t, h), "hotline_rtp_dropped_packets_total", `reason="stranger"`)
	t.Logf("hotline_rtp_dropped_packets_total{reason=\"stranger\"} %.0f (stranger packets captured while the legs were open: %d)", dropped, atOpenLegs)
	if dropped < float64(atOpenLegs) {
		t.Errorf("dropped stranger packets %.0f, want at least the %d that reached open legs", dropped, atOpenLegs)
	}
}

// A seat behind NAT: its SDP names a private address nobody here can reach
// (10.255.0.7), its RTP comes from the address its REGISTER came from
// (127.0.0.1). The switch learns it from there and audio flows both ways:
// the caller hears the seat, the seat hears the caller, the recording has
// both.
func TestNATSeatIsHeardFromItsRegisterSource(t *testing.T) {
	t.Parallel()
	h, hotlineSIP, switchPorts := mediaHotline(t)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 15*time.Second)
	seatRun := seat.Run(t, "seat_answer_nat.xml", 40*time.Second, "sdp_ip", "10.255.0.7",
		"ring_ms", "500", "talk_ms", "0", "hangup", "caller", "pt", "0", "codec", "PCMU")

	const caller = "13922223333"
	dir := t.TempDir()
	callerPress(t, dir, '1', 0, 15*time.Second)
	if err := os.Rename(filepath.Join(dir, "press.pcap"), filepath.Join(dir, "audio.pcap")); err != nil {
		t.Fatal(err)
	}
	callerSIP := siptest.FreePort(t)
	capture := siptest.StartCapture(t, "udp and ("+switchPorts+")")
	// key at 0.8 s, ring 0.5 s, then about 6 s of talk.
	r := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, LocalPort: callerSIP, PauseMS: 8000,
	}.Run(t, 40*time.Second)
	expectSIPpOK(t, r)
	expectSIPpOK(t, seatRun.Wait(t))
	pkts := capture.Stop(t)

	trunkPort, ok1 := sdpPort(pkts, hotlineSIP, callerSIP, "SIP/2.0 200 ")
	seatPort, ok2 := sdpPort(pkts, hotlineSIP, seat.Port, "INVITE ")
	if !ok1 || !ok2 {
		t.Fatalf("no SDP from the switch in the capture (caller %v, seat %v)", ok1, ok2)
	}
	toSeat := rtpFrom(pkts, seatPort)
	heardBySeat := siptest.ToneLevel(pcmOf(toSeat), callerHz1)
	heardByCaller := siptest.ToneLevel(pcmOf(rtpFrom(pkts, trunkPort)), seatHz)
	t.Logf("switch ports: caller leg %d, seat leg %d; the seat got %d packets (caller's voice %.4f), the caller heard the seat at %.4f",
		trunkPort, seatPort, len(toSeat), heardBySeat, heardByCaller)
	if heardBySeat < 0.02 {
		t.Errorf("the NATed seat did not hear the caller (%.4f)", heardBySeat)
	}
	if heardByCaller < 0.02 {
		t.Errorf("the caller did not hear the NATed seat (%.4f)", heardByCaller)
	}
	// Symmetric RTP: the switch answered where the seat's packets came from.
	seatSrc := rtpTo(pkts, seatPort, netip.MustParseAddr("127.0.0.1"))
	if len(seatSrc) == 0 {
		t.Fatal("the seat sent no RTP")
	}
	for _, p := range toSeat {
		if p.Dst != seatSrc[0].Src {
			t.Errorf("the switch sent the seat's audio to %s, the seat sends from %s", p.Dst, seatSrc[0].Src)
			break
		}
	}

	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "answered" {
		t.Fatalf("ticket outcome %s, want answered", str(tk.Outcome))
	}
	checkStereo(t, h, tk.ID, 6*time.Second)

	// Nothing went to the private address (it routes off this host, so the
	// capture on lo cannot see it): every packet the switch counts as sent
	// is one captured on lo.
	var onLo int
	for _, p := range pkts {
		if sp := int(p.Src.Port()); (sp == trunkPort || sp == seatPort) && p.Src.Addr() == hotlineSIP.Addr() {
			onLo++
		}
	}
	m := scrape(t, h)
	out := metricValue(t, m, "hotline_rtp_packets_total", `direction="out"`)
	sendErrors := metricValue(t, m, "hotline_rtp_send_errors_total")
	t.Logf("the switch counted %.0f RTP packets sent (%.0f send errors); %d seen on lo", out, sendErrors, onLo)
	if out != float64(onLo) || sendErrors != 0 {
		t.Errorf("the switch counted %.0f RTP packets sent and %.0f send errors, %d seen on lo: it sent to the seat's private SDP address", out, sendErrors, onLo)
	}
}
