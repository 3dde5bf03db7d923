// Package sip is the hotline's signalling on github.com/emiago/sipgo: the
// trunk side (INVITE from the carrier's SBC, trusted sources, CANCEL, BYE,
// re-INVITE, INFO, UPDATE, OPTIONS, RFC 4028 session timers) as UAS dialogs,
// the seats' registrar, and the calls to the seats as UAC dialogs.
//
// With more than one node (Config.Cluster, SPEC §11) a seat's phone is
// reachable only through the node whose socket received its REGISTER (its
// NAT binding, its TCP connection). A node that dials a seat registered
// elsewhere sends the INVITE through that node (Target.Via) with a signed
// flow token in the Route; that node forwards it and the rest of the dialog
// as an RFC 3261 §16 record-routing proxy, the way RFC 3327 (Path) routes
// to a UA through the edge proxy that holds its flow (forward.go). Media
// stays on the dialling node.
//
// It knows nothing of queues, tickets or media: the app connects it to the
// call logic with a Handler, the way net/http connects a server and a
// handler. It must not import internal/call, internal/ticket, acd or ivr.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the signalling layer needs from the configuration.
type Config struct {
	Listen []string // "udp://127.0.0.1:5060", "tcp://127.0.0.1:5060", "tls://127.0.0.1:5061"
	// TLSCert and TLSKey are the PEM files a tls:// listener presents
	// (sip.tls_cert, sip.tls_key); ReloadTLS reads them again.
	TLSCert, TLSKey string
	Domain          string         // our SIP domain (digest realm)
	TrustedSources  []netip.Prefix // only these may call (SPEC §4: 403 otherwise)
	// AdvertiseHost is written into Contact/Via when a listener is bound to
	// an unspecified address (0.0.0.0); normally media.rtp_ip.
	AdvertiseHost string
	// SessionExpires is the RFC 4028 session interval we use (≥ MinSE).
	SessionExpires time.Duration
	UserAgent      string
	// Registrar answers REGISTER from the seats (SPEC §4); nil: REGISTER
	// gets 405 like any method we do not serve. Its owner closes it.
	Registrar *Registrar
	// Cluster turns on forwarding to and from seats between the nodes
	// (SPEC §11); nil: one node, and none of it exists.
	Cluster *ClusterConfig
	// Limits bound what untrusted peers may cost (guard.go).
	Limits Limits
	// Unavailable, when set, says why no new call could be taken now ("":
	// it could), e.g. the database cannot take a ticket: new INVITEs and
	// OPTIONS then get 503, like while draining, so the SBC fails over;
	// calls in progress go on.
	Unavailable func() string
	// Refer runs a seat's REFER (refer.go); nil: every REFER gets 403.
	Refer ReferHandler
}

// MinSE is the smallest session interval we accept (RFC 4028 §4: 90 s).
const MinSE = 90 * time.Second

// Handler runs one inbound call from a trusted source. It owns the call: it
// must answer or reject it, and it returns when the call is over. ctx is
// cancelled when the server shuts down hard.
type Handler func(ctx context.Context, call *InboundCall)

// Server is the SIP endpoint.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	dialog  *sipgo.DialogUA
	handler Handler
	fwd     *forwarder // nil without Config.Cluster
	g       *guard

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	dialogs  map[string]inDialog // by dialog id, as seen by us as UAS (RFC 3261 §12)
	inbound  int                 // calls from the trunk whose handler runs
	addrs    map[string]netip.AddrPort
	conns    []interface{ Close() error }
	draining atomic.Bool
	closed   bool // behind mu: Close has begun
	active   sync.WaitGroup
	serving  sync.WaitGroup // the listeners' serve loops and the guard's summary
	udpGates []*udpGate

	m metrics

	certs *certStore // nil without a tls:// listener
}

