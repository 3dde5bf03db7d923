// Package app builds the hotline from its configuration and runs it: the
// database, tickets, media engine, prompts, IVR, SIP server and HTTP API.
// cmd/hotline calls Run and nothing else; whole-app tests do too.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/stats"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/web"
	"github.com/hotline12348/hotline/ivr"
	"github.com/hotline12348/hotline/recordings"

	"github.com/hotline12348/hotline/internal/vocab"
)

// Options are what main passes in.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// ReadyFile, when set, receives a JSON object with the bound addresses
	// once every listener is up ({"sip_udp","sip_tcp","http"}): tests and
	// scripts use it with port 0.
	ReadyFile string
}

// Ready is what ReadyFile contains.
type Ready struct {
	SIPUDP string `json:"sip_udp,omitempty"`
	SIPTCP string `json:"sip_tcp,omitempty"`
	SIPTLS string `json:"sip_tls,omitempty"`
	HTTP   string `json:"http"`
	PID    int    `json:"pid"`
}

// DBPath is where the SQLite database lives under data_dir.
func DBPath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "hotline.db") }

// RecordingsDir is the root of recordings under data_dir.
func RecordingsDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "recordings") }

// Location is the time zone days are counted in.
func Location(cfg *config.Config) *time.Location {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return time.Local // Validate refused a bad timezone already
	}
	return loc
}

