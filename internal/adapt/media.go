package adapt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/recordings"
)

// MediaFactory implements call.MediaFactory on the media engine.
type MediaFactory struct {
	Engine  *media.Engine
	Codecs  []media.Codec
	Prompts map[string]*media.Prompt
	// Advertise is the address written in our SDP (media.rtp_ip).
	Advertise netip.Addr
	// SRTP: the seats whose calls are SRTP (seats[].srtp): offered
	// RTP/SAVP with SDES keys, and the dialer rings them only over TLS.
	SRTP map[string]bool
}

// Answer makes the caller's leg. from is the INVITE's source (the SBC):
// with the offer's c=/m=, the only address the leg takes the caller's RTP
// from (RTP Bleed, CVE-2017-14099).
func (f *MediaFactory) Answer(offer []byte, from netip.Addr, log *slog.Logger) (call.Media, []byte, error) {
	if len(offer) == 0 {
		// A delayed offer (RFC 3261 §13.2.1) is not supported yet: the SBCs
		// of Chinese carriers send the offer in the INVITE.
		return nil, nil, fmt.Errorf("%w: INVITE without SDP offer", call.ErrNoCommonCodec)
	}
	p, err := media.Negotiate(offer, f.Codecs)
	if err != nil {
		if media.Unacceptable(err) {
			return nil, nil, fmt.Errorf("%w: %w", call.ErrNoCommonCodec, err)
		}
		return nil, nil, err
	}
	leg, err := f.Engine.NewLeg(log)
	if err != nil {
		return nil, nil, err
	}
	m := &mediaLeg{f: f, leg: leg, log: log, sessID: rand.Uint64() >> 1, version: 1, params: p}
	m.answer = m.buildAnswer(offer)
	leg.SetSignallingSource(from)
	leg.Start(p)
	return m, m.answer, nil
}

// mediaLeg implements call.Media on a media.Leg.
type mediaLeg struct {
	f   *MediaFactory
	leg *media.Leg
	log *slog.Logger

	mu      sync.Mutex
	sessID  uint64
	version uint64
	params  media.SessionParams
	answer  []byte
	rec     *recordings.Mono
	// offered/offeredDTMF: what we offered, on a leg toward a seat.
	offered     []media.Codec
	offeredDTMF uint8
	// bridged is the caller leg's bridge (Bridge) while it lasts: a
	// transfer moves the caller to another leg with the same recording,
	// a supervisor or a conference makes it a mix (mix.go).
	bridged *bridgeState
	// srtpKey is our SRTP master key on a seat leg that is SRTP (nil:
	// plain RTP). It stays for the call: re-offers keep SRTP.
	srtpKey []byte
}

// buildAnswer answers offer with one m-line per offered m-line (RFC 3264
// §6: the ones we do not take get port 0).
func (m *mediaLeg) buildAnswer(offer []byte) []byte {
	local := netip.AddrPortFrom(m.f.Advertise, uint16(m.leg.LocalPort()))
	return media.AnswerSDPFor(offer, local, m.params, m.sessID, m.version)
}

func (m *mediaLeg) Play(names ...string) <-chan struct{} {
	ps := make([]*media.Prompt, 0, len(names))
	for _, n := range names {
		if p, ok := m.f.Prompts[n]; ok {
			ps = append(ps, p)
		} else {
			m.log.Warn("prompt missing, skipped", "prompt", n)
		}
	}
	return m.leg.Play(ps...)
}

func (m *mediaLeg) StopPlay()             { m.leg.StopPlay() }
func (m *mediaLeg) Digits() <-chan rune   { return m.leg.Digits() }
func (m *mediaLeg) Done() <-chan struct{} { return m.leg.Done() }
func (m *mediaLeg) Err() error            { return m.leg.Err() }

