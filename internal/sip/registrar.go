package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
)

// The seat registrar (SPEC §4): the six operator softphones REGISTER as
// sip:<seat id>@<sip.domain> with digest authentication, and the switch
// later reaches each seat at the address its REGISTER came from (NAT, TCP
// connection reuse), not at whatever its Contact claims.

// RegistrarConfig configures a Registrar; zero values take the defaults
// noted, which are those of the configuration keys.
type RegistrarConfig struct {
	// Realm is the digest realm, sip.domain. Required.
	Realm string
	// Credentials returns a seat's password (seats[] in the config).
	// Required. Unknown users fail exactly like wrong passwords.
	Credentials func(user string) (password string, ok bool)
	// MinExpires: a shorter non-zero expiry gets 423 with Min-Expires
	// (RFC 3261 §10.3 step 7). Default 60s.
	MinExpires time.Duration
	// MaxExpires caps the expiry granted, sip.max_register_expires.
	// Default 3600s. A REGISTER that asks for none gets 3600s or this cap.
	MaxExpires time.Duration
	// AuthFailLimit failed answers from one source (an IPv4 address, an
	// IPv6 /64) within AuthFailWindow ban that source for AuthFailBan:
	// every REGISTER from it gets 403 without a challenge.
	// sip.auth_fail_limit (default 10), sip.auth_fail_window (1m),
	// sip.auth_fail_ban (10m). bans.go: what happens when the table is full.
	AuthFailLimit  int
	AuthFailWindow time.Duration
	AuthFailBan    time.Duration
	// BanTableSize bounds the sources whose failures are counted one by one
	// (default 65536); past it, failures count against wider prefixes.
	BanTableSize int
	// BanStore keeps bans across restarts; nil: in memory only.
	BanStore BanStore
	// NoBan lists sources never banned, e.g. the call centre's own NAT
	// address, where one misconfigured softphone would otherwise lock all
	// six seats out. Their failures are still answered 401 and counted.
	NoBan []netip.Prefix
	// Algorithms are the digest algorithms offered to a seat without its
	// own (SeatAlgorithms), in order of preference, and the only ones
	// accepted from it: "SHA-256", "MD5". Default ["MD5"]
	// (sip.digest_algorithms). A UA that reads only the first challenge and
	// knows only MD5 (SIPp 3.6) needs MD5 first; one that gives up on any
	// challenge it does not know (baresip 1.x, libre) needs ["MD5"] alone.
	Algorithms []string
	// SeatAlgorithms are the algorithms of the seats that have their own
	// (seats[].digest_algorithms), by seat id: a seat's phone is offered
	// exactly these, and an answer in any other algorithm fails.
	SeatAlgorithms map[string][]string
	// NonceTTL is how long a nonce may be answered (default 5m); a correct
	// answer to an older one gets a new challenge with stale=true.
	NonceTTL time.Duration
	// SweepInterval is how often expired bindings are removed and
	// reported (default 1s).
	SweepInterval time.Duration
	// Bindings is the store (default: a new MemoryBindings).
	Bindings Bindings
	// Node is this node's id, written into the bindings it makes (cluster).
	Node string
	// OnChange is called when a seat goes from no binding to a binding
	// (registered) and back (unregistered, expired). Calls come one at a
	// time, in order, from the registrar's own goroutine, never from a
	// SIP handler; they should not block for long.
	OnChange func(seat string, registered bool)
	// Now is the clock (default time.Now); Rand the source of nonces and
	// keys (default crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// Registration results, the bounded label values of
// hotline_sip_registrations_total{result}.
const (
	regOK               = "ok"                 // 200: bound, refreshed, removed or queried
	regChallenged       = "challenged"         // 401: no credentials for our realm yet
	regStale            = "stale"              // 401 stale=true: right password, expired nonce
	regUnknownNonce     = "unknown_nonce"      // 401 stale=true: a nonce we did not send to this address
	regUnauthorized     = "unauthorized"       // 401: wrong password or unknown user
	regReplay           = "replay"             // 401: nonce count did not increase
	regForbidden        = "forbidden"          // 403: credentials of another seat
	regBanned           = "banned"             // 403: the source is banned
	regIntervalTooBrief = "interval_too_brief" // 423
	regBadRequest       = "bad_request"        // 400
	regOutOfOrder       = "out_of_order"       // 400: older CSeq for the binding's Call-ID
	regError            = "error"              // 500: the bindings store failed
)

var registrationResults = []string{regOK, regChallenged, regStale, regUnknownNonce, regUnauthorized, regReplay, regForbidden,
	regBanned, regIntervalTooBrief, regBadRequest, regOutOfOrder, regError}

// Auth failure reasons, the label values of hotline_sip_auth_failures_total{reason}.
const (
	failCredentials = "credentials" // the answer does not prove the password
	failReplay      = "replay"      // an answer seen before
	failIdentity    = "identity"    // username, To and From do not name the same seat
)

const (
	defaultExpires  = 3600 * time.Second // RFC 3261 §10.2.1.1: the registrar's default
	maxContacts     = 10
	maxNonceRecords = 65536
	maxUserAgent    = 200
	maxContactURI   = 1024
	storeTimeout    = 2 * time.Second
)

// Registrar answers REGISTER from the seats and knows where each is bound.
type Registrar struct {
	cfg   RegistrarConfig
	log   *slog.Logger
	now   func() time.Time
	auth  *digestAuth
	algs  map[string][]string // seats with their own digest algorithms
	bans  *banTable
	store Bindings

	flowMu sync.Mutex
	flows  map[string]Binding // seat -> binding made through this node's sockets

	mu       sync.Mutex      // serialises binding changes with the reported states
	reported map[string]bool // seats last reported registered to OnChange
	pending  []seatChange
	wake     chan struct{}

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	m registrarMetrics
}

type seatChange struct {
	seat       string
	registered bool
}

type registrarMetrics struct {
	registrations *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	registered    prometheus.Gauge
	banned        prometheus.Gauge
	aggregated    prometheus.Counter
}

// NewRegistrar builds a registrar and starts its sweeper; Close stops it.
// Hook it into the server with Config.Registrar.
func NewRegistrar(cfg RegistrarConfig, logger *slog.Logger, reg prometheus.Registerer) (*Registrar, error) {
	if cfg.Realm == "" {
		return nil, errors.New("sip: registrar: realm (sip.domain) is empty")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("sip: registrar: no credential lookup")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinExpires, 60*time.Second)
	def(&cfg.MaxExpires, 3600*time.Second)
	def(&cfg.AuthFailWindow, time.Minute)
	def(&cfg.AuthFailBan, 10*time.Minute)
	def(&cfg.NonceTTL, 5*time.Minute)
	def(&cfg.SweepInterval, time.Second)
	if cfg.MaxExpires < cfg.MinExpires {
		return nil, fmt.Errorf("sip: registrar: max expires %v is below min expires %v", cfg.MaxExpires, cfg.MinExpires)
	}
	if cfg.AuthFailLimit <= 0 {
		cfg.AuthFailLimit = 10
	}
	if cfg.Bindings == nil {
		cfg.Bindings = NewMemoryBindings()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	auth, err := newDigestAuth(cfg.Realm, cfg.Algorithms, cfg.NonceTTL, cfg.Now, cfg.Rand, maxNonceRecords)
	if err != nil {
		return nil, err
	}
	algs := map[string][]string{}
	for seat, list := range cfg.SeatAlgorithms {
		canon, err := canonicalAlgorithms(list)
		if err != nil {
			return nil, fmt.Errorf("%w (seat %s)", err, seat)
		}
		algs[seat] = canon
	}
	r := &Registrar{
		cfg: cfg, log: logger, now: cfg.Now, auth: auth, algs: algs, store: cfg.Bindings,
		bans:     newBanTable(cfg.AuthFailLimit, cfg.AuthFailWindow, cfg.AuthFailBan, cfg.BanTableSize),
		flows:    map[string]Binding{},
		reported: map[string]bool{},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	r.m.registrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_registrations_total", Help: "REGISTER requests from seats, by result.",
	}, []string{"result"})
	r.m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_auth_failures_total", Help: "Digest answers that failed (they count toward the source's ban), by reason.",
	}, []string{"reason"})
	r.m.registered = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_sip_registered_seats", Help: "Seats with a live registration.",
	})
	r.m.banned = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_sip_banned_sources", Help: "Bans in force for repeated digest failures: sources (IPv4 addresses, IPv6 /64s), or wider prefixes when the table was full.",
	})
	r.m.aggregated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotline_sip_auth_failures_aggregated_total", Help: "Digest failures counted against a wider prefix (IPv4 /24, /16, /8) because the table of single sources was full.",
	})
	for _, v := range registrationResults {
		r.m.registrations.WithLabelValues(v)
	}
	for _, v := range []string{failCredentials, failReplay, failIdentity} {
		r.m.authFailures.WithLabelValues(v)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.m.registrations, r.m.authFailures, r.m.registered, r.m.banned, r.m.aggregated} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sip: registrar metrics: %w", err)
			}
		}
	}
	if cfg.BanStore != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		bans, err := cfg.BanStore.LoadBans(ctx, cfg.Now())
		cancel()
		if err != nil {
			return nil, fmt.Errorf("sip: registrar: loading bans: %w", err)
		}
		for _, b := range bans {
			r.bans.restore(b)
		}
		if n := r.bans.active(cfg.Now()); n > 0 {
			r.m.banned.Set(float64(n))
			logger.Info("bans restored", "bans", n)
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// setFlow records the flow a seat registered through this node's sockets
// (or forgets it): the TCP guard keeps such a connection open however idle
// (RFC 5626: a flow lives as long as its registration), and the UDP gate
// keeps sipgo answering it from the listening socket.
func (r *Registrar) setFlow(seat string, b Binding, up bool) {
	r.flowMu.Lock()
	defer r.flowMu.Unlock()
	if up {
		r.flows[seat] = b
	} else {
		delete(r.flows, seat)
	}
}

// flowRegistered: a live binding was registered from addr over transport
// through this node.
func (r *Registrar) flowRegistered(addr netip.AddrPort, transport string) bool {
	now := r.now()
	r.flowMu.Lock()
	defer r.flowMu.Unlock()
	for _, b := range r.flows {
		if b.Source == addr && strings.EqualFold(b.Transport, transport) && b.Expires.After(now) {
			return true
		}
	}
	return false
}

// sourceRegistered: a live binding was registered from ip (any port,
// any transport) through this node.
func (r *Registrar) sourceRegistered(ip netip.Addr) bool {
	ip = ip.Unmap()
	now := r.now()
	r.flowMu.Lock()
	defer r.flowMu.Unlock()
	for _, b := range r.flows {
		if b.Source.Addr() == ip && b.Expires.After(now) {
			return true
		}
	}
	return false
}

// localFlows are the sources of the live bindings registered over
// transport through this node.
func (r *Registrar) localFlows(transport string) []netip.AddrPort {
	now := r.now()
	r.flowMu.Lock()
	defer r.flowMu.Unlock()
	out := make([]netip.AddrPort, 0, len(r.flows))
	for _, b := range r.flows {
		if strings.EqualFold(b.Transport, transport) && b.Expires.After(now) {
			out = append(out, b.Source)
		}
	}
	return out
}

// algorithms are the digest algorithms of a seat (nil: the default).
func (r *Registrar) algorithms(seat string) []string { return r.algs[seat] }

// Close stops the sweeper; changes not yet delivered to OnChange are
// dropped. Safe to call more than once.
func (r *Registrar) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
	})
	return nil
}

