package media

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 4566 §6, RFC 3264 §5.1).
type Direction string

// The four directions. The zero value "" is treated as SendRecv.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// mirror is the answerer's direction for an offered one (RFC 3264 §6.1):
// sendonly is answered recvonly and vice versa.
func (d Direction) mirror() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Sends reports whether we may send media in this direction (ours).
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly || d == "" }

// Receives reports whether the peer is expected to send to us.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly || d == "" }

func parseDirection(s string) (Direction, bool) {
	switch Direction(s) {
	case SendRecv, SendOnly, RecvOnly, Inactive:
		return Direction(s), true
	}
	return "", false
}

// SessionParams is the outcome of an offer/answer exchange for the one audio
// stream of a call leg.
type SessionParams struct {
	Codec     Codec          // chosen audio codec, with the payload type used on the wire
	DTMFType  uint8          // telephone-event payload type negotiated (RFC 4733 §7), 0 = none
	Remote    netip.AddrPort // from c= and m=; zero when c=0.0.0.0 (RFC 3264 §8.4 old-style hold) or port 0
	Direction Direction      // OUR direction toward the peer
	Ptime     int            // remote a=ptime in ms, 0 if absent
	// SRTP is set when the stream is RTP/SAVP with SDES keys (RFC 4568):
	// the parsers fill in Tag and Remote, whoever answers or offered sets
	// Local. Nil: plain RTP.
	SRTP *SRTPKeys
}

// mediaInfo is what we read from one audio m-line.
type mediaInfo struct {
	port    int
	addr    netip.Addr // invalid for c=0.0.0.0
	dir     Direction  // the peer's direction as written
	ptime   int
	formats []payloadFormat
	secure  bool   // RTP/SAVP or RTP/SAVPF
	crypto  []sdes // its a=crypto lines we can use, in the order given
}

type payloadFormat struct {
	pt      uint8
	name    string
	clock   uint32
	chans   int
	invalid bool // unparseable fmt token
}

// parseSDP wraps pion's strict RFC 4566 §5 parser and returns the first
// audio m-line with a non-zero port, or else the first audio m-line (port 0,
// a disabled stream, RFC 3264 §5.1), or ok=false when there is no usable
// RTP/AVP audio at all.
func parseSDP(body []byte, secureOK bool) (mediaInfo, bool, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return mediaInfo{}, false, fmt.Errorf("%w: empty body", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return mediaInfo{}, false, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	var mi mediaInfo
	idx := selectAudio(&sd, secureOK)
	if idx < 0 {
		return mediaInfo{}, false, nil
	}
	chosen := sd.MediaDescriptions[idx]
	if mi.secure = !plainRTP(chosen.MediaName.Protos); mi.secure {
		mi.crypto = parseCrypto(chosen.Attributes)
	}

	mi.port = chosen.MediaName.Port.Value
	conn := chosen.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return mediaInfo{}, false, fmt.Errorf("%w: no c= line for the audio stream (RFC 4566 §5.7)", ErrBadSDP)
	}
	host, _, _ := strings.Cut(conn.Address.Address, "/") // drop multicast TTL/range
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return mediaInfo{}, false, fmt.Errorf("%w: c= address %q: %w", ErrBadSDP, host, err)
	}
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	if !addr.IsUnspecified() {
		mi.addr = addr.Unmap()
	}

	mi.dir = SendRecv
	if d, ok := directionOf(sd.Attributes); ok {
		mi.dir = d
	}
	if d, ok := directionOf(chosen.Attributes); ok {
		mi.dir = d
	}
	if v, ok := chosen.Attribute("ptime"); ok {
		mi.ptime = leadingInt(v)
	} else if v, ok := sd.Attribute("ptime"); ok {
		mi.ptime = leadingInt(v)
	}

	rtpmaps := make(map[uint8]payloadFormat, len(chosen.Attributes))
	for _, a := range chosen.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if f, ok := parseRtpmap(a.Value); ok {
			if _, dup := rtpmaps[f.pt]; !dup {
				rtpmaps[f.pt] = f
			}
		}
	}
	mi.formats = make([]payloadFormat, 0, len(chosen.MediaName.Formats))
	for _, tok := range chosen.MediaName.Formats {
		pt, err := strconv.ParseUint(tok, 10, 8)
		if err != nil || pt > 127 {
			continue // RFC 3551 §3: payload types are 7 bits
		}
		if f, ok := rtpmaps[uint8(pt)]; ok {
			mi.formats = append(mi.formats, f)
			continue
		}
		// Static payload types need no rtpmap (RFC 3551 §6).
		switch pt {
		case 0:
			mi.formats = append(mi.formats, payloadFormat{pt: 0, name: "PCMU", clock: 8000, chans: 1})
		case 8:
			mi.formats = append(mi.formats, payloadFormat{pt: 8, name: "PCMA", clock: 8000, chans: 1})
		default:
			mi.formats = append(mi.formats, payloadFormat{pt: uint8(pt), invalid: true})
		}
	}
	return mi, true, nil
}

