package media

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// streamChecker follows one received stream and fails on any break in
// SSRC or sequence numbers, or a timestamp that goes backwards.
type streamChecker struct {
	t         *testing.T
	name      string
	have      bool
	last      rcvd
	haveAudio bool
	lastAudio rcvd
}

func (c *streamChecker) check(r rcvd) {
	c.t.Helper()
	if c.have {
		if r.hdr.SSRC != c.last.hdr.SSRC {
			c.t.Fatalf("%s: SSRC changed %x -> %x", c.name, c.last.hdr.SSRC, r.hdr.SSRC)
		}
		if r.hdr.SequenceNumber != c.last.hdr.SequenceNumber+1 {
			c.t.Fatalf("%s: sequence %d after %d", c.name, r.hdr.SequenceNumber, c.last.hdr.SequenceNumber)
		}
		if int32(r.hdr.Timestamp-c.last.hdr.Timestamp) < 0 {
			c.t.Fatalf("%s: timestamp went back %d -> %d", c.name, c.last.hdr.Timestamp, r.hdr.Timestamp)
		}
	}
	c.have = true
	c.last = r
	if r.hdr.PayloadType == 0 || r.hdr.PayloadType == 8 {
		// Audio never overlaps the audio before it (RFC 3550 §5.1: the
		// timestamp is the sampling instant of the first sample).
		if c.haveAudio && int32(r.hdr.Timestamp-(c.lastAudio.hdr.Timestamp+uint32(len(c.lastAudio.payload)))) < 0 {
			c.t.Fatalf("%s: audio at ts %d overlaps the previous frame at %d+%d", c.name, r.hdr.Timestamp, c.lastAudio.hdr.Timestamp, len(c.lastAudio.payload))
		}
		c.haveAudio = true
		c.lastAudio = r
	}
}

// phone sends 20 ms PCMU frames with a recognisable payload until stopped.
type phone struct {
	*peer
	mu      sync.Mutex
	stop    chan struct{}
	wg      sync.WaitGroup
	pattern byte
}

func (p *phone) start(t *testing.T, l *Leg, pattern byte) {
	p.stop = make(chan struct{})
	p.pattern = pattern
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tk.C:
				p.mu.Lock()
				p.sendAudio(l.LocalAddr(), 0, bytes.Repeat([]byte{pattern}, 160))
				p.mu.Unlock()
			}
		}
	}()
}

func (p *phone) halt() {
	close(p.stop)
	p.wg.Wait()
}

func (p *phone) sendLocked(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
}