// Lookup returns where to send a request to the seat (INVITE): its live
// binding, if it has one.
func (r *Registrar) Lookup(seat string) (Binding, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	b, ok, err := r.store.Get(ctx, seat)
	if err != nil {
		r.log.Warn("registrar: lookup failed", "seat", seat, "error", err)
		return Binding{}, false
	}
	if !ok || !b.Expires.After(r.now()) {
		return Binding{}, false
	}
	return b, true
}

// List returns the live bindings, by seat.
func (r *Registrar) List() []Binding {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	all, err := r.store.List(ctx)
	if err != nil {
		r.log.Warn("registrar: list failed", "error", err)
		return nil
	}
	now := r.now()
	all = slices.DeleteFunc(all, func(b Binding) bool { return !b.Expires.After(now) })
	slices.SortFunc(all, func(a, b Binding) int { return strings.Compare(a.Seat, b.Seat) })
	return all
}

func (r *Registrar) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			r.persistBans(context.Background())
			return
		case <-t.C:
			r.sweep()
		case <-r.wake:
		}
		r.deliver()
		r.persistBans(r.ctx)
	}
}

// persistBans saves new bans and deletes ended ones (BanStore), from the
// registrar's goroutine: a SIP handler never waits for the database.
func (r *Registrar) persistBans(ctx context.Context) {
	save, lifted := r.bans.takePersist()
	if r.cfg.BanStore == nil || (len(save) == 0 && !lifted) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if len(save) > 0 {
		if err := r.cfg.BanStore.SaveBans(ctx, save); err != nil {
			r.log.Warn("registrar: saving bans failed; they hold until a restart", "bans", len(save), "error", err)
		}
	}
	if lifted {
		if err := r.cfg.BanStore.DeleteBansBefore(ctx, r.now()); err != nil {
			r.log.Warn("registrar: deleting ended bans failed", "error", err)
		}
	}
}

