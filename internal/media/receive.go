package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// readLoop is the leg's one reader goroutine. The read deadline doubles as
// the inactivity check: it fires every checkInterval, never per packet.
func (l *Leg) readLoop() {
	defer l.wg.Done()
	interval := checkInterval(l.e.cfg.Inactivity)
	if interval > 0 {
		_ = l.conn.SetReadDeadline(time.Now().Add(interval))
	}
	errLogged := false
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(l.rx.buf[:])
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				if l.inactive() {
					l.e.m.inactivity.Inc()
					l.log.Info("media: no rtp received, ending leg", "timeout", l.e.cfg.Inactivity)
					l.end(ErrInactivity)
					return
				}
				_ = l.conn.SetReadDeadline(time.Now().Add(interval))
			case errors.Is(err, net.ErrClosed) || l.ended.Load():
				return
			default:
				// e.g. ICMP-induced errors; keep reading.
				if !errLogged {
					errLogged = true
					l.log.Warn("media: rtp read error (logged once per leg)", "err", err)
				}
			}
			continue
		}
		if n > maxPacket {
			l.cnt.drop(dropMalformed)
			continue
		}
		l.handlePacket(l.rx.buf[:n], src, time.Now())
	}
}

func checkInterval(inactivity time.Duration) time.Duration {
	if inactivity <= 0 {
		return 0
	}
	return min(max(inactivity/4, 20*time.Millisecond), time.Second)
}

// inactive decides, at a read timeout, whether the leg has timed out. While
// the peer is not supposed to send (it holds: our direction is sendonly or
// inactive), the clock is pushed forward instead.
func (l *Leg) inactive() bool {
	now := l.e.now()
	if p := l.rxp.Load(); p == nil || !p.receives {
		l.quietRef.Store(now)
		return false
	}
	since := max(l.lastRecv.Load(), l.quietRef.Load())
	return now-since >= int64(l.e.cfg.Inactivity)
}

