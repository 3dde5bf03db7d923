// Package web serves the console, the JSON API, /healthz and /metrics.
//
// Every /api/ route except /api/login takes the session cookie or an
// "Authorization: Bearer <token>" header (SPEC §9) and answers 401 without;
// in a cluster, a request another node signed for a user (peer.go) is
// taken as that user. cluster.go says how one node's API shows the whole
// centre. Logins are throttled before any hashing (loginguard.go); a
// state-changing request on the cookie must come from the console's own
// origin (origin.go); behind reverse proxies, client.go says who asks.
// Every /api/ answer is Cache-Control: no-store (tickets, callers'
// numbers, recordings). It must not import internal/sip or internal/media.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/stats"
	"github.com/hotline12348/hotline/internal/ticket"
)

// CookieName is the session cookie.
const CookieName = "hotline_session"

// Options configure the HTTP side.
type Options struct {
	SessionTTL time.Duration
	// IVRKeys labels the main menu's keys for the console (ivr.yaml's
	// routes: Menu.KeyLabels); nil shows bare keys.
	IVRKeys map[string]string
	// SecureCookie forces the Secure flag on the session cookie; without
	// it the flag is set when the request came over https (TLS, or a
	// trusted proxy's X-Forwarded-Proto).
	SecureCookie bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For,
	// -Proto and -Host are believed (client.go); none by default.
	TrustedProxies []netip.Prefix
	// RecordingPath maps a ticket's recording to a file on disk ("" if none).
	RecordingPath func(t *ticket.Ticket) string
	// Ready reports whether the node takes calls (healthz detail).
	Ready func() bool
	// Floor is the ACD (seats, queue); nil shows an empty floor.
	Floor Floor
	// Events is the live-event hub of GET /api/events; nil: 503 there.
	Events *Hub
	// FeedbackSecret verifies the work-order system's feedback (SPEC §7):
	// workorder.feedback_secret, else workorder.secret; empty: feedback off.
	FeedbackSecret []byte
	// WakeOutbox makes the outbox worker look at once (after a redeliver).
	WakeOutbox func()
	// WorkorderConfigured: workorder.url is set (the wallboard warns when
	// it is not: tickets then stay in the outbox, undelivered).
	WorkorderConfigured bool
	// Stats computes the numbers of /api/stats/*; nil: 503 there.
	Stats *stats.Service

	// NodeID is this node's id (node_id), shown by GET /api/cluster on a
	// single node.
	NodeID string
	// Cluster is the cluster this node is part of (SPEC §11); nil: one node,
	// and nothing of cluster.go happens.
	Cluster Cluster
	// ClusterSecret is cluster.secret, the HMAC key of node-to-node
	// requests; empty: no signed request is accepted.
	ClusterSecret []byte
	// PeerTimeout is how long a fan-out waits for each other node [2s].
	PeerTimeout time.Duration
	// Degraded, when set, returns why the node is degraded ("" = healthy),
	// e.g. "redis unreachable": /healthz stays 200 and says so.
	Degraded func() string
	// Unavailable, when set, says why the node cannot take a new call now
	// ("" = it can), e.g. the database cannot take a ticket: /healthz is
	// 503 {"status":"unavailable","reason"} so the SBC and the load
	// balancer fail over.
	Unavailable func() string
	// Calls is this node's live calls, for call control (calls.go); nil:
	// no call is ever live here.
	Calls CallControl
	// Transfers: call transfer (transfer.go); nil: 503 there.
	Transfers Transfers
	// Callbacks places callback calls (callbacks.go); nil: dial is 503.
	Callbacks CallbackWork
}

// Server is the HTTP handler set.
type Server struct {
	opt     Options
	log     *slog.Logger
	users   *auth.Store
	tickets *ticket.Store
	gather  prometheus.Gatherer
	mux     *http.ServeMux
	// peer and fan are set in a cluster only.
	peer *PeerClient
	fan  *fanout
	// replays: the node requests taken, each once (peer.go).
	replays replayCache
	// lookup finds a ticket wherever it is kept (role scoping: the current
	// call's caller).
	lookup TicketLookup

	guard *loginGuard

	// sup: supervision (supervise.go), set once the call service exists.
	supMu sync.Mutex
	sup   SupervisionOptions
}

