package sip

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// rfc4475Seeds adds the RFC 4475 torture messages (testdata/sip/rfc4475)
// as seeds: they run in every ordinary test, and scripts/fuzz.sh mutates
// them.
func rfc4475Seeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "sip", "rfc4475", "*.dat"))
	if err != nil || len(files) < 40 {
		f.Fatalf("RFC 4475 messages missing: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(options(5062, "seed")))
	f.Add([]byte(invite(5062, "seed", "Require: timer, foo\r\n")))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"))
}

// Whatever arrives, the path a datagram takes before and into our
// handlers holds: the gate's check (sipgo's parser with the size bound,
// the stateless answer to what does not parse, the rate limit), the UAS
// checks of a parsed request, the registrar, and the TCP framer on the
// same bytes. Nothing panics, answers are well-formed SIP with the codes we
// mean to send, and nothing oversize gets through.
func FuzzSIPMessage(f *testing.F) {
	rfc4475Seeds(f)
	g := newGuard(Limits{MaxMessageSize: 4096, RateLimit: 1 << 30}, nil, func(netip.Addr) bool { return false })
	now := time.Unix(1_700_000_000, 0)
	r, err := NewRegistrar(RegistrarConfig{
		Realm:       testRealm,
		Credentials: func(u string) (string, bool) { p, ok := seatPasswords[u]; return p, ok },
		Now:         func() time.Time { return now },
	}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	src := netip.MustParseAddrPort("192.0.2.9:5062")

	f.Fuzz(func(t *testing.T, data []byte) {
		// TCP framing of the same bytes, in two chunks: it never lets a
		// message over the maximum through.
		fr := framer{max: g.lim.MaxMessageSize}
		half := len(data) / 2
		v := fr.feed(data[:half], now, func() bool { return false })
		if v.reason == "" {
			v = fr.feed(data[half:], now, func() bool { return false })
		}
		if v.reason == "" && fr.size > g.lim.MaxMessageSize {
			t.Fatalf("framer let %d bytes through, max %d", fr.size, g.lim.MaxMessageSize)
		}

		msg, err := g.parser.ParseSIP(data)
		if err != nil {
			if len(data) <= g.lim.MaxMessageSize && sipLike(data) {
				if req, ok := parseUnparsed(data); ok {
					code, reason := req.rejectCode()
					res, port := req.response(code, reason, src)
					checkResponse(t, res, code)
					if port == 0 {
						t.Fatalf("answer to port 0")
					}
				}
			}
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource(src.String())
		req.SetTransport("UDP")
		if rej := checkMessage(req); rej != nil {
			if rej.code != 400 && rej.code != 505 {
				t.Fatalf("checkMessage: %d", rej.code)
			}
			return
		}
		if rej := checkUAS(req); rej != nil {
			switch rej.code {
			case 406, 415, 416, 420, 501:
			default:
				t.Fatalf("checkUAS: %d", rej.code)
			}
			if req.IsAck() {
				t.Fatal("an ACK rejected")
			}
			res := sip.NewResponseFromRequest(req, rej.code, rej.reason, nil)
			for _, h := range rej.hdrs {
				res.AppendHeader(h)
			}
			checkResponse(t, []byte(res.String()), rej.code)
			return
		}
		if req.Method == sip.REGISTER {
			res, result := r.handle(req)
			if res == nil || !slices.Contains(registrationResults, result) {
				t.Fatalf("registrar: %v %q", res, result)
			}
		}
	})
}

// checkResponse: res parses as a SIP response with the given code and
// carries the headers a response copies when the request had them.
func checkResponse(t *testing.T, res []byte, code int) {
	t.Helper()
	m, err := sip.ParseMessage(res)
	if err != nil {
		// The copied headers may be garbage sipgo cannot read back; the
		// status line and framing must still be ours.
		if !bytes.HasPrefix(res, []byte("SIP/2.0 "+strconv.Itoa(code)+" ")) || !bytes.HasSuffix(res, []byte("\r\n\r\n")) {
			t.Fatalf("malformed answer %q", res)
		}
		return
	}
	if r, ok := m.(*sip.Response); !ok || r.StatusCode != code {
		t.Fatalf("answer %q, want a %d", res, code)
	}
}

// An Authorization header of any shape: parsing it never panics, and an
// answer is accepted only for a nonce this process sent to this address,
// in an algorithm the seat was offered, with the right password.
func FuzzDigestAuthorization(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	a, err := newDigestAuth(testRealm, []string{"SHA-256", "MD5"}, 5*time.Minute, func() time.Time { return now }, nil, 64)
	if err != nil {
		f.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.7")
	nonce, err := a.newNonce(client)
	if err != nil {
		f.Fatal(err)
	}
	for _, alg := range []string{"MD5", "SHA-256"} {
		c := regChallenge{realm: testRealm, nonce: nonce, algorithm: alg, opaque: a.opaque}
		f.Add(authorization(c, "8001", "pw-8001", 1), "pw-8001")
		f.Add(authorization(c, "8001", "pw-8001", 1), "other")
	}
	f.Add(`Digest username="8001", realm="12348.local", nonce="`+nonce+`", uri="sip:x", response="00", algorithm=MD5-sess`, "pw")
	f.Add(`Digest username="\"", realm=, nonce="`+strings.Repeat("A", 200)+`", qop=auth-int, nc=ffffffffff`, "")
	f.Add(`Basic dXNlcjpwYXNz`, "pw")
	f.Fuzz(func(t *testing.T, header, password string) {
		cred, err := digest.ParseCredentials(header)
		if err != nil {
			return
		}
		authentic := a.authentic(cred.Nonce, client)
		for _, algs := range [][]string{nil, {"MD5"}, {"SHA-256"}} {
			out := a.verify("REGISTER", cred, password, true, algs, client)
			if out != authOK {
				continue
			}
			alg, _ := canonicalAlgorithm(cred.Algorithm)
			offered := algs
			if offered == nil {
				offered = a.algs
			}
			if !authentic || !slices.Contains(offered, alg) {
				t.Fatalf("accepted %q (authentic nonce %v, algorithm %q of %v)", header, authentic, alg, offered)
			}
		}
		if a.authentic(cred.Nonce, netip.MustParseAddr("192.0.2.8")) {
			t.Fatal("a nonce authentic from another address")
		}
		// An unknown user is never accepted, whatever the password.
		if a.verify("REGISTER", cred, password, false, nil, client) == authOK {
			t.Fatalf("unknown user accepted: %q", header)
		}
	})
}
