package demo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/icholy/digest"
)

// The simulated seat phones authenticate like a current softphone: they
// compute SHA-256 and MD5 digests (RFC 7616, RFC 8760) and, of the
// challenges in a 401, answer the topmost one for the realm whose algorithm
// they support (RFC 8760 §2.4). With the shipped sip.digest_algorithms
// [SHA-256, MD5] that is SHA-256; with [MD5, SHA-256] or [MD5] it is MD5.

// phoneAlgorithms are the digest algorithms the simulated phone computes.
var phoneAlgorithms = []string{"SHA-256", "MD5"}

// errNoUsableChallenge: the 401 offered nothing the phone can answer.
var errNoUsableChallenge = errors.New("no digest challenge for our realm with an algorithm we support")

// canonicalAlg maps a challenge's algorithm to ours ("" is MD5, RFC 2617).
func canonicalAlg(a string) (string, bool) {
	a = strings.ToUpper(strings.TrimSpace(a))
	if a == "" {
		a = "MD5"
	}
	for _, p := range phoneAlgorithms {
		if a == p {
			return p, true
		}
	}
	return "", false
}

// PickChallenge returns the first of the WWW-Authenticate values (in the
// order they appear in the response) that is a digest challenge for realm
// ("" accepts any realm), with an algorithm the phone supports and qop
// "auth" or no qop.
func PickChallenge(values []string, realm string) (*digest.Challenge, error) {
	for _, v := range values {
		if !digest.IsDigest(v) {
			continue
		}
		c, err := digest.ParseChallenge(v)
		if err != nil {
			continue
		}
		if realm != "" && c.Realm != realm {
			continue
		}
		alg, ok := canonicalAlg(c.Algorithm)
		if !ok || c.Userhash {
			continue
		}
		qops := c.QOP[:0:0]
		for _, q := range c.QOP {
			qops = append(qops, strings.TrimSpace(q))
		}
		if len(qops) > 0 && !containsFold(qops, "auth") {
			continue // auth-int only: a REGISTER has no body worth protecting
		}
		c.QOP = nil
		if len(qops) > 0 {
			c.QOP = []string{"auth"}
		}
		c.Algorithm = alg
		return c, nil
	}
	return nil, errNoUsableChallenge
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// digestState is the phone's current challenge: it answers it again with
// a growing nonce count (RFC 7616 §3.4) until the registrar says stale.
type digestState struct {
	chal   *digest.Challenge
	nc     int
	cnonce string
}

func newDigestState(c *digest.Challenge) *digestState {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &digestState{chal: c, cnonce: hex.EncodeToString(b)}
}

// authorization is the Authorization header value for one request.
func (d *digestState) authorization(method, uri, user, password string) (string, error) {
	d.nc++
	opts := digest.Options{Method: method, URI: uri, Username: user, Password: password, Count: d.nc, Cnonce: d.cnonce}
	cred, err := digest.Digest(d.chal, opts)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	return cred.String(), nil
}