// New builds the handler.
func New(opt Options, users *auth.Store, tickets *ticket.Store, gather prometheus.Gatherer, logger *slog.Logger) *Server {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	s := &Server{opt: opt, log: logger, users: users, tickets: tickets, gather: gather, mux: http.NewServeMux(), guard: newLoginGuard(nil)}
	if opt.Cluster != nil {
		if len(opt.ClusterSecret) == 0 {
			logger.Error("cluster without cluster.secret: the other nodes refuse this node's requests")
		}
		if opt.PeerTimeout <= 0 {
			s.opt.PeerTimeout = DefaultPeerTimeout
		}
		s.peer = NewPeerClient(opt.Cluster.Self(), opt.ClusterSecret)
		s.fan = &fanout{cluster: opt.Cluster, client: s.peer, timeout: s.opt.PeerTimeout, log: logger}
		s.lookup = NewClusterLookup(tickets, opt.Cluster, s.peer, s.opt.PeerTimeout, logger)
	} else {
		s.lookup = LocalLookup{Tickets: tickets}
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)}))
	s.mux.HandleFunc("POST /api/login", s.login)
	s.mux.Handle("POST /api/logout", s.authed(s.logout))
	s.mux.Handle("GET /api/me", s.authed(s.me))
	s.mux.Handle("GET /api/tickets", s.authed(s.listTickets))
	s.mux.Handle("GET /api/tickets/{id}", s.authed(s.getTicket))
	s.mux.Handle("GET "+ticket.RecordingRoute, s.authed(s.recording))
	s.mux.Handle("GET "+ticket.VoicemailRoute, s.authed(s.voicemail))
	s.mux.Handle("GET /api/seats", s.authed(s.listSeats))
	s.mux.Handle("POST /api/seats/{id}/state", s.authed(s.setSeatState))
	s.mux.Handle("GET /api/queue", s.authed(s.listQueue))
	s.mux.Handle("GET /api/cluster", s.authed(s.managers(s.clusterView)))
	s.consoleRoutes() // /, /console/*, /api/events, PATCH /api/tickets/{id}, /api/console/options
	s.workorderRoutes()
	s.wallboardRoutes()
	s.statsRoutes() // GET /api/stats/today, /hourly, /staffing
	s.callRoutes()  // GET /api/calls/{id}, POST /api/calls/{id}/{action}
	s.transferRoutes()
	s.superviseRoutes() // POST, DELETE /api/calls/{id}/monitor
	s.callbackRoutes()  // /api/callbacks…, GET /api/stats/callbacks
	// Anything else under /api/ is an authenticated 404, so that probing
	// does not learn which routes exist.
	s.mux.Handle("/api/", s.authed(func(w http.ResponseWriter, r *http.Request, _ auth.User) {
		writeError(w, http.StatusNotFound, "no such API route")
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// Tickets, callers' numbers, recordings, seats and figures: no
		// browser or proxy cache may keep any of it.
		w.Header().Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

// healthz: 200 {"status":"ok"}; 200 {"status":"degraded","reason"} when
// the node takes calls without the shared state (SPEC §11: Redis
// unreachable); 503 {"status":"draining"} once it stops taking calls; 503
// {"status":"unavailable","reason"} while a new call could not be taken
// (storage).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.opt.Ready != nil && !s.opt.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if s.opt.Unavailable != nil {
		if why := s.opt.Unavailable(); why != "" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": why})
			return
		}
	}
	if s.opt.Degraded != nil {
		if why := s.opt.Degraded(); why != "" {
			writeJSON(w, http.StatusOK, map[string]string{"status": "degraded", "reason": why})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type handlerWithUser func(w http.ResponseWriter, r *http.Request, u auth.User)

func tokenOf(r *http.Request) string {
	tok, _ := credentialOf(r)
	return tok
}

// credentialOf returns the session token of r and whether it came from the
// cookie (an ambient credential, which a foreign page can make the browser
// send) rather than an Authorization header (which it cannot).
func credentialOf(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok), false
		}
		return "", false
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

func (s *Server) authed(h handlerWithUser) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.opt.ClusterSecret) > 0 && r.Header.Get(HeaderNode) != "" {
			if u, node, ok := s.nodeUser(r); ok {
				h(w, r.WithContext(context.WithValue(r.Context(), nodeCallerKey{}, node)), u)
				return
			}
			// Not a valid node request: it needs a session like any other.
		}
		token, fromCookie := credentialOf(r)
		if fromCookie && stateChanging(r.Method) {
			if err := s.checkOrigin(r, true); err != nil {
				s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "reason", err.Error(), "remote", s.clientIP(r))
				writeError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
				return
			}
		}
		u, err := s.users.Session(r.Context(), token)
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) {
				s.log.Error("session lookup failed", "error", err)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
			writeError(w, http.StatusUnauthorized, "login required")
			return
		}
		h(w, r, u)
	})
}