// Run serves until ctx is cancelled, then shuts down gracefully: no new
// calls, calls in progress finish (bounded by shutdown.grace), exit.
func Run(ctx context.Context, opt Options) error {
	cfg, log := opt.Config, opt.Logger
	warnDefaults(cfg, log)

	db, err := store.Open(ctx, DBPath(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	loc := Location(cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tickets := ticket.NewStore(db, cfg.NodeID, loc, nil)
	users := auth.NewStore(db, nil)
	if err := closeInterrupted(ctx, tickets, log); err != nil {
		return err
	}
	storage, err := startStorage(ctx, cfg, db, tickets, log, reg)
	if err != nil {
		return err
	}
	defer storage.stop()
	outbox, err := newOutbox(cfg, tickets, log, reg)
	if err != nil {
		return err
	}
	outboxCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	outboxDone := make(chan struct{})
	go func() { defer close(outboxDone); outbox.run(outboxCtx) }()
	defer func() { stopOutbox(); <-outboxDone }()
	if n, err := users.Count(ctx); err == nil && n == 0 {
		log.Warn("no console users yet: create one with `hotline user add --name NAME --role admin` (password on stdin)")
	}

	menu, promptFS, err := loadIVR(cfg)
	if err != nil {
		return err
	}
	prompts, err := loadPrompts(promptFS)
	if err != nil {
		return err
	}

	engine, err := newEngine(cfg, log, reg)
	if err != nil {
		return err
	}
	defer engine.Close()
	codecs := make([]media.Codec, 0, len(cfg.Media.Codecs))
	for _, n := range cfg.Media.Codecs {
		if c, ok := media.CodecByName(n); ok {
			codecs = append(codecs, c)
		}
	}
	advertise, err := netip.ParseAddr(cfg.Media.RTPIP)
	if err != nil {
		return fmt.Errorf("app: media.rtp_ip: %w", err)
	}

	queues := make([]string, 0, 5)
	for _, c := range ivr.Categories() {
		queues = append(queues, string(c))
	}
	callMetrics, err := call.NewMetrics(reg, queues)
	if err != nil {
		return err
	}
	seats, acdCfg := acdSettings(cfg)
	var (
		floor acd.Floor
		node  *cluster.Node // nil on one node (acd.backend memory)
	)
	if cfg.ACD.Backend == "redis" {
		n, rdb, err := startCluster(ctx, cfg, seats, acdCfg, log, reg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		defer n.Close()
		node, floor = n, n
		users.SetShared(n.Users(), log.With("component", "users"))
		usersCtx, stopUsers := context.WithCancel(context.WithoutCancel(ctx))
		usersDone := make(chan struct{})
		go func() { defer close(usersDone); syncUsers(usersCtx, users, log) }()
		defer func() { stopUsers(); <-usersDone }()
		log.Info("one call centre with the other nodes (acd.backend redis)", "advertise_sip", cfg.Cluster.AdvertiseSIP,
			"advertise_http", cfg.Cluster.AdvertiseHTTP, "redis_up", n.Up())
	} else {
		a, err := acd.New(acdCfg, seats, acd.NewMemoryStore())
		if err != nil {
			return err
		}
		defer a.Close()
		floor = a
	}
	reg.MustRegister(newSeatMetrics(floor))
	passwords := map[string]string{}
	seatAlgs := map[string][]string{}
	for _, s := range cfg.Seats {
		passwords[s.ID] = s.Password
		seatAlgs[s.ID] = s.DigestAlgorithms // defaults to sip.digest_algorithms
	}
	bans, err := newSQLBans(ctx, db)
	if err != nil {
		return err
	}
	var bindings sip.Bindings // nil: the registrar's own, in memory
	var peers *clusterPeers
	if node != nil {
		bindings = node.Bindings()
		peers = newClusterPeers(node)
		go peers.run(ctx, 2*time.Second)
	}
	registrar, err := sip.NewRegistrar(sip.RegistrarConfig{
		Realm:          cfg.SIP.Domain,
		Node:           cfg.NodeID,
		Bindings:       bindings,
		Credentials:    func(u string) (string, bool) { p, ok := passwords[u]; return p, ok },
		MaxExpires:     cfg.SIP.MaxRegisterExpires.D(),
		AuthFailLimit:  cfg.SIP.AuthFailLimit,
		AuthFailWindow: cfg.SIP.AuthFailWindow.D(),
		AuthFailBan:    cfg.SIP.AuthFailBan.D(),
		NoBan:          cfg.SIP.NoBanPrefixes(),
		Algorithms:     cfg.SIP.DigestAlgorithms,
		SeatAlgorithms: seatAlgs,
		BanStore:       bans,
		OnChange: func(seat string, up bool) {
			var err error
			if up {
				err = floor.SeatRegistered(agent.SeatID(seat))
			} else {
				err = floor.SeatUnregistered(agent.SeatID(seat))
			}
			if err != nil {
				log.Warn("acd: seat registration change", "seat", seat, "registered", up, "error", err)
			}
		},
	}, log.With("component", "registrar"), reg)
	if err != nil {
		return err
	}
	defer registrar.Close()
	dialer := &seatDialer{reg: registrar, node: node, fullID: cfg.ACD.CallerID == "full", menu: menu, greenNote: "[绿色通道]"}

	recRoot := RecordingsDir(cfg)
	retentionCtx, stopRetention := context.WithCancel(context.WithoutCancel(ctx))
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		runRetention(retentionCtx, tickets, recRoot, cfg.Recordings.RetentionDays, log)
	}()
	defer func() { stopRetention(); <-retentionDone }()
	svc := &call.Service{
		Tickets:        storage.backlog,
		Media:          &mediaFactory{engine: engine, codecs: codecs, prompts: prompts, advertise: advertise, log: log, srtp: srtpSeats(cfg)},
		Menu:           menu,
		ACD:            distributor{a: floor},
		Dialer:         dialer,
		HotlineNumbers: cfg.SIP.HotlineNumbers,
		Metrics:        callMetrics,
		Now:            time.Now,
		Log:            log,
	}
	if cfg.Recordings.Enabled {
		svc.RecordingPath = func(id ticket.ID, opened time.Time) string {
			return recordings.Path(recRoot, id, opened.In(loc))
		}
	}

	trusted := make([]netip.Prefix, 0, len(cfg.SIP.TrustedSources))
	for _, s := range cfg.SIP.TrustedSources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("app: sip.trusted_sources: %w", err)
		}
		trusted = append(trusted, p)
	}
	sipSrv, err := sip.New(sip.Config{
		Listen:         cfg.SIP.Listen,
		TLSCert:        cfg.SIP.TLSCert,
		TLSKey:         cfg.SIP.TLSKey,
		Domain:         cfg.SIP.Domain,
		TrustedSources: trusted,
		AdvertiseHost:  cfg.Media.RTPIP,
		SessionExpires: cfg.SIP.SessionExpires.D(),
		Registrar:      registrar,
		Cluster:        sipCluster(cfg, peers),
		Unavailable:    storage.unavailable,
		Limits: sip.Limits{
			MaxMessageSize:    cfg.SIP.MaxMessageSize,
			TCPHeaderTimeout:  cfg.SIP.TCPHeaderTimeout.D(),
			TCPIdleTimeout:    cfg.SIP.TCPIdleTimeout.D(),
			TCPMaxPerSource:   cfg.SIP.TCPMaxPerSource,
			TCPMaxConnections: cfg.SIP.TCPMaxConnections,
			RateLimit:         cfg.SIP.RateLimit.Requests,
			RateWindow:        cfg.SIP.RateLimit.Window.D(),
		},
	}, func(ctx context.Context, c *sip.InboundCall) {
		in := newInbound(c)
		defer in.close()
		svc.Handle(ctx, in)
	}, log.With("component", "sip"), reg)
	if err != nil {
		return err
	}
	if err := sipSrv.Start(); err != nil {
		return err
	}
	defer sipSrv.Close()
	dialer.srv = sipSrv
	go reloadOnHangup(ctx, sipSrv, log)

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("app: http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	var draining sync.Once
	drainingFlag := make(chan struct{})
	// The console's live events (GET /api/events), fed by the ACD and the tickets.
	hubOpt := web.HubOptions{Changes: floor.Subscribe, Floor: floor, Tickets: tickets, Node: cfg.NodeID, Log: log.With("component", "events")}
	webOpt := web.Options{NodeID: cfg.NodeID}
	if node != nil {
		wc := webCluster{node}
		secret := []byte(cfg.Cluster.Secret)
		hubOpt.Lookup = web.NewClusterLookup(tickets, wc, web.NewPeerClient(cfg.NodeID, secret), 0, log.With("component", "events"))
		webOpt.Cluster, webOpt.ClusterSecret, webOpt.Degraded = wc, secret, node.Degraded
	}
	events := web.NewHub(hubOpt)
	if node != nil {
		relayRevisions(node, tickets, events, log)
	}
	webSrv := web.New(web.Options{
		NodeID:         webOpt.NodeID,
		Cluster:        webOpt.Cluster,
		ClusterSecret:  webOpt.ClusterSecret,
		Degraded:       storage.degraded(webOpt.Degraded),
		Unavailable:    storage.unavailable,
		SessionTTL:     cfg.HTTP.SessionTTL.D(),
		SecureCookie:   cfg.HTTP.SecureCookie,
		TrustedProxies: cfg.HTTP.TrustedProxyPrefixes(),
		RecordingPath: func(t *ticket.Ticket) string {
			return recordings.Path(recRoot, t.ID, t.OpenedAt.In(loc))
		},
		Floor:          floor,
		Events:         events,
		FeedbackSecret: []byte(cfg.Workorder.FeedbackKey()),
		WakeOutbox:     outbox.wake,
		Stats: stats.New(db, stats.Config{Location: loc, ServiceLevelSeconds: cfg.ACD.ServiceLevelSeconds, ShortAbandonSeconds: cfg.ACD.ShortAbandonSeconds,
			WrapUp: cfg.ACD.WrapUp.D(), Seats: len(cfg.Seats), Queues: queues, GeneralQueue: string(menu.General.Category)}),
		Ready: func() bool {
			select {
			case <-drainingFlag:
				return false
			default:
				return true
			}
		},
	}, users, tickets, reg, log.With("component", "web"))
	pruneCtx, stopPrune := context.WithCancel(context.WithoutCancel(ctx))
	pruneDone := make(chan struct{})
	go func() { defer close(pruneDone); pruneSessions(pruneCtx, users, sessionPruneEvery, log) }()
	defer func() { stopPrune(); <-pruneDone }()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	httpDone := make(chan error, 1)
	go func() { httpDone <- web.Serve(httpCtx, ln, webSrv, log) }()
	// The live streams never go idle: end them before the HTTP server waits for idle connections.
	defer func() { events.Close(); stopHTTP(); <-httpDone }()

	addrs := sipSrv.Addrs()
	ready := Ready{HTTP: ln.Addr().String(), PID: os.Getpid()}
	if a, ok := addrs["udp"]; ok {
		ready.SIPUDP = a.String()
	}
	if a, ok := addrs["tcp"]; ok {
		ready.SIPTCP = a.String()
	}
	if a, ok := addrs["tls"]; ok {
		ready.SIPTLS = a.String()
	}
	log.Info("hotline serving", "node_id", cfg.NodeID, "sip_udp", ready.SIPUDP, "sip_tcp", ready.SIPTCP, "sip_tls", ready.SIPTLS,
		"http", ready.HTTP, "data_dir", cfg.DataDir, "numbers", strings.Join(cfg.SIP.HotlineNumbers, ","))
	if opt.ReadyFile != "" {
		if err := writeReady(opt.ReadyFile, ready); err != nil {
			return err
		}
	}

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		httpDone <- err
		return err
	}

	// Graceful stop (SPEC §2): refuse new calls, let calls finish.
	draining.Do(func() { close(drainingFlag) })
	sipSrv.Drain()
	grace := cfg.Shutdown.Grace.D()
	log.Info("shutting down: no new calls; waiting for calls in progress", "calls", sipSrv.ActiveCalls(), "grace", grace.String())
	wctx, cancel := context.WithTimeout(context.Background(), grace)
	err = sipSrv.Wait(wctx)
	cancel()
	if err != nil {
		log.Warn("grace period over: ending the remaining calls", "calls", sipSrv.ActiveCalls())
	}
	// Close cancels what is left (tickets say "interrupted") and waits.
	if err := sipSrv.Close(); err != nil {
		log.Debug("sip close", "error", err)
	}
	if node != nil {
		// Drained: no more work for this node or the seats registered
		// through it, until it comes back (SPEC §11, rolling upgrade).
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := node.Leave(lctx); err != nil {
			log.Warn("cluster: leave", "error", err)
		}
		lcancel()
	}
	if lost := storage.stop(); lost > 0 {
		log.Error("ticket writes lost: the database did not take them before the end", "writes", lost)
	}
	// Flush the outbox: the last revisions of the calls just ended, and
	// anything waiting on a backoff, get one more try (SPEC §2).
	stopOutbox()
	<-outboxDone
	fctx, fcancel := context.WithTimeout(context.Background(), outboxFlushTimeout)
	left := outbox.flush(fctx)
	fcancel()
	log.Info("hotline stopped", "outbox_pending", left)
	return nil
}

func writeReady(path string, r Ready) error {
	b, _ := json.Marshal(r)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("app: ready file: %w", err)
	}
	return os.Rename(tmp, path)
}

