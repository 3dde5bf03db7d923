package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFlowToken(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	for _, f := range []flow{
		{transport: "UDP", addr: netip.MustParseAddrPort("203.0.113.7:5060")},
		{transport: "TCP", addr: netip.MustParseAddrPort("[2001:db8::1]:49152")},
		{transport: "TLS", addr: netip.MustParseAddrPort("[::ffff:10.1.2.3]:5061")},
	} {
		tok, err := mintFlowToken(clusterSecret, f, "call-1@x", at)
		if err != nil {
			t.Fatal(err)
		}
		if f.addr.Addr().Is4() && len(tok) != 36 {
			t.Errorf("IPv4 token is %d characters, want 36 (keep the Route short)", len(tok))
		}
		got, issued, err := parseFlowToken(clusterSecret, tok, "call-1@x")
		want := flow{transport: f.transport, addr: netip.AddrPortFrom(f.addr.Addr().Unmap(), f.addr.Port())}
		if err != nil || got != want || !issued.Equal(at) {
			t.Fatalf("round trip %v: %+v %v %v", f, got, issued, err)
		}
		if _, _, err := parseFlowToken(clusterSecret, tok, "call-2@x"); !errors.Is(err, errFlowTokenForged) {
			t.Errorf("token of another Call-ID: %v", err)
		}
		if _, _, err := parseFlowToken([]byte("another secret"), tok, "call-1@x"); !errors.Is(err, errFlowTokenForged) {
			t.Errorf("token of another secret: %v", err)
		}
		for i := range tok {
			b := []byte(tok)
			b[i] = "AB"[(b[i]+1)%2]
			if string(b) == tok {
				continue
			}
			if g, _, err := parseFlowToken(clusterSecret, string(b), "call-1@x"); err == nil && g == want {
				// Only the last character's spare bits may change nothing.
				if i != len(tok)-1 {
					t.Errorf("changed character %d still verifies", i)
				}
			}
		}
	}
	for _, bad := range []string{"", "AAAA", strings.Repeat("A", 36), strings.Repeat("A", 300), "a b"} {
		if _, _, err := parseFlowToken(clusterSecret, bad, "c"); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, err := mintFlowToken(clusterSecret, flow{transport: "SCTP", addr: netip.MustParseAddrPort("10.0.0.1:1")}, "c", at); err == nil {
		t.Error("unknown transport minted")
	}
}

// FuzzParseFlowToken: tokens arrive from the network in Route URIs.
func FuzzParseFlowToken(f *testing.F) {
	tok, _ := mintFlowToken(clusterSecret, flow{transport: "UDP", addr: netip.MustParseAddrPort("10.0.0.1:5060")}, "c", time.Unix(1, 0))
	f.Add(tok, "c")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, tok, cid string) {
		fl, _, err := parseFlowToken(clusterSecret, tok, cid)
		if err == nil && (!fl.addr.IsValid() || fl.transport == "") {
			t.Fatalf("accepted %q as %+v", tok, fl)
		}
	})
}