type metrics struct {
	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// knownMethods bounds the method label of hotline_sip_requests_total: a
// request with any other method counts as "OTHER", so garbage from the
// network cannot blow up the series count.
var knownMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH", "OTHER"}

// New builds a server; Start binds and serves it.
func New(cfg Config, handler Handler, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if cfg.UserAgent == "" {
		cfg.UserAgent = "hotline12348"
	}
	if cfg.SessionExpires < MinSE {
		cfg.SessionExpires = 1800 * time.Second
	}
	s := &Server{
		cfg: cfg, log: logger, handler: handler,
		dialogs: map[string]inDialog{}, addrs: map[string]netip.AddrPort{},
	}
	s.g = newGuard(cfg.Limits, logger.With("component", "sip-guard"), func(ip netip.Addr) bool {
		return s.isTrusted(ip) || cfg.Cluster != nil && cfg.Cluster.Peer != nil && cfg.Cluster.Peer(ip.Unmap())
	})
	if cfg.Registrar != nil {
		s.g.flowRegistered = cfg.Registrar.flowRegistered
		s.g.seatSource = cfg.Registrar.sourceRegistered
	}
	sipgoLog := redactingLogger(logger.With("component", "sipgo"), &s.g.sipgoLines)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(cfg.Domain),
		// The parser the UDP gate also uses, bounded by max_message_size.
		sipgo.WithUserAgentParser(s.g.parser),
		// No name from a message is ever looked up (issue 9): a TCP
		// response once fell back to resolving the Via host.
		sipgo.WithUserAgentDNSResolver(noDNSResolver()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipgoLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipgoLog),
			// A response that matches no transaction is dropped, never
			// forwarded (RFC 6026 §7.2), and logged here rather than on
			// sipgo's global logger.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipgoLog.Debug("response matches no transaction", "status", r.StatusCode, "source", r.Source())
			})))
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.ua, s.srv = ua, srv
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_requests_total", Help: "SIP requests received, by method.",
	}, []string{"method"})
	s.m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_rejected_total", Help: "Requests refused before they reached a call or the registrar (INVITEs from untrusted sources, while draining, while unavailable (storage); malformed or unsupported requests; in-dialog requests from another source than the dialog's), by reason.",
	}, []string{"reason"})
	for _, m := range knownMethods {
		s.m.requests.WithLabelValues(m)
	}
	for _, r := range rejectReasons {
		s.m.rejected.WithLabelValues(r)
	}
	collectors := append([]prometheus.Collector{s.m.requests, s.m.rejected}, s.g.collectors()...)
	if hasTLS(cfg.Listen) {
		if s.certs, err = newCertStore(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, fmt.Errorf("sip: %w", err)
		}
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotline_sip_tls_cert_expiry_timestamp_seconds",
			Help: "When the certificate the tls:// listener presents expires (Unix time): alert well before it (renew, then SIGHUP).",
		}, func() float64 { return float64(s.certs.notAfter().Unix()) }))
	}
	if cfg.Cluster != nil {
		if s.fwd, err = newForwarder(s, cfg.Cluster); err != nil {
			return nil, err
		}
		s.g.authorized = s.fwd.authorized
		collectors = append(collectors, s.fwd.forwarded, s.fwd.refused)
	}
	if reg != nil {
		for _, c := range collectors {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sip: metrics: %w", err)
			}
		}
	}
	count := func(h sipgo.RequestHandler) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			s.countRequest(req.Method)
			if r := checkMessage(req); r != nil {
				s.reject(req, tx, "malformed", r)
				return
			}
			// Requests routed through this node for a seat's flow are
			// forwarded, whatever their method (forward.go).
			if s.fwd != nil && s.fwd.intercept(req, tx) {
				return
			}
			if r := checkUAS(req); r != nil {
				s.reject(req, tx, "unsupported", r)
				return
			}
			h(req, tx)
		}
	}
	srv.OnInvite(count(s.onInvite))
	srv.OnAck(count(s.onAck))
	srv.OnBye(count(s.inDialog(inDialog.onBye)))
	srv.OnCancel(count(s.onCancel))
	srv.OnOptions(count(s.onOptions))
	srv.OnInfo(count(s.inDialog(inDialog.onInfo)))
	srv.OnUpdate(count(s.inDialog(inDialog.onUpdate)))
	srv.OnRefer(count(s.inDialog(inDialog.onRefer)))
	if cfg.Registrar != nil {
		srv.OnRegister(count(cfg.Registrar.onRegister))
	}
	srv.OnNoRoute(count(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		_ = tx.Respond(res)
	}))
	return s, nil
}

const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER"

// Reasons of hotline_sip_rejected_total.
var rejectReasons = []string{"untrusted", "draining", "unavailable", "malformed", "unsupported", "wrong_source"}

