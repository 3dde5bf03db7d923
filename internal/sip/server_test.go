package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func startServer(t *testing.T, h Handler) *Server {
	t.Helper()
	return startGuarded(t, Limits{}, h) // the default limits
}

// startServerWith starts a server with cfg's listeners and files, on the
// test domain, trusting 127.0.0.1.
func startServerWith(t *testing.T, h Handler, cfg Config, reg prometheus.Registerer) *Server {
	t.Helper()
	if h == nil {
		h = func(ctx context.Context, c *InboundCall) { _ = c.Reject(404, "Not Found") }
	}
	cfg.Domain = "12348.local"
	cfg.TrustedSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	cfg.AdvertiseHost = "127.0.0.1"
	s, err := New(cfg, h, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// udpPeer is a bare UDP socket that speaks SIP by hand.
type udpPeer struct {
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newUDPPeer(t *testing.T, s *Server) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{conn: c, to: net.UDPAddrFromAddrPort(s.Addrs()["udp"])}
}

func (p *udpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *udpPeer) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		t.Fatal(err)
	}
}

// recvStatus waits for a response and returns its status line ("" on timeout).
func (p *udpPeer) recvStatus(d time.Duration) string {
	buf := make([]byte, 65535)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if strings.HasPrefix(line, "SIP/2.0 1") {
			continue // provisional
		}
		return line
	}
	return ""
}

func options(port int, branch string) string {
	return fmt.Sprintf("OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\n"+
		"Call-ID: %s@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, branch, branch)
}

func TestOptionsAndDrain(t *testing.T) {
	s := startServer(t, nil)
	p := newUDPPeer(t, s)
	p.send(t, options(p.port(), "opt1"))
	if got := p.recvStatus(2 * time.Second); got != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS: %q", got)
	}
	s.Drain()
	p.send(t, options(p.port(), "opt2"))
	if got := p.recvStatus(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 503") {
		t.Fatalf("OPTIONS while draining: %q, want 503 so the SBC fails over", got)
	}
}

// Every RFC 4475 torture message, plus garbage, over UDP and TCP: the server
// answers what it can, drops the rest, and still answers OPTIONS afterwards.
func TestMalformedInputNeverCrashes(t *testing.T) {
	var calls atomic.Int32
	s := startServer(t, func(ctx context.Context, c *InboundCall) {
		calls.Add(1)
		_ = c.Reject(404, "Not Found")
	})
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "sip", "rfc4475", "*.dat"))
	if err != nil || len(files) < 40 {
		t.Fatalf("RFC 4475 torture messages missing from testdata/sip/rfc4475: %v", err)
	}
	var msgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	msgs = append(msgs,
		[]byte("\x00\x01\x02garbage"),
		[]byte("INVITE sip:12348@127.0.0.1 SIP/2.0\r\n\r\n"),             // no headers at all
		[]byte("INVITE sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP"), // cut short
		[]byte(strings.Repeat("A", 60000)),
		[]byte("SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n"), // a stray response
		[]byte("INVITE sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: nocseq\r\nContent-Length: 0\r\n\r\n"),
	)
	p := newUDPPeer(t, s)
	for _, m := range msgs {
		if _, err := p.conn.WriteToUDP(m, p.to); err != nil && len(m) < 9000 {
			t.Fatal(err)
		}
	}
	tcp, err := net.Dial("tcp", s.Addrs()["tcp"].String())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:10] {
		_, _ = tcp.Write(m)
	}
	_ = tcp.Close()

	time.Sleep(300 * time.Millisecond)
	p2 := newUDPPeer(t, s)
	p2.send(t, options(p2.port(), "after"))
	if got := p2.recvStatus(3 * time.Second); got != "SIP/2.0 200 OK" {
		t.Fatalf("after the torture messages OPTIONS got %q: the server is not serving", got)
	}
}

// An INVITE without a Contact or CSeq gets 400, not a call.
func TestInviteMissingHeadersGets400(t *testing.T) {
	var calls atomic.Int32
	s := startServer(t, func(ctx context.Context, c *InboundCall) { calls.Add(1); _ = c.Reject(404, "x") })
	p := newUDPPeer(t, s)
	p.send(t, fmt.Sprintf("INVITE sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKnc\r\n"+
		"From: <sip:13800000000@127.0.0.1>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: nocontact\r\nCSeq: 1 INVITE\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.port()))
	if got := p.recvStatus(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 400") {
		t.Fatalf("INVITE without Contact: %q, want 400", got)
	}
	if calls.Load() != 0 {
		t.Fatal("a malformed INVITE reached the call handler")
	}
}

func TestParseInfoDigit(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= *\r\nDuration= 100", '*', true},
		{"application/dtmf-relay", "Signal=11\r\n", '#', true},
		{"Application/DTMF-Relay; charset=x", "signal=9", '9', true},
		{"application/dtmf", "3", '3', true},
		{"application/dtmf", "#", '#', true},
		{"application/dtmf-relay", "Signal=Z\r\n", 0, false},
		{"application/dtmf-relay", "Duration=160\r\nSignal=a\r\n", 'A', true},
		{"application/dtmf-relay", "Signal=55\r\n", 0, false},
		{"application/dtmf", " 9\r\n", '9', true},
		{"", "5", 0, false},
		{"text/plain", "Signal=5", 0, false},
		{"application/dtmf-relay", "", 0, false},
	} {
		got, ok := parseInfoDigit(tc.ct, []byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInfoDigit(%q, %q) = %q %v, want %q %v", tc.ct, tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseInfoDigit(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, ok := parseInfoDigit(ct, body)
		if ok && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("digit %q is not DTMF", d)
		}
	})
}

