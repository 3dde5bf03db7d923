package media

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sealer encrypts a test peer's RTP as a phone with key would.
func sealer(t *testing.T, key []byte) *srtp.Context {
	t.Helper()
	c, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sealed is p's next packet (seq, ts advanced) encrypted with c.
func (p *peer) sealed(t *testing.T, c *srtp.Context, payload []byte) []byte {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}
	p.seq++
	p.ts += uint32(len(payload))
	plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *peer) sendRaw(t *testing.T, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// An SRTP leg hears only what the peer's key sealed: plain RTP from the
// very address it latched to, a replayed packet and a packet sealed with
// another key are dropped (reason srtp); what it sends is sealed with its
// own key (the peer opens it, and the payload on the wire is not the audio).
func TestSRTPLeg(t *testing.T) {
	leakCheck(t)
	e, reg := newTestEngine(t, Config{})
	ph := newPeer(t)
	legKey, peerKey := NewSRTPKey(), NewSRTPKey()
	l, err := e.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Start(SessionParams{Codec: CodecPCMU, Remote: ph.addr(), Direction: SendRecv, SRTP: &SRTPKeys{Tag: 1, Local: legKey, Remote: peerKey}})
	tap := &voiceTap{heard: map[int16]int{}}
	l.SetTap(tap)
	seal := sealer(t, peerKey)
	to := l.LocalAddr()

	var last []byte // heard, so a replay of it is one
	for range learnPackets + 5 {
		last = ph.sealed(t, seal, bytes.Repeat([]byte{0x33}, 160))
		ph.sendRaw(t, to, last)
	}
	waitFor(t, time.Second, "the sealed voice heard", func() bool {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		return tap.heard[ulawToPCM[0x33]] >= 5
	})
	if got := l.Stats().Latched; got != ph.addr() {
		t.Fatalf("latched to %v, want %v", got, ph.addr())
	}

	// Plain RTP from the latched address, a replay, and a packet sealed
	// with a key that is not the peer's.
	for range 5 {
		ph.sendAudio(to, 0, bytes.Repeat([]byte{0x44}, 160))
	}
	ph.sendRaw(t, to, last)
	ph.sendRaw(t, to, ph.sealed(t, sealer(t, NewSRTPKey()), bytes.Repeat([]byte{0x55}, 160)))
	deadline := time.Now().Add(time.Second)
	for l.counters().dropped[dropSRTP] != 7 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %v, want 7 as srtp (index %d)", l.counters().dropped, dropSRTP)
		}
		time.Sleep(5 * time.Millisecond)
	}
	tap.mu.Lock()
	if n := tap.heard[ulawToPCM[0x44]] + tap.heard[ulawToPCM[0x55]]; n != 0 {
		t.Errorf("%d unsealed or foreign packets were heard", n)
	}
	tap.mu.Unlock()
	if v := gaugeValue(t, reg, "hotline_rtp_dropped_packets_total", "reason", "srtp"); v != 7 {
		t.Errorf("dropped{reason=srtp} %v, want 7", v)
	}

	// What the leg sends: SRTP under legKey (silence, since nothing plays).
	buf := make([]byte, 2000)
	_ = ph.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := ph.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	wire := buf[:n]
	if len(wire) != 12+160+10 {
		t.Fatalf("a sent packet of %d bytes, want 12+160+10 (the auth tag)", len(wire))
	}
	if bytes.Contains(wire, bytes.Repeat([]byte{0xFF}, 16)) {
		t.Fatal("the silence is readable on the wire")
	}
	if _, err := sealer(t, peerKey).DecryptRTP(nil, wire, nil); err == nil {
		t.Fatal("a packet opened with the wrong key")
	}
	open, err := sealer(t, legKey).DecryptRTP(nil, wire, nil)
	if err != nil {
		t.Fatalf("the peer cannot open what the leg sent: %v", err)
	}
	if p := open[12:]; len(p) != 160 || p[0] != 0xFF {
		t.Fatalf("opened payload %d bytes starting %#x, want 160 bytes of PCMU silence", len(p), p[0])
	}
}

