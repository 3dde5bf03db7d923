package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// SRTP with SDES key exchange (RFC 3711, RFC 4568), for seats whose phone
// can and whose SIP runs over TLS: the keys travel in the SDP, so over
// anything but TLS they would be as readable as the audio they protect.
// One suite, the one every SIP phone has: AES_CM_128_HMAC_SHA1_80.

// SRTPSuite is the crypto suite we offer and accept.
const SRTPSuite = "AES_CM_128_HMAC_SHA1_80"

// srtpKeyLen is the inline key-params length: a 16-byte master key and a
// 14-byte master salt (RFC 4568 §6.2.1 for AES_CM_128).
const srtpKeyLen = 30

// ErrSRTP is a secure stream whose keys we cannot use (no a=crypto line
// with our suite, a malformed key, a plain answer to a secure offer).
var ErrSRTP = errors.New("media: srtp")

// SRTPKeys are one SRTP session's master keys, each srtpKeyLen bytes: Local
// encrypts what we send, Remote decrypts what the peer sends. Tag is the
// a=crypto tag the two sides agreed on (RFC 4568 §5.1: the answer echoes
// the tag of the offer's line it accepts).
type SRTPKeys struct {
	Tag    int
	Local  []byte
	Remote []byte
}

// NewSRTPKey returns a fresh random master key and salt.
func NewSRTPKey() []byte {
	k := make([]byte, srtpKeyLen)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand never fails on Linux (Go 1.24+: it cannot)
	}
	return k
}

// sdes is one a=crypto line we can use.
type sdes struct {
	tag int
	key []byte
}

func secureRTP(protos []string) bool {
	return len(protos) == 2 && protos[0] == "RTP" && (protos[1] == "SAVP" || protos[1] == "SAVPF")
}

// parseCrypto reads the a=crypto lines of our suite (RFC 4568 §9.1):
// "<tag> <suite> inline:<base64 key||salt>[|lifetime][|MKI:length]
// [session params]". Lines with MKIs, several keys or session parameters
// (UNENCRYPTED_SRTP and the like) are skipped: we do not weaken SRTP and
// keep one key per direction.
func parseCrypto(attrs []sdp.Attribute) []sdes {
	var out []sdes
	for _, a := range attrs {
		if a.Key != "crypto" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) != 3 || f[1] != SRTPSuite || !strings.HasPrefix(f[2], "inline:") {
			continue
		}
		tag, err := strconv.Atoi(f[0])
		if err != nil || tag < 0 || tag > 999999999 {
			continue
		}
		params := strings.TrimPrefix(f[2], "inline:")
		keyB64, rest, _ := strings.Cut(params, "|")
		if strings.Contains(rest, ":") || strings.Contains(rest, ";") {
			continue // an MKI, or more than one key
		}
		key, err := base64.StdEncoding.DecodeString(keyB64)
		if err != nil {
			if key, err = base64.RawStdEncoding.DecodeString(keyB64); err != nil {
				continue
			}
		}
		if len(key) != srtpKeyLen {
			continue
		}
		out = append(out, sdes{tag: tag, key: key})
	}
	return out
}

func appendCrypto(b []byte, k *SRTPKeys) []byte {
	b = append(b, "a=crypto:"...)
	b = strconv.AppendInt(b, int64(k.Tag), 10)
	b = append(b, ' ')
	b = append(b, SRTPSuite...)
	b = append(b, " inline:"...)
	b = base64.StdEncoding.AppendEncode(b, k.Local)
	b = append(b, "\r\n"...)
	return b
}

// keys are the SRTP keys of a parsed stream: nil for plain RTP, an error
// for a secure stream with no usable a=crypto line.
func (mi mediaInfo) keys() (*SRTPKeys, error) {
	if !mi.secure {
		return nil, nil
	}
	if len(mi.crypto) == 0 {
		return nil, fmt.Errorf("%w: RTP/SAVP without an a=crypto line for %s", ErrSRTP, SRTPSuite)
	}
	c := mi.crypto[0]
	return &SRTPKeys{Tag: c.tag, Remote: c.key}, nil
}

// NegotiateSecure answers an offer on a leg that is SRTP (a seat's
// re-INVITE: hold, refresh): like Negotiate, but the stream must be
// RTP/SAVP with a usable a=crypto line; plain RTP is ErrSRTP (we never
// fall back to clear audio mid-call). The caller sets SRTP.Local.
func NegotiateSecure(offer []byte, supported []Codec) (SessionParams, error) {
	mi, ok, err := parseSDP(offer, true)
	if err != nil {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w", err)
	}
	if !ok {
		return SessionParams{}, fmt.Errorf("media: negotiate: no audio stream: %w", ErrNoCommonCodec)
	}
	if !mi.secure {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w: plain RTP offered on an SRTP call", ErrSRTP)
	}
	keys, err := mi.keys()
	if err != nil {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w", err)
	}
	c, ok := pickCodec(mi.formats, supported)
	if !ok {
		return SessionParams{}, fmt.Errorf("media: negotiate: %w", ErrNoCommonCodec)
	}
	p := mi.params(c, pickDTMF(mi.formats))
	p.SRTP = keys
	return p, nil
}

// srtpContexts are a leg's two SRTP directions. The receive context is
// used by the reader goroutine only, the send context under txMu only:
// pion's Context is not safe for concurrent use, and needs not be.
type srtpContexts struct {
	keys *SRTPKeys
	rx   *srtp.Context
	tx   *srtp.Context
}

func newSRTPContexts(k *SRTPKeys) (*srtpContexts, error) {
	if len(k.Local) != srtpKeyLen || len(k.Remote) != srtpKeyLen {
		return nil, fmt.Errorf("%w: keys of %d and %d bytes, want %d", ErrSRTP, len(k.Local), len(k.Remote), srtpKeyLen)
	}
	prof := srtp.ProtectionProfileAes128CmHmacSha1_80
	// Replay protection on what we receive (RFC 3711 §3.3.2): a captured
	// packet sent again is refused, not played twice.
	rx, err := srtp.CreateContext(k.Remote[:16], k.Remote[16:], prof, srtp.SRTPReplayProtection(128))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSRTP, err)
	}
	tx, err := srtp.CreateContext(k.Local[:16], k.Local[16:], prof)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSRTP, err)
	}
	return &srtpContexts{keys: k, rx: rx, tx: tx}, nil
}

// sameKeys: a re-offer that keeps both keys keeps the contexts (and their
// rollover counters and replay windows).
func (c *srtpContexts) sameKeys(k *SRTPKeys) bool {
	return c != nil && k != nil && string(c.keys.Local) == string(k.Local) && string(c.keys.Remote) == string(k.Remote)
}
