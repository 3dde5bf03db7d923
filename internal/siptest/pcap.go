// Package siptest holds what the end-to-end tests need around real peers:
// pcap files for SIPp to play (G.711 audio and RFC 4733 digits), a reader
// for what tcpdump captured, audio analysis (is it sound or silence), and a
// runner for the hotline binary. It is imported by tests only.
package siptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/zaf/g711"
)

// Packet is one UDP datagram in a capture.
type Packet struct {
	At       time.Duration // since the first packet
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Link types of pcap files (tcpdump.org/linktypes.html).
const (
	linkEthernet = 1
	linkRaw      = 101
	linkSLL      = 113
	linkSLL2     = 276
	linkNull     = 0
)

// WritePCAP writes UDP/IPv4 packets in Ethernet frames (classic pcap, µs),
// the form SIPp's play_pcap_audio reads.
func WritePCAP(w io.Writer, pkts []Packet) error {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], linkEthernet)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	base := time.Unix(1_700_000_000, 0)
	for _, p := range pkts {
		if !p.Src.Addr().Is4() || !p.Dst.Addr().Is4() {
			return errors.New("siptest: pcap: IPv4 only")
		}
		udpLen := 8 + len(p.Payload)
		ipLen := 20 + udpLen
		frame := make([]byte, 14+ipLen)
		binary.BigEndian.PutUint16(frame[12:], 0x0800)
		ip := frame[14:]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		ip[8] = 64
		ip[9] = 17
		src, dst := p.Src.Addr().As4(), p.Dst.Addr().As4()
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], p.Src.Port())
		binary.BigEndian.PutUint16(udp[2:], p.Dst.Port())
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		copy(udp[8:], p.Payload)
		ts := base.Add(p.At)
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		if _, err := w.Write(rec); err != nil {
			return err
		}
		if _, err := w.Write(frame); err != nil {
			return err
		}
	}
	return nil
}

func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ReadPCAP reads the UDP/IPv4 packets of a classic pcap file (as tcpdump -w
// writes on Linux: Ethernet for lo, or Linux cooked capture).
func ReadPCAP(r io.Reader) ([]Packet, error) {
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("siptest: pcap header: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, errors.New("siptest: not a pcap file (pcapng is not supported)")
	}
	link := bo.Uint32(hdr[20:]) & 0x0fffffff
	var (
		out   []Packet
		first time.Time
	)
	rec := make([]byte, 16)
	for {
		if _, err := io.ReadFull(r, rec); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, err
		}
		sub := time.Duration(bo.Uint32(rec[4:])) * time.Microsecond
		if nano {
			sub = time.Duration(bo.Uint32(rec[4:]))
		}
		ts := time.Unix(int64(bo.Uint32(rec[0:])), 0).Add(sub)
		data := make([]byte, bo.Uint32(rec[8:]))
		if _, err := io.ReadFull(r, data); err != nil {
			return out, nil // truncated by a killed tcpdump: keep what we have
		}
		var ip []byte
		switch link {
		case linkEthernet:
			if len(data) < 14 || binary.BigEndian.Uint16(data[12:]) != 0x0800 {
				continue
			}
			ip = data[14:]
		case linkSLL:
			if len(data) < 16 || binary.BigEndian.Uint16(data[14:]) != 0x0800 {
				continue
			}
			ip = data[16:]
		case linkSLL2:
			if len(data) < 20 || binary.BigEndian.Uint16(data[0:]) != 0x0800 {
				continue
			}
			ip = data[20:]
		case linkRaw:
			ip = data
		case linkNull:
			if len(data) < 4 {
				continue
			}
			ip = data[4:]
		default:
			return nil, fmt.Errorf("siptest: pcap link type %d not supported", link)
		}
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < ihl+8 {
			continue
		}
		udp := ip[ihl:]
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		if ulen < 8 || ulen > len(udp) {
			continue
		}
		if first.IsZero() {
			first = ts
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
		out = append(out, Packet{At: ts.Sub(first), Src: src, Dst: dst, Payload: append([]byte(nil), udp[8:ulen]...)})
	}
}

// RTP is a parsed RTP packet (RFC 3550 §5.1), without extensions.
type RTP struct {
	PT        uint8
	Marker    bool
	Seq       uint16
	Timestamp uint32
	SSRC      uint32
	Payload   []byte
}

// ParseRTP parses b, or returns false for anything that is not RTP v2.
func ParseRTP(b []byte) (RTP, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return RTP{}, false
	}
	cc := int(b[0] & 0x0f)
	off := 12 + 4*cc
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return RTP{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if len(b) < off {
		return RTP{}, false
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > off {
		end -= int(b[end-1])
		if end < off {
			return RTP{}, false
		}
	}
	return RTP{
		PT: b[1] & 0x7f, Marker: b[1]&0x80 != 0,
		Seq: binary.BigEndian.Uint16(b[2:]), Timestamp: binary.BigEndian.Uint32(b[4:]), SSRC: binary.BigEndian.Uint32(b[8:]),
		Payload: b[off:end],
	}, true
}

func rtpBytes(pt uint8, marker bool, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], payload)
	return b
}