func TestSDESOfferAnswer(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:40000")
	key := NewSRTPKey()
	offer := string(OfferSDPSecure(local, []Codec{CodecPCMU}, 101, 1, 1, SendRecv, &SRTPKeys{Local: key}))
	if !strings.Contains(offer, "m=audio 40000 RTP/SAVP 0 101\r\n") || !strings.Contains(offer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("offer:\n%s", offer)
	}
	// Our own offer read back as an answer carries our key.
	p, err := ParseAnswer([]byte(offer), []Codec{CodecPCMU}, 101)
	if err != nil || p.SRTP == nil || !bytes.Equal(p.SRTP.Remote, key) || p.SRTP.Tag != 1 {
		t.Fatalf("answer read back: %+v %v", p.SRTP, err)
	}

	peerKey := NewSRTPKey()
	answer := strings.Replace(string(OfferSDPSecure(local, []Codec{CodecPCMU}, 0, 2, 1, SendRecv, &SRTPKeys{Local: peerKey})), "a=crypto:1", "a=crypto:1", 1)
	if p, err := ParseAnswer([]byte(answer), []Codec{CodecPCMU}, 101); err != nil || !bytes.Equal(p.SRTP.Remote, peerKey) {
		t.Fatalf("secure answer: %+v %v", p.SRTP, err)
	}
	noCrypto := strings.ReplaceAll(answer, "a=crypto", "a=x-crypto")
	if _, err := ParseAnswer([]byte(noCrypto), []Codec{CodecPCMU}, 101); !errors.Is(err, ErrSRTP) {
		t.Fatalf("RTP/SAVP without a=crypto: %v, want ErrSRTP", err)
	}
	for name, line := range map[string]string{
		"other suite": "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:",
		"mki":         "MKI",
		"short key":   "short",
	} {
		bad := answer
		switch line {
		case "MKI":
			bad = strings.Replace(answer, "\r\na=ptime", "|2^20|1:4\r\na=ptime", 1)
		case "short":
			i := strings.Index(answer, "inline:") + len("inline:")
			bad = answer[:i] + "AAAA" + answer[i+40:]
		default:
			bad = strings.Replace(answer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:", line, 1)
		}
		if _, err := ParseAnswer([]byte(bad), []Codec{CodecPCMU}, 101); !errors.Is(err, ErrSRTP) {
			t.Errorf("%s: %v, want ErrSRTP\n%s", name, err, bad)
		}
	}

	// The trunk side takes plain RTP only; a seat's re-offer on an SRTP
	// call must stay SRTP.
	if _, err := Negotiate([]byte(answer), []Codec{CodecPCMU}); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("Negotiate of an RTP/SAVP offer: %v, want ErrNoCommonCodec", err)
	}
	plain := string(OfferSDP(local, []Codec{CodecPCMU}, 101, 3, 1, SendRecv))
	if _, err := NegotiateSecure([]byte(plain), []Codec{CodecPCMU}); !errors.Is(err, ErrSRTP) {
		t.Fatalf("NegotiateSecure of a plain offer: %v, want ErrSRTP", err)
	}
	p, err = NegotiateSecure([]byte(answer), []Codec{CodecPCMU})
	if err != nil || !bytes.Equal(p.SRTP.Remote, peerKey) {
		t.Fatalf("NegotiateSecure: %+v %v", p.SRTP, err)
	}
	p.SRTP.Local = key
	ans := string(AnswerSDP(local, p, 9, 1))
	if !strings.Contains(ans, "RTP/SAVP") || !strings.Contains(ans, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") || strings.Contains(ans, "inline:"+string(peerKey)) {
		t.Fatalf("secure answer:\n%s", ans)
	}
}

// FuzzSDES: a secure offer or answer either yields usable keys (30 bytes,
// the tag it carried) or a classified error, and our answer to it parses
// back with our key.
func FuzzSDES(f *testing.F) {
	local := netip.MustParseAddrPort("127.0.0.1:40000")
	f.Add(OfferSDPSecure(local, []Codec{CodecPCMU, CodecPCMA}, 101, 1, 1, SendRecv, &SRTPKeys{Local: bytes.Repeat([]byte{7}, srtpKeyLen)}))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n" +
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n" +
		"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|2^20|1:4\r\n" +
		"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := ParseAnswer(data, ours, 101); err == nil && p.SRTP != nil && len(p.SRTP.Remote) != srtpKeyLen {
			t.Fatalf("answer key of %d bytes", len(p.SRTP.Remote))
		}
		p, err := NegotiateSecure(data, ours)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) && !errors.Is(err, ErrSRTP) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if p.SRTP == nil || len(p.SRTP.Remote) != srtpKeyLen {
			t.Fatalf("secure offer accepted without a usable key: %+v", p.SRTP)
		}
		mine := NewSRTPKey()
		p.SRTP.Local = mine
		back, err := NegotiateSecure(AnswerSDP(local, p, 1, 1), ours)
		if err != nil || !bytes.Equal(back.SRTP.Remote, mine) || back.SRTP.Tag != p.SRTP.Tag {
			t.Fatalf("our secure answer does not parse back: %+v %v", back.SRTP, err)
		}
	})
}

// BenchmarkSendFrameSRTP is BenchmarkSendFrame on an SRTP leg: the paced
// frame encrypted and authenticated before sendto.
func BenchmarkSendFrameSRTP(b *testing.B) {
	benchSendFrame(b, &SRTPKeys{Tag: 1, Local: NewSRTPKey(), Remote: NewSRTPKey()})
}

// BenchmarkReceivePacketSRTP is BenchmarkReceivePacket on an SRTP leg:
// each packet authenticated (with its replay check) and decrypted first.
// The packets are sealed beforehand, each with its own sequence number
// (a replay would be refused): run it with -benchtime up to 60000x.
func BenchmarkReceivePacketSRTP(b *testing.B) {
	e, err := NewEngine(Config{BindIP: loopback}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	l, _ := e.NewLeg(nil)
	from := netip.AddrPortFrom(loopback, 4000)
	peerKey := NewSRTPKey()
	startNoGoroutines(l, SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: from,
		SRTP: &SRTPKeys{Tag: 1, Local: NewSRTPKey(), Remote: peerKey}})
	l.SetTap(&nopTap{})
	seal, err := srtp.CreateContext(peerKey[:16], peerKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		b.Fatal(err)
	}
	const n = 60000
	pkts := make([][]byte, n)
	for i := range pkts {
		plain, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160, SSRC: 7},
			Payload: make([]byte, 160)}).Marshal()
		if pkts[i], err = seal.EncryptRTP(nil, plain, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatal("more iterations than sealed packets: use -benchtime 60000x or less")
		}
		l.handlePacket(pkts[i], from, time.Now())
		i++
	}
	if got := l.counters().dropped[dropSRTP]; got != 0 {
		b.Fatalf("%d packets failed authentication", got)
	}
}
