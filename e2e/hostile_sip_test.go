package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// Issue 9, against the real binary with the shipped limits
// (sip.tcp_header_timeout 10s, sip.tcp_idle_timeout 30s,
// sip.tcp_max_per_source 32, sip.rate_limit 16/2s): 200 connections from
// one untrusted address (127.0.0.77), half idle and half with a message
// begun and never finished, leave at most 32 open after 3 s and none after
// 45 s; the SBC's (127.0.0.1, trusted) TCP connection, idle all that
// time, is still served.
func TestTCPStrangerConnectionsBoundedAgainstBinary(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	dial := func(ip string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		return d.Dial("tcp", h.Ready.SIPTCP)
	}
	options := func(c net.Conn, branch string) string {
		msg := fmt.Sprintf("OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK%s\r\n"+
			"From: <sip:sbc@127.0.0.1>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: %s@sbc\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", c.LocalAddr(), branch, branch)
		if _, err := io.WriteString(c, msg); err != nil {
			return "write: " + err.Error()
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return "read: " + err.Error()
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return line
	}
	sbc, err := dial("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer sbc.Close()
	if got := options(sbc, "sbc1"); got != "SIP/2.0 200 OK" {
		t.Fatalf("SBC OPTIONS over TCP: %q", got)
	}

	start := time.Now()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 200 {
		c, err := dial("127.0.0.77")
		if err != nil {
			continue // refused outright is fine too
		}
		conns = append(conns, c)
		if i%2 == 1 {
			_, _ = io.WriteString(c, "INVITE sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.77:1;branch=z9hG4bKhalf\r\nFrom: <sip:") // never finished
		}
	}
	alive := func() int {
		n := 0
		buf := make([]byte, 512)
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			_, err := c.Read(buf)
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				n++
			}
		}
		return n
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	after3 := alive()
	if after3 > 32 {
		t.Fatalf("%d of 200 connections from one untrusted address open after 3 s, cap 32", after3)
	}
	var closedAt time.Duration
	for time.Since(start) < 45*time.Second {
		if alive() == 0 {
			closedAt = time.Since(start)
			break
		}
		time.Sleep(time.Second)
	}
	if closedAt == 0 {
		t.Fatalf("%d connections from one untrusted address still open after 45 s", alive())
	}
	t.Logf("200 connections from 127.0.0.77: %d open after 3 s, all closed after %v", after3, closedAt.Round(time.Second))
	// The SBC's connection has been idle past tcp_idle_timeout: trusted, untouched.
	if got := options(sbc, "sbc2"); got != "SIP/2.0 200 OK" {
		t.Fatalf("SBC OPTIONS on its connection after %v idle: %q", time.Since(start).Round(time.Second), got)
	}
	_, metrics := h.API(t, "GET", "/metrics", "")
	text := string(metrics)
	for _, reason := range []string{"header_timeout", "idle_timeout"} {
		if v := metricValue(t, text, "hotline_sip_dropped_total", `transport="tcp"`, `reason="`+reason+`"`); v < 1 {
			t.Errorf("hotline_sip_dropped_total{tcp,%s} = %v, want ≥ 1", reason, v)
		}
	}
}
