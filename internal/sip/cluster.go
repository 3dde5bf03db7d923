package sip

// More than one node (SPEC §11): a seat's softphone REGISTERs through one
// node, and only that node's socket holds the seat's flow: the UDP 5-tuple
// its NAT lets in, or the TCP connection the phone opened. A call on
// another node reaches the seat through the flow's node, the way RFC 3327
// (Path) has the edge proxy that received the REGISTER forward requests
// to the UA, and the way RFC 5626 §5.3 encodes the flow in a token in the
// route the other elements use. The token travels in a Route/Record-Route
// URI parameter, so the forwarding node keeps no per-dialog state (RFC
// 3261 §16: a transaction-stateful record-routing proxy).

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ClusterConfig turns on forwarding between the nodes of one call centre
// (SPEC §11). Nil in Config: one node, and nothing of this exists.
type ClusterConfig struct {
	// Secret is cluster.secret: the HMAC-SHA256 key of flow tokens. Required.
	Secret []byte
	// Advertise is this node's SIP URI as the other nodes reach it
	// (cluster.advertise_sip), e.g. "sip:10.0.0.11:5060" or
	// "sip:10.0.0.11:5060;transport=tcp". Node-to-node TCP is recommended:
	// a dead node then fails a Dial at once with "connection refused"
	// instead of 32 s of unanswered UDP retransmissions.
	//
	// Empty: derived at Start from the first listener in Config.Listen
	// (its advertised host and bound port), which is right only when the
	// other nodes reach this one at that address (tests, one LAN).
	Advertise string
	// Peer reports whether an address is one of the cluster's nodes (its
	// cluster.advertise_sip host). Their links carry every call forwarded
	// between them: the limits for untrusted sources (TCP caps and idle
	// timeout, the rate limit) do not apply to them. Nil: none is.
	Peer func(netip.Addr) bool
}

// flowParam is the Route/Record-Route URI parameter that carries a flow token.
const flowParam = "hlflow"

// flow is where a seat's phone can be reached from the node that holds it:
// the transport and the far address of its REGISTER's connection.
type flow struct {
	transport string // "UDP", "TCP", "TLS", "WS", "WSS"
	addr      netip.AddrPort
}

func (f flow) reliable() bool { return f.transport != "UDP" }

var flowTransports = [...]string{"UDP", "TCP", "TLS", "WS", "WSS"}

// Flow token layout (RFC 5626 §5.2 leaves it to the implementation), then
// base64url without padding:
//
//	byte 0      version (high nibble, 1) | IPv6 flag (bit 3) | transport (bits 0-2)
//	bytes 1-4   issued at, Unix seconds, big endian
//	4 or 16     the flow's IP address
//	2           the flow's port, big endian
//	16          HMAC-SHA256(secret, "hlflow1" NUL || the bytes above || Call-ID), truncated
//
// 27 bytes (36 characters) for IPv4: the Route URI stays short, because a
// UDP message over about 1300 bytes fails in sipgo (its UDP MTU check) and
// the forwarded INVITE carries two Record-Routes with the token.
const (
	flowTokenVersion = 1
	flowMACLen       = 16
	flowTokenMinLen  = 1 + 4 + 4 + 2 + flowMACLen
	flowTokenMaxLen  = 1 + 4 + 16 + 2 + flowMACLen
	flowMACLabel     = "hlflow1\x00"
)

// Token errors; both are answered 403 (RFC 5626 §5.3: a tampered token).
var (
	errFlowTokenMalformed = errors.New("sip: flow token malformed")
	errFlowTokenForged    = errors.New("sip: flow token does not verify")
)

