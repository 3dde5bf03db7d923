package sip

// The node that holds a seat's flow forwards requests to and from the seat
// for the other nodes (SPEC §11). It is an RFC 3261 §16 proxy for requests
// whose top Route names this node and carries a flow token (RFC 5626 §5.3
// style): transaction-stateful for INVITE and non-INVITE, stateless for
// the ACK of a 2xx, record-routing the dialog-creating INVITE so that every
// later request of the dialog, from either side, comes through here again
// (§16.6 step 4) — the seat's NAT binding or TCP connection only lets this
// node in, which is what RFC 3327 (Path) solves for registrars. The token
// is the authorisation, so trusted_sources does not apply; the node keeps
// nothing per dialog beyond sipgo's transactions.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// tokenFreshness bounds how old a token may be on an out-of-dialog
	// request (the INVITE that creates the dialog: the dialling node mints
	// the token just before it), and how far in the future any token may
	// be, for clock differences between the nodes.
	tokenFreshness = 5 * time.Minute
	// tokenMaxDialog bounds the age of a token on in-dialog requests: the
	// dialog's route set carries the INVITE's token for the whole call.
	tokenMaxDialog = 24 * time.Hour
	// maxRelays caps the transactions proxied at once; more get 503.
	maxRelays = 4096
	// proxyTimerC is RFC 3261 §16.6 step 11's Timer C ("greater than 3
	// minutes"): an INVITE that rings that long without a final response
	// is cancelled downstream.
	proxyTimerC = 3*time.Minute + time.Second
	// proxyCancelWait is how long a CANCEL from upstream may wait for the
	// seat's final response before this node answers 487 itself. The
	// dialling node gives up after cancelGrace; a working phone answers in
	// milliseconds.
	proxyCancelWait = cancelGrace + time.Second
	// viaConnectTimeout bounds the connection set-up to the flow's node
	// when dialling through it (a black-holed node over TCP).
	viaConnectTimeout = 2 * time.Second
)

// Refusal reasons: the label values of hotline_sip_forward_refused_total.
const (
	refuseNoToken     = "no_token"     // 403: routed through us without a token, to a target not ours
	refuseForged      = "forged"       // 403: malformed token, or its MAC fails (other Call-ID or secret)
	refuseExpired     = "expired"      // 403: token too old for the request, or from the future
	refuseDirection   = "direction"    // 403: an out-of-dialog request from the seat's own flow
	refuseMaxForwards = "max_forwards" // 483 (RFC 3261 §16.3 step 3)
	refuseFlowFailed  = "flow_failed"  // 430: the seat's connection is gone (RFC 5626 §5.3)
	refuseOverload    = "overload"     // 503: maxRelays transactions proxied at once
	refuseUnreachable = "unreachable"  // 430/503/513: the request could not be sent on
)

var refuseReasons = []string{refuseNoToken, refuseForged, refuseExpired, refuseDirection,
	refuseMaxForwards, refuseFlowFailed, refuseOverload, refuseUnreachable}

// StatusFlowFailed is RFC 5626's 430: the flow a token names no longer exists.
const StatusFlowFailed = 430

// forwarder is the proxy side of clustering on one node.
type forwarder struct {
	s      *Server
	secret []byte
	now    func() time.Time
	// advertise as configured; self is it parsed, or derived at Start.
	advertise string
	self      nodeURI

	relays    atomic.Int64
	forwarded *prometheus.CounterVec
	refused   *prometheus.CounterVec
}