// reject answers a request that goes no further (never an ACK).
func (s *Server) reject(req *sip.Request, tx sip.ServerTransaction, label string, r *rejection) {
	s.m.rejected.WithLabelValues(label).Inc()
	if !req.IsAck() {
		respond(tx, req, r.code, r.reason, r.hdrs...)
	}
}

func (s *Server) countRequest(m sip.RequestMethod) {
	name := strings.ToUpper(string(m))
	for _, k := range knownMethods {
		if k == name {
			s.m.requests.WithLabelValues(k).Inc()
			return
		}
	}
	s.m.requests.WithLabelValues("OTHER").Inc()
}

// Start binds every listener (port 0 picks a free port; Addrs tells which)
// and serves them until Close. Everything the handlers use is built before
// the first packet can arrive.
func (s *Server) Start() error {
	var serve []func()
	for _, l := range s.cfg.Listen {
		u, err := url.Parse(l)
		if err != nil {
			return fmt.Errorf("sip: listen %q: %w", l, err)
		}
		switch u.Scheme {
		case "udp":
			conn, err := net.ListenPacket("udp", u.Host)
			if err != nil {
				return fmt.Errorf("sip: listen %s: %w", l, err)
			}
			s.recordAddr("udp", conn.LocalAddr())
			s.conns = append(s.conns, conn)
			var keep func() []netip.AddrPort
			if s.cfg.Registrar != nil {
				keep = func() []netip.AddrPort { return s.cfg.Registrar.localFlows("UDP") }
			}
			gate := newUDPGate(conn, s.g, func() *sip.ConnectionPool { return s.ua.TransportLayer().Pool("udp") }, keep)
			s.udpGates = append(s.udpGates, gate)
			serve = append(serve, func() {
				// sipgo's read loop ends when the gate recycles it
				// (udpgate.go): serve the same socket again.
				for {
					_ = s.srv.ServeUDP(gate)
					if !gate.takeRecycled() {
						return
					}
				}
			})
		case "tcp":
			ln, err := net.Listen("tcp", u.Host)
			if err != nil {
				return fmt.Errorf("sip: listen %s: %w", l, err)
			}
			s.recordAddr("tcp", ln.Addr())
			s.conns = append(s.conns, ln)
			guarded := newTCPGuard(ln, s.g, func() *sip.ConnectionPool { return s.ua.TransportLayer().Pool("tcp") })
			serve = append(serve, func() { _ = s.srv.ServeTCP(guarded) })
		case "tls":
			if s.certs == nil {
				return fmt.Errorf("sip: listen %s: %w", l, errNoCerts)
			}
			ln, err := net.Listen("tcp", u.Host)
			if err != nil {
				return fmt.Errorf("sip: listen %s: %w", l, err)
			}
			s.recordAddr("tls", ln.Addr())
			s.conns = append(s.conns, ln)
			// The TCP guard's bounds (header and idle timeouts, caps per
			// source) hold for TLS too: a handshake is reads like any other.
			guarded := newTCPGuard(ln, s.g, func() *sip.ConnectionPool { return s.ua.TransportLayer().Pool("tls") })
			tln := tls.NewListener(guarded, s.certs.config())
			serve = append(serve, func() { _ = s.srv.ServeTLS(tln) })
		default:
			return fmt.Errorf("sip: listen %q: transport %q is not supported yet", l, u.Scheme)
		}
	}
	// The client sends our in-dialog requests (BYE, UPDATE) from the listening
	// sockets, so NATs and firewalls that let the caller in let these out.
	contact := s.contactFor("udp")
	client, err := sipgo.NewClient(s.ua, sipgo.WithClientHostname(contact.Addr().String()), sipgo.WithClientLogger(RedactingLogger(s.log.With("component", "sipgo"))))
	if err != nil {
		return fmt.Errorf("sip: client: %w", err)
	}
	s.client = client
	if s.fwd != nil {
		if err := s.fwd.start(); err != nil {
			return err
		}
	}
	s.dialog = &sipgo.DialogUA{
		Client:         client,
		ContactHDR:     sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "12348", Host: contact.Addr().String(), Port: int(contact.Port())}},
		RewriteContact: true,
	}
	s.serving.Add(len(serve) + 1)
	for _, f := range serve {
		go func() {
			defer s.serving.Done()
			f()
		}()
	}
	go func() {
		defer s.serving.Done()
		s.g.run(s.ctx)
	}()
	return nil
}