// selectAudio is the index of the m-line we use: the first RTP/AVP audio
// line with a non-zero port (RTP/SAVP too when secureOK), else the first
// one with port 0; -1 if none.
func selectAudio(sd *sdp.SessionDescription, secureOK bool) int {
	fallback := -1
	for i, md := range sd.MediaDescriptions {
		if md == nil || md.MediaName.Media != "audio" || !(plainRTP(md.MediaName.Protos) || secureOK && secureRTP(md.MediaName.Protos)) {
			continue
		}
		if md.MediaName.Port.Value != 0 {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return fallback
}

// plainRTP accepts RTP/AVP and RTP/AVPF; secure profiles (SAVP) are not
// something we can terminate.
func plainRTP(protos []string) bool {
	if len(protos) != 2 || protos[0] != "RTP" {
		return false
	}
	return protos[1] == "AVP" || protos[1] == "AVPF"
}

func directionOf(attrs []sdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		if d, ok := parseDirection(a.Key); ok {
			return d, true
		}
	}
	return "", false
}

// parseRtpmap reads "a=rtpmap:<pt> <name>/<clock>[/<channels>]" (RFC 4566 §6).
func parseRtpmap(v string) (payloadFormat, bool) {
	ptStr, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return payloadFormat{}, false
	}
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil || pt > 127 {
		return payloadFormat{}, false
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 || parts[0] == "" {
		return payloadFormat{}, false
	}
	clock, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return payloadFormat{}, false
	}
	f := payloadFormat{pt: uint8(pt), name: parts[0], clock: uint32(clock), chans: 1}
	if len(parts) > 2 {
		if c, err := strconv.Atoi(parts[2]); err == nil {
			f.chans = c
		}
	}
	return f, true
}