// nodeUser verifies a node-to-node request (peer.go); r's body stays
// readable either way.
func (s *Server) nodeUser(r *http.Request) (auth.User, string, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNodeBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || len(body) > maxNodeBody {
		s.log.Warn("node request refused", "reason", "body unreadable or too large", "node", r.Header.Get(HeaderNode), "remote", remoteIP(r))
		return auth.User{}, "", false
	}
	now := time.Now()
	u, node, err := VerifyNodeRequest(r, s.opt.ClusterSecret, body, now)
	if err == nil && !s.replays.first(r.Header.Get(HeaderSignature), now.Add(2*NodeSkew), now) {
		err = errors.New("replayed: this signature was already taken")
	}
	if err != nil {
		s.log.Warn("node request refused", "reason", err.Error(), "node", r.Header.Get(HeaderNode), "remote", remoteIP(r))
		return auth.User{}, "", false
	}
	return u, node, true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	client := s.clientAddr(r)
	remote := s.clientIP(r)
	if err := s.checkOrigin(r, false); err != nil {
		s.log.Warn("cross-origin login refused", "reason", err.Error(), "remote", remote)
		writeError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"username\",\"password\"}")
		return
	}
	// Counted and perhaps refused before any hashing.
	attempt, wait, limit := s.guard.admit(req.Username, client)
	if attempt == nil {
		s.log.Debug("login refused: too many failures", "limit", limit, "user_ref", s.guard.userRef(req.Username), "remote", remote)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many failed logins; try again later")
		return
	}
	token, u, err := s.users.Login(r.Context(), req.Username, req.Password, s.opt.SessionTTL)
	switch {
	case err == nil:
		attempt.success()
	case errors.Is(err, auth.ErrBadCredentials):
		backoff, sourceFull := attempt.failure()
		// What was typed as the name is logged only when it is a user's:
		// otherwise it may be a password typed into the wrong field.
		who := []any{"user", req.Username}
		if errors.Is(err, auth.ErrUnknownUser) {
			who = []any{"unknown_user_ref", s.guard.userRef(req.Username)}
		}
		s.log.Info("login failed", append(who, "remote", remote)...)
		if backoff > 0 {
			s.log.Warn("login: repeated failures for one account from one address; it waits before the next try", append(who, "remote", remote, "wait", backoff.String())...)
		}
		if sourceFull {
			s.log.Warn("login: too many failures from one address; it is refused for a while", "remote", remote, "limit", loginSourceLimit, "window", loginSourceWindow.String())
		}
		writeError(w, http.StatusUnauthorized, "bad username or password")
		return
	case errors.Is(err, auth.ErrBusy):
		attempt.cancel()
		s.log.Warn("login refused: every password check busy", "remote", remote)
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "too many logins at once; try again in a moment")
		return
	default:
		attempt.cancel()
		if r.Context().Err() == nil {
			s.log.Error("login", "error", err)
		}
		writeError(w, http.StatusInternalServerError, "login failed")
		return
	}
	http.SetCookie(w, s.sessionCookie(r, token, int(s.opt.SessionTTL.Seconds())))
	s.log.Info("login", "user", u.Name, "role", u.Role, "remote", remote)
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "user": u})
}

// sessionCookie is the session cookie (maxAge < 0 deletes it): HttpOnly,
// SameSite=Strict, and Secure when forced or the request came over https.
func (s *Server) sessionCookie(r *http.Request, token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: token, Path: "/", HttpOnly: true,
		Secure:   s.opt.SecureCookie || s.scheme(r) == "https",
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge,
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u auth.User) {
	_ = s.users.Logout(r.Context(), tokenOf(r))
	http.SetCookie(w, s.sessionCookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, u auth.User) {
	writeJSON(w, http.StatusOK, u)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// progressWriter extends the connection's write deadline before every
// write: a long download (an hour's recording is 115 MB) is bounded by its
// progress, each chunk within progressTimeout, not by WriteTimeout.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func newProgressWriter(w http.ResponseWriter) progressWriter {
	return progressWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
}

func (p progressWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(progressTimeout))
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (p progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// The HTTP server's bounds: a client that sends its request slowly, or
// reads the answer slowly, or idles, cannot hold a connection and its
// goroutine for long. Answers that take long by nature extend their own
// write deadline as they go (the event stream per event and heartbeat,
// recordings per chunk written: see progressWriter).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second // the whole request; bodies are at most 1 MiB
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
	// progressTimeout is how long one chunk of a long answer may take.
	progressTimeout = 30 * time.Second
)

// NewHTTPServer is the http.Server Serve runs: h with the bounds above.
func NewHTTPServer(ctx context.Context, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Serve runs the HTTP server on ln until ctx is done, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := NewHTTPServer(ctx, h, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}
