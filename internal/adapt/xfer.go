package adapt

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	sipsrv "github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
)

// Move ends the relay of the caller leg's bridge (made by Bridge) and, with
// other set, relays the caller with other instead; the stereo recording of
// the bridge goes on (caller left, whoever the caller talks to right).
// other nil leaves the caller alone (held: prompts can be played to it).
func (f *MediaFactory) Move(callerM, otherM call.Media) error {
	a, ok := callerM.(*mediaLeg)
	if !ok {
		return fmt.Errorf("adapt: move: foreign media %T", callerM)
	}
	a.mu.Lock()
	bs := a.bridged
	a.mu.Unlock()
	if bs == nil {
		return fmt.Errorf("adapt: move: the caller's leg is not bridged")
	}
	var other *mediaLeg
	if otherM != nil {
		var ok bool
		if other, ok = otherM.(*mediaLeg); !ok {
			return fmt.Errorf("adapt: move: foreign media %T", otherM)
		}
	}
	return bs.move(other)
}

// Pair relays two legs without recording (the operator and a transfer
// target talking while the caller is held).
func (f *MediaFactory) Pair(xM, yM call.Media) (func(), error) {
	x, ok1 := xM.(*mediaLeg)
	y, ok2 := yM.(*mediaLeg)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("adapt: pair: foreign media")
	}
	return media.Bridge(x.leg, y.leg, media.BridgeTap{})
}

// TrunkDialer dials outside numbers through the trunk (transfer.trunk),
// presenting transfer.caller_id (call.OutsideDialer). It dials only what
// the call layer gives it: the call layer gives it only configured targets.
type TrunkDialer struct {
	Server *sipsrv.Server
	// Trunk is "sip:host:port[;transport=udp|tcp]".
	Trunk    string
	CallerID string
}

func (d *TrunkDialer) Dial(ctx context.Context, number string, offer []byte, onOffer func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (call.SeatCall, error) {
	if d == nil || d.Trunk == "" {
		return nil, fmt.Errorf("adapt: no transfer.trunk: outside numbers cannot be dialled")
	}
	hp, params, _ := strings.Cut(strings.TrimPrefix(d.Trunk, "sip:"), ";")
	ap, err := netip.ParseAddrPort(hp)
	if err != nil {
		// A host name: resolved once here, the trunk is one SBC.
		host, port, serr := net.SplitHostPort(hp)
		if serr != nil {
			return nil, fmt.Errorf("adapt: transfer.trunk %q: %w", d.Trunk, serr)
		}
		ips, rerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if rerr != nil || len(ips) == 0 {
			return nil, fmt.Errorf("adapt: transfer.trunk %q: %v", d.Trunk, rerr)
		}
		p, _ := strconv.Atoi(port)
		ap = netip.AddrPortFrom(ips[0].Unmap(), uint16(p))
	}
	transport := "UDP"
	if strings.Contains(params, "transport=tcp") {
		transport = "TCP"
	}
	oc, err := d.Server.Dial(ctx, sipsrv.DialOptions{
		Target:      sipsrv.Target{Contact: "sip:" + number + "@" + hp, Source: ap, Transport: transport},
		FromUser:    d.CallerID,
		FromDisplay: "12348",
		ToUser:      number,
		SDP:         offer,
		OnOffer:     onOffer,
		Headers:     []sip.Header{sip.NewHeader("X-Hotline-Ticket", t.ID)},
		Log:         log,
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	return &seatCall{oc: oc, source: ap.Addr(), done: done, events: mapEvents(oc.Events(), done)}, nil
}
