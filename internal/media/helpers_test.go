package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMain fails the run if any goroutine started by this package (or its
// tests) is still alive at the end: no goleak in go.mod, so by hand.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakCheck registers a check, run after every other cleanup of the test,
// that no goroutine created by this package is left.
func leakCheck(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		if err := checkGoroutines(3 * time.Second); err != nil {
			t.Error(err)
		}
	})
}

const pkgPath = "github.com/hotline12348/hotline/internal/media."

func checkGoroutines(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "created by "+pkgPath) && !strings.Contains(g, "checkGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutine(s) left behind:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var loopback = netip.MustParseAddr("127.0.0.1")

// newTestEngine builds an engine on 127.0.0.1 with kernel-chosen ports and a
// fresh registry; it is closed at cleanup.
func newTestEngine(t testing.TB, cfg Config) (*Engine, *prometheus.Registry) {
	t.Helper()
	if !cfg.BindIP.IsValid() {
		cfg.BindIP = loopback
	}
	reg := prometheus.NewRegistry()
	e, err := NewEngine(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e, reg
}

// peer is a plain UDP socket standing in for a phone.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
	seq  uint16
	ts   uint32
	ssrc uint32
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(1 << 20)
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c, seq: 1000, ts: 5000, ssrc: 0xabcdef01}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// send writes one RTP packet to the leg.
func (p *peer) send(to netip.AddrPort, pt uint8, marker bool, ts uint32, payload []byte) {
	p.t.Helper()
	h := rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: p.seq, Timestamp: ts, SSRC: p.ssrc}
	p.seq++
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// sendAudio sends a 20 ms PCMU frame and advances the peer's timestamp.
func (p *peer) sendAudio(to netip.AddrPort, pt uint8, payload []byte) {
	p.send(to, pt, false, p.ts, payload)
	p.ts += uint32(len(payload))
}

// introduce makes leg l latch to p the way a phone's first packets do:
// learnPackets in-sequence frames of silence, then waits for the latch.
func (p *peer) introduce(l *Leg, pt uint8) {
	p.t.Helper()
	sil := byte(0xFF)
	if pt == 8 {
		sil = 0xD5
	}
	for range learnPackets {
		p.sendAudio(l.LocalAddr(), pt, bytes.Repeat([]byte{sil}, 160))
	}
	deadline := time.Now().Add(2 * time.Second)
	for l.Stats().Latched != p.addr() {
		if time.Now().After(deadline) {
			p.t.Fatalf("leg did not latch to %s: %+v", p.addr(), l.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type rcvd struct {
	hdr     rtp.Header
	payload []byte
	at      time.Time
	from    netip.AddrPort
}

// recv reads one RTP packet or fails after d.
func (p *peer) recv(d time.Duration) rcvd {
	p.t.Helper()
	r, err := p.tryRecv(d)
	if err != nil {
		p.t.Fatalf("peer %s: %v", p.addr(), err)
	}
	return r
}

func (p *peer) tryRecv(d time.Duration) (rcvd, error) {
	buf := make([]byte, 2000)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return rcvd{}, err
	}
	var pk rtp.Packet
	if err := pk.Unmarshal(buf[:n]); err != nil {
		return rcvd{}, err
	}
	return rcvd{hdr: pk.Header, payload: pk.Payload, at: time.Now(), from: from}, nil
}

// drain discards what is queued.
func (p *peer) drain() {
	buf := make([]byte, 2000)
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, _, err := p.conn.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

// expectNone asserts nothing arrives for d.
func (p *peer) expectNone(d time.Duration) {
	p.t.Helper()
	if r, err := p.tryRecv(d); err == nil {
		p.t.Fatalf("peer %s: unexpected packet %+v", p.addr(), r.hdr)
	}
}

// startNoGoroutines puts a leg in the started state without a reader or a
// pacer, so tests can drive handlePacket and paceLocked by hand.
func startNoGoroutines(l *Leg, p SessionParams) {
	l.Update(p)
	l.lifeMu.Lock()
	l.started = true
	l.lifeMu.Unlock()
	l.txMu.Lock()
	l.tx.started = true
	l.tx.marker = true
	l.txMu.Unlock()
}

// ---- pcap reading (Ethernet / IPv4 / UDP / RTP), enough for SIPp's pcaps ----

type pcapPacket struct {
	at      time.Duration // since the first packet
	payload []byte        // UDP payload
}

var errPcap = errors.New("pcap")

func readPcap(path string) ([]pcapPacket, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePcap(data)
}

func parsePcap(data []byte) ([]pcapPacket, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("%w: short global header", errPcap)
	}
	var bo binary.ByteOrder
	nano := false
	switch {
	case bytes.Equal(data[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}):
		bo = binary.LittleEndian
	case bytes.Equal(data[:4], []byte{0xa1, 0xb2, 0xc3, 0xd4}):
		bo = binary.BigEndian
	case bytes.Equal(data[:4], []byte{0x4d, 0x3c, 0xb2, 0xa1}):
		bo, nano = binary.LittleEndian, true
	case bytes.Equal(data[:4], []byte{0xa1, 0xb2, 0x3c, 0x4d}):
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%w: bad magic %x", errPcap, data[:4])
	}
	if link := bo.Uint32(data[20:24]); link != 1 {
		return nil, fmt.Errorf("%w: link type %d, want 1 (Ethernet)", errPcap, link)
	}
	var out []pcapPacket
	var first time.Duration
	rest := data[24:]
	for len(rest) >= 16 {
		sec, frac, incl := bo.Uint32(rest[0:4]), bo.Uint32(rest[4:8]), bo.Uint32(rest[8:12])
		rest = rest[16:]
		if int(incl) > len(rest) {
			return nil, fmt.Errorf("%w: truncated record", errPcap)
		}
		frame := rest[:incl]
		rest = rest[incl:]
		at := time.Duration(sec) * time.Second
		if nano {
			at += time.Duration(frac)
		} else {
			at += time.Duration(frac) * time.Microsecond
		}
		if out == nil {
			first = at
		}
		udp, ok := udpPayload(frame)
		if !ok {
			continue
		}
		out = append(out, pcapPacket{at: at - first, payload: udp})
	}
	return out, nil
}

func udpPayload(frame []byte) ([]byte, bool) {
	if len(frame) < 14 {
		return nil, false
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	ip := frame[14:]
	if et == 0x8100 && len(frame) >= 18 { // 802.1Q
		et = binary.BigEndian.Uint16(frame[16:18])
		ip = frame[18:]
	}
	if et != 0x0800 || len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return nil, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ihl < 20 || total < ihl+8 || total > len(ip) {
		return nil, false
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return nil, false
	}
	return udp[8:ulen], true
}
