package adapt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
	sipsrv "github.com/hotline12348/hotline/internal/sip"
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

// TrunkDialer places calls to outside numbers through the trunk
// (transfer.trunk), presenting CallerID (transfer.caller_id). It dials
// whatever number it is given: callers must give it only numbers they were
// allowed to (a callback's own caller).
type TrunkDialer struct {
	Server   *sipsrv.Server
	Trunk    string // sip:host:port[;transport=udp|tcp]
	CallerID string
}

// ErrNoTrunk: transfer.trunk is not set.
var ErrNoTrunk = errors.New("adapt: no trunk configured (transfer.trunk)")

// DialOut sends the INVITE for number to the trunk.
func (d *TrunkDialer) DialOut(ctx context.Context, number string, offer []byte, onOffer func([]byte) ([]byte, error), log *slog.Logger) (call.SeatCall, error) {
	if d == nil || d.Trunk == "" || d.Server == nil {
		return nil, ErrNoTrunk
	}
	rest := strings.TrimPrefix(d.Trunk, "sip:")
	hp, params, _ := strings.Cut(rest, ";")
	transport := "UDP"
	if strings.EqualFold(params, "transport=tcp") {
		transport = "TCP"
	}
	src, err := resolveHostPort(ctx, hp)
	if err != nil {
		return nil, fmt.Errorf("adapt: trunk %s: %w", d.Trunk, err)
	}
	oc, err := d.Server.Dial(ctx, sipsrv.DialOptions{
		Target:      sipsrv.Target{Contact: "sip:" + number + "@" + hp, Source: src, Transport: transport},
		FromUser:    d.CallerID,
		FromDisplay: d.CallerID,
		ToUser:      number,
		SDP:         offer,
		OnOffer:     onOffer,
		Log:         log,
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	return &seatCall{oc: oc, source: src.Addr(), done: done, events: mapEvents(oc.Events(), done)}, nil
}

func resolveHostPort(ctx context.Context, hp string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hp); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %v", host, err)
	}
	return netip.ParseAddrPort(net.JoinHostPort(ips[0].String(), port))
}
