package adapt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/media"
	sipsrv "github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/ticket"
)

// The operator's phone shows the choice the caller made, not whichever
// route of the same category a map iteration met first.
func TestSeatDisplayLabelFollowsTheKey(t *testing.T) {
	menu, err := config.LoadMenu(configs.IVRYAML())
	if err != nil {
		t.Fatal(err)
	}
	d := &SeatDialer{Menu: menu}
	for _, tc := range []struct{ path, want string }{
		{"1", "法律咨询"},
		{"0", "综合咨询"},
		{"", "综合咨询"},
		{"2", "法律援助"},
		{"9", "农民工欠薪绿色通道"},
		{"7*2", "法律援助"},
		{"77", "综合咨询"}, // two wrong keys: the general queue
	} {
		for range 20 { // map order would show itself within a few tries
			if got := d.label(&ticket.Ticket{IVRPath: tc.path}); got != tc.want {
				t.Fatalf("path %q: label %q, want %q", tc.path, got, tc.want)
			}
		}
	}
}

// SDES keys never leave in clear: an SRTP offer goes only to a seat
// registered over TLS to this node.
func TestSRTPOfferOnlyOverTLS(t *testing.T) {
	secure := media.OfferSDPSecure(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU}, 101, 1, 1, media.SendRecv, &media.SRTPKeys{Local: media.NewSRTPKey()})
	plain := media.OfferSDP(netip.MustParseAddrPort("127.0.0.1:40000"), []media.Codec{media.CodecPCMU}, 101, 1, 1, media.SendRecv)
	for _, c := range []struct {
		offer     []byte
		transport string
		via       string
		ok        bool
	}{
		{secure, "TLS", "", true},
		{secure, "tls", "", true},
		{secure, "UDP", "", false},
		{secure, "TCP", "", false},
		{secure, "TLS", "sip:10.0.0.12:5060;transport=tcp", false},
		{plain, "UDP", "", true},
		{plain, "TLS", "sip:10.0.0.12:5060;transport=tcp", true},
	} {
		err := clearKeys(c.offer, sipsrv.Binding{Seat: "8002", Transport: c.transport, Node: "km-2"}, c.via)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, call.ErrSeatUnreachable)) {
			t.Errorf("secure %v over %s via %q: %v", bytes.Contains(c.offer, []byte("a=crypto")), c.transport, c.via, err)
		}
	}
}

func TestSIPHostIP(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:10.0.0.11:5060;transport=tcp": "10.0.0.11",
		"sip:10.0.0.12":                    "10.0.0.12",
		"sip:[2001:db8::1]:5060":           "2001:db8::1",
		"sip:node-a.example:5060":          "",
		"garbage":                          "",
	} {
		got := ""
		if ip, ok := SIPHostIP(uri); ok {
			got = ip.String()
		}
		if got != want {
			t.Errorf("%s: %q, want %q", uri, got, want)
		}
	}
}

// A seat whose registration just went away is not rung: the dialer says
// so with ErrSeatNotRegistered, and the ACD offers the call elsewhere.
func TestDialUnregisteredSeat(t *testing.T) {
	reg, err := sipsrv.NewRegistrar(sipsrv.RegistrarConfig{Realm: "hotline.test",
		Credentials: func(string) (string, bool) { return "", false }}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	menu, err := config.LoadMenu(configs.IVRYAML())
	if err != nil {
		t.Fatal(err)
	}
	d := &SeatDialer{Registrar: reg, Menu: menu}
	_, err = d.Dial(context.Background(), "8001", []byte("v=0\r\n"), nil, &ticket.Ticket{ID: "t-1", Caller: "13800000000"}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrSeatNotRegistered) || !strings.Contains(err.Error(), "8001") {
		t.Fatalf("Dial of an unregistered seat: %v", err)
	}
}
