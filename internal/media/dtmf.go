package media

import (
	"time"
)

// eventDigits maps RFC 4733 §3.2 DTMF event codes 0-15 to their keys.
const eventDigits = "0123456789*#ABCD"

// dtmfReplayGap: a packet of an event we have already reported, arriving
// after the event was over and this long after its last packet, is a new key
// press that happens to carry the same SSRC and timestamp. That is exactly
// what SIPp does when it replays the same dtmf_2833_N.pcap twice in a call
// (its pcaps keep their recorded headers), e.g. "1" in the menu and "1" in the
// survey. RFC 4733 §2.5.1.4 end-packet retransmissions follow the end within a
// few packet intervals, far less than this.
const dtmfReplayGap = 250 * time.Millisecond

// dtmfRecent is how many recent events are remembered, so that a late end
// packet of an older event (reordering) is not taken for a new press.
const dtmfRecent = 4

type dtmfEvent struct {
	ssrc     uint32
	ts       uint32
	duration uint16
	ended    bool
	valid    bool
	last     time.Time
}

// DTMFDetector turns RFC 4733 telephone-event packets into key presses. An
// event is identified by (SSRC, RTP timestamp) (RFC 4733 §2.5.1.2: all
// packets of one event carry the timestamp of its start). The key is reported
// on the first packet seen of an event, whatever its duration (0 included:
// SIPp's pcaps start that way), and never again for the same event: the
// retransmitted end packets (§2.5.1.4) and updates are swallowed. A new
// timestamp is a new press, also for a repeated key; a new SSRC starts fresh.
//
// The zero value is ready to use. It is not safe for concurrent use (each leg
// has one, used by its reader goroutine). It does not allocate.
type DTMFDetector struct {
	recent [dtmfRecent]dtmfEvent
	next   int
}

// Packet handles one telephone-event payload (the RTP payload, after the
// header) and returns the key when this packet starts a new event.
func (d *DTMFDetector) Packet(ssrc uint32, timestamp uint32, payload []byte) (digit rune, ok bool) {
	return d.PacketAt(time.Time{}, ssrc, timestamp, payload)
}

// PacketAt is Packet with the arrival time, which enables one more rule: a
// non-end packet of an already finished event that arrives more than 250 ms
// after that event's last packet, with a duration that went back down, is a
// replay of the same recording and counts as a new press. With a zero time
// PacketAt behaves exactly like Packet.
func (d *DTMFDetector) PacketAt(at time.Time, ssrc uint32, timestamp uint32, payload []byte) (digit rune, ok bool) {
	// RFC 4733 §2.3: event (8 bits), E (1), R (1), volume (6), duration (16).
	if len(payload) < 4 {
		return 0, false
	}
	event := payload[0]
	if int(event) >= len(eventDigits) {
		return 0, false // not a DTMF event (tones, line events): ignored
	}
	end := payload[1]&0x80 != 0
	duration := uint16(payload[2])<<8 | uint16(payload[3])

	for i := range d.recent {
		e := &d.recent[i]
		if !e.valid || e.ssrc != ssrc || e.ts != timestamp {
			continue
		}
		replay := !at.IsZero() && !e.last.IsZero() && !end &&
			at.Sub(e.last) > dtmfReplayGap && (e.ended || duration < e.duration)
		if !replay {
			e.ended = e.ended || end
			if duration > e.duration {
				e.duration = duration
			}
			if !at.IsZero() {
				e.last = at
			}
			return 0, false
		}
		// Same id, but a new press: report it, reusing the slot.
		*e = dtmfEvent{ssrc: ssrc, ts: timestamp, duration: duration, ended: end, valid: true, last: at}
		return rune(eventDigits[event]), true
	}

	d.recent[d.next] = dtmfEvent{ssrc: ssrc, ts: timestamp, duration: duration, ended: end, valid: true, last: at}
	d.next = (d.next + 1) % dtmfRecent
	return rune(eventDigits[event]), true
}

// Reset forgets every event seen.
func (d *DTMFDetector) Reset() { *d = DTMFDetector{} }
