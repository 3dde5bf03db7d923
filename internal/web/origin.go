package web

// Cross-site request forgery.
//
// The session cookie is SameSite=Strict, but SameSite is not enough on its
// own (an older browser, a sibling site on the same registrable domain, a
// plain-text form POST): a state-changing request (anything but GET, HEAD,
// OPTIONS) that a session cookie authenticates must also come from a page
// of the console's own origin. Browsers send Origin on every such request
// (the console sets Referrer-Policy: same-origin so that it is not
// "null"); where it is absent, Referer's origin stands in; with neither,
// the request is refused. Bearer-token requests, node-to-node requests
// (peer.go) and the work-order system's signed feedback carry no ambient
// credential a foreign page could make the browser send, and are exempt.
// A login is refused when it says it comes from another origin (login
// CSRF: being logged in as the attacker), and allowed without Origin
// (scripts).

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// stateChanging reports whether method may change state (RFC 9110 §9.2.1:
// everything but the safe methods).
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

var errNoOrigin = errors.New("neither Origin nor Referer says where the request comes from")

// checkOrigin checks that r's Origin (or, without one, Referer) is this
// server's origin as the browser addressed it (scheme and host, see
// client.go). Without either header it is errNoOrigin when required, nil
// otherwise.
func (s *Server) checkOrigin(r *http.Request, required bool) error {
	from := r.Header.Get("Origin")
	what := "Origin"
	if from == "" {
		if ref := r.Header.Get("Referer"); ref != "" {
			from, what = ref, "Referer"
		}
	}
	if from == "" {
		if required {
			return errNoOrigin
		}
		return nil
	}
	u, err := url.Parse(from)
	if from == "null" || err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%s %q is not an origin", what, limitText(from, 100))
	}
	want := s.scheme(r)
	got := strings.ToLower(u.Scheme)
	if got != want || canonicalHost(got, u.Host) != canonicalHost(want, s.host(r)) {
		return fmt.Errorf("%s %s is not this console's origin (%s://%s)", what, limitText(got+"://"+u.Host, 100), want, limitText(s.host(r), 100))
	}
	return nil
}

// canonicalHost is host:port in lower case, with the scheme's default port
// when host has none.
func canonicalHost(scheme, hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(net.JoinHostPort(host, port))
}

func limitText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