// mintFlowToken encodes f, issued at, bound to one Call-ID: a token copied
// into another call's request does not verify.
func mintFlowToken(secret []byte, f flow, callID string, at time.Time) (string, error) {
	code := -1
	for i, t := range flowTransports {
		if strings.EqualFold(t, f.transport) {
			code = i
		}
	}
	if code < 0 {
		return "", fmt.Errorf("sip: flow token: transport %q", f.transport)
	}
	if !f.addr.IsValid() || f.addr.Port() == 0 {
		return "", fmt.Errorf("sip: flow token: address %q", f.addr)
	}
	ip := f.addr.Addr().Unmap()
	b := make([]byte, 0, flowTokenMaxLen)
	hdr := byte(flowTokenVersion<<4 | code)
	if ip.Is6() {
		hdr |= 1 << 3
	}
	b = append(b, hdr)
	b = binary.BigEndian.AppendUint32(b, uint32(at.Unix()))
	b = append(b, ip.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, f.addr.Port())
	b = append(b, flowMAC(secret, b, callID)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// parseFlowToken verifies tok against the request's Call-ID (in constant
// time) and returns the flow and when the token was issued.
func parseFlowToken(secret []byte, tok, callID string) (flow, time.Time, error) {
	if len(tok) > base64.RawURLEncoding.EncodedLen(flowTokenMaxLen) {
		return flow{}, time.Time{}, errFlowTokenMalformed
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < flowTokenMinLen {
		return flow{}, time.Time{}, errFlowTokenMalformed
	}
	hdr := b[0]
	ipLen := 4
	if hdr&(1<<3) != 0 {
		ipLen = 16
	}
	code := int(hdr & 7)
	if hdr>>4 != flowTokenVersion || code >= len(flowTransports) || len(b) != 1+4+ipLen+2+flowMACLen {
		return flow{}, time.Time{}, errFlowTokenMalformed
	}
	body, mac := b[:len(b)-flowMACLen], b[len(b)-flowMACLen:]
	if !hmac.Equal(mac, flowMAC(secret, body, callID)) {
		return flow{}, time.Time{}, errFlowTokenForged
	}
	issued := time.Unix(int64(binary.BigEndian.Uint32(body[1:5])), 0)
	ip, _ := netip.AddrFromSlice(body[5 : 5+ipLen])
	port := binary.BigEndian.Uint16(body[5+ipLen:])
	return flow{transport: flowTransports[code], addr: netip.AddrPortFrom(ip, port)}, issued, nil
}

func flowMAC(secret, body []byte, callID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(flowMACLabel))
	m.Write(body)
	m.Write([]byte(callID))
	return m.Sum(nil)[:flowMACLen]
}

// nodeURI is a node's advertised SIP address, parsed.
type nodeURI struct {
	host      string // as written, without brackets
	port      int
	transport string // "UDP", "TCP", "TLS"
}

func (n nodeURI) String() string {
	u := n.uri(nil)
	return u.String()
}

// uri builds the node's URI with extra parameters after the transport.
func (n nodeURI) uri(extra sip.HeaderParams) sip.Uri {
	u := sip.Uri{Scheme: "sip", Host: uriHost(n.host), Port: n.port, UriParams: sip.NewParams()}
	if n.transport == "TLS" {
		u.Scheme = "sips"
	} else if n.transport != "UDP" {
		u.UriParams.Add("transport", strings.ToLower(n.transport))
	}
	for _, kv := range extra {
		u.UriParams.Add(kv.K, kv.V)
	}
	return u
}

// hostPort is where requests to the node are sent.
func (n nodeURI) hostPort() string {
	return joinHostPort(n.host, n.port)
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// uriHost writes an IPv6 address in brackets, as a SIP URI and a Via need it.
func uriHost(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

// parseNodeURI reads an advertise URI: sip: or sips:, a host, an optional
// port (default by transport) and an optional transport parameter.
func parseNodeURI(s string) (nodeURI, error) {
	var u sip.Uri
	if err := sip.ParseUri(strings.TrimSpace(s), &u); err != nil {
		return nodeURI{}, fmt.Errorf("sip: node URI %q: %w", s, err)
	}
	return nodeFromURI(u, s)
}

func nodeFromURI(u sip.Uri, orig string) (nodeURI, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "sip" && scheme != "sips" {
		return nodeURI{}, fmt.Errorf("sip: node URI %q: scheme must be sip or sips", orig)
	}
	n := nodeURI{host: strings.Trim(u.Host, "[]"), port: u.Port, transport: uriTransport(u)}
	if n.host == "" || u.User != "" {
		return nodeURI{}, fmt.Errorf("sip: node URI %q: want sip:host[:port][;transport=...]", orig)
	}
	switch n.transport {
	case "UDP", "TCP", "TLS":
	default:
		return nodeURI{}, fmt.Errorf("sip: node URI %q: transport %s is not supported between nodes", orig, n.transport)
	}
	if n.port == 0 {
		n.port = sip.DefaultPort(n.transport)
	}
	return n, nil
}

// uriTransport is the transport RFC 3263 picks for a URI we send to: its
// transport parameter, else TLS for sips and UDP for sip.
func uriTransport(u sip.Uri) string {
	if t, ok := paramFold(u.UriParams, "transport"); ok && t != "" {
		t = strings.ToUpper(t)
		if u.IsEncrypted() && t == "TCP" {
			return "TLS"
		}
		return t
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return "TLS"
	}
	return "UDP"
}
