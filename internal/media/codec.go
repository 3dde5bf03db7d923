package media

import (
	"strconv"
	"strings"

	"github.com/zaf/g711"
)

// Codec is an audio codec as negotiated in SDP: its encoding name, the RTP
// payload type used on the wire (static, RFC 3551 §6, or the dynamic number
// the peer chose) and its RTP clock rate.
type Codec struct {
	Name        string // canonical upper case: "PCMU", "PCMA"
	PayloadType uint8
	ClockRate   uint32
}

// The codecs this package can encode and decode (RFC 3551 §4.5.14, static
// payload types 0 and 8). Treat them as constants.
var (
	CodecPCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	CodecPCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

const (
	// SampleRate is the G.711 sampling rate and RTP clock rate (RFC 3551 §4.5.14).
	SampleRate = 8000
	// FrameSamples is one 20 ms frame at 8 kHz, the packetisation we send
	// (RFC 3551 §4.2 default ptime for G.711).
	FrameSamples = 160
	// telephoneEvent is the RFC 4733 §7.1.1 media subtype.
	telephoneEvent = "telephone-event"
)

// CodecByName returns the supported codec with that encoding name (case
// insensitive, "PCMU" or "PCMA"), carrying its static payload type.
func CodecByName(name string) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return CodecPCMU, true
	case strings.EqualFold(name, "PCMA"):
		return CodecPCMA, true
	}
	return Codec{}, false
}

// String is "PCMU/8000 (pt 0)".
func (c Codec) String() string {
	return c.Name + "/" + strconv.Itoa(int(c.ClockRate)) + " (pt " + strconv.Itoa(int(c.PayloadType)) + ")"
}

// law identifies the G.711 companding law; lawNone for codecs we cannot code.
type law uint8

const (
	lawNone law = iota
	lawU
	lawA
)

func (c Codec) law() law {
	switch c.Name {
	case "PCMU":
		return lawU
	case "PCMA":
		return lawA
	}
	// Not canonical (built by hand): fall back to a case-insensitive match.
	switch {
	case strings.EqualFold(c.Name, "PCMU"):
		return lawU
	case strings.EqualFold(c.Name, "PCMA"):
		return lawA
	}
	return lawNone
}

// Lookup tables, built once from zaf/g711's per-sample functions and never
// written again. Decoding is a single indexed load per sample.
var (
	ulawToPCM  = buildDecodeTable(g711.DecodeUlawFrame)
	alawToPCM  = buildDecodeTable(g711.DecodeAlawFrame)
	ulawToAlaw = buildTranscodeTable(g711.Ulaw2AlawFrame)
	alawToUlaw = buildTranscodeTable(g711.Alaw2UlawFrame)
	// silence bytes: the code of linear 0 in each law (0xFF and 0xD5).
	ulawSilence = g711.EncodeUlawFrame(0)
	alawSilence = g711.EncodeAlawFrame(0)
)

func buildDecodeTable(f func(uint8) int16) *[256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = f(uint8(i))
	}
	return &t
}

func buildTranscodeTable(f func(uint8) uint8) *[256]uint8 {
	var t [256]uint8
	for i := range t {
		t[i] = f(uint8(i))
	}
	return &t
}

func (l law) decodeTable() *[256]int16 {
	switch l {
	case lawU:
		return ulawToPCM
	case lawA:
		return alawToPCM
	}
	return nil
}

func (l law) silence() byte {
	if l == lawA {
		return alawSilence
	}
	return ulawSilence
}

// Decode decodes G.711 payload into dst and returns the number of samples
// written: min(len(dst), len(payload)), or 0 for a codec other than PCMU/PCMA.
// It does not allocate.
func (c Codec) Decode(dst []int16, payload []byte) int {
	return decodeLaw(c.law(), dst, payload)
}

func decodeLaw(l law, dst []int16, payload []byte) int {
	t := l.decodeTable()
	if t == nil {
		return 0
	}
	n := min(len(dst), len(payload))
	dst = dst[:n]
	for i, b := range payload[:n] {
		dst[i] = t[b]
	}
	return n
}

// Encode encodes linear PCM into dst and returns the number of bytes written:
// min(len(dst), len(pcm)), or 0 for a codec other than PCMU/PCMA. It does not
// allocate. It is used to pre-encode prompts at load time; nothing on the
// packet path encodes.
func (c Codec) Encode(dst []byte, pcm []int16) int {
	return encodeLaw(c.law(), dst, pcm)
}

func encodeLaw(l law, dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst = dst[:n]
	switch l {
	case lawU:
		for i, s := range pcm[:n] {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	case lawA:
		for i, s := range pcm[:n] {
			dst[i] = g711.EncodeAlawFrame(s)
		}
	default:
		return 0
	}
	return n
}

// transcode converts G.711 payload between laws in place of dst (zero
// allocation); used by the relay when a re-INVITE changed one side's codec
// mid-bridge.
func transcode(from, to law, dst, src []byte) int {
	var t *[256]uint8
	switch {
	case from == lawU && to == lawA:
		t = ulawToAlaw
	case from == lawA && to == lawU:
		t = alawToUlaw
	default:
		return copy(dst, src)
	}
	n := min(len(dst), len(src))
	for i, b := range src[:n] {
		dst[i] = t[b]
	}
	return n
}
