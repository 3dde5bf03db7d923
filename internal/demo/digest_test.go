package demo

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/icholy/digest"

	hsip "github.com/hotline12348/hotline/internal/sip"
)

func chal(alg, realm string) string {
	c := digest.Challenge{Realm: realm, Nonce: "n-" + alg, Opaque: "o", Algorithm: alg, QOP: []string{"auth"}}
	return c.String()
}

// RFC 8760 §2.4: the topmost challenge for the realm that the phone supports.
func TestPickChallenge(t *testing.T) {
	const realm = "12348.local"
	for _, tc := range []struct {
		name   string
		values []string
		want   string // algorithm, "" = error
	}{
		{"shipped order", []string{chal("SHA-256", realm), chal("MD5", realm)}, "SHA-256"},
		{"MD5 first", []string{chal("MD5", realm), chal("SHA-256", realm)}, "MD5"},
		{"MD5 alone", []string{chal("MD5", realm)}, "MD5"},
		{"no algorithm means MD5", []string{`Digest realm="12348.local", nonce="x", qop="auth"`}, "MD5"},
		{"lower case", []string{`Digest realm="12348.local", nonce="x", algorithm=sha-256, qop="auth"`}, "SHA-256"},
		{"unsupported first", []string{chal("SHA-512-256", realm), chal("MD5", realm)}, "MD5"},
		{"other realm skipped", []string{chal("SHA-256", "elsewhere"), chal("MD5", realm)}, "MD5"},
		{"auth-int only", []string{`Digest realm="12348.local", nonce="x", algorithm=MD5, qop="auth-int"`}, ""},
		{"qop list", []string{`Digest realm="12348.local", nonce="x", algorithm=MD5, qop="auth-int, auth"`}, "MD5"},
		{"not digest", []string{`Basic realm="12348.local"`}, ""},
		{"nothing usable", []string{chal("SHA-512", realm)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := PickChallenge(tc.values, realm)
			if tc.want == "" {
				if !errors.Is(err, errNoUsableChallenge) {
					t.Fatalf("got %+v, %v; want errNoUsableChallenge", c, err)
				}
				return
			}
			if err != nil || c.Algorithm != tc.want {
				t.Fatalf("got %+v, %v; want %s", c, err, tc.want)
			}
		})
	}
}

// The simulated phone against the switch's real registrar, over UDP on
// loopback: it registers with the algorithm the registrar offers first,
// refreshes by answering the same nonce with a higher count, unregisters,
// and stops at once when its password is wrong.
func TestSeatPhoneRegistersWithTheRealRegistrar(t *testing.T) {
	for _, algs := range [][]string{{"SHA-256", "MD5"}, {"MD5", "SHA-256"}, {"MD5"}} {
		t.Run(algs[0]+"-first", func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			reg, err := hsip.NewRegistrar(hsip.RegistrarConfig{
				Realm: "12348.local", Algorithms: algs,
				Credentials: func(u string) (string, bool) { return "pw-" + u, u == "8001" || u == "8002" },
			}, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			srv, err := hsip.New(hsip.Config{Listen: []string{"udp://127.0.0.1:0"}, Domain: "12348.local", Registrar: reg},
				func(context.Context, *hsip.InboundCall) {}, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			e := &env{ctx: ctx, log: log, sipAddr: srv.Addrs()["udp"], domain: "12348.local", calls: &tracker{}, rnd: newLockedRand(1, 2)}

			p, err := newSeatPhone(e, "8001", "pw-8001")
			if err != nil {
				t.Fatal(err)
			}
			defer p.ua.close()
			if err := p.ua.serve(ctx); err != nil {
				t.Fatal(err)
			}
			granted, err := p.register(ctx, 300)
			if err != nil {
				t.Fatal(err)
			}
			if p.alg != algs[0] || granted != 300*time.Second {
				t.Errorf("registered with %s for %s; want %s for 5m", p.alg, granted, algs[0])
			}
			b, ok := reg.Lookup("8001")
			if !ok || b.Source != p.ua.addr || b.UserAgent != seatUserAgent {
				t.Fatalf("binding %+v (%v); want the phone's own address %s", b, ok, p.ua.addr)
			}
			// A refresh answers the same challenge again (nc=2): no new 401.
			nonce := p.dig.chal.Nonce
			if _, err := p.register(ctx, 300); err != nil {
				t.Fatal(err)
			}
			if p.dig.chal.Nonce != nonce || p.dig.nc != 2 {
				t.Errorf("refresh used nonce %q nc %d; want the same nonce, nc 2", p.dig.chal.Nonce, p.dig.nc)
			}
			if _, err := p.register(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if _, ok := reg.Lookup("8001"); ok {
				t.Error("still bound after Expires: 0")
			}

			bad, err := newSeatPhone(e, "8002", "wrong")
			if err != nil {
				t.Fatal(err)
			}
			defer bad.ua.close()
			if err := bad.ua.serve(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := bad.register(ctx, 300); !errors.Is(err, errAuthRefused) {
				t.Errorf("wrong password: %v, want errAuthRefused", err)
			}
			if _, ok := reg.Lookup("8002"); ok {
				t.Error("bound with a wrong password")
			}
		})
	}
}
