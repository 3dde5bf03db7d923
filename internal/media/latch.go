package media

import "net/netip"

// Strict latching: which source a leg takes its peer's RTP from.
//
// Symmetric RTP (RFC 4961) lets us send to where the peer's packets come
// from, which is what gets media through NATs (RFC 7362 §3 "latching"). A
// latch that accepts any source is RTP Bleed (CVE-2017-14099): one packet
// from a stranger before the peer's first, or a few while the peer pauses
// (VAD/DTX is normal), and the stranger hears the citizen and speaks for the
// operator. Asterisk's fix (strictrtp: learn from in-sequence packets, never
// relatch without a new offer/answer) is our floor; on top of it a leg
// learns only from the addresses it was told are its peer's:
//
//   - the SDP connection address and port of the peer's offer or answer
//     (c= and m=), that exact address and port;
//   - the peer's signalling source (the trunk's INVITE source, a seat's
//     REGISTER source), any port: a NATed peer's RTP comes from its NAT's
//     public address whatever private address its SDP names.
//
// Everything else is a stranger and is dropped (reason "stranger").
//
// Learning: the leg latches to a source once it has received learnPackets
// consecutive packets from it, same SSRC and consecutive sequence numbers
// (RFC 3550 A.1 validates a new source the same way, MIN_SEQUENTIAL; Asterisk
// calls it probation). Packets of the run before the last are dropped
// ("learning"); any other packet from an announced address starts the run
// again.
//
// Latched: only that exact address and port is accepted, with any SSRC (RFC
// 3550 §8.2: a peer may change SSRC, and SIPp replays every pcap with its
// own); other announced sources are dropped ("not_latched"). There is no
// relatch on silence: only an offer/answer that no longer announces the
// latched source (Update, SetSignallingSource) sends the leg back to
// learning. A re-offer that still announces it (session refresh, hold)
// keeps the latch.
//
// What it cannot stop: a sender that can use an announced address (the same
// NAT as a seat, the SBC itself) can still win the learning race or disturb
// it. Encryption (SRTP) is the answer to that, not latching.

// learnPackets is how many in-sequence packets from one announced source
// latch a leg (Asterisk's probation is 4 by default; RFC 3550 A.1's
// MIN_SEQUENTIAL is 2). At 20 ms packets the first 40 ms of the peer's
// audio is the price.
const learnPackets = 3

// peerSet is where a leg's peer was announced. It is immutable: a change
// stores a new one (Leg.peers), which the reader notices by pointer.
type peerSet struct {
	sdp netip.AddrPort // c= and m= of the peer's offer/answer: this address and port
	sig netip.Addr     // the peer's signalling source: this address, any port
}

// allows reports whether src is an address the peer was announced at.
func (s *peerSet) allows(src netip.AddrPort) bool {
	return s.sdp.IsValid() && src == s.sdp || s.sig.IsValid() && src.Addr() == s.sig
}

// sendTo is where we send before we have latched: the SDP address, unless
// the peer looks NATed (its SDP names a private address and its signalling
// came from a public one), where sending would put the citizen's audio on
// whatever host has that private address on our side. Then we wait for the
// peer's packets (what Asterisk calls comedia): a peer behind NAT has to
// send first anyway for our packets to get through its NAT.
func (s *peerSet) sendTo() netip.AddrPort {
	if s.sig.IsValid() && s.sdp.IsValid() && s.sdp.Addr() != s.sig &&
		privateAddr(s.sdp.Addr()) && !privateAddr(s.sig) {
		return netip.AddrPort{}
	}
	return s.sdp
}

// Address ranges that only mean something inside one network.
var (
	sharedCGN = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
)

// privateAddr: RFC 1918, RFC 4193 (netip's IsPrivate), RFC 6598 shared
// address space, and link-local addresses.
func privateAddr(a netip.Addr) bool {
	return a.IsPrivate() || sharedCGN.Contains(a) || a.IsLinkLocalUnicast()
}

// latch decides whether a packet from src (RTP of sane shape; its SSRC and
// sequence number given) belongs to the peer, and learns or keeps the latch
// as described above. It runs on the reader goroutine only and does not
// allocate.
func (l *Leg) latch(src netip.AddrPort, ssrc uint32, seq uint16) (dropReason, bool) {
	rx := &l.rx
	if ps := l.peers.Load(); ps != rx.peers {
		// A new offer/answer (or the first packet): keep the latch only if
		// the latched source is still announced; learning starts over.
		rx.peers = ps
		rx.candRun = 0
		if rx.latchedValid {
			if ps.allows(rx.latched) {
				l.latchTo(rx.latched) // the sender decided the same; make sure
			} else {
				rx.latchedValid = false
				l.log.Debug("media: peer moved by offer/answer: learning again", "was", rx.latched)
			}
		}
	}
	if rx.latchedValid {
		switch {
		case src == rx.latched:
			return 0, true
		case rx.peers.allows(src):
			return dropNotLatched, false
		}
		l.noteStranger(src)
		return dropStranger, false
	}
	if !rx.peers.allows(src) {
		l.noteStranger(src)
		return dropStranger, false
	}
	if rx.candRun > 0 && src == rx.cand && ssrc == rx.candSSRC && seq == rx.candSeq+1 {
		rx.candRun++
	} else {
		rx.cand, rx.candSSRC, rx.candRun = src, ssrc, 1
	}
	rx.candSeq = seq
	if rx.candRun < learnPackets {
		return dropLearning, false
	}
	l.latchTo(src)
	rx.latched, rx.latchedValid, rx.candRun = src, true, 0
	l.log.Debug("media: rtp latched", "source", src, "ssrc", ssrc)
	return 0, true
}

// latchTo points our sending at src (symmetric RTP), unless an offer/answer
// changed the peer meanwhile: then the reader decides again on its next
// packet.
func (l *Leg) latchTo(src netip.AddrPort) {
	l.txMu.Lock()
	if l.peers.Load() == l.rx.peers {
		l.tx.dst = src
		l.tx.latched = true
		l.tx.updateSendingLocked()
	}
	l.txMu.Unlock()
}

// noteStranger logs the first stranger of a leg (an attack, or a NAT that
// does not keep one external address for a host's flows); the metric
// counts them all.
func (l *Leg) noteStranger(src netip.AddrPort) {
	if l.rx.strangerLogged {
		return
	}
	l.rx.strangerLogged = true
	l.log.Warn("media: rtp from an address the peer was never announced at, dropped (logged once per leg)", "source", src)
}