// warnDefaults warns loudly about secrets left at the fallback written in
// the config file (seat passwords): fine for a first try, not for real calls.
func warnDefaults(cfg *config.Config, log *slog.Logger) {
	if keys := DefaultedSecrets(cfg); len(keys) > 0 {
		log.Warn("!!! INSECURE: these keys use the default written in the config file because their environment variable is not set; anyone who has read the file can register as a seat. Set them before taking real calls.",
			"keys", strings.Join(keys, ", "))
	}
	for _, w := range SecurityWarnings(cfg) {
		log.Warn(w)
	}
}

// reloadOnHangup reads the TLS certificate again on SIGHUP (renewed by
// certbot or the PKI: new connections get it, none is dropped). Catching
// SIGHUP also means a closed terminal no longer ends a hotline that was
// started by hand.
func reloadOnHangup(ctx context.Context, srv *sip.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		switch notAfter, err := srv.ReloadTLS(); {
		case err != nil:
			log.Error("SIGHUP: TLS certificate not reloaded; the one in use stays", "error", err)
		case notAfter.IsZero():
			log.Info("SIGHUP: no tls:// listener, nothing to reload")
		default:
			log.Info("SIGHUP: TLS certificate reloaded", "not_after", notAfter.UTC().Format(time.RFC3339))
		}
	}
}