// wakeUp has the registrar's goroutine deliver changes and persist bans.
func (r *Registrar) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// deliver hands queued changes to OnChange, in order, from this goroutine only.
func (r *Registrar) deliver() {
	r.mu.Lock()
	changes := r.pending
	r.pending = nil
	r.mu.Unlock()
	if r.cfg.OnChange == nil {
		return
	}
	for _, c := range changes {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.log.Error("registrar: OnChange panicked", "seat", c.seat, "registered", c.registered, "panic", fmt.Sprint(p))
				}
			}()
			r.cfg.OnChange(c.seat, c.registered)
		}()
	}
}

// sweep removes expired bindings and reconciles the reported states with
// the store, then forgets expired nonces and failures.
func (r *Registrar) sweep() {
	now := r.now()
	r.auth.prune()
	r.m.banned.Set(float64(r.bans.prune(now)))

	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	all, err := r.store.List(ctx)
	if err != nil {
		r.log.Warn("registrar: sweep failed", "error", err)
		return
	}
	live := make(map[string]bool, len(all))
	for _, b := range all {
		if b.Expires.After(now) {
			live[b.Seat] = true
			continue
		}
		if err := r.store.Remove(ctx, b.Seat); err != nil {
			r.log.Warn("registrar: removing an expired binding failed", "seat", b.Seat, "error", err)
			continue
		}
		r.log.Info("seat registration expired", "seat", b.Seat, "source", b.Source.String())
		r.setFlow(b.Seat, Binding{}, false)
	}
	for seat := range r.reported {
		if !live[seat] {
			r.setStateLocked(seat, false)
		}
	}
	for seat := range live {
		r.setStateLocked(seat, true)
	}
}