func TestBridgeRelaysBothWays(t *testing.T) {
	leakCheck(t)
	e, reg := newTestEngine(t, Config{})
	pa, pb := &phone{peer: newPeer(t)}, &phone{peer: newPeer(t)}
	pb.ssrc = 0x0b0b0b0b
	a, _ := e.NewLeg(nil)
	b, _ := e.NewLeg(nil)
	defer a.Close()
	defer b.Close()
	a.Start(SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: pa.addr(), Direction: SendRecv})
	b.Start(SessionParams{Codec: CodecPCMU, DTMFType: 96, Remote: pb.addr(), Direction: SendRecv})

	ca := &streamChecker{t: t, name: "to phone A"}
	cb := &streamChecker{t: t, name: "to phone B"}
	// Before the bridge: each phone hears its leg's pacer (silence).
	for range 3 {
		ca.check(pa.recv(time.Second))
		cb.check(pb.recv(time.Second))
	}
	ssrcA, ssrcB := ca.last.hdr.SSRC, cb.last.hdr.SSRC
	pa.introduce(a, 0)
	pb.introduce(b, 0)

	// A key pressed before the bridge (the caller's menu choice): its start
	// packet arrives now, its end packets after the bridge is up.
	const menuKeyTS = 777000
	pa.send(a.LocalAddr(), 101, true, menuKeyTS, []byte{7, 0x0a, 0, 0})
	if d := <-a.Digits(); d != '7' {
		t.Fatalf("digit before the bridge: %q", d)
	}

	tapA, tapB := &tapRec{}, &tapRec{}
	stop, err := Bridge(a, b, BridgeTap{A: tapA, B: tapB})
	if err != nil {
		t.Fatal(err)
	}
	if v := gaugeValue(t, reg, "hotline_rtp_bridges"); v != 1 {
		t.Fatalf("bridges gauge %v", v)
	}
	if _, err := Bridge(a, b, BridgeTap{}); !errors.Is(err, ErrBridge) {
		t.Fatalf("double bridge: %v", err)
	}
	pa.start(t, a, 0x11)
	pb.start(t, b, 0x22)

	// waitRelayed reads a phone's stream until relayed audio with the other
	// phone's pattern arrives: everything on the way must be continuous.
	waitRelayed := func(p *phone, c *streamChecker, pattern byte) rcvd {
		t.Helper()
		for range 100 {
			r := p.recv(time.Second)
			c.check(r)
			if silent(r.payload, pattern) {
				return r
			}
		}
		t.Fatalf("%s: no relayed audio", c.name)
		return rcvd{}
	}
	first := waitRelayed(pb, cb, 0x11)
	if !first.hdr.Marker || first.hdr.SSRC != ssrcB || first.hdr.PayloadType != 0 {
		t.Fatalf("switch-over packet to B: %+v", first.hdr)
	}
	firstA := waitRelayed(pa, ca, 0x22)
	if !firstA.hdr.Marker || firstA.hdr.SSRC != ssrcA {
		t.Fatalf("switch-over packet to A: %+v", firstA.hdr)
	}
	// While the relay is live only relayed audio goes out (one writer: the
	// pacer is silent on bridged legs).
	for range 20 {
		r := pb.recv(time.Second)
		cb.check(r)
		if !silent(r.payload, 0x11) {
			t.Fatalf("non-relayed packet to B while bridged: %x", r.payload[:4])
		}
		if r.hdr.Marker {
			t.Fatal("marker in the middle of a relayed stream")
		}
	}

	// The rest of the menu key must not reach B (an operator's phone would
	// show a key the caller never pressed at it).
	pa.sendLocked(func() {
		for range 3 {
			pa.send(a.LocalAddr(), 101, false, menuKeyTS, []byte{7, 0x8a, 3, 0x20})
		}
	})
	// DTMF from A (PT 101) reaches B as PT 96, payload untouched, on B's timeline.
	event := []byte{5, 0x0a, 0, 0}
	var evTS uint32
	pa.sendLocked(func() {
		evTS = pa.ts
		pa.send(a.LocalAddr(), 101, true, evTS, event)
	})
	var gotEvent rcvd
	for range 50 {
		r := pb.recv(time.Second)
		cb.check(r)
		if r.hdr.PayloadType != 0 {
			gotEvent = r
			break
		}
	}
	if gotEvent.hdr.PayloadType != 96 || !bytes.Equal(gotEvent.payload, event) || !gotEvent.hdr.Marker || gotEvent.hdr.SSRC != ssrcB {
		t.Fatalf("event relayed as %+v %x", gotEvent.hdr, gotEvent.payload)
	}
	if d := <-a.Digits(); d != '5' {
		t.Fatalf("digit on A while bridged: %q", d)
	}
	// B renegotiates without telephone-event: events to B are dropped.
	b.Update(SessionParams{Codec: CodecPCMU, Remote: pb.addr(), Direction: SendRecv})
	pa.sendLocked(func() { pa.send(a.LocalAddr(), 101, true, pa.ts, []byte{6, 0x0a, 0, 0}) })
	for range 10 {
		r := pb.recv(time.Second)
		cb.check(r)
		if r.hdr.PayloadType != 0 {
			t.Fatalf("event relayed to a leg without telephone-event: %+v", r.hdr)
		}
	}

	// The taps heard both directions, decoded.
	waitFor(t, time.Second, "taps", func() bool {
		na, _, pcmA := tapA.snapshot()
		nb, _, pcmB := tapB.snapshot()
		return na > 5 && nb > 5 && pcmA[0] == ulawToPCM[0x11] && pcmB[0] == ulawToPCM[0x22]
	})

	// Phone A pauses (silence suppression): after 500 ms B's pacer fills in
	// with silence, on the same stream; when A resumes, the relay rebases.
	pa.halt()
	sawFill := false
	for range 100 {
		r := pb.recv(time.Second)
		cb.check(r)
		if silent(r.payload, 0xFF) {
			sawFill = true
			break
		}
	}
	if !sawFill {
		t.Fatal("no keep-alive silence while the relayed side paused")
	}
	pa.start(t, a, 0x33)
	resumed := waitRelayed(pb, cb, 0x33)
	if !resumed.hdr.Marker {
		t.Fatal("no marker when the relay resumed after fill-in")
	}

	// Stop: both legs go back to their pacers, streams unbroken.
	stop()
	stop() // idempotent
	pa.halt()
	pb.halt()
	for range 3 {
		ca.check(pa.recv(time.Second))
	}
	back := waitRelayed(pb, cb, 0xFF)
	if back.hdr.SSRC != ssrcB {
		t.Fatal("SSRC changed after the bridge")
	}
	if v := gaugeValue(t, reg, "hotline_rtp_bridges"); v != 0 {
		t.Fatalf("bridges gauge %v", v)
	}
	// Nothing is relayed any more.
	relayed := b.Stats().Relayed
	pa.sendAudio(a.LocalAddr(), 0, bytes.Repeat([]byte{0x44}, 160))
	for range 5 {
		r := pb.recv(time.Second)
		cb.check(r)
		if silent(r.payload, 0x44) {
			t.Fatal("relayed after stop")
		}
	}
	if b.Stats().Relayed != relayed {
		t.Fatal("relay counter moved after stop")
	}
}

func TestBridgeRefusals(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	e2, _ := newTestEngine(t, Config{})
	ph := newPeer(t)
	mk := func(e *Engine, c Codec, start bool) *Leg {
		l, err := e.NewLeg(nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if start {
			l.Start(SessionParams{Codec: c, Remote: ph.addr()})
		}
		return l
	}
	u1, u2, alaw := mk(e, CodecPCMU, true), mk(e, CodecPCMU, true), mk(e, CodecPCMA, true)
	idle, other := mk(e, CodecPCMU, false), mk(e2, CodecPCMU, true)
	for name, pair := range map[string][2]*Leg{
		"codec mismatch":    {u1, alaw},
		"same leg":          {u1, u1},
		"not started":       {u1, idle},
		"different engines": {u1, other},
		"nil":               {u1, nil},
	} {
		if _, err := Bridge(pair[0], pair[1], BridgeTap{}); !errors.Is(err, ErrBridge) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	// Closing a bridged leg stops the bridge: the other leg is free again.
	stop, err := Bridge(u1, u2, BridgeTap{})
	if err != nil {
		t.Fatal(err)
	}
	u1.Close()
	u3 := mk(e, CodecPCMU, true)
	stop2, err := Bridge(u2, u3, BridgeTap{})
	if err != nil {
		t.Fatalf("leg not released by its peer's Close: %v", err)
	}
	stop2()
	stop()
}
