package media

import (
	"fmt"
	"sync"
)

// BridgeTap lets a recorder hear both directions of a bridged call: A gets
// the audio arriving on leg a (the caller: left channel of the stereo
// recording), B the audio arriving on leg b (the seat: right channel). Either
// may be nil. They are called on the legs' reader goroutines after the
// packet has been relayed, so recording never delays the relay.
type BridgeTap struct {
	A, B Tap
}

// bridge is one relay between two legs.
type bridge struct {
	e        *Engine
	a, b     *Leg
	la, lb   *relayLink
	stopOnce sync.Once
}

// relayLink hangs on the receiving leg: packets it reads go to `to`.
type relayLink struct {
	br  *bridge
	to  *Leg
	tap Tap
}

// Bridge anchors a call between two started legs of the same engine: every
// RTP packet arriving on a is sent out of b and vice versa, without
// decoding, rewritten into the destination leg's own stream (its SSRC, its
// next sequence numbers, timestamps offset onto its clock, marker set on the
// switch-over), so each phone keeps seeing one continuous stream from the
// prompts or ringback it heard before. RFC 4733 events pass through with the
// payload type mapped to the destination's telephone-event PT (dropped if it
// negotiated none); comfort noise and unknown payload types are dropped.
//
// While bridged the pacer does not send on the legs (one writer per stream):
// a leg's stream is written by the other leg's reader. If nothing has been
// relayed into a leg for 500 ms the pacer sends silence again (keep-alive)
// and the relay rebases its timestamps when packets resume. Any playback is
// stopped when the bridge starts.
//
// Both legs must use the same codec (invite the seat with the caller's);
// otherwise ErrBridge. stop() returns both legs to pacer-driven silence or
// playback, seamlessly (same SSRC, sequence and timestamps continue, marker
// set). stop is idempotent, and closing either leg stops the bridge.
func Bridge(a, b *Leg, tap BridgeTap) (stop func(), err error) {
	if a == nil || b == nil || a == b {
		return nil, fmt.Errorf("media: bridge: need two different legs: %w", ErrBridge)
	}
	if a.e != b.e {
		return nil, fmt.Errorf("media: bridge: legs of different engines: %w", ErrBridge)
	}
	e := a.e
	e.bridgeMu.Lock()
	defer e.bridgeMu.Unlock()

	ca, okA := a.bridgeable()
	cb, okB := b.bridgeable()
	switch {
	case !okA || !okB:
		return nil, fmt.Errorf("media: bridge: legs must be started, open and not bridged already: %w", ErrBridge)
	case ca.law() == lawNone || ca.law() != cb.law():
		return nil, fmt.Errorf("media: bridge: codec %s vs %s: %w", ca.Name, cb.Name, ErrBridge)
	}

	br := &bridge{e: e, a: a, b: b}
	br.la = &relayLink{br: br, to: b, tap: tap.A}
	br.lb = &relayLink{br: br, to: a, tap: tap.B}
	now := e.now()
	for _, l := range []*Leg{a, b} {
		l.txMu.Lock()
		l.tx.bridge = br
		l.tx.relayIn = relayState{lastAt: now, rebase: true}
		l.tx.stopPlayLocked()
		l.txMu.Unlock()
	}
	a.relay.Store(br.la)
	b.relay.Store(br.lb)
	e.m.activeBridges.Add(1)
	if a.ended.Load() || b.ended.Load() {
		// A leg closed while we were setting up (Close saw no bridge yet).
		br.stopOnce.Do(br.stopLocked)
		return nil, fmt.Errorf("media: bridge: leg ended: %w", ErrBridge)
	}
	a.log.Debug("media: bridged", "peer_port", b.port)
	return br.stop, nil
}

// bridgeable reports the leg's codec and whether it can join a bridge.
func (l *Leg) bridgeable() (Codec, bool) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	c := Codec{PayloadType: l.tx.codecPT}
	switch l.tx.law {
	case lawU:
		c.Name = "PCMU"
	case lawA:
		c.Name = "PCMA"
	}
	ok := l.tx.started && !l.tx.closed && l.tx.bridge == nil && l.tx.mix == nil && !l.ended.Load()
	return c, ok
}

func (br *bridge) stop() {
	br.stopOnce.Do(func() {
		br.e.bridgeMu.Lock()
		defer br.e.bridgeMu.Unlock()
		br.stopLocked()
	})
}

// stopLocked tears the bridge down; e.bridgeMu is held.
func (br *bridge) stopLocked() {
	// Readers stop relaying first; a packet already past this point finds
	// tx.bridge changed under the lock and is dropped.
	br.a.relay.CompareAndSwap(br.la, nil)
	br.b.relay.CompareAndSwap(br.lb, nil)
	for _, l := range []*Leg{br.a, br.b} {
		l.txMu.Lock()
		if l.tx.bridge == br {
			l.tx.bridge = nil
			// The pacer takes over: never step back behind what the relay
			// already sent.
			if l.tx.relayIn.endSet && tsAfter(l.tx.relayIn.lastEnd, l.tx.ts) {
				l.tx.ts = l.tx.relayIn.lastEnd
			}
			l.tx.relayIn = relayState{}
			l.tx.marker = true
		}
		l.txMu.Unlock()
	}
	br.e.m.activeBridges.Add(-1)
}
