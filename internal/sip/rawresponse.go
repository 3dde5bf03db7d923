package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// Answers to requests sipgo cannot parse. sipgo drops an unparseable
// datagram with a log line, so the sender retransmits for 32 s and never
// learns why; RFC 4475 expects a 400 (or 505, 416) wherever one can be
// sent. These are built from the raw bytes, statelessly (RFC 3261 §8.2.6:
// the response copies Via, From, To, Call-ID and CSeq), and sent to the
// packet's source address (§18.2.2, RFC 3581), never to a name taken from
// the message.

// unparsedRequest is what can be read from a request that did not parse.
type unparsedRequest struct {
	method, uri, version string
	via                  []string // values, top first
	from, to, callID     string
	cseq                 string
}

// sipLike says whether data starts like a SIP message at all: a response
// ("SIP/2.0 200 …") or a request line ending in a SIP version. Anything
// else is not SIP, and nothing is answered.
func sipLike(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if bytes.HasPrefix(line, []byte("SIP/")) {
		return true
	}
	f := bytes.Fields(line)
	return len(f) >= 3 && bytes.HasPrefix(f[len(f)-1], []byte("SIP/")) && isToken(string(f[0]))
}

// parseUnparsed reads the start line and the headers a response copies.
// ok is false for a response, a request without a Via (nowhere to answer),
// an ACK (never answered, RFC 3261 §17.2.1) or what is not SIP-like.
func parseUnparsed(data []byte) (r unparsedRequest, ok bool) {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\n")
	start := strings.TrimRight(lines[0], "\r")
	f := strings.Fields(start)
	if len(f) < 3 || strings.HasPrefix(start, "SIP/") || !isToken(f[0]) || !strings.HasPrefix(f[len(f)-1], "SIP/") {
		return r, false
	}
	r.method, r.uri, r.version = f[0], f[1], f[len(f)-1]
	if r.method == "ACK" {
		return r, false
	}
	// Unfold continuation lines (RFC 3261 §7.3.1) into their header.
	var hdrs []string
	for _, l := range lines[1:] {
		l = strings.TrimRight(l, "\r")
		if l != "" && (l[0] == ' ' || l[0] == '\t') && len(hdrs) > 0 {
			hdrs[len(hdrs)-1] += " " + strings.TrimSpace(l)
			continue
		}
		hdrs = append(hdrs, l)
	}
	for _, h := range hdrs {
		name, value, found := strings.Cut(h, ":")
		if !found {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			// One header may hold several values; only the top one
			// matters for where the response goes, all are copied.
			r.via = append(r.via, value)
		case "from", "f":
			r.from = firstNonEmpty(r.from, value)
		case "to", "t":
			r.to = firstNonEmpty(r.to, value)
		case "call-id", "i":
			r.callID = firstNonEmpty(r.callID, value)
		case "cseq":
			r.cseq = firstNonEmpty(r.cseq, value)
		}
	}
	return r, len(r.via) > 0
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isToken: RFC 3261 §25.1 token characters (a method).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// rejectCode is the answer RFC 4475 expects for a request sipgo could not
// parse: 505 for another SIP version (§3.1.2.16), 416 for a Request-URI of
// a scheme we do not serve (§3.1.4.3), else 400.
func (r unparsedRequest) rejectCode() (int, string) {
	if r.version != "SIP/2.0" && len(r.version) > 4 {
		return 505, "Version Not Supported"
	}
	scheme, _, found := strings.Cut(r.uri, ":")
	if found && isScheme(scheme) && !servedScheme(scheme) {
		return 416, "Unsupported URI Scheme"
	}
	return 400, "Bad Request"
}

// isScheme: RFC 3986 §3.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// servedScheme: the Request-URI schemes we answer (RFC 3261 §8.2.2.1).
func servedScheme(s string) bool {
	return strings.EqualFold(s, "sip") || strings.EqualFold(s, "sips") || strings.EqualFold(s, "tel")
}

// response builds the stateless answer and the port it goes to at the
// source's address: the source port when the top Via asks for rport (RFC
// 3581 §4), else the Via's sent-by port, else 5060 (RFC 3261 §18.2.2).
func (r unparsedRequest) response(code int, reason string, src netip.AddrPort, extra ...string) ([]byte, uint16) {
	port := src.Port()
	top, rest := r.via[0], r.via[1:]
	// A Via header may carry several values; the top one is the first.
	if i := strings.IndexByte(top, ','); i >= 0 {
		top, rest = top[:i], append([]string{strings.TrimSpace(top[i+1:])}, rest...)
	}
	sentBy, params, _ := strings.Cut(top, ";")
	if !hasParam(params, "rport") {
		port = 5060
		fs := strings.Fields(sentBy)
		if len(fs) == 2 {
			if ap, err := netip.ParseAddrPort(fs[1]); err == nil {
				port = ap.Port()
			} else if _, p, ok := strings.Cut(strings.TrimPrefix(fs[1], "["), ":"); ok && !strings.Contains(p, ":") {
				if n, err := strconv.ParseUint(p, 10, 16); err == nil && n > 0 {
					port = uint16(n)
				}
			}
		}
	}
	// §18.2.1: the top Via says where the request really came from.
	top += ";received=" + src.Addr().Unmap().String()
	if hasParam(params, "rport") {
		top += ";rport=" + strconv.Itoa(int(src.Port()))
	}

	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n")
	b.WriteString("Via: " + top + "\r\n")
	for _, v := range rest {
		b.WriteString("Via: " + v + "\r\n")
	}
	if r.from != "" {
		b.WriteString("From: " + r.from + "\r\n")
	}
	if r.to != "" {
		to := r.to
		// §8.2.6.2: a final response carries our tag.
		if !strings.Contains(strings.ToLower(to), ";tag=") {
			var t [6]byte
			_, _ = rand.Read(t[:])
			to += ";tag=" + hex.EncodeToString(t[:])
		}
		b.WriteString("To: " + to + "\r\n")
	}
	if r.callID != "" {
		b.WriteString("Call-ID: " + r.callID + "\r\n")
	}
	if r.cseq != "" {
		b.WriteString("CSeq: " + r.cseq + "\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String()), port
}

// hasParam: a ;-separated parameter list holds name (with or without a value).
func hasParam(params, name string) bool {
	for _, p := range strings.Split(params, ";") {
		k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return true
		}
	}
	return false
}