func newForwarder(s *Server, c *ClusterConfig) (*forwarder, error) {
	if len(c.Secret) == 0 {
		return nil, errors.New("sip: cluster: a secret is required (cluster.secret)")
	}
	f := &forwarder{s: s, secret: append([]byte(nil), c.Secret...), now: time.Now, advertise: c.Advertise}
	if c.Advertise != "" {
		n, err := parseNodeURI(c.Advertise)
		if err != nil {
			return nil, fmt.Errorf("sip: cluster advertise: %w", err)
		}
		f.self = n
	}
	f.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_forwarded_total", Help: "SIP requests forwarded for another node to or from a seat's flow, by method.",
	}, []string{"method"})
	f.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_forward_refused_total", Help: "SIP requests routed through this node and not forwarded, by reason.",
	}, []string{"reason"})
	for _, m := range knownMethods {
		f.forwarded.WithLabelValues(m)
	}
	for _, r := range refuseReasons {
		f.refused.WithLabelValues(r)
	}
	return f, nil
}

// start derives the advertised address from the first listener when none
// was configured; the listeners are bound, nothing is served yet.
func (f *forwarder) start() error {
	if f.advertise != "" {
		return nil
	}
	if len(f.s.cfg.Listen) == 0 {
		return errors.New("sip: cluster: no listener to advertise")
	}
	scheme, _, _ := strings.Cut(f.s.cfg.Listen[0], "://")
	ap := f.s.contactFor(scheme)
	f.self = nodeURI{host: ap.Addr().String(), port: int(ap.Port()), transport: strings.ToUpper(scheme)}
	return nil
}

// Advertise is this node's SIP URI as the other nodes reach it: Target.Via
// for the seats whose flow it holds (their Binding came through it). ""
// without a cluster configuration; when derived, known after Start.
func (s *Server) Advertise() string {
	if s.fwd == nil {
		return ""
	}
	return s.fwd.self.String()
}

// routeParams are the parameters of the route entries of a flow.
func routeParams(tok string) sip.HeaderParams {
	return sip.HeaderParams{{K: "lr"}, {K: flowParam, V: tok}}
}

// intercept takes the requests this node forwards: those whose top Route
// names this node. It reports whether it took req (answered or forwarded).
func (f *forwarder) intercept(req *sip.Request, tx sip.ServerTransaction) bool {
	tok, routed, has := f.routeToken(req)
	if !routed {
		return false
	}
	if !has {
		// A route to us (an SBC's preloaded route) for a target of ours is
		// ours to serve as always; one to anywhere else asks us to relay
		// without authorisation.
		if f.isLocalTarget(req.Recipient) {
			return false
		}
		f.refuse(req, tx, sip.StatusForbidden, "Forbidden", refuseNoToken)
		return true
	}
	f.forward(req, tx, tok)
	return true
}

// routeToken: routed says req's top Route names this node; has, that it
// carries a flow token, tok.
func (f *forwarder) routeToken(req *sip.Request) (tok string, routed, has bool) {
	routes := req.GetHeaders("Route")
	if len(routes) == 0 {
		return "", false, false
	}
	top, ok := headerURI(routes[0])
	if !ok || !f.isSelf(top) {
		return "", false, false
	}
	tok, has = top.UriParams.Get(flowParam)
	return tok, true, has
}

// authorized: req is routed through this node with a flow token this
// cluster minted for its Call-ID, not expired (another node's request for
// a seat's flow, or a seat's in-dialog request back). The token is the
// authorisation: the guard does not rate-limit such requests, so one busy
// node forwarding many calls through another is no flood.
func (f *forwarder) authorized(req *sip.Request) bool {
	tok, _, has := f.routeToken(req)
	if !has {
		return false
	}
	_, issued, err := parseFlowToken(f.secret, tok, callID(req))
	now := f.now()
	return err == nil && !issued.After(now.Add(tokenFreshness)) && now.Sub(issued) <= tokenMaxDialog
}

// headerURI is the URI of a Route or Record-Route header, parsed or not.
func headerURI(h sip.Header) (sip.Uri, bool) {
	switch v := h.(type) {
	case *sip.RouteHeader:
		return v.Address, true
	case *sip.RecordRouteHeader:
		return v.Address, true
	}
	s := strings.TrimSpace(h.Value())
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return sip.Uri{}, false
		}
		s = s[i+1 : i+j]
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return sip.Uri{}, false
	}
	return u, true
}

