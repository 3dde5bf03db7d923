package media

import (
	"errors"
	"fmt"
	"strings"
)

// Call control on a bridged leg (the operator's console, SPEC §9a): holding
// back what the bridge relays into a leg (hold, mute) and sending RFC 4733
// digits on it.

// ErrNoTelephoneEvent: the peer negotiated no telephone-event payload type,
// so digits cannot be sent in the media (send them by SIP INFO instead).
var ErrNoTelephoneEvent = errors.New("media: no telephone-event negotiated")

// DTMF timing of SendDigits: each key is a 100 ms event, one packet per
// 20 ms frame with the duration so far, its end packet (E bit, duration
// 800) sent three times (RFC 4733 §2.5.1.4), then 60 ms of audio before the
// next key.
const (
	dtmfToneFrames = 5  // frames of tone: durations 160 … 800 samples
	dtmfEndRepeats = 3  // end packets (E bit) of each event
	dtmfGapFrames  = 3  // silence between keys
	dtmfVolume     = 10 // -10 dBm0
	maxDigitQueue  = 64
)

// dtmfOut is the keys waiting to go out on a leg, and the one going out.
type dtmfOut struct {
	events  []byte // event codes (RFC 4733 §3.2) still to send, the current first
	frame   int    // frames of the current key sent so far
	startTS uint32 // RTP timestamp of the current event (all its packets carry it)
}

// SetRelayHeld holds back (true) or lets through again (false) what a bridge
// relays into this leg. While held, the leg is driven by its pacer as if it
// were not bridged: its current playback (hold music), else silence, and the
// stream stays continuous (same SSRC, sequence and timestamps continue).
// What the leg itself receives is still relayed to the other leg and
// recorded. It persists across bridges until cleared.
func (l *Leg) SetRelayHeld(held bool) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if l.tx.relayHeld == held {
		return
	}
	l.tx.relayHeld = held
	// Either way the stream changes source: the relay rebases onto our
	// clock when it resumes, and the first packet carries the marker.
	l.tx.relayIn.rebase = true
	if l.tx.relayIn.endSet && tsAfter(l.tx.relayIn.lastEnd, l.tx.ts) {
		l.tx.ts = l.tx.relayIn.lastEnd
	}
	l.tx.marker = true
}

// RelayHeld reports whether SetRelayHeld(true) is in force.
func (l *Leg) RelayHeld() bool {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	return l.tx.relayHeld
}

// SendDigits queues keys (0-9, *, #, A-D) to be sent to the peer as RFC 4733
// telephone events, one after the other, in place of audio (a bridge's relay
// into the leg pauses meanwhile). It returns ErrNoTelephoneEvent when the
// peer negotiated no telephone-event, and an error for any other character
// or more than 64 keys waiting.
func (l *Leg) SendDigits(digits string) error {
	codes := make([]byte, 0, len(digits))
	for _, r := range digits {
		i := strings.IndexRune(eventDigits, r)
		if i < 0 {
			return fmt.Errorf("media: %q is not a DTMF key (0-9, *, #, A-D)", r)
		}
		codes = append(codes, byte(i))
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	switch {
	case l.tx.closed || l.ended.Load():
		return ErrClosed
	case l.tx.dtmfPT == 0:
		return ErrNoTelephoneEvent
	}
	if l.tx.dtmf == nil {
		l.tx.dtmf = &dtmfOut{}
	}
	if len(l.tx.dtmf.events)+len(codes) > maxDigitQueue {
		return fmt.Errorf("media: more than %d keys waiting", maxDigitQueue)
	}
	l.tx.dtmf.events = append(l.tx.dtmf.events, codes...)
	return nil
}

// paced reports whether the pacer drives the stream now although the leg is
// bridged (held, or sending digits).
func (tx *sender) paced() bool { return tx.relayHeld || tx.dtmf != nil }

// sendEventLocked sends this frame's packet of the key going out (or the
// silence after it) and advances the clock. It reports whether a packet was
// sent; false with tx.dtmf drained means the caller sends audio instead.
func (l *Leg) sendEventLocked() (sent, handled bool) {
	tx := &l.tx
	d := tx.dtmf
	if d == nil || len(d.events) == 0 {
		tx.dtmf = nil
		return false, false
	}
	f := d.frame
	d.frame++
	toneEnd := dtmfToneFrames - 1 + dtmfEndRepeats - 1 // the last packet: the third end packet
	if f > toneEnd {
		// The gap after the key: audio (silence or playback) as usual.
		if d.frame > toneEnd+dtmfGapFrames {
			d.events, d.frame = d.events[1:], 0
			if len(d.events) == 0 {
				tx.dtmf = nil
				// The relay resumes: rebase onto our clock.
				tx.relayIn.rebase = true
				tx.marker = true
			}
		}
		return false, false
	}
	if f == 0 {
		d.startTS = tx.ts
	}
	dur := uint16((f + 1) * FrameSamples)
	end := f >= dtmfToneFrames-1
	if end {
		dur = uint16(dtmfToneFrames * FrameSamples)
	}
	ok := false
	if tx.sending {
		p := tx.buf[12:16]
		p[0] = d.events[0]
		p[1] = dtmfVolume
		if end {
			p[1] |= 0x80
		}
		p[2], p[3] = byte(dur>>8), byte(dur)
		tx.hdr.Version = 2
		tx.hdr.Padding = false
		tx.hdr.Extension = false
		tx.hdr.Marker = f == 0 // RFC 4733 §2.5.1.1: the first packet of an event
		tx.hdr.PayloadType = tx.dtmfPT
		tx.hdr.SequenceNumber = tx.seq
		tx.hdr.Timestamp = d.startTS
		tx.hdr.SSRC = tx.ssrc
		if _, err := tx.hdr.MarshalTo(tx.buf[:12]); err == nil {
			ok = l.writeLocked(tx.buf[:16])
		}
		tx.seq++
	}
	tx.ts += FrameSamples
	return ok, true
}