// setStateLocked records a seat's state and queues an OnChange when it changed.
func (r *Registrar) setStateLocked(seat string, registered bool) {
	if r.reported[seat] == registered {
		return
	}
	if registered {
		r.reported[seat] = true
	} else {
		delete(r.reported, seat)
	}
	r.m.registered.Set(float64(len(r.reported)))
	r.pending = append(r.pending, seatChange{seat: seat, registered: registered})
	r.wakeUp()
}

// onRegister is the sipgo handler for REGISTER.
func (r *Registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	res, result := r.handle(req)
	r.m.registrations.WithLabelValues(result).Inc()
	_ = tx.Respond(res)
}

func regResponse(req *sip.Request, code int, reason string, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

// handle authenticates a REGISTER and applies it (RFC 3261 §10.3).
func (r *Registrar) handle(req *sip.Request) (*sip.Response, string) {
	now := r.now()
	src, err := netip.ParseAddrPort(req.Source())
	to, from, callid, cseq := req.To(), req.From(), req.CallID(), req.CSeq()
	if err != nil || to == nil || from == nil || callid == nil || cseq == nil || to.Address.User == "" {
		return regResponse(req, sip.StatusBadRequest, "Bad Request"), regBadRequest
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	ip := src.Addr()
	// A banned source learns nothing, not even a nonce. The office's own
	// address (no_ban) is never banned, not even within a banned prefix.
	if !r.exempt(ip) && r.bans.banned(ip, now) {
		return regResponse(req, sip.StatusForbidden, "Forbidden"), regBanned
	}
	seat := to.Address.User
	algs := r.algorithms(seat)
	log := r.log.With("seat", regClip(seat, 64), "source", src.String(), "transport", req.Transport())

	cred, err := r.credentials(req)
	if err != nil {
		return regResponse(req, sip.StatusBadRequest, "Bad Authorization"), regBadRequest
	}
	if cred == nil {
		return r.challenge(req, ip, algs, false, regChallenged)
	}
	// An answer to a nonce we never sent to this address (spoofed, from
	// before a restart, or after a NAT rebinding): a fresh challenge, the
	// password unexamined, nothing counted (digest.go).
	if !r.auth.authentic(cred.Nonce, ip) {
		return r.challenge(req, ip, algs, true, regUnknownNonce)
	}
	// RFC 3261 §10.3 step 3 and §22: the credentials must be those of the
	// seat being registered; no third-party registration.
	if cred.Username != seat || from.Address.User != seat {
		if res, result := r.fail(req, ip, failIdentity, log); res != nil {
			return res, result
		}
		return regResponse(req, sip.StatusForbidden, "Forbidden"), regForbidden
	}
	password, known := r.cfg.Credentials(seat)
	switch r.auth.verify(string(req.Method), cred, password, known, algs, ip) {
	case authFailed:
		if res, result := r.fail(req, ip, failCredentials, log); res != nil {
			return res, result
		}
		return r.challenge(req, ip, algs, false, regUnauthorized)
	case authReplay:
		if res, result := r.fail(req, ip, failReplay, log); res != nil {
			return res, result
		}
		return r.challenge(req, ip, algs, false, regReplay)
	case authStale:
		return r.challenge(req, ip, algs, true, regStale)
	}
	return r.register(req, seat, src, now, log)
}

// credentials returns the digest answer for our realm, nil when there is
// none (an Authorization for another realm is as good as none), or an
// error when the only candidates are unparsable.
func (r *Registrar) credentials(req *sip.Request) (*digest.Credentials, error) {
	var bad error
	for _, h := range req.GetHeaders("Authorization") {
		v := h.Value()
		if !digest.IsDigest(v) {
			continue
		}
		c, err := digest.ParseCredentials(v)
		if err != nil {
			bad = err
			continue
		}
		if c.Realm == r.cfg.Realm {
			return c, nil
		}
	}
	return nil, bad
}

func (r *Registrar) challenge(req *sip.Request, client netip.Addr, algs []string, stale bool, result string) (*sip.Response, string) {
	hdrs, err := r.auth.challenges(stale, algs, client)
	if err != nil {
		r.log.Error("registrar: no challenge", "error", err)
		return regResponse(req, sip.StatusInternalServerError, "Server Internal Error"), regError
	}
	return regResponse(req, sip.StatusUnauthorized, "Unauthorized", hdrs...), result
}

// fail counts a failed answer against its source; when that bans the
// source (or its prefix) it returns the 403 to send.
func (r *Registrar) fail(req *sip.Request, ip netip.Addr, reason string, log *slog.Logger) (*sip.Response, string) {
	r.m.authFailures.WithLabelValues(reason).Inc()
	now := r.now()
	if r.exempt(ip) {
		log.Info("seat authentication failed", "reason", reason)
		return nil, ""
	}
	banned, aggregated := r.bans.fail(ip, now)
	if aggregated {
		r.m.aggregated.Inc()
	}
	if !banned.IsValid() {
		log.Info("seat authentication failed", "reason", reason, "aggregated", aggregated)
		return nil, ""
	}
	r.m.banned.Set(float64(r.bans.active(now)))
	r.wakeUp() // persist it
	log.Warn("source banned after repeated authentication failures", "reason", reason,
		"limit", r.cfg.AuthFailLimit, "window", r.cfg.AuthFailWindow, "ban", r.cfg.AuthFailBan, "banned", banned.String())
	return regResponse(req, sip.StatusForbidden, "Forbidden"), regBanned
}

func (r *Registrar) exempt(ip netip.Addr) bool {
	for _, p := range r.cfg.NoBan {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// register applies an authenticated REGISTER (RFC 3261 §10.3 steps 6–8).
func (r *Registrar) register(req *sip.Request, seat string, src netip.AddrPort, now time.Time, log *slog.Logger) (*sip.Response, string) {
	var contacts []*sip.ContactHeader
	for _, h := range req.Headers() {
		if c, ok := h.(*sip.ContactHeader); ok {
			contacts = append(contacts, c)
		}
	}
	if len(contacts) > maxContacts {
		return regResponse(req, sip.StatusBadRequest, "Too Many Contacts"), regBadRequest
	}
	expires := min(defaultExpires, r.cfg.MaxExpires)
	hdrExpires, hasHdrExpires := time.Duration(0), false
	if h := req.GetHeader("Expires"); h != nil {
		d, ok := parseDeltaSeconds(h.Value())
		if !ok {
			return regResponse(req, sip.StatusBadRequest, "Bad Expires"), regBadRequest
		}
		hdrExpires, hasHdrExpires = d, true
		expires = d
	}

	type change struct {
		uri     sip.Uri
		expires time.Duration
	}
	var changes []change
	wildcard := false
	for _, c := range contacts {
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		exp := expires
		if v, ok := paramFold(c.Params, "expires"); ok {
			d, ok := parseDeltaSeconds(v)
			if !ok {
				return regResponse(req, sip.StatusBadRequest, "Bad Contact Expires"), regBadRequest
			}
			exp = d
		}
		if exp > 0 && exp < r.cfg.MinExpires {
			return regResponse(req, sip.StatusIntervalToBrief, "Interval Too Brief",
				sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second)))), regIntervalTooBrief
		}
		exp = min(exp, r.cfg.MaxExpires)
		if uri := c.Address.String(); len(uri) > maxContactURI || c.Address.Host == "" {
			return regResponse(req, sip.StatusBadRequest, "Bad Contact"), regBadRequest
		}
		changes = append(changes, change{uri: c.Address, expires: exp})
	}
	// RFC 3261 §10.3 step 6: "*" only alone and only with Expires: 0.
	if wildcard && (len(contacts) != 1 || !hasHdrExpires || hdrExpires != 0) {
		return regResponse(req, sip.StatusBadRequest, "Bad Wildcard Contact"), regBadRequest
	}

	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, have, err := r.currentLocked(ctx, seat, now)
	if err != nil {
		log.Error("registrar: bindings store failed", "error", err)
		return regResponse(req, sip.StatusInternalServerError, "Server Internal Error"), regError
	}
	if len(contacts) == 0 { // a query (RFC 3261 §10.2.3)
		return r.okLocked(req, cur, have, now), regOK
	}
	callID, seq := req.CallID().Value(), req.CSeq().SeqNo
	// RFC 3261 §10.3 step 7: a REGISTER of the binding's Call-ID must carry
	// a higher CSeq, else it is older than what we hold and changes nothing.
	if have && cur.CallID == callID && seq <= cur.CSeq {
		log.Info("out-of-order REGISTER ignored", "cseq", seq, "bound_cseq", cur.CSeq)
		return regResponse(req, sip.StatusBadRequest, "Out-of-order CSeq"), regOutOfOrder
	}

	next, present, updated := cur, have, false
	if wildcard {
		present = false
	}
	for _, c := range changes {
		if c.expires == 0 {
			// Removes only the contact it names (RFC 3261 §10.2.2).
			if present && sameContact(c.uri, next.Contact) {
				present = false
			}
			continue
		}
		updated = true
		ua := ""
		if h := req.GetHeader("User-Agent"); h != nil {
			ua = regClip(h.Value(), maxUserAgent)
		}
		next, present = Binding{
			Seat: seat, Contact: c.uri.String(), Source: src, Transport: req.Transport(), UserAgent: ua,
			Expires: now.Add(c.expires), CallID: callID, CSeq: seq, Node: r.cfg.Node,
		}, true
	}
	switch {
	case present && updated:
		if err := r.store.Put(ctx, next); err != nil {
			log.Error("registrar: bindings store failed", "error", err)
			return regResponse(req, sip.StatusInternalServerError, "Server Internal Error"), regError
		}
		if !have || cur.Contact != next.Contact || cur.Source != next.Source || cur.Transport != next.Transport {
			log.Info("seat registered", "contact", regClip(next.Contact, 200), "expires", next.Expires.Sub(now), "user_agent", next.UserAgent)
		}
		r.setFlow(seat, next, true)
		r.setStateLocked(seat, true)
	case have && !present:
		if err := r.store.Remove(ctx, seat); err != nil {
			log.Error("registrar: bindings store failed", "error", err)
			return regResponse(req, sip.StatusInternalServerError, "Server Internal Error"), regError
		}
		log.Info("seat unregistered")
		r.setFlow(seat, Binding{}, false)
		r.setStateLocked(seat, false)
	}
	return r.okLocked(req, next, present, now), regOK
}

// currentLocked returns the seat's live binding. A binding found expired is
// removed and, if the sweeper has not yet done so, reported, so that a
// seat re-registering after a lapse is reported offline, then online.
func (r *Registrar) currentLocked(ctx context.Context, seat string, now time.Time) (Binding, bool, error) {
	b, ok, err := r.store.Get(ctx, seat)
	if err != nil {
		return Binding{}, false, err
	}
	if ok && !b.Expires.After(now) {
		if err := r.store.Remove(ctx, seat); err != nil {
			return Binding{}, false, err
		}
		ok = false
	}
	if !ok {
		r.setStateLocked(seat, false)
		return Binding{}, false, nil
	}
	return b, true, nil
}

// okLocked is the 200 to a REGISTER: the current contact with its remaining
// expiry (RFC 3261 §10.3 step 8), and a Date.
func (r *Registrar) okLocked(req *sip.Request, b Binding, present bool, now time.Time) *sip.Response {
	hdrs := []sip.Header{sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))}
	if present {
		left := int64((b.Expires.Sub(now) + time.Second - 1) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.FormatInt(left, 10)))
	}
	return regResponse(req, sip.StatusOK, "OK", hdrs...)
}

// parseDeltaSeconds reads an Expires value (RFC 3261 §20.19, §25.1
// delta-seconds); values past 2^32-1 are taken as 2^32-1.
func parseDeltaSeconds(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 20 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > 1<<32-1 {
		n = 1<<32 - 1
	}
	return time.Duration(n) * time.Second, true
}

func paramFold(p sip.HeaderParams, key string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, key) {
			return kv.V, true
		}
	}
	return "", false
}

// sameContact compares two contact URIs the way RFC 3261 §19.1.4 does for
// what matters here: scheme, user, host, port and transport.
func sameContact(a sip.Uri, bound string) bool {
	var b sip.Uri
	if err := sip.ParseUri(bound, &b); err != nil {
		return false
	}
	port := func(u sip.Uri) int {
		if u.Port != 0 {
			return u.Port
		}
		if strings.EqualFold(u.Scheme, "sips") {
			return 5061
		}
		return 5060
	}
	transport := func(u sip.Uri) string {
		v, _ := paramFold(u.UriParams, "transport")
		return strings.ToLower(v)
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && a.User == b.User && strings.EqualFold(a.Host, b.Host) &&
		port(a) == port(b) && transport(a) == transport(b)
}

func regClip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
