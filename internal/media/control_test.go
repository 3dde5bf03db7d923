package media

import (
	"errors"
	"testing"
	"time"
)

// A bridged leg held back (hold, mute) gets its pacer's stream — silence, or
// the playback started on it — and not the other phone's audio, while the
// other direction and the stream's continuity are untouched; released, the
// relay resumes. Digits sent on it go out as RFC 4733 events in place of
// the relay, then the relay resumes.
func TestRelayHeldAndSendDigits(t *testing.T) {
	leakCheck(t)
	e, _ := newTestEngine(t, Config{})
	pa, pb := &phone{peer: newPeer(t)}, &phone{peer: newPeer(t)}
	pb.ssrc = 0x0b0b0b0b
	a, _ := e.NewLeg(nil)
	b, _ := e.NewLeg(nil)
	defer a.Close()
	defer b.Close()
	a.Start(SessionParams{Codec: CodecPCMU, DTMFType: 101, Remote: pa.addr(), Direction: SendRecv})
	b.Start(SessionParams{Codec: CodecPCMU, Remote: pb.addr(), Direction: SendRecv})
	ca := &streamChecker{t: t, name: "to phone A"}
	ca.check(pa.recv(time.Second))
	pa.introduce(a, 0)
	pb.introduce(b, 0)
	stop, err := Bridge(a, b, BridgeTap{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pa.start(t, a, 0x11)
	pb.start(t, b, 0x22)
	defer pa.halt()
	defer pb.halt()

	// until reads A's stream until a packet matches, checking continuity.
	until := func(what string, match func(r rcvd) bool) rcvd {
		t.Helper()
		for range 150 {
			r := pa.recv(time.Second)
			ca.check(r)
			if match(r) {
				return r
			}
		}
		t.Fatalf("phone A never got %s", what)
		return rcvd{}
	}
	relayed := func(r rcvd) bool { return r.hdr.PayloadType == 0 && silent(r.payload, 0x22) }
	until("B's audio", relayed)

	a.SetRelayHeld(true)
	if !a.RelayHeld() {
		t.Fatal("RelayHeld false after SetRelayHeld(true)")
	}
	until("silence while held", func(r rcvd) bool { return silent(r.payload, 0xff) })
	for range 25 {
		r := pa.recv(time.Second)
		ca.check(r)
		if relayed(r) {
			t.Fatal("B's audio reached A while held")
		}
	}
	// B still hears A (mute is one way).
	got := false
	for range 50 {
		if r := pb.recv(time.Second); silent(r.payload, 0x11) {
			got = true
			break
		}
	}
	if !got {
		t.Fatal("A's audio no longer reaches B while A is held back")
	}
	a.SetRelayHeld(false)
	until("B's audio after release", relayed)

	// Digits: "1#" as events on PT 101, then the relay again.
	if err := b.SendDigits("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("digits to a leg without telephone-event: %v", err)
	}
	if err := a.SendDigits("1x"); err == nil {
		t.Fatal("an invalid key was accepted")
	}
	if err := a.SendDigits("1#"); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		code     byte
		end      bool
		dur      uint16
		ts       uint32
		marker   bool
		sequence uint16
	}
	var evs []ev
	first := until("an event", func(r rcvd) bool { return r.hdr.PayloadType == 101 })
	r := first
	for r.hdr.PayloadType == 101 || len(evs) < 14 {
		if r.hdr.PayloadType == 101 {
			evs = append(evs, ev{r.payload[0], r.payload[1]&0x80 != 0, uint16(r.payload[2])<<8 | uint16(r.payload[3]), r.hdr.Timestamp, r.hdr.Marker, r.hdr.SequenceNumber})
		} else if relayed(r) {
			t.Fatal("relayed audio in the middle of the digits")
		}
		r = pa.recv(time.Second)
		ca.check(r)
		if len(evs) > 20 {
			break
		}
	}
	if len(evs) != 14 {
		t.Fatalf("%d event packets, want 7 per key: %+v", len(evs), evs)
	}
	for k, want := range []byte{1, 11} {
		key := evs[k*7 : k*7+7]
		for i, e := range key {
			if e.code != want || e.ts != key[0].ts || e.marker != (i == 0) || e.end != (i >= 4) {
				t.Fatalf("key %d packet %d: %+v", k, i, e)
			}
			wantDur := uint16(min(i+1, 5) * 160)
			if e.dur != wantDur {
				t.Fatalf("key %d packet %d: duration %d, want %d", k, i, e.dur, wantDur)
			}
		}
	}
	if evs[7].ts-evs[0].ts < 7*160 {
		t.Fatalf("the second key starts at ts +%d: overlaps the first", evs[7].ts-evs[0].ts)
	}
	until("B's audio after the digits", relayed)
}