// SecurityWarnings are settings that work but are weaker than they should
// be, said at start and by check-config.
func SecurityWarnings(cfg *config.Config) []string {
	var out []string
	if cfg.Workorder.Secret != "" && cfg.Workorder.FeedbackSecret == "" {
		out = append(out, "workorder.feedback_secret is not set: workorder.secret also verifies the work-order system's feedback, "+
			"so one key signs both directions (whoever can check our pushes can forge feedback); give the feedback its own key")
	}
	return out
}

// DefaultedSecrets are the passwords and secrets that took the fallback
// written in the config file (their environment variable unset) and are in
// use: a work-order secret without a work-order URL, or a cluster secret on
// a node alone, is not.
func DefaultedSecrets(cfg *config.Config) []string {
	var keys []string
	for _, k := range cfg.Defaulted {
		switch {
		case k == "workorder.secret" && cfg.Workorder.URL == "":
		case k == "workorder.feedback_secret" && cfg.Workorder.FeedbackSecret == "":
			// Left empty: workorder.secret verifies feedback (SecurityWarnings says so).
		case strings.HasPrefix(k, "cluster.") && cfg.ACD.Backend != "redis":
		case strings.Contains(k, "password") || strings.Contains(k, "secret"):
			keys = append(keys, k)
		}
	}
	return keys
}

