package media

import "errors"

// Sentinel errors. Functions wrap them with context ("media: negotiate: ...: %w"),
// so test with errors.Is.
var (
	// ErrBadSDP: the session description could not be parsed or makes no sense
	// (SIP: 400 Bad Request for an offer).
	ErrBadSDP = errors.New("media: bad sdp")
	// ErrNoCommonCodec: no audio codec of the offer (or answer) is one we
	// support (SIP: 488 Not Acceptable Here, RFC 3261 §21.4.26).
	ErrNoCommonCodec = errors.New("media: no codec in common")
	// ErrNoFreePort: every even port of the configured range is taken.
	ErrNoFreePort = errors.New("media: no free rtp port")
	// ErrInactivity: no RTP arrived on a leg for Config.Inactivity while the
	// peer was supposed to be sending.
	ErrInactivity = errors.New("media: rtp inactivity timeout")
	// ErrClosed: the leg or engine was closed by its owner.
	ErrClosed = errors.New("media: closed")
	// ErrBadConfig: Config is unusable.
	ErrBadConfig = errors.New("media: bad config")
	// ErrBadPrompt: a prompt file is not 8 kHz mono 16-bit PCM WAV.
	ErrBadPrompt = errors.New("media: bad prompt")
	// ErrBridge: the two legs cannot be bridged (codec mismatch, already
	// bridged, not started, closed, or the same leg twice).
	ErrBridge = errors.New("media: cannot bridge")
)

// Unacceptable reports whether err means the peer's offer cannot be taken
// as it is — no codec in common, or an SDP we cannot read — which SIP
// answers 488 Not Acceptable Here (RFC 3261 §21.4.26), to a new call and
// to a re-INVITE alike. The one place that decides it.
func Unacceptable(err error) bool {
	return errors.Is(err, ErrNoCommonCodec) || errors.Is(err, ErrBadSDP)
}
