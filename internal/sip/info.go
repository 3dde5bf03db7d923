package sip

import (
	"mime"
	"strings"
)

// dtmfKeys are the keys of RFC 4733 §3.2 events 0-15, in event order.
const dtmfKeys = "0123456789*#ABCD"

// parseInfoDigit reads the key from a SIP INFO body: "application/dtmf-relay"
// (lines "Signal=5" and "Duration=160"; spaces around '=' tolerated, keys
// case-insensitive, Signal 10/11 meaning * and #) or "application/dtmf" (the
// body is the key). Keys: 0-9 * # A-D.
func parseInfoDigit(contentType string, body []byte) (rune, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch mt {
	case "application/dtmf-relay":
		s := string(body)
		for len(s) > 0 {
			var line string
			line, s, _ = strings.Cut(s, "\n")
			k, v, ok := strings.Cut(line, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "signal") {
				continue
			}
			return dtmfKey(strings.TrimSpace(v))
		}
		return 0, false
	case "application/dtmf":
		return dtmfKey(strings.TrimSpace(string(body)))
	}
	return 0, false
}

func dtmfKey(v string) (rune, bool) {
	switch len(v) {
	case 1:
		c := v[0]
		if c >= 'a' && c <= 'd' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(dtmfKeys, c) >= 0 {
			return rune(c), true
		}
	case 2:
		// Event codes 10-15 written as numbers (RFC 4733 §3.2 numbering).
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return rune(dtmfKeys[10+v[1]-'0']), true
		}
	}
	return 0, false
}
