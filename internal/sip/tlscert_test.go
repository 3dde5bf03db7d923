package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/testcert"
	"github.com/prometheus/client_golang/prometheus"
)

func startTLSServer(t *testing.T, certFile, keyFile string, reg *prometheus.Registry) *Server {
	t.Helper()
	return startServerWith(t, nil, Config{Listen: []string{"udp://127.0.0.1:0", "tls://127.0.0.1:0"}, TLSCert: certFile, TLSKey: keyFile}, reg)
}

// tlsOptions sends an OPTIONS over conn and returns the status line of the
// answer.
func tlsOptions(t *testing.T, conn *tls.Conn, r *bufio.Reader, n int) string {
	t.Helper()
	la := conn.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/TLS %s;branch=z9hG4bK-tls-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=t%d\r\nTo: <sip:12348@127.0.0.1>\r\n"+
		"Call-ID: tls-%d@test\r\nCSeq: %d OPTIONS\r\nContact: <sip:probe@%s;transport=tls>\r\nContent-Length: 0\r\n\r\n", la, n, n, n, n, la)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("no answer over TLS: %v", err)
	}
	for { // the rest of the head
		l, err := r.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	return strings.TrimSpace(line)
}

func dialTLS(t *testing.T, s *Server) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addrs()["tls"].String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

// A tls:// listener answers SIP over TLS; SIGHUP's ReloadTLS gives new
// connections the renewed certificate while an established one keeps
// working; a broken file on reload keeps the certificate in use.
func TestTLSListenerReloadsItsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir, 1, 24*time.Hour)
	reg := prometheus.NewRegistry()
	s := startTLSServer(t, certFile, keyFile, reg)

	old, oldR := dialTLS(t, s)
	if got := old.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	if line := tlsOptions(t, old, oldR, 1); line != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS over TLS: %q", line)
	}
	exp1 := tlsExpiry(t, reg)

	testcert.Write(t, dir, 2, 90*24*time.Hour)
	notAfter, err := s.ReloadTLS()
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(notAfter) < 80*24*time.Hour {
		t.Fatalf("reload reports expiry %v, want the new certificate's", notAfter)
	}
	if exp2 := tlsExpiry(t, reg); exp2-exp1 < 80*24*3600 {
		t.Fatalf("hotline_sip_tls_cert_expiry_timestamp_seconds %v → %v: not the new certificate", exp1, exp2)
	}
	fresh, freshR := dialTLS(t, s)
	if got := fresh.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Fatalf("after reload a new connection got serial %d, want 2", got)
	}
	if line := tlsOptions(t, fresh, freshR, 2); line != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS over the new connection: %q", line)
	}
	if line := tlsOptions(t, old, oldR, 3); line != "SIP/2.0 200 OK" {
		t.Fatalf("the connection made before the reload: %q", line)
	}

	// A half-written renewal: the key file is garbage. The certificate in
	// use stays, and the error names the key.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "sip.tls_key") {
		t.Fatalf("reload of a broken key: %v, want an error naming sip.tls_key", err)
	}
	third, _ := dialTLS(t, s)
	if got := third.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Fatalf("after a failed reload serial %d, want 2 still", got)
	}
}

// tlsExpiry reads hotline_sip_tls_cert_expiry_timestamp_seconds.
func tlsExpiry(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hotline_sip_tls_cert_expiry_timestamp_seconds" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("hotline_sip_tls_cert_expiry_timestamp_seconds is not exported")
	return 0
}

func TestTLSListenerNeedsItsFiles(t *testing.T) {
	_, err := New(Config{Listen: []string{"tls://127.0.0.1:0"}}, nil, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "sip.tls_cert") {
		t.Fatalf("tls:// without files: %v", err)
	}
	dir := t.TempDir()
	_, err = New(Config{Listen: []string{"tls://127.0.0.1:0"}, TLSCert: dir + "/none.pem", TLSKey: dir + "/none.key"}, nil, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Fatalf("tls:// with a missing file: %v", err)
	}
}
