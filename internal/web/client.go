package web

// Who is asking, and how they addressed us, behind reverse proxies.
//
// The TCP peer is the client, unless it is in Options.TrustedProxies
// (http.trusted_proxies). Then, and only then, X-Forwarded-For says who the
// client is — the address the last trusted proxy saw: the list is read from
// the right, past the proxies we trust, to the first address we do not —
// and X-Forwarded-Proto and X-Forwarded-Host say how the browser addressed
// the console (https; the origin that state-changing requests must come
// from). From any other peer these headers are ignored: anyone can send
// them.

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// peerAddr is the TCP peer's address (zero when RemoteAddr does not parse).
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// trustedProxy reports whether a is one of the trusted proxies.
func (s *Server) trustedProxy(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// viaTrustedProxy reports whether r's TCP peer is a trusted proxy.
func (s *Server) viaTrustedProxy(r *http.Request) bool { return s.trustedProxy(peerAddr(r)) }

// clientAddr is the client's address: the peer, or behind trusted proxies
// the X-Forwarded-For address the last trusted proxy saw.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !s.trustedProxy(peer) {
		return peer
	}
	hops := headerList(r.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// The hop the last trusted proxy wrote is garbage: what that
			// proxy saw is unknown, so the proxy itself is the client.
			return client
		}
		client = a
		if !s.trustedProxy(a) {
			return a
		}
	}
	return client // every hop a trusted proxy: the first of them
}

// clientIP is clientAddr as text, for logs and audit lines.
func (s *Server) clientIP(r *http.Request) string {
	if a := s.clientAddr(r); a.IsValid() {
		return a.String()
	}
	return remoteIP(r)
}

// scheme is "https" when the request came over TLS, or a trusted proxy
// says (X-Forwarded-Proto, its last value) that the browser used https.
func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if s.viaTrustedProxy(r) {
		if v := headerList(r.Header.Values("X-Forwarded-Proto")); len(v) > 0 && strings.EqualFold(v[len(v)-1], "https") {
			return "https"
		}
	}
	return "http"
}

// host is the host[:port] the browser addressed: Host, or a trusted
// proxy's X-Forwarded-Host (its last value).
func (s *Server) host(r *http.Request) string {
	if s.viaTrustedProxy(r) {
		if v := headerList(r.Header.Values("X-Forwarded-Host")); len(v) > 0 {
			return v[len(v)-1]
		}
	}
	return r.Host
}

// headerList splits comma-separated header values into trimmed, non-empty
// items, in order.
func headerList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// parseHop reads one X-Forwarded-For item: an address, with or without a
// port ("192.0.2.7", "192.0.2.7:5123", "2001:db8::7", "[2001:db8::7]:443").
func parseHop(v string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	if h, _, err := net.SplitHostPort(v); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
