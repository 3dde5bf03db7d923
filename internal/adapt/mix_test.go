package adapt

import (
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
)

// A connected call turns into a mix when a party joins and back into the
// plain relay when the last one leaves; the recording goes on throughout.
func TestMediaFactoryJoinLeave(t *testing.T) {
	f := newMediaFactory(t)
	log := slog.New(slog.DiscardHandler)
	leg := func(like call.Media, port string) call.Media {
		t.Helper()
		m, _, err := f.Offer(like, "8001", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if err := m.ApplyAnswer(media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:"+port), []media.Codec{media.CodecPCMU}, 101, 7, 1, media.SendRecv), sbc); err != nil {
			t.Fatal(err)
		}
		return m
	}
	offer := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU}, 101, 1, 1, media.SendRecv)
	caller, _, err := f.Answer(offer, sbc, log)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	seat := leg(caller, "40002")
	mgr := leg(caller, "40004")

	if err := f.Join(caller, mgr); !errors.Is(err, ErrNotBridged) {
		t.Fatalf("join before the bridge: %v", err)
	}
	stop, err := f.Bridge(caller, seat, filepath.Join(t.TempDir(), "r.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetHears(caller, func(_, _ call.Media) bool { return true }); !errors.Is(err, ErrNotBridged) {
		t.Fatalf("SetHears on a two-party relay: %v", err)
	}
	if err := f.Join(caller, mgr); err != nil {
		t.Fatal(err)
	}
	if err := f.Join(caller, mgr); err == nil {
		t.Fatal("joined twice")
	}
	if err := f.Join(caller, seat); err == nil {
		t.Fatal("the seat joined its own call")
	}
	st, _ := f.bridgeOf(caller)
	st.mu.Lock()
	mixed := st.mix != nil && st.stopRelay == nil && st.mix.Len() == 3
	st.mu.Unlock()
	if !mixed {
		t.Fatal("not a three-leg mix after Join")
	}
	if err := f.SetHears(caller, func(l, s call.Media) bool { return s != mgr }); err != nil {
		t.Fatal(err)
	}
	a, b, m := caller.(*mediaLeg).leg, seat.(*mediaLeg).leg, mgr.(*mediaLeg).leg
	if !st.mix.Hears(a, b) || !st.mix.Hears(m, a) || st.mix.Hears(a, m) || st.mix.Hears(b, m) {
		t.Fatal("matrix not applied")
	}
	f.Leave(caller, mgr)
	st.mu.Lock()
	relayed := st.mix == nil && st.stopRelay != nil
	st.mu.Unlock()
	if !relayed {
		t.Fatal("not back to the relay after the last party left")
	}
	// The legs are free again for another join, then the call ends mixed.
	if err := f.Join(caller, mgr); err != nil {
		t.Fatal(err)
	}
	if d, err := stop(); err != nil || d < 0 {
		t.Fatalf("stop: %v %v", d, err)
	}
	if err := f.Join(caller, mgr); !errors.Is(err, ErrNotBridged) {
		t.Fatalf("join after the call ended: %v", err)
	}
	// After the end every leg is free: a new bridge of the same legs works.
	stop2, err := media.Bridge(a, m, media.BridgeTap{})
	if err != nil {
		t.Fatalf("legs still held after the end: %v", err)
	}
	stop2()
}