func leadingInt(s string) int {
	s = strings.TrimSpace(s)
	n := 0
	for i := 0; i < len(s) && i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			break
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// pickCodec returns the first format (in the order given) that matches one of
// ours by name and clock rate, with the wire payload type of that format.
func pickCodec(formats []payloadFormat, ours []Codec) (Codec, bool) {
	for _, f := range formats {
		if f.invalid || f.chans != 1 {
			continue
		}
		for _, c := range ours {
			if strings.EqualFold(f.name, c.Name) && f.clock == c.ClockRate {
				canon := c
				if k, ok := CodecByName(c.Name); ok {
					canon.Name = k.Name
				}
				canon.PayloadType = f.pt
				return canon, true
			}
		}
	}
	return Codec{}, false
}

// pickDTMF returns the payload type of telephone-event/8000 (RFC 4733 §7.1.1).
// PT 0 cannot be one (it is PCMU's static number) and 0 means "none" to us.
func pickDTMF(formats []payloadFormat) uint8 {
	for _, f := range formats {
		if !f.invalid && f.pt != 0 && f.clock == 8000 && strings.EqualFold(f.name, telephoneEvent) {
			return f.pt
		}
	}
	return 0
}

func (mi mediaInfo) params(c Codec, dtmf uint8) SessionParams {
	p := SessionParams{Codec: c, DTMFType: dtmf, Ptime: mi.ptime, Direction: mi.dir.mirror()}
	switch {
	case mi.port == 0:
		// A disabled stream (RFC 3264 §5.1): nothing to send to, nothing will come.
		p.Direction = Inactive
	case !mi.addr.IsValid():
		// c=0.0.0.0 is RFC 2543 hold (RFC 3264 §8.4). The peer usually sends
		// nothing either, so we call it inactive: we do not send, and the
		// inactivity timer is suspended.
		p.Direction = Inactive
	default:
		p.Remote = netip.AddrPortFrom(mi.addr, uint16(mi.port))
	}
	return p
}

// Negotiate answers an SDP offer (RFC 3264 §6): supported lists the codecs we
// accept (PCMU/PCMA), and the first codec in the OFFER's order that we
// support is chosen, keeping the offer's payload type. telephone-event/8000
// is accepted when offered, echoing its payload type. The first audio m-line
// with a non-zero port is used; other media are ignored (and should be
// rejected with port 0 by whoever writes the full answer — AnswerSDP only
// writes the audio line, which is enough for a single-stream offer).
//
// Errors: ErrBadSDP for unparseable input, ErrNoCommonCodec when no audio
// codec matches (SIP 488).
func Negotiate(offer []byte, supported []Codec) (SessionParams, error) {
	mi, ok, err := parseSDP(offer, false)
	if err != nil {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w", err)
	}
	if !ok {
		return SessionParams{}, fmt.Errorf("media: negotiate: no rtp/avp audio stream: %w", ErrNoCommonCodec)
	}
	c, ok := pickCodec(mi.formats, supported)
	if !ok {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w", ErrNoCommonCodec)
	}
	return mi.params(c, pickDTMF(mi.formats)), nil
}

// ParseAnswer reads a peer's answer to an offer we made with OfferSDP
// (RFC 3264 §7): the answered codec must be one of offered (its payload type
// is taken from the answer), telephone-event is used only if we offered it
// (dtmfType != 0) and the answer kept it. An audio stream answered with port
// 0 was rejected: ErrNoCommonCodec.
func ParseAnswer(answer []byte, offered []Codec, dtmfType uint8) (SessionParams, error) {
	mi, ok, err := parseSDP(answer, true)
	if err != nil {
		return SessionParams{}, fmt.Errorf("media: parse answer: %w", err)
	}
	if !ok || mi.port == 0 {
		return SessionParams{}, fmt.Errorf("media: parse answer: audio stream rejected: %w", ErrNoCommonCodec)
	}
	keys, err := mi.keys()
	if err != nil {
		return SessionParams{}, fmt.Errorf("media: parse answer: %w", err)
	}
	c, ok := pickCodec(mi.formats, offered)
	if !ok {
		return SessionParams{}, fmt.Errorf("media: parse answer: %w", ErrNoCommonCodec)
	}
	var dtmf uint8
	if dtmfType != 0 {
		dtmf = pickDTMF(mi.formats)
	}
	p := mi.params(c, dtmf)
	p.SRTP = keys
	return p, nil
}

// AnswerSDP writes our answer for the negotiated params: one audio m-line
// with the chosen codec and, if negotiated, telephone-event with events 0-16
// (RFC 4733 §7.1.1), a=ptime:20 and our direction. It is kept small (about
// 250 bytes) so a SIP response over UDP stays far below the 1300-byte limit
// of RFC 3261 §18.1.1.
func AnswerSDP(local netip.AddrPort, p SessionParams, sessID, sessVersion uint64) []byte {
	dir := p.Direction
	if dir == "" {
		dir = SendRecv
	}
	codec := p.Codec
	if codec.Name == "" {
		codec = CodecPCMU
	}
	return writeSDP(local, []Codec{codec}, p.DTMFType, sessID, sessVersion, dir, p.SRTP)
}

// OfferSDP writes an offer for an outbound call (to a seat): the codecs in
// our order of preference, telephone-event when dtmfType != 0, a=ptime:20.
func OfferSDP(local netip.AddrPort, codecs []Codec, dtmfType uint8, sessID, sessVersion uint64, dir Direction) []byte {
	if dir == "" {
		dir = SendRecv
	}
	if len(codecs) == 0 {
		codecs = []Codec{CodecPCMU, CodecPCMA}
	}
	return writeSDP(local, codecs, dtmfType, sessID, sessVersion, dir, nil)
}

// OfferSDPSecure is OfferSDP for RTP/SAVP: keys.Local goes into an
// a=crypto line with tag 1 (RFC 4568 §6.1). Send it only over TLS.
func OfferSDPSecure(local netip.AddrPort, codecs []Codec, dtmfType uint8, sessID, sessVersion uint64, dir Direction, keys *SRTPKeys) []byte {
	if dir == "" {
		dir = SendRecv
	}
	if len(codecs) == 0 {
		codecs = []Codec{CodecPCMU, CodecPCMA}
	}
	k := *keys
	k.Tag = 1
	return writeSDP(local, codecs, dtmfType, sessID, sessVersion, dir, &k)
}

// AnswerSDPFor is AnswerSDP for an offer with several m-lines: RFC 3264 §6
// wants exactly as many m-lines in the answer as in the offer, in the same
// order, so every line but the audio one Negotiate chose is answered
// rejected (port 0). For a single-stream offer it equals AnswerSDP.
func AnswerSDPFor(offer []byte, local netip.AddrPort, p SessionParams, sessID, sessVersion uint64) []byte {
	var sd sdp.SessionDescription
	if len(offer) == 0 || sd.Unmarshal(offer) != nil {
		return AnswerSDP(local, p, sessID, sessVersion)
	}
	idx := selectAudio(&sd, p.SRTP != nil)
	if idx < 0 || len(sd.MediaDescriptions) == 1 {
		return AnswerSDP(local, p, sessID, sessVersion)
	}
	dir := p.Direction
	if dir == "" {
		dir = SendRecv
	}
	codec := p.Codec
	if codec.Name == "" {
		codec = CodecPCMU
	}
	b := appendSession(make([]byte, 0, 384), local, sessID, sessVersion)
	for i, md := range sd.MediaDescriptions {
		if i == idx {
			b = appendAudio(b, local.Port(), []Codec{codec}, p.DTMFType, dir, p.SRTP)
			continue
		}
		b = append(b, "m="...)
		b = append(b, md.MediaName.Media...)
		b = append(b, " 0 "...)
		b = append(b, strings.Join(md.MediaName.Protos, "/")...)
		if len(md.MediaName.Formats) == 0 {
			b = append(b, " 0"...)
		}
		for _, f := range md.MediaName.Formats {
			b = append(b, ' ')
			b = append(b, f...)
		}
		b = append(b, "\r\n"...)
	}
	return b
}

func writeSDP(local netip.AddrPort, codecs []Codec, dtmf uint8, sessID, sessVersion uint64, dir Direction, keys *SRTPKeys) []byte {
	b := appendSession(make([]byte, 0, 384), local, sessID, sessVersion)
	return appendAudio(b, local.Port(), codecs, dtmf, dir, keys)
}

// appendSession writes v=, o=, s=, c= and t= (RFC 4566 §5 order).
func appendSession(b []byte, local netip.AddrPort, sessID, sessVersion uint64) []byte {
	addr := local.Addr().Unmap()
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	ip := addr.WithZone("").String()
	if !addr.IsValid() {
		ip = "0.0.0.0"
	}
	b = append(b, "v=0\r\no=hotline "...)
	b = strconv.AppendUint(b, sessID, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, sessVersion, 10)
	b = append(b, " IN "...)
	b = append(b, addrType...)
	b = append(b, ' ')
	b = append(b, ip...)
	b = append(b, "\r\ns=hotline\r\nc=IN "...)
	b = append(b, addrType...)
	b = append(b, ' ')
	b = append(b, ip...)
	b = append(b, "\r\nt=0 0\r\n"...)
	return b
}

// appendAudio writes our audio m-line and its attributes.
func appendAudio(b []byte, port uint16, codecs []Codec, dtmf uint8, dir Direction, keys *SRTPKeys) []byte {
	b = append(b, "m=audio "...)
	b = strconv.AppendUint(b, uint64(port), 10)
	if keys != nil {
		b = append(b, " RTP/SAVP"...)
	} else {
		b = append(b, " RTP/AVP"...)
	}
	for _, c := range codecs {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(c.PayloadType), 10)
	}
	if dtmf != 0 {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(dtmf), 10)
	}
	b = append(b, "\r\n"...)
	for _, c := range codecs {
		clock := c.ClockRate
		if clock == 0 {
			clock = SampleRate
		}
		b = append(b, "a=rtpmap:"...)
		b = strconv.AppendUint(b, uint64(c.PayloadType), 10)
		b = append(b, ' ')
		b = append(b, c.Name...)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(clock), 10)
		b = append(b, "\r\n"...)
	}
	if dtmf != 0 {
		b = append(b, "a=rtpmap:"...)
		b = strconv.AppendUint(b, uint64(dtmf), 10)
		b = append(b, " telephone-event/8000\r\na=fmtp:"...)
		b = strconv.AppendUint(b, uint64(dtmf), 10)
		b = append(b, " 0-16\r\n"...)
	}
	if keys != nil {
		b = appendCrypto(b, keys)
	}
	b = append(b, "a=ptime:20\r\na="...)
	b = append(b, dir...)
	b = append(b, "\r\n"...)
	return b
}