// isSelf reports whether u names this node: its advertised address, or one
// of its listeners (as bound or as advertised to the seats).
func (f *forwarder) isSelf(u sip.Uri) bool {
	host := strings.Trim(u.Host, "[]")
	port := u.Port
	if port == 0 {
		port = sip.DefaultPort(uriTransport(u))
	}
	if strings.EqualFold(host, f.self.host) && port == f.self.port {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for network, ap := range f.s.Addrs() {
		if int(ap.Port()) == port && (ip == ap.Addr().Unmap() || ip == f.s.contactFor(network).Addr().Unmap()) {
			return true
		}
	}
	return false
}

// isLocalTarget: a Request-URI this node serves itself (our domain or address).
func (f *forwarder) isLocalTarget(u sip.Uri) bool {
	return strings.EqualFold(u.Host, f.s.cfg.Domain) || f.isSelf(u)
}

func (f *forwarder) refuse(req *sip.Request, tx sip.ServerTransaction, code int, reason, label string) {
	f.refused.WithLabelValues(label).Inc()
	f.s.log.Debug("forwarding refused", "method", string(req.Method), "reason", label, "source", req.Source(), "call_id", callID(req))
	if !req.IsAck() { // nothing answers an ACK
		respond(tx, req, code, reason)
	}
}

// forward proxies a request whose top Route is ours with token tok (RFC
// 3261 §16.3–16.6).
func (f *forwarder) forward(req *sip.Request, tx sip.ServerTransaction, tok string) {
	if req.IsCancel() {
		// A CANCEL of an INVITE we proxy matched its server transaction in
		// sipgo's transaction layer and reached relay.onCancel (§16.10);
		// one that matches nothing has nothing to cancel.
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	fl, issued, err := parseFlowToken(f.secret, tok, callID(req))
	if err != nil {
		f.refuse(req, tx, sip.StatusForbidden, "Forbidden", refuseForged)
		return
	}
	outOfDialog := req.To() == nil || !req.To().Params.Has("tag")
	now := f.now()
	if issued.After(now.Add(tokenFreshness)) || now.Sub(issued) > tokenMaxDialog || (outOfDialog && now.Sub(issued) > tokenFreshness) {
		f.refuse(req, tx, sip.StatusForbidden, "Forbidden", refuseExpired)
		return
	}
	fromFlow := f.fromFlow(req, fl)
	if fromFlow && outOfDialog {
		// The seat may only continue dialogs through us, not start them:
		// we are no open relay for whoever learnt a token.
		f.refuse(req, tx, sip.StatusForbidden, "Forbidden", refuseDirection)
		return
	}
	mf := req.MaxForwards()
	if mf != nil && mf.Val() == 0 {
		f.refuse(req, tx, sip.StatusTooManyHops, "Too Many Hops", refuseMaxForwards)
		return
	}
	if f.relays.Add(1) > maxRelays {
		f.relays.Add(-1)
		f.refuse(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", refuseOverload)
		return
	}
	defer f.relays.Add(-1)

	out := req.Clone()
	f.popOwnRoutes(out)
	// §16.6 step 3. sipgo's Clone shares the Max-Forwards header with the
	// original (its headerClone returns itself): replace, never Dec.
	hops := sip.MaxForwardsHeader(70)
	if mf != nil {
		hops = sip.MaxForwardsHeader(mf.Val() - 1)
		out.ReplaceHeader(&hops)
	} else {
		out.AppendHeader(&hops)
	}
	if req.IsInvite() && outOfDialog {
		f.recordRoute(out, fl, tok)
	}
	noteReceived(out, req.Source())

	var transport, dest string
	if fromFlow {
		// Onward by loose routing (§16.6 step 6-7): the next Route, else
		// the Request-URI — the dialling node's Contact.
		next := out.Recipient
		if rs := out.GetHeaders("Route"); len(rs) > 0 {
			if u, ok := headerURI(rs[0]); ok {
				next = u
			}
		}
		transport = uriTransport(next)
		port := next.Port
		if port == 0 {
			port = sip.DefaultPort(transport)
		}
		if next.Host == "" {
			f.refuse(req, tx, sip.StatusBadRequest, "Bad Request", refuseUnreachable)
			return
		}
		dest = joinHostPort(strings.Trim(next.Host, "[]"), port)
	} else {
		// Down the flow: to where the seat's REGISTER came from, over its
		// connection (TCP) or from our listening socket (UDP, so the seat's
		// NAT lets it in). A stream whose connection is gone is not dialled
		// anew: the seat's port is no listener (RFC 5626 §5.3).
		transport, dest = fl.transport, fl.addr.String()
		if fl.reliable() && !f.hasConn(fl) {
			f.refuse(req, tx, StatusFlowFailed, "Flow Failed", refuseFlowFailed)
			return
		}
	}
	out.SetTransport(transport)
	out.SetDestination(dest)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport, Host: f.viaHost(fromFlow, transport), Params: sip.NewParams()}
	via.Params.Add("branch", f.branch(req))
	out.PrependHeader(via)
	if transport == "UDP" {
		f.s.preferListener(out, dest)
	}

	log := f.s.log.With("call_id", callID(req), "method", string(req.Method), "to_flow", !fromFlow)
	if req.IsAck() {
		// The ACK of a 2xx is its own transaction-less request (§16.11:
		// forwarded statelessly).
		if err := f.s.client.WriteRequest(out, asIs); err != nil {
			f.refused.WithLabelValues(refuseUnreachable).Inc()
			log.Debug("ACK not forwarded", "error", err)
			return
		}
		f.countForwarded(req.Method)
		return
	}
	if req.IsInvite() {
		f.relayInvite(tx, req, out, !fromFlow, log)
		return
	}
	f.relayNonInvite(tx, req, out, !fromFlow, log)
}

// asIs is a sipgo request option that leaves a prebuilt request alone.
func asIs(*sipgo.Client, *sip.Request) error { return nil }

func (f *forwarder) countForwarded(m sip.RequestMethod) {
	name := strings.ToUpper(string(m))
	for _, k := range knownMethods {
		if k == name {
			f.forwarded.WithLabelValues(k).Inc()
			return
		}
	}
	f.forwarded.WithLabelValues("OTHER").Inc()
}

// fromFlow: the request comes from the seat itself (its flow's address and
// transport), so it goes onward; anything else goes down the flow.
func (f *forwarder) fromFlow(req *sip.Request, fl flow) bool {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	return src == fl.addr && strings.EqualFold(req.Transport(), fl.transport)
}

// popOwnRoutes removes our Route entries from the top (§16.4), both of a
// double Record-Route (RFC 5658).
func (f *forwarder) popOwnRoutes(out *sip.Request) {
	out.RemoveHeader("Route")
	for {
		rs := out.GetHeaders("Route")
		if len(rs) == 0 {
			return
		}
		u, ok := headerURI(rs[0])
		if !ok || !u.UriParams.Has(flowParam) || !f.isSelf(u) {
			return
		}
		out.RemoveHeader("Route")
	}
}

// recordRoute puts this node in the dialog's route set (§16.6 step 4) with
// the flow token, so every later request of the dialog, from either side,
// comes through here again. When the seat reaches us at another address or
// transport than the nodes do, both are recorded (RFC 5658 double
// record-routing): the seat uses the top entry, the dialling node the
// bottom one.
func (f *forwarder) recordRoute(out *sip.Request, fl flow, tok string) {
	node := &sip.RecordRouteHeader{Address: f.self.uri(routeParams(tok))}
	ap := f.s.contactFor(strings.ToLower(fl.transport))
	seatSide := nodeURI{host: ap.Addr().String(), port: int(ap.Port()), transport: fl.transport}
	if seatSide == f.self {
		out.PrependHeader(node)
		return
	}
	out.PrependHeader(&sip.RecordRouteHeader{Address: seatSide.uri(routeParams(tok))}, node)
}

// noteReceived adds received/rport to the previous hop's Via (RFC 3261
// §18.2.1, RFC 3581 §4) as the request is forwarded.
func noteReceived(out *sip.Request, source string) {
	v := out.Via()
	src, err := netip.ParseAddrPort(source)
	if v == nil || err != nil {
		return
	}
	ip := src.Addr().Unmap().String()
	if rp, ok := v.Params.Get("rport"); ok && rp == "" {
		v.Params.Add("rport", strconv.Itoa(int(src.Port())))
		v.Params.Add("received", ip)
	} else if strings.Trim(v.Host, "[]") != ip {
		v.Params.Add("received", ip)
	}
}

// viaHost is our sent-by host: the advertised node address toward the
// nodes, our seat-facing address toward the seat. sipgo fills the port
// from the connection.
func (f *forwarder) viaHost(onward bool, transport string) string {
	if onward {
		return uriHost(f.self.host)
	}
	return uriHost(f.s.contactFor(strings.ToLower(transport)).Addr().String())
}

// branch is derived from the upstream request's branch (§16.11), so a
// retransmission forwarded again matches the same downstream transaction
// instead of starting another.
func (f *forwarder) branch(req *sip.Request) string {
	v := req.Via()
	if v == nil {
		return sip.GenerateBranchN(16)
	}
	up, _ := v.Params.Get("branch")
	if !strings.HasPrefix(up, sip.RFC3261BranchMagicCookie) {
		return sip.GenerateBranchN(16)
	}
	m := hmac.New(sha256.New, f.secret)
	m.Write([]byte(up))
	m.Write([]byte{0})
	m.Write([]byte(v.SentBy()))
	m.Write([]byte{0})
	m.Write([]byte(req.CSeq().MethodName))
	return sip.RFC3261BranchMagicCookie + ".hl" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// hasConn: a connection of the flow's stream transport is still open.
func (f *forwarder) hasConn(fl flow) bool {
	pool := f.s.ua.TransportLayer().Pool(fl.transport)
	if pool == nil {
		return false
	}
	c := pool.Get(fl.addr.String())
	if c == nil {
		return false
	}
	_, _ = c.TryClose() // Get took a reference
	return true
}

// preferListener makes a UDP request leave from our listening socket when
// sipgo has no socket for dest yet (it would open an ephemeral one, which a
// NAT or firewall in front of the peer may not let back in).
func (s *Server) preferListener(req *sip.Request, dest string) {
	if c := s.ua.TransportLayer().Pool("udp").Get(dest); c != nil {
		_, _ = c.TryClose()
		return
	}
	s.mu.Lock()
	ap, ok := s.addrs["udp"]
	s.mu.Unlock()
	if !ok {
		return
	}
	laddr := sip.Addr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
	// sipgo pools the listener once it serves it; until then a forced local
	// address would make it bind the port a second time.
	if c := s.ua.TransportLayer().Pool("udp").Get(laddr.String()); c != nil {
		_, _ = c.TryClose()
		req.Laddr = laddr
	}
}

// sendFailedCode answers a request we could not send on.
func sendFailedCode(err error, toFlow bool) (int, string) {
	switch {
	case errors.Is(err, sip.ErrUDPMTUCongestion):
		return sip.StatusMessageTooLarge, "Message Too Large"
	case toFlow:
		return StatusFlowFailed, "Flow Failed"
	default:
		return sip.StatusServiceUnavailable, "Service Unavailable"
	}
}

// noFinalCode answers a forwarded request that got no final response.
func noFinalCode(err error, toFlow bool) (int, string) {
	if errors.Is(err, sip.ErrTransactionTimeout) {
		return sip.StatusRequestTimeout, "Request Timeout"
	}
	return sendFailedCode(err, toFlow)
}
