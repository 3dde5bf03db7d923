package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Anonymous is the caller of a call that asked for privacy (RFC 3323).
const Anonymous = "anonymous"

// Identity is who is calling, as far as the trunk tells us.
type Identity struct {
	Number  string // normalised national number, or Anonymous
	Display string // display name, if any
	// Source says where Number came from: "pai" (P-Asserted-Identity,
	// RFC 3325, trusted because only trusted trunks reach us), "from", or
	// "privacy" when the caller withheld it.
	Source string
}

// CallerIdentity reads the caller from an INVITE: P-Asserted-Identity first,
// else From; "Privacy: id" (RFC 3325 §9.3) makes the caller anonymous.
func CallerIdentity(req *sip.Request) Identity {
	if privacyID(req) {
		return Identity{Number: Anonymous, Source: "privacy"}
	}
	// A PAI may appear twice (a sip: and a tel: URI); the first usable one wins.
	for _, h := range req.GetHeaders("P-Asserted-Identity") {
		for _, v := range splitHeaderList(h.Value()) {
			if num, display := userOfAddress(v); num != "" {
				return Identity{Number: NormalizeNumber(num), Display: display, Source: "pai"}
			}
		}
	}
	if from := req.From(); from != nil {
		user := from.Address.User
		if user == "" || strings.EqualFold(user, Anonymous) {
			return Identity{Number: Anonymous, Display: from.DisplayName, Source: "from"}
		}
		return Identity{Number: NormalizeNumber(user), Display: from.DisplayName, Source: "from"}
	}
	return Identity{Number: Anonymous, Source: "from"}
}

func privacyID(req *sip.Request) bool {
	for _, h := range req.GetHeaders("Privacy") {
		for _, p := range strings.FieldsFunc(h.Value(), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			if strings.EqualFold(p, "id") {
				return true
			}
		}
	}
	return false
}

// splitHeaderList splits a comma-separated header value, respecting <...> and quotes.
func splitHeaderList(v string) []string {
	var (
		out          []string
		depth, start int
		quoted       bool
	)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// userOfAddress returns the user part of a name-addr or addr-spec with a
// sip:, sips: or tel: URI, and the display name.
func userOfAddress(v string) (user, display string) {
	uri := v
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		display = strings.Trim(strings.TrimSpace(v[:lt]), `"`)
		gt := strings.IndexByte(v[lt:], '>')
		if gt < 0 {
			return "", ""
		}
		uri = v[lt+1 : lt+gt]
	}
	uri = strings.TrimSpace(uri)
	lower := strings.ToLower(uri)
	switch {
	case strings.HasPrefix(lower, "tel:"):
		uri = uri[4:]
	case strings.HasPrefix(lower, "sip:"):
		uri = uri[4:]
	case strings.HasPrefix(lower, "sips:"):
		uri = uri[5:]
	default:
		return "", ""
	}
	if at := strings.IndexByte(uri, '@'); at >= 0 {
		uri = uri[:at]
	}
	if semi := strings.IndexByte(uri, ';'); semi >= 0 {
		uri = uri[:semi]
	}
	if strings.EqualFold(uri, Anonymous) {
		return "", ""
	}
	return uri, display
}

// NormalizeNumber brings a Chinese caller number to its national form so that
// the same citizen is the same caller however the carrier wrote the number:
// visual separators go (RFC 3966 §5.1.1), +86 / 0086 / 86 before a mobile
// number go, and the trunk prefix 0 that some carriers put before a mobile
// number from another area goes. Fixed-line numbers keep their area code.
func NormalizeNumber(n string) string {
	var b strings.Builder
	for i, r := range n {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == '-' || r == '.' || r == '(' || r == ')' || r == ' ':
		default:
			return n // not a phone number (a SIP user name): keep as is
		}
	}
	s := b.String()
	switch {
	case strings.HasPrefix(s, "+86"):
		s = s[3:]
		if len(s) != 11 || s[0] != '1' {
			s = "0" + s // +86 871 6512 3456 → 087165123456
		}
	case strings.HasPrefix(s, "0086"):
		s = s[4:]
		if len(s) != 11 || s[0] != '1' {
			s = "0" + s
		}
	case len(s) == 13 && strings.HasPrefix(s, "861"):
		s = s[2:]
	case len(s) == 12 && strings.HasPrefix(s, "01"):
		s = s[1:]
	}
	return s
}
