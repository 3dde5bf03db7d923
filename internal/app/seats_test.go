package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	d := &seatDialer{menu: menu}
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

// A node of a cluster whose Redis does not answer at start still starts
// (new callers then go to voicemail) and says so: /healthz 200 degraded.
func TestClusterNodeStartsWithRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	dir := t.TempDir()
	y := fmt.Sprintf(`node_id: t1
data_dir: %s
sip: {listen: ["udp://127.0.0.1:0"]}
http: {listen: "127.0.0.1:0"}
media: {rtp_ports: "41000-41100"}
acd: {backend: redis, redis_url: "redis://127.0.0.1:%d/0"}
cluster: {advertise_sip: "sip:127.0.0.1:5099", advertise_http: "http://127.0.0.1:8099", secret: "0123456789abcdef0"}
seats: [{id: "8001", password: pass-8001-x, skills: [consult]}]
`, dir, deadPort)
	cfg, err := config.Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := filepath.Join(dir, "ready.json")
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), ReadyFile: ready})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var r Ready
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && json.Unmarshal(b, &r) == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("Run ended before serving: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("not serving after 20 s")
		}
	}
	res, err := http.Get("http://" + r.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "degraded") || !strings.Contains(string(body), "redis") {
		t.Fatalf("/healthz with Redis down: %d %s", res.StatusCode, body)
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
		if ip, ok := sipHostIP(uri); ok {
			got = ip.String()
		}
		if got != want {
			t.Errorf("%s: %q, want %q", uri, got, want)
		}
	}
}