// handlePacket processes one datagram. It runs on the reader goroutine only
// (and in tests/fuzzing) and does not allocate.
func (l *Leg) handlePacket(pkt []byte, src netip.AddrPort, wall time.Time) {
	now := l.e.since(wall)
	rx := &l.rx

	// RFC 3550 A.1 header validity checks before anything else, so that the
	// parser never sees what it would reject (its errors allocate).
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		l.cnt.drop(dropMalformed) // also STUN (first bits 00) and ZRTP
		return
	}
	pt := pkt[1] & 0x7f
	if pt >= 64 && pt <= 95 {
		// RTCP multiplexed on the RTP port (RFC 5761 §4: packet types
		// 192-223 appear as PT 64-95).
		l.cnt.drop(dropRTCP)
		return
	}
	hl, end, ok := rtpBounds(pkt)
	if !ok {
		l.cnt.drop(dropMalformed)
		return
	}
	// Whose packet is it? Decided on the fixed header (RFC 3550 §5.1:
	// sequence number at 2, SSRC at 8) before anything else is done with it.
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if why, ok := l.latch(src, binary.BigEndian.Uint32(pkt[8:]), binary.BigEndian.Uint16(pkt[2:])); !ok {
		l.cnt.drop(why)
		return
	}
	if c := l.srtp.Load(); c != nil {
		// Authenticated and decrypted before anything reads it: a packet
		// that fails is dropped here, whoever sent it.
		dec, err := c.rx.DecryptRTP(rx.dec[:0], pkt, &rx.hdr)
		if err != nil {
			l.cnt.drop(dropSRTP)
			return
		}
		pkt = dec
		if hl, end, ok = rtpBounds(pkt); !ok {
			l.cnt.drop(dropMalformed)
			return
		}
	}
	if _, err := rx.hdr.Unmarshal(pkt[:hl]); err != nil {
		l.cnt.drop(dropMalformed)
		return
	}
	payload := pkt[hl:end]
	hdr := &rx.hdr

	l.lastRecv.Store(now)
	l.cnt.packetsIn.Add(1)
	l.cnt.bytesIn.Add(uint64(len(pkt)))
	l.track(hdr.SSRC, hdr.SequenceNumber)

	p := l.rxp.Load()
	link := l.relay.Load()
	isEvent := p.dtmfPT != 0 && pt == p.dtmfPT
	if isEvent {
		if d, ok := rx.dtmf.PacketAt(wall, hdr.SSRC, hdr.Timestamp, payload); ok {
			l.cnt.digits.Add(1)
			rx.relayEvSSRC, rx.relayEvTS, rx.relayEvValid = hdr.SSRC, hdr.Timestamp, link != nil
			select {
			case l.digits <- d:
			default: // nobody is reading: drop rather than stall the media
			}
		}
	}

	// Relay first, so recording never delays the other side's audio. Event
	// packets only of a key pressed while bridged (RFC 4733 §2.5: all its
	// packets carry its start timestamp).
	relayIt := !isEvent || rx.relayEvValid && rx.relayEvSSRC == hdr.SSRC && rx.relayEvTS == hdr.Timestamp
	if link != nil && relayIt {
		to := link.to
		to.txMu.Lock()
		to.relayLocked(link.br, p, hdr, payload, now)
		to.txMu.Unlock()
	}
	if isEvent {
		return
	}
	tb := l.tap.Load()
	var bt Tap
	if link != nil {
		bt = link.tap
	}
	mx := l.mix.Load()
	if tb == nil && bt == nil && mx == nil {
		return
	}
	lw := lawNone
	switch {
	case pt == p.codecPT:
		lw = p.law
	case pt == 0:
		lw = lawU // static PCMU that was not negotiated: still decodable
	case pt == 8:
		lw = lawA
	}
	n := decodeLaw(lw, rx.pcm[:], payload)
	if n == 0 {
		return // comfort noise or a codec we cannot decode
	}
	if mx != nil {
		mx.in.push(rx.pcm[:n])
	}
	if tb != nil {
		tb.t.WritePCM(hdr.SSRC, hdr.Timestamp, wall, rx.pcm[:n])
	}
	if bt != nil {
		bt.WritePCM(hdr.SSRC, hdr.Timestamp, wall, rx.pcm[:n])
	}
}

// rtpBounds returns the header length (CSRCs and extension included) and
// the end of the payload (padding removed), RFC 3550 §5.1 and §5.3.1.
func rtpBounds(b []byte) (hl, end int, ok bool) {
	hl = 12 + 4*int(b[0]&0x0f)
	if len(b) < hl {
		return 0, 0, false
	}
	if b[0]&0x10 != 0 {
		if len(b) < hl+4 {
			return 0, 0, false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(b[hl+2:]))
		if len(b) < hl {
			return 0, 0, false
		}
	}
	end = len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[len(b)-1])
		if pad == 0 || end-pad < hl {
			return 0, 0, false
		}
		end -= pad
	}
	return hl, end, true
}

// track counts lost packets from sequence-number gaps per SSRC (RFC 3550
// A.1/A.3, simplified): a jump forward of less than 3000 counts as loss, a
// late packet gives one back, a bigger jump or a new SSRC restarts.
func (l *Leg) track(ssrc uint32, seq uint16) {
	rx := &l.rx
	if !rx.ssrcValid || ssrc != rx.ssrc {
		rx.ssrc = ssrc
		rx.ssrcValid = true
		rx.maxSeq = seq
		l.ssrcIn.Store(ssrc)
		return
	}
	d := seq - rx.maxSeq
	switch {
	case d == 0:
	case d < 0x8000:
		if d < 3000 {
			rx.lost += uint64(d - 1)
		}
		rx.maxSeq = seq
	default:
		if rx.lost > 0 && uint16(rx.maxSeq-seq) < 3000 {
			rx.lost-- // it was late, not lost
		}
	}
	l.cnt.lost.Store(rx.lost)
}