// Reoffer applies a mid-call offer (hold, resume, refresh, new address). The
// SDP version of our answer only changes when the answer does (RFC 3264 §8).
func (m *mediaLeg) Reoffer(offer []byte) ([]byte, error) {
	negotiate := media.Negotiate
	if m.srtpKey != nil {
		negotiate = media.NegotiateSecure // never back to clear audio mid-call
	}
	p, err := negotiate(offer, m.f.Codecs)
	if p.SRTP != nil {
		p.SRTP.Local = m.srtpKey
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.params
	m.params = p
	ans := m.buildAnswer(offer)
	if !bytes.Equal(ans, m.answer) {
		m.version++
		ans = m.buildAnswer(offer)
		m.answer = ans
	}
	m.leg.Update(p)
	if prev.Direction != p.Direction || prev.Remote != p.Remote {
		m.log.Info("media updated by re-offer", "direction", string(p.Direction), "hold", !p.Direction.Receives())
	}
	return ans, nil
}

func (m *mediaLeg) StartRecording(path string) error {
	rec, err := recordings.CreateMono(path)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.rec = rec
	m.mu.Unlock()
	m.leg.SetTap(rec)
	return nil
}

func (m *mediaLeg) StopRecording() (time.Duration, error) {
	m.leg.SetTap(nil)
	m.mu.Lock()
	rec := m.rec
	m.rec = nil
	m.mu.Unlock()
	if rec == nil {
		return 0, nil
	}
	err := rec.Close()
	return rec.Duration(), err
}

func (m *mediaLeg) Close() error {
	_, _ = m.StopRecording()
	return m.leg.Close()
}

// Offer makes a leg toward a seat that speaks the caller leg's codec (no
// transcoding on the relay path) and returns it with our SDP offer.
func (f *MediaFactory) Offer(like call.Media, seat string, log *slog.Logger) (call.Media, []byte, error) {
	caller, ok := like.(*mediaLeg)
	if !ok {
		return nil, nil, fmt.Errorf("adapt: offer: foreign media %T", like)
	}
	caller.mu.Lock()
	codec, dtmf := caller.params.Codec, caller.params.DTMFType
	caller.mu.Unlock()
	if dtmf == 0 {
		dtmf = 101
	}
	leg, err := f.Engine.NewLeg(log)
	if err != nil {
		return nil, nil, err
	}
	m := &mediaLeg{f: f, leg: leg, log: log, sessID: rand.Uint64() >> 1, version: 1, offered: []media.Codec{codec}, offeredDTMF: dtmf}
	local := netip.AddrPortFrom(f.Advertise, uint16(leg.LocalPort()))
	offer := media.OfferSDP(local, m.offered, dtmf, m.sessID, m.version, media.SendRecv)
	if f.SRTP[seat] {
		m.srtpKey = media.NewSRTPKey()
		offer = media.OfferSDPSecure(local, m.offered, dtmf, m.sessID, m.version, media.SendRecv, &media.SRTPKeys{Local: m.srtpKey})
	}
	m.answer = offer
	return m, offer, nil
}

// ApplyAnswer starts a leg we made an offer for, with the seat's answer.
// from is the seat's registration source: a phone behind NAT writes its
// private address in the SDP and sends its RTP from there.
func (m *mediaLeg) ApplyAnswer(sdp []byte, from netip.Addr) error {
	p, err := media.ParseAnswer(sdp, m.offered, m.offeredDTMF)
	if err != nil {
		return err
	}
	switch {
	case m.srtpKey != nil && p.SRTP == nil:
		return fmt.Errorf("%w: the seat answered plain RTP to an SRTP offer (its phone needs SRTP on, e.g. baresip mediaenc=srtp-mand)", media.ErrSRTP)
	case m.srtpKey == nil && p.SRTP != nil:
		return fmt.Errorf("%w: the seat answered RTP/SAVP to a plain offer", media.ErrSRTP)
	case p.SRTP != nil:
		if p.SRTP.Tag != 1 {
			return fmt.Errorf("%w: the answer's a=crypto tag %d is not our offer's 1", media.ErrSRTP, p.SRTP.Tag)
		}
		p.SRTP.Local = m.srtpKey
	}
	m.mu.Lock()
	m.params = p
	m.mu.Unlock()
	m.leg.SetSignallingSource(from)
	m.leg.Start(p)
	return nil
}

// Bridge relays caller and seat without decoding (media stays anchored),
// recording both sides into a stereo WAV (caller left, seat right) when
// recordPath is set. stop ends the relay (or the mix, if parties joined:
// see mix.go) and the recording and returns the recorded length.
func (f *MediaFactory) Bridge(callerM, seatM call.Media, recordPath string) (func() (time.Duration, error), error) {
	a, ok1 := callerM.(*mediaLeg)
	b, ok2 := seatM.(*mediaLeg)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("adapt: bridge: foreign media")
	}
	a.mu.Lock()
	prev := a.bridged
	a.mu.Unlock()
	if prev != nil {
		// A transfer put the caller back in a queue and a seat answered:
		// the call's recording goes on in the same file.
		if err := f.Move(a, b); err != nil {
			return nil, err
		}
		return prev.finish, nil
	}
	var (
		rec *recordings.Stereo
		tap media.BridgeTap
	)
	if recordPath != "" {
		var err error
		if rec, err = recordings.CreateStereo(recordPath); err != nil {
			return nil, err
		}
		tap = media.BridgeTap{A: rec.Left(), B: rec.Right()}
	}
	stopRelay, err := media.Bridge(a.leg, b.leg, tap)
	if err != nil {
		if rec != nil {
			_ = rec.Close()
		}
		return nil, err
	}
	bs := &bridgeState{f: f, a: a, b: b, rec: rec, tap: tap, stopRelay: stopRelay}
	a.mu.Lock()
	a.bridged = bs
	a.mu.Unlock()
	return bs.finish, nil
}

// HoldRelay implements call.Controllable: nothing the bridge relays reaches
// this leg while held (hold, mute); its playback or silence does.
func (m *mediaLeg) HoldRelay(held bool) { m.leg.SetRelayHeld(held) }

// SendDigits implements call.Controllable: RFC 4733 events to the peer; an
// error wrapping call.ErrNoTelephoneEvent when it negotiated none.
func (m *mediaLeg) SendDigits(digits string) error {
	err := m.leg.SendDigits(digits)
	if errors.Is(err, media.ErrNoTelephoneEvent) {
		return fmt.Errorf("%w: %w", call.ErrNoTelephoneEvent, err)
	}
	return err
}
