package media

import (
	"net/netip"

	"github.com/pion/rtp"
)

// sender is a leg's outgoing RTP stream. Every field is guarded by
// Leg.txMu: the pacer holds it while it sends a frame, the peer leg's reader
// holds it while it relays a packet into this leg, Play/Update hold it to
// change what is sent. So the stream (SSRC, sequence, timestamp) has exactly
// one writer at any moment, whoever drives it.
type sender struct {
	ssrc uint32
	seq  uint16 // of the next packet sent
	ts   uint32 // RTP timestamp of the next paced frame, due at nextDue

	nextDue   int64 // engine ns; the frame grid of this leg
	scheduled bool
	marker    bool

	sdpDst  netip.AddrPort // from SDP
	dst     netip.AddrPort // where we send: sdpDst, or the latched source
	latched bool
	sending bool // direction allows it and dst is usable

	codecPT uint8
	law     law
	dtmfPT  uint8
	dir     Direction

	started bool
	closed  bool

	play *playback

	// Bridge state: while bridge != nil the pacer only keeps the clock
	// running (and fills silence if nothing is relayed for a while); the peer
	// leg's reader sends on this stream through relayLocked.
	bridge  *bridge
	relayIn relayState
	// relayHeld and dtmf (control.go): the pacer drives the stream although
	// bridged — held back (hold, mute), or keys going out.
	relayHeld bool
	dtmf      *dtmfOut
	// mix: while set, the mixer's goroutine sends on this stream (see
	// Mixer) and the pacer leaves it alone.
	mix *Mixer

	sendErrLogged bool

	hdr    rtp.Header
	buf    [maxPacket]byte
	enc    [maxPacket + 16]byte // buf encrypted (SRTP adds a 10-byte tag)
	encHdr rtp.Header
}

// relayState maps the stream relayed into a leg onto the leg's own
// timestamps: out = in + tsOff, rebased whenever the source changes SSRC or
// the pacer had to fill in.
type relayState struct {
	valid   bool
	rebase  bool
	srcSSRC uint32
	tsOff   uint32
	lastAt  int64  // engine ns of the last packet relayed (or of bridge start)
	lastEnd uint32 // our timestamp just after the last relayed audio
	endSet  bool
}

type playback struct {
	prompts []*Prompt
	idx     int
	off     int
	done    chan struct{}
}

func (tx *sender) stopPlayLocked() {
	if tx.play != nil {
		close(tx.play.done)
		tx.play = nil
	}
}

// tsAfter reports whether RTP timestamp a is later than b (serial number
// arithmetic, RFC 3550 §5.1 wraps at 2^32).
func tsAfter(a, b uint32) bool { return int32(a-b) > 0 }

// paceLocked sends the frames of this leg that are due at grid time T (engine
// ns). It returns the frames sent, those sent late to catch up, and those
// skipped because the pacer was more than maxCatchUp frames behind.
func (l *Leg) paceLocked(T int64) (sent, catchUp, skipped int) {
	tx := &l.tx
	if !tx.started || tx.closed {
		return 0, 0, 0
	}
	if tx.mix != nil {
		tx.scheduled = false // re-gridded when the mixer lets go
		return 0, 0, 0
	}
	if !tx.scheduled {
		tx.nextDue = T
		tx.scheduled = true
	}
	if T < tx.nextDue {
		return 0, 0, 0
	}
	due := int((T-tx.nextDue)/frameNS) + 1
	if due > maxCatchUp {
		skipped = due - maxCatchUp
		tx.ts += uint32(skipped * FrameSamples)
		tx.nextDue += int64(skipped) * frameNS
		due = maxCatchUp
	}
	catchUp = due - 1
	for range due {
		if tx.bridge != nil && !tx.paced() && tx.nextDue-tx.relayIn.lastAt < bridgeFillAfter {
			// Bridged and the relay is live: the clock runs, nothing is sent.
			tx.ts += FrameSamples
			tx.nextDue += frameNS
			continue
		}
		if tx.bridge != nil {
			// Bridged but nothing relayed lately: keep the line alive, and
			// make the relay rebase onto our clock when it resumes.
			tx.relayIn.rebase = true
			if tx.relayIn.endSet && tsAfter(tx.relayIn.lastEnd, tx.ts) {
				tx.ts = tx.relayIn.lastEnd
			}
		}
		if l.sendFrameLocked() {
			sent++
		}
		tx.nextDue += frameNS
	}
	return sent, catchUp, skipped
}

// sendFrameLocked builds one 20 ms frame (playback, else silence), sends it
// if our direction allows, and advances the clock. It does not allocate.
func (l *Leg) sendFrameLocked() bool {
	tx := &l.tx
	if tx.dtmf != nil {
		if sent, handled := l.sendEventLocked(); handled {
			return sent
		}
	}
	tx.fillFrameLocked(tx.buf[12 : 12+FrameSamples])
	return l.sendBufferedFrameLocked()
}

