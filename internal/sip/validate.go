package sip

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Checks of a request sipgo parsed, before it reaches a handler: what RFC
// 3261 §8.2 has a UAS check, with the answers RFC 4475 expects for its
// torture messages (testdata/sip/rfc4475; validate_test.go has the table).
// What sipgo cannot parse at all is answered by the UDP gate
// (rawresponse.go).

// rejection is an answer to a request that goes no further.
type rejection struct {
	code   int
	reason string
	hdrs   []sip.Header
}

// singleValued are the headers a request may carry once (RFC 3261 §7.3.1:
// a header without a comma-separated list syntax; two Content-Lengths
// leave the body's end unknown, RFC 4475 §3.1.2.x mcl01).
var singleValued = []string{"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type"}

// checkMessage applies to every request, also those forwarded for another
// node: what makes a request malformed.
func checkMessage(req *sip.Request) *rejection {
	bad := func(reason string) *rejection { return &rejection{code: sip.StatusBadRequest, reason: reason} }
	// RFC 3261 §8.2 (and RFC 4475 §3.1.2.16): another SIP version is 505.
	if req.SipVersion != "SIP/2.0" {
		return &rejection{code: 505, reason: "Version Not Supported"}
	}
	// §8.1.1: the headers every request carries (RFC 4475 §3.1.4.1 insuf).
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return bad("Missing Required Header")
	}
	for _, name := range singleValued {
		if len(req.GetHeaders(name)) > 1 {
			return bad("Multiple " + name) // RFC 4475 §3.1.2.x multi01, mcl01
		}
	}
	// §17.2.3: a branch that is only the magic cookie identifies nothing
	// (RFC 4475 §3.1.3.1 badbranch: reject it, statelessly).
	if b, _ := req.Via().Params.Get("branch"); b == sip.RFC3261BranchMagicCookie {
		return bad("Bad Branch")
	}
	// §8.1.1.7, §20.16: the CSeq method is the request's (RFC 4475
	// §3.1.2.17 mismatch01). sipgo upper-cases the request method, so the
	// comparison folds case. An unknown method is answered 501 instead
	// (§3.1.2.18 mismatch02), by the UAS checks.
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) && knownMethod(req.Method) {
		return bad("CSeq Method Mismatch")
	}
	// §19.1.1: headers are not allowed in a Request-URI (RFC 4475
	// §3.1.2.11 escruri).
	if len(req.Recipient.Headers) > 0 {
		return bad("Headers In Request-URI")
	}
	return nil
}

// supportedOptions are the option tags we implement (RFC 3261 §8.2.2.3):
// session timers (RFC 4028).
var supportedOptions = []string{"timer"}

// checkUAS applies to requests this node answers itself (not those it
// forwards: a proxy does not look at Require, §16.3).
func checkUAS(req *sip.Request) *rejection {
	if req.IsAck() {
		return nil
	}
	// §8.2.1: an unknown method is 501, a known one we do not serve 405
	// (OnNoRoute).
	if !knownMethod(req.Method) {
		return &rejection{code: sip.StatusNotImplemented, reason: "Not Implemented"}
	}
	// §8.2.2.1: a Request-URI scheme we do not serve is 416 (RFC 4475
	// §3.1.4.2 unkscm).
	if !servedScheme(req.Recipient.Scheme) {
		return &rejection{code: 416, reason: "Unsupported URI Scheme"}
	}
	// §8.2.2.3: a Require we do not support is 420 with Unsupported (RFC
	// 4475 §3.1.4.5 bext01). Not for CANCEL: it never carries Require.
	if !req.IsCancel() {
		var unsupported []string
		for _, h := range req.GetHeaders("Require") {
			for _, t := range strings.Split(h.Value(), ",") {
				if t = strings.TrimSpace(t); t != "" && !containsFold(supportedOptions, t) {
					unsupported = append(unsupported, t)
				}
			}
		}
		if len(unsupported) > 0 {
			return &rejection{code: sip.StatusBadExtension, reason: "Bad Extension",
				hdrs: []sip.Header{sip.NewHeader("Unsupported", strings.Join(unsupported, ", "))}}
		}
	}
	if req.IsInvite() || req.Method == sip.UPDATE {
		// §8.2.3: a body we cannot read is 415 with Accept (RFC 4475
		// §3.1.4.x invut). SDP, or multipart that may hold it (SIP-T).
		if ct := req.ContentType(); ct != nil && len(req.Body()) > 0 {
			v := strings.ToLower(strings.TrimSpace(ct.Value()))
			if !strings.HasPrefix(v, "application/sdp") && !strings.HasPrefix(v, "multipart/") {
				return &rejection{code: sip.StatusUnsupportedMediaType, reason: "Unsupported Media Type",
					hdrs: []sip.Header{sip.NewHeader("Accept", "application/sdp")}}
			}
		}
		// §21.4.7: an Accept without SDP leaves no answer we could send
		// (RFC 4475 §3.1.4.x sdp01: 406).
		if req.IsInvite() && !acceptsSDP(req) {
			return &rejection{code: sip.StatusNotAcceptable, reason: "Not Acceptable",
				hdrs: []sip.Header{sip.NewHeader("Warning", `399 - "our answers are application/sdp"`)}}
		}
	}
	return nil
}

// acceptsSDP: no Accept (SDP is the default, §20.1), or one that admits it.
func acceptsSDP(req *sip.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for _, t := range strings.Split(h.Value(), ",") {
			t, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(t)), ";")
			switch strings.TrimSpace(t) {
			case "application/sdp", "application/*", "*/*", "":
				return true
			}
		}
	}
	return false
}

func knownMethod(m sip.RequestMethod) bool {
	name := strings.ToUpper(string(m))
	for _, k := range knownMethods {
		if k == name && k != "OTHER" {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// sameSource: a and b are the same source as bans and limits count them
// (an IPv4 address, an IPv6 /64).
func sameSource(a, b netip.Addr) bool { return sourceKey(a) == sourceKey(b) }