func TestParseSessionExpires(t *testing.T) {
	for _, tc := range []struct {
		in        string
		d         time.Duration
		refresher string
		ok        bool
	}{
		{"1800;refresher=uac", 1800 * time.Second, "uac", true},
		{"90", 90 * time.Second, "", true},
		{" 600 ; refresher = UAS", 600 * time.Second, "uas", true},
		{"abc", 0, "", false},
		{"-5", 0, "", false},
	} {
		d, r, ok := parseSessionExpires(tc.in)
		if d != tc.d || r != tc.refresher || ok != tc.ok {
			t.Errorf("parseSessionExpires(%q) = %v %q %v", tc.in, d, r, ok)
		}
	}
}

func invite(port int, callID, extra string) string {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
	return fmt.Sprintf("INVITE sip:12348@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"+
		"From: <sip:13800000000@127.0.0.1>;tag=caller1\r\nTo: <sip:12348@127.0.0.1>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:13800000000@127.0.0.1:%d>\r\n%s"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", port, callID, callID, port, extra, len(sdp), sdp)
}

// recvFull waits for a final response and returns it whole.
func (p *udpPeer) recvFull(t *testing.T, d time.Duration) string {
	t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if msg := string(buf[:n]); !strings.HasPrefix(msg, "SIP/2.0 1") {
			return msg
		}
	}
	t.Fatal("no final response")
	return ""
}

// A CANCEL before the answer ends the INVITE with 487 and tells the handler.
func TestCancelBeforeAnswer(t *testing.T) {
	got := make(chan EventKind, 1)
	s := startServer(t, func(ctx context.Context, c *InboundCall) {
		select {
		case ev := <-c.Events():
			got <- ev.Kind
		case <-time.After(5 * time.Second):
			got <- 0
		}
	})
	p := newUDPPeer(t, s)
	p.send(t, invite(p.port(), "cancel1", ""))
	time.Sleep(200 * time.Millisecond)
	p.send(t, fmt.Sprintf("CANCEL sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKcancel1\r\n"+
		"From: <sip:13800000000@127.0.0.1>;tag=caller1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: cancel1\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.port()))
	var statuses []string
	for range 2 {
		line, _, _ := strings.Cut(p.recvFull(t, 3*time.Second), "\r\n")
		statuses = append(statuses, line)
	}
	joined := strings.Join(statuses, ",")
	if !strings.Contains(joined, "SIP/2.0 200 OK") || !strings.Contains(joined, "SIP/2.0 487") {
		t.Fatalf("responses %v, want 200 (to the CANCEL) and 487 (to the INVITE)", statuses)
	}
	if k := <-got; k != EventCancel {
		t.Fatalf("handler saw event %v, want cancel", k)
	}
}

// RFC 4028: a Session-Expires below Min-SE gets 422 with Min-SE; an
// acceptable one is echoed with the refresher and Require: timer.
func TestSessionTimerNegotiation(t *testing.T) {
	s := startServer(t, func(ctx context.Context, c *InboundCall) {
		if err := c.Answer([]byte("v=0\r\n"), func(o []byte) ([]byte, error) { return o, nil }); err != nil {
			return
		}
		select {
		case <-c.Events():
		case <-ctx.Done():
		}
	})
	p := newUDPPeer(t, s)
	p.send(t, invite(p.port(), "se1", "Supported: timer\r\nSession-Expires: 30\r\n"))
	res := p.recvFull(t, 3*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 422") || !strings.Contains(res, "Min-SE: 90") {
		t.Fatalf("Session-Expires 30: %q, want 422 with Min-SE: 90", res)
	}
	p2 := newUDPPeer(t, s)
	p2.send(t, invite(p2.port(), "se2", "Supported: timer\r\nSession-Expires: 600\r\n"))
	res = p2.recvFull(t, 3*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200") || !strings.Contains(res, "Session-Expires: 600;refresher=uac") || !strings.Contains(res, "Require: timer") {
		t.Fatalf("Session-Expires 600: %q", res)
	}
	p3 := newUDPPeer(t, s)
	p3.send(t, invite(p3.port(), "se3", ""))
	res = p3.recvFull(t, 3*time.Second)
	if !strings.Contains(res, "Session-Expires: 1800;refresher=uas") || strings.Contains(res, "Require: timer") {
		t.Fatalf("caller without timer support: %q, want us as refresher and no Require", res)
	}
}
