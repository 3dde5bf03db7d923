package sip

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// certStore holds the certificate a tls:// listener presents. It is read
// per handshake (tls.Config.GetCertificate), so Reload swaps it for new
// connections while the connections already up keep theirs: renewing a
// certificate (SIGHUP) drops no seat and no call.
type certStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadTLSCertificate reads a PEM certificate chain and its key, as a
// tls:// listener will: the error names the file that is wrong. It is
// what check-config runs too.
func LoadTLSCertificate(certFile, keyFile string) (*tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, errNoCerts
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("sip.tls_cert %s / sip.tls_key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
			c.Leaf = leaf
		}
	}
	return &c, nil
}

func newCertStore(certFile, keyFile string) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the files again; on any error the certificate in use stays.
func (s *certStore) reload() (*tls.Certificate, error) {
	c, err := LoadTLSCertificate(s.certFile, s.keyFile)
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	return c, nil
}

func (s *certStore) notAfter() time.Time {
	if c := s.cur.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// config is the listener's TLS configuration: TLS 1.2 at least (RFC 8996
// retired 1.0 and 1.1; every SIP phone in use speaks 1.2), the certificate
// of the moment, no client certificate asked (seats prove who they are
// with digest, over the encrypted flow).
func (s *certStore) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load(), nil
		},
	}
}
