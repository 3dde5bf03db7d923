package adapt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
)

func newMediaFactory(t *testing.T, srtpSeats ...string) *MediaFactory {
	t.Helper()
	e, err := media.NewEngine(media.Config{BindIP: netip.MustParseAddr("127.0.0.1")}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	srtp := map[string]bool{}
	for _, s := range srtpSeats {
		srtp[s] = true
	}
	return &MediaFactory{Engine: e, Codecs: []media.Codec{media.CodecPCMA, media.CodecPCMU},
		Prompts:   map[string]*media.Prompt{"welcome": media.Tone("welcome", 440, 20*time.Millisecond, 0.1)},
		Advertise: netip.MustParseAddr("192.0.2.10"), SRTP: srtp}
}

var sbc = netip.MustParseAddr("127.0.0.1")

// The caller's leg: an offer we can take is answered with the advertised
// address (media.rtp_ip) and the leg's port, in the first codec of the
// offer we support; an offer we cannot take is call.ErrNoCommonCodec, so
// the call layer answers 488.
func TestMediaFactoryAnswer(t *testing.T) {
	f := newMediaFactory(t)
	log := slog.New(slog.DiscardHandler)
	if _, _, err := f.Answer(nil, sbc, log); !errors.Is(err, call.ErrNoCommonCodec) {
		t.Fatalf("no offer: %v, want ErrNoCommonCodec", err)
	}
	g729 := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
	if _, _, err := f.Answer(g729, sbc, log); !errors.Is(err, call.ErrNoCommonCodec) {
		t.Fatalf("G.729 only: %v, want ErrNoCommonCodec", err)
	}
	if _, _, err := f.Answer([]byte("not sdp"), sbc, log); !errors.Is(err, call.ErrNoCommonCodec) {
		t.Fatalf("garbage: %v, want ErrNoCommonCodec", err)
	}
	offer := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU, media.CodecPCMA}, 101, 1, 1, media.SendRecv)
	m, ans, err := f.Answer(offer, sbc, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	leg := m.(*mediaLeg).leg
	for _, want := range []string{"c=IN IP4 192.0.2.10", fmt.Sprintf("m=audio %d RTP/AVP 0 ", leg.LocalPort()), "a=rtpmap:0 PCMU/8000"} {
		if !bytes.Contains(ans, []byte(want)) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	// A re-offer that changes nothing keeps the answer's version; hold
	// changes the answer and its version (RFC 3264 §8).
	same, err := m.Reoffer(offer)
	if err != nil || !bytes.Equal(same, ans) {
		t.Fatalf("same re-offer: %v\n%s\nwas\n%s", err, same, ans)
	}
	hold := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU}, 101, 1, 2, media.SendOnly)
	held, err := m.Reoffer(hold)
	if err != nil || bytes.Equal(held, ans) || !bytes.Contains(held, []byte("a=recvonly")) || !bytes.Contains(held, []byte(" 2 IN IP4 192.0.2.10")) {
		t.Fatalf("hold re-offer: %v\n%s", err, held)
	}
	// A prompt we do not have is skipped: Play still ends.
	select {
	case <-m.Play("missing", "welcome"):
	case <-time.After(5 * time.Second):
		t.Fatal("Play did not end")
	}
}

// The seat's leg speaks the caller's codec; a seat with srtp: true gets an
// RTP/SAVP offer with our key, and a plain answer to it is refused.
func TestMediaFactoryOfferToSeat(t *testing.T) {
	f := newMediaFactory(t, "8002")
	log := slog.New(slog.DiscardHandler)
	offer := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMA}, 101, 1, 1, media.SendRecv)
	caller, _, err := f.Answer(offer, sbc, log)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	plain, po, err := f.Offer(caller, "8001", log)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if !bytes.Contains(po, []byte("RTP/AVP 8 101")) || bytes.Contains(po, []byte("a=crypto")) || !bytes.Contains(po, []byte("c=IN IP4 192.0.2.10")) {
		t.Fatalf("plain seat offer:\n%s", po)
	}
	secure, so, err := f.Offer(caller, "8002", log)
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	if !bytes.Contains(so, []byte("RTP/SAVP")) || !bytes.Contains(so, []byte("a=crypto:1 ")) {
		t.Fatalf("SRTP seat offer:\n%s", so)
	}
	phone := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40002"), []media.Codec{media.CodecPCMA}, 101, 7, 1, media.SendRecv)
	if err := secure.ApplyAnswer(phone, sbc); !errors.Is(err, media.ErrSRTP) {
		t.Fatalf("plain answer to an SRTP offer: %v, want ErrSRTP", err)
	}
	if err := plain.ApplyAnswer(phone, sbc); err != nil {
		t.Fatalf("plain answer to a plain offer: %v", err)
	}
	if _, _, err := f.Offer(fakeMedia{}, "8001", log); err == nil {
		t.Fatal("offer like a foreign media: no error")
	}
}

// Bridge records both sides into one stereo WAV when asked, and its stop
// function is safe to call twice; foreign media is refused.
func TestMediaFactoryBridge(t *testing.T) {
	f := newMediaFactory(t)
	log := slog.New(slog.DiscardHandler)
	offer := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU}, 101, 1, 1, media.SendRecv)
	caller, _, err := f.Answer(offer, sbc, log)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	seat, _, err := f.Offer(caller, "8001", log)
	if err != nil {
		t.Fatal(err)
	}
	defer seat.Close()
	if err := seat.ApplyAnswer(media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40002"), []media.Codec{media.CodecPCMU}, 101, 7, 1, media.SendRecv), sbc); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Bridge(caller, fakeMedia{}, ""); err == nil {
		t.Fatal("bridge with foreign media: no error")
	}
	path := filepath.Join(t.TempDir(), "r.wav")
	stop, err := f.Bridge(caller, seat, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 44 {
		t.Fatalf("recording after stop: %v (a WAV has a 44-byte header)", err)
	}
	if _, err := f.Bridge(caller, seat, filepath.Join(t.TempDir(), "no", "such", "dir", "\x00.wav")); err == nil {
		t.Fatal("bridge into an impossible path: no error")
	}
}

// fakeMedia is a call.Media that is not the factory's.
type fakeMedia struct{ call.Media }