// Stream builds one RTP stream (one SSRC) of G.711 audio and RFC 4733
// events, 20 ms apart, for WritePCAP.
type Stream struct {
	Src, Dst netip.AddrPort
	PT       uint8 // 0 PCMU, 8 PCMA
	DTMFPT   uint8 // telephone-event payload type, e.g. 101
	SSRC     uint32

	seq  uint16
	ts   uint32
	at   time.Duration
	out  []Packet
	mark bool
}

// NewStream starts a stream.
func NewStream(src, dst netip.AddrPort, pt, dtmfPT uint8, ssrc uint32) *Stream {
	return &Stream{Src: src, Dst: dst, PT: pt, DTMFPT: dtmfPT, SSRC: ssrc, seq: 1000, ts: 8000, mark: true}
}

func (s *Stream) add(pt uint8, marker bool, ts uint32, payload []byte) {
	s.out = append(s.out, Packet{At: s.at, Src: s.Src, Dst: s.Dst, Payload: rtpBytes(pt, marker, s.seq, ts, s.SSRC, payload)})
	s.seq++
}

// Audio appends pcm (8 kHz) as 20 ms G.711 packets.
func (s *Stream) Audio(pcm []int16) *Stream {
	for off := 0; off < len(pcm); off += 160 {
		frame := make([]byte, 160)
		for i := range frame {
			v := int16(0)
			if off+i < len(pcm) {
				v = pcm[off+i]
			}
			if s.PT == 8 {
				frame[i] = g711.EncodeAlawFrame(v)
			} else {
				frame[i] = g711.EncodeUlawFrame(v)
			}
		}
		s.add(s.PT, s.mark, s.ts, frame)
		s.mark = false
		s.ts += 160
		s.at += 20 * time.Millisecond
	}
	return s
}

// Digit appends one RFC 4733 event as phones send it (RFC 4733 §2.5): the
// first packet with duration 0 and the marker bit, updates every 20 ms, and
// three copies of the end packet, all with the event's start timestamp.
func (s *Stream) Digit(d rune, length time.Duration) *Stream {
	ev := map[rune]byte{'*': 10, '#': 11, 'A': 12, 'B': 13, 'C': 14, 'D': 15}[d]
	if d >= '0' && d <= '9' {
		ev = byte(d - '0')
	}
	samples := int(length / time.Millisecond * 8)
	start := s.ts
	payload := func(dur int, end bool) []byte {
		p := []byte{ev, 10, byte(dur >> 8), byte(dur)} // volume -10 dBm0
		if end {
			p[1] |= 0x80
		}
		return p
	}
	dur := 0
	s.add(s.DTMFPT, true, start, payload(0, false))
	for dur+160 < samples {
		s.at += 20 * time.Millisecond
		dur += 160
		s.add(s.DTMFPT, false, start, payload(dur, false))
	}
	s.at += 20 * time.Millisecond
	for i := range 3 {
		if i > 0 {
			s.seq-- // the repeats are retransmissions: same sequence number
		}
		s.add(s.DTMFPT, false, start, payload(samples, true))
	}
	s.ts += uint32(samples)
	s.mark = true
	return s
}

// Silence appends d of nothing: no packets, the timestamp advancing with
// the time, the next packet marked (RFC 3551 §4.1). What a phone with VAD
// (or DTX) sends while its user pauses.
func (s *Stream) Silence(d time.Duration) *Stream {
	s.at += d
	s.ts += uint32(d / time.Millisecond * 8)
	s.mark = true
	return s
}

// Packets returns the stream built so far.
func (s *Stream) Packets() []Packet { return s.out }

// Tone returns d of a sum of sine tones at the given amplitude (0..1 of full scale).
func Tone(d time.Duration, amplitude float64, freqs ...float64) []int16 {
	n := int(d / time.Millisecond * 8)
	out := make([]int16, n)
	for i := range out {
		var v float64
		for _, f := range freqs {
			v += math.Sin(2 * math.Pi * f * float64(i) / 8000)
		}
		out[i] = int16(amplitude * 32767 * v / float64(len(freqs)))
	}
	return out
}

// RMS is the root mean square of pcm relative to full scale (0..1).
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		f := float64(v) / 32768
		sum += f * f
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// DecodeG711 decodes a PCMU (pt 0) or PCMA (pt 8) payload.
func DecodeG711(pt uint8, payload []byte) []int16 {
	out := make([]int16, len(payload))
	for i, b := range payload {
		if pt == 8 {
			out[i] = g711.DecodeAlawFrame(b)
		} else {
			out[i] = g711.DecodeUlawFrame(b)
		}
	}
	return out
}

// ToneLevel is the amplitude (0..1 of full scale) of the freq component of
// pcm (8 kHz), by the Goertzel algorithm: how loud one tone is in a mix.
func ToneLevel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / 8000
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(pcm))
}