// sendBufferedFrameLocked sends the frame whose payload is in tx.buf (if
// our direction allows) and advances the clock: the pacer's frames and the
// mixer's alike. It does not allocate.
func (l *Leg) sendBufferedFrameLocked() bool {
	tx := &l.tx
	ok := false
	if tx.sending {
		tx.hdr.Version = 2
		tx.hdr.Padding = false
		tx.hdr.Extension = false
		tx.hdr.Marker = tx.marker
		tx.hdr.PayloadType = tx.codecPT
		tx.hdr.SequenceNumber = tx.seq
		tx.hdr.Timestamp = tx.ts
		tx.hdr.SSRC = tx.ssrc
		if _, err := tx.hdr.MarshalTo(tx.buf[:12]); err == nil {
			ok = l.writeLocked(tx.buf[:12+FrameSamples])
		}
		tx.seq++
		tx.marker = false
	}
	tx.ts += FrameSamples
	return ok
}

// fillFrameLocked copies the next frame of the current playback (pre-encoded
// for our codec) into dst and pads with silence; a finished playback's
// channel is closed as its last audio goes out.
func (tx *sender) fillFrameLocked(dst []byte) {
	n := 0
	for n < len(dst) && tx.play != nil {
		p := tx.play
		if p.idx >= len(p.prompts) {
			break
		}
		enc := p.prompts[p.idx].encoded(tx.law)
		c := copy(dst[n:], enc[p.off:])
		n += c
		p.off += c
		if p.off >= len(enc) {
			p.idx++
			p.off = 0
		}
	}
	if tx.play != nil && tx.play.idx >= len(tx.play.prompts) {
		tx.stopPlayLocked()
	}
	sil := tx.law.silence()
	for i := n; i < len(dst); i++ {
		dst[i] = sil
	}
}

func (l *Leg) writeLocked(pkt []byte) bool {
	if c := l.srtp.Load(); c != nil {
		out, err := c.tx.EncryptRTP(l.tx.enc[:0], pkt, &l.tx.encHdr)
		if err != nil {
			l.cnt.sendErrors.Add(1)
			return false
		}
		pkt = out
	}
	_, err := l.conn.WriteToUDPAddrPort(pkt, l.tx.dst)
	if err != nil {
		l.cnt.sendErrors.Add(1)
		if !l.tx.sendErrLogged && !l.tx.closed {
			l.tx.sendErrLogged = true
			l.log.Warn("media: rtp send failed (logged once per leg)", "to", l.tx.dst, "err", err)
		}
		return false
	}
	l.cnt.packetsOut.Add(1)
	l.cnt.bytesOut.Add(uint64(len(pkt)))
	return true
}

// relayLocked sends a packet received on the peer leg of bridge br out of
// this leg, rewritten into this leg's own stream: our SSRC, our next
// sequence number, the source timestamp mapped onto our clock, the payload
// type mapped to what this leg negotiated (telephone-event PT included,
// RFC 4733 §2.1; dropped if this leg has none). Audio is not decoded; a
// PCMU/PCMA difference (only possible after a mid-bridge re-INVITE) is
// converted by table. It does not allocate.
func (l *Leg) relayLocked(br *bridge, src *rxParams, hdr *rtp.Header, payload []byte, now int64) {
	tx := &l.tx
	if tx.bridge != br || tx.closed || !tx.started {
		return // the bridge was stopped while this packet was on its way
	}
	if tx.paced() {
		return // held back (hold, mute) or keys going out (control.go)
	}
	isEvent := src.dtmfPT != 0 && hdr.PayloadType == src.dtmfPT
	var pt uint8
	switch {
	case isEvent:
		if tx.dtmfPT == 0 {
			return
		}
		pt = tx.dtmfPT
	case hdr.PayloadType == src.codecPT:
		pt = tx.codecPT
	default:
		return // comfort noise or anything not negotiated on both sides
	}
	if len(payload) > len(tx.buf)-12 {
		return
	}
	r := &tx.relayIn
	if !r.valid || r.rebase || r.srcSSRC != hdr.SSRC {
		// Continue our own timeline: tx.ts is where the last paced frame
		// ended (the pacer keeps it running with the clock while bridged),
		// and we never step behind what the relay already sent.
		expected := tx.ts
		if r.endSet && tsAfter(r.lastEnd, expected) {
			expected = r.lastEnd
		}
		r.tsOff = expected - hdr.Timestamp
		r.srcSSRC = hdr.SSRC
		r.valid = true
		r.rebase = false
		tx.marker = true // RFC 3551 §4.1: the stream changed under the receiver
	}
	ts := hdr.Timestamp + r.tsOff
	r.lastAt = now

	var n int
	if isEvent {
		n = copy(tx.buf[12:], payload)
	} else {
		n = transcode(src.law, tx.law, tx.buf[12:], payload)
		end := ts + uint32(n)
		if !r.endSet || tsAfter(end, r.lastEnd) {
			r.lastEnd = end
			r.endSet = true
		}
	}
	if !tx.sending {
		return
	}
	tx.hdr.Version = 2
	tx.hdr.Padding = false
	tx.hdr.Extension = false
	tx.hdr.Marker = tx.marker || hdr.Marker
	tx.hdr.PayloadType = pt
	tx.hdr.SequenceNumber = tx.seq
	tx.hdr.Timestamp = ts
	tx.hdr.SSRC = tx.ssrc
	if _, err := tx.hdr.MarshalTo(tx.buf[:12]); err != nil {
		return
	}
	if l.writeLocked(tx.buf[:12+n]) {
		l.cnt.relayed.Add(1)
	}
	tx.seq++
	tx.marker = false
}