// closeInterrupted closes the tickets of calls that were in progress when the
// previous process died: their calls are gone, and saying so is honest.
func closeInterrupted(ctx context.Context, tickets *ticket.Store, log *slog.Logger) error {
	open, err := tickets.OpenTickets(ctx)
	if err != nil {
		return err
	}
	for _, t := range open {
		_, err := tickets.Update(ctx, t.ID, func(t *ticket.Ticket) error {
			now := time.Now()
			t.Status, t.Outcome, t.EndReason = vocab.StatusClosed, vocab.OutcomeInterrupted, "process_restart"
			if t.EndedAt == nil {
				t.EndedAt = ticket.TimePtr(now)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(open) > 0 {
		log.Warn("closed the tickets of calls cut by the previous stop", "tickets", len(open), "outcome", vocab.OutcomeInterrupted)
	}
	return nil
}

// loadIVR reads the menu and finds the prompt directory. A path left at its
// shipped default that does not exist on disk falls back to the copy inside
// the binary, so `hotline` runs from anywhere (and in a scratch container).
func loadIVR(cfg *config.Config) (*ivr.Menu, fs.FS, error) {
	menuPath := cfg.IVR.Menu
	if _, err := os.Stat(menuPath); err != nil && menuPath == "configs/ivr.yaml" {
		menuPath = ""
	}
	menu, err := config.LoadMenuFile(menuPath)
	if err != nil {
		return nil, nil, err
	}
	menu.Queue.PositionEvery = cfg.ACD.PositionEvery.D()
	var pfs fs.FS
	if st, err := os.Stat(cfg.IVR.Prompts); err == nil && st.IsDir() {
		pfs = os.DirFS(cfg.IVR.Prompts)
	} else if cfg.IVR.Prompts == "configs/prompts/zh" {
		pfs = configs.PromptsZH()
	} else {
		return nil, nil, fmt.Errorf("app: ivr.prompts: %s is not a directory", cfg.IVR.Prompts)
	}
	has := func(name string) bool {
		if ivr.IsTone(name) {
			return true
		}
		_, err := fs.Stat(pfs, name+".wav")
		return err == nil
	}
	if errs := menu.Validate(has); len(errs) > 0 {
		return nil, nil, fmt.Errorf("app: ivr menu: %w", errors.Join(errs...))
	}
	return menu, pfs, nil
}

// loadPrompts decodes and pre-encodes every prompt once, at start.
func loadPrompts(pfs fs.FS) (map[string]*media.Prompt, error) {
	out := map[string]*media.Prompt{}
	entries, err := fs.ReadDir(pfs, ".")
	if err != nil {
		return nil, fmt.Errorf("app: prompts: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wav")
		if !ok || e.IsDir() {
			continue
		}
		p, err := media.LoadPromptWAV(pfs, e.Name())
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	// The voicemail beep: 1 kHz, 400 ms (ITU-T E.180 tones are 400-450 Hz;
	// answering machines customarily beep higher).
	out[ivr.Beep] = media.Tone(ivr.Beep, 1000, 400*time.Millisecond, 0.3)
	// Ringback while a seat rings: 450 Hz, 1 s on, 4 s off (China, YD/T 1970).
	on := media.Tone(call.Ringback, 450, time.Second, 0.2).PCM()
	out[call.Ringback] = media.NewPrompt(call.Ringback, append(append([]int16(nil), on...), make([]int16, 4*8000)...))
	return out, nil
}

func newEngine(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*media.Engine, error) {
	bind, err := netip.ParseAddr(cfg.Media.BindIP)
	if err != nil {
		return nil, fmt.Errorf("app: media.bind_ip: %w", err)
	}
	var lo, hi int
	if _, err := fmt.Sscanf(cfg.Media.RTPPorts, "%d-%d", &lo, &hi); err != nil {
		return nil, fmt.Errorf("app: media.rtp_ports: %w", err)
	}
	return media.NewEngine(media.Config{
		BindIP:      bind,
		PortMin:     lo,
		PortMax:     hi,
		Inactivity:  cfg.Media.RTPTimeout.D(),
		PacerShards: cfg.Media.PacerShards,
	}, log.With("component", "media"), reg)
}

// CheckTLS loads the certificate a tls:// listener would present, as
// serve does; a certificate that expires within 30 days is a warning.
func CheckTLS(cfg *config.Config, now time.Time) (warning string, err error) {
	if !cfg.SIP.HasTLS() {
		return "", nil
	}
	c, err := sip.LoadTLSCertificate(cfg.SIP.TLSCert, cfg.SIP.TLSKey)
	if err != nil {
		return "", err
	}
	if c.Leaf != nil {
		if left := c.Leaf.NotAfter.Sub(now); left < 30*24*time.Hour {
			return fmt.Sprintf("sip.tls_cert %s expires %s (in %.0f days): renew it and send the hotline SIGHUP",
				cfg.SIP.TLSCert, c.Leaf.NotAfter.UTC().Format(time.RFC3339), left.Hours()/24), nil
		}
	}
	return "", nil
}

// CheckIVR loads the menu and prompts the configuration names, as serve
// would, for check-config.
func CheckIVR(cfg *config.Config) error {
	_, pfs, err := loadIVR(cfg)
	if err != nil {
		return err
	}
	_, err = loadPrompts(pfs)
	return err
}