// noDNSResolver is the resolver sipgo gets: it never asks a name server,
// so no name taken from a SIP message (a Via host, a Contact, a Route) is
// looked up (issue 9: a TCP response was dialled to the Via host after a
// DNS lookup of it). Destinations are the addresses packets came from
// (RFC 3261 §18.2.2, RFC 3581) and the addresses of the configuration
// (cluster.advertise_sip is an IP address); /etc/hosts still answers.
func noDNSResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errNoDNS
	}}
}

var errNoDNS = errors.New("sip: names in SIP messages are not looked up in DNS")

func (s *Server) recordAddr(network string, a net.Addr) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return
	}
	s.mu.Lock()
	s.addrs[network] = ap
	s.mu.Unlock()
}

// Addrs returns the bound address per transport ("udp", "tcp").
func (s *Server) Addrs() map[string]netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]netip.AddrPort, len(s.addrs))
	for k, v := range s.addrs {
		out[k] = v
	}
	return out
}

// contactFor is the address we advertise for a transport.
func (s *Server) contactFor(network string) netip.AddrPort {
	s.mu.Lock()
	ap, ok := s.addrs[network]
	if !ok {
		for _, v := range s.addrs {
			ap = v
			break
		}
	}
	s.mu.Unlock()
	if ap.Addr().IsUnspecified() {
		if a, err := netip.ParseAddr(s.cfg.AdvertiseHost); err == nil {
			return netip.AddrPortFrom(a, ap.Port())
		}
	}
	return ap
}

func (s *Server) contactHeader(transport, user string) *sip.ContactHeader {
	ap := s.contactFor(strings.ToLower(transport))
	h := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: ap.Addr().String(), Port: int(ap.Port())}}
	if t := strings.ToLower(transport); t != "" && t != "udp" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", t)
	}
	return h
}

// Drain stops taking new calls: INVITEs get 503 with Retry-After and
// OPTIONS gets 503, so the SBC sends new calls to another node.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
}

// Draining reports whether Drain was called: the one place that knows
// whether this node still takes new calls (/healthz says so from here).
func (s *Server) Draining() bool { return s.draining.Load() }

// ActiveCalls is the number of calls whose handler has not returned.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inbound
}

// Wait blocks until every call handler has returned or ctx is done.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNoCerts: a tls:// listener without its certificate.
var errNoCerts = errors.New("a tls:// listener needs sip.tls_cert and sip.tls_key")

func hasTLS(listen []string) bool {
	for _, l := range listen {
		if u, err := url.Parse(l); err == nil && u.Scheme == "tls" {
			return true
		}
	}
	return false
}

// ReloadTLS reads sip.tls_cert and sip.tls_key again (SIGHUP): new TLS
// connections get the new certificate, the ones up keep theirs. On an
// error the certificate in use stays and the error says what is wrong.
// It returns the new certificate's expiry; without a tls:// listener it
// does nothing.
func (s *Server) ReloadTLS() (time.Time, error) {
	if s.certs == nil {
		return time.Time{}, nil
	}
	if _, err := s.certs.reload(); err != nil {
		return s.certs.notAfter(), err
	}
	return s.certs.notAfter(), nil
}

// Close cancels every call's context, waits briefly for handlers, and closes
// the listeners.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Wait(ctx)
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	errs = append(errs, s.ua.Close())
	s.serving.Wait()
	return errors.Join(errs...)
}

func (s *Server) trusted(src string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	return ip, s.isTrusted(ip)
}

