package adapt

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
)

// OfferFirst makes the first leg of a call the switch places itself (a
// callback: the operator's phone rings before there is any caller leg),
// offering every configured codec; Offer(leg, …) then makes the second leg
// in the codec the phone chose, so the bridge relays without transcoding.
func (f *MediaFactory) OfferFirst(seat string, log *slog.Logger) (call.Media, []byte, error) {
	if len(f.Codecs) == 0 {
		return nil, nil, errors.New("adapt: no codecs configured")
	}
	leg, err := f.Engine.NewLeg(log)
	if err != nil {
		return nil, nil, err
	}
	const dtmf = 101
	m := &mediaLeg{f: f, leg: leg, log: log, sessID: rand.Uint64() >> 1, version: 1, offered: append([]media.Codec(nil), f.Codecs...), offeredDTMF: dtmf}
	local := netip.AddrPortFrom(f.Advertise, uint16(leg.LocalPort()))
	offer := media.OfferSDP(local, m.offered, dtmf, m.sessID, m.version, media.SendRecv)
	if f.SRTP[seat] {
		m.srtpKey = media.NewSRTPKey()
		offer = media.OfferSDPSecure(local, m.offered, dtmf, m.sessID, m.version, media.SendRecv, &media.SRTPKeys{Local: m.srtpKey})
	}
	m.answer = offer
	return m, offer, nil
}