func (s *Server) isTrusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedSources {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.inDialog(inDialog.onReinvite)(req, tx)
		return
	}
	log := s.log.With("call_id", callID(req))
	if s.draining.Load() {
		s.m.rejected.WithLabelValues("draining").Inc()
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	if why := s.unavailable(); why != "" {
		s.m.rejected.WithLabelValues("unavailable").Inc()
		log.Warn("INVITE refused: no ticket could be kept for a new call now", "why", why)
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	ip, ok := s.trusted(req.Source())
	if !ok {
		s.m.rejected.WithLabelValues("untrusted").Inc()
		id := CallerIdentity(req)
		log.Warn("INVITE from an untrusted source refused", "source", ip.String(), "caller", maskNumber(id.Number), "to", req.Recipient.User)
		respond(tx, req, sip.StatusForbidden, "Forbidden")
		return
	}
	// 100 Trying at once (RFC 3261 §17.2.1) rather than sipgo's 200 ms
	// timer: the SBC stops retransmitting before we touch the database.
	respond(tx, req, sip.StatusTrying, "Trying")
	if req.CSeq() == nil || req.From() == nil || req.To() == nil {
		s.m.rejected.WithLabelValues("malformed").Inc()
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	if req.Contact() == nil {
		s.m.rejected.WithLabelValues("malformed").Inc()
		respond(tx, req, sip.StatusBadRequest, "Missing Contact")
		return
	}
	sess, err := s.dialog.ReadInvite(req, tx)
	if err != nil {
		s.m.rejected.WithLabelValues("malformed").Inc()
		log.Warn("INVITE refused", "error", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	c := newInboundCall(s, req, tx, sess, ip, log)
	s.mu.Lock()
	if s.closed || s.draining.Load() {
		// Drain or Close came since the check above and may be waiting for
		// the calls: a new one may not join (WaitGroup.Add must not race Wait).
		s.mu.Unlock()
		_ = c.Reject(sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	s.dialogs[sess.ID] = c
	s.inbound++
	s.active.Add(1)
	s.mu.Unlock()
	defer func() {
		c.finish()
		s.mu.Lock()
		delete(s.dialogs, sess.ID)
		s.inbound--
		s.mu.Unlock()
		s.active.Done()
	}()
	s.handler(s.ctx, c)
}

func (s *Server) lookup(req *sip.Request) inDialog {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[id]
}

// addDialog registers a dialog under the id in-dialog requests will carry.
func (s *Server) addDialog(id string, d inDialog) {
	s.mu.Lock()
	s.dialogs[id] = d
	s.mu.Unlock()
}

func (s *Server) removeDialog(id string) {
	s.mu.Lock()
	delete(s.dialogs, id)
	s.mu.Unlock()
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil && s.fromPeer(c, req) {
		c.onAck(req)
	}
}

// fromPeer: an in-dialog request comes from the dialog's other side — the
// address its requests came from (the trunk's INVITE, the seat's
// registration), or a trusted source (an SBC pair answers from either
// node). Knowing a dialog's Call-ID and tags is not enough to end a call
// or press its keys: they travel in clear and end up in logs.
func (s *Server) fromPeer(d inDialog, req *sip.Request) bool {
	want, ok := d.peerSource()
	if !ok {
		return true
	}
	ip, trusted := s.trusted(req.Source())
	if trusted || (ip.IsValid() && sameSource(ip, want)) {
		return true
	}
	s.m.rejected.WithLabelValues("wrong_source").Inc()
	s.log.Warn("in-dialog request from another source than the dialog's refused", "method", string(req.Method),
		"source", ip.String(), "call_id", callID(req))
	return false
}

func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matched a pending INVITE never gets here: sipgo's
	// transaction layer answers it and ends the INVITE with 487.
	respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// unavailable is Config.Unavailable's answer ("" without one).
func (s *Server) unavailable() string {
	if s.cfg.Unavailable == nil {
		return ""
	}
	return s.cfg.Unavailable()
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.draining.Load() || s.unavailable() != "" {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	respond(tx, req, sip.StatusOK, "OK",
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", "timer"))
}

// inDialog routes an in-dialog request to its call, or answers 481
// (RFC 3261 §12.2.2) when no dialog matches.
func (s *Server) inDialog(handle func(d inDialog, req *sip.Request, tx sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		c := s.lookup(req)
		if c == nil {
			respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
		if !s.fromPeer(c, req) {
			respond(tx, req, sip.StatusForbidden, "Forbidden")
			return
		}
		handle(c, req, tx)
	}
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// parseSessionExpires reads "1800;refresher=uac" (RFC 4028 §4).
func parseSessionExpires(v string) (time.Duration, string, bool) {
	parts := strings.Split(v, ";")
	secs, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || secs <= 0 {
		return 0, "", false
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return time.Duration(secs) * time.Second, refresher, true
}

func hasOptionTag(req *sip.Request, header, tag string) bool {
	for _, h := range req.GetHeaders(header) {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}
