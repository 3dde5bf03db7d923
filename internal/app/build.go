package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/callback"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"
)

// parts are what one stage of build hands to the next.
type parts struct {
	// sup: managers' supervision of connected calls (SPEC §9a).
	sup     *call.Supervision
	db      *store.DB
	reg     *prometheus.Registry
	loc     *time.Location
	tickets *ticket.Store
	users   *auth.Store
	menu    *ivr.Menu
	prompts map[string]*media.Prompt
	engine  *media.Engine
	rtpIP   netip.Addr // media.rtp_ip, written in our SDP
	calls   *call.Metrics
	floor   acd.Floor
	queues  []string
	recRoot string
	service *call.Service // the calls (call control from the console)

	transfers *call.Transfers // buildSIP makes it, the API uses it
	// callbacks: the callback worklist's calls (buildcallback.go).
	callbacks *callback.Service
}

// build makes every part in order and adds its undoing to h.steps; on an
// error, what was made so far is undone by shutdown.
func (h *hotline) build(ctx context.Context) error {
	warnDefaults(h.cfg, h.log)
	// What Check asks of this machine, for callers of Run that did not
	// run Check (hotline demo, tests); the files are read below anyway.
	if err := errors.Join(checkMachine(h.cfg)...); err != nil {
		return err
	}
	p := &parts{loc: Location(h.cfg), reg: prometheus.NewRegistry(), recRoot: RecordingsDir(h.cfg)}
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := h.buildStore(ctx, p); err != nil {
		return err
	}
	if err := h.buildMedia(p); err != nil {
		return err
	}
	if err := h.buildFloor(ctx, p); err != nil {
		return err
	}
	if err := h.buildSIP(ctx, p); err != nil {
		return err
	}
	return h.buildHTTP(ctx, p)
}

// buildStore opens the database, closes the tickets of calls the previous
// process cut, and starts the outbox.
func (h *hotline) buildStore(ctx context.Context, p *parts) error {
	cfg, log := h.cfg, h.log
	db, err := store.Open(ctx, DBPath(cfg))
	if err != nil {
		return err
	}
	h.steps.add("database", db.Close)
	p.db = db
	p.tickets = ticket.NewStore(db, cfg.NodeID, p.loc, nil)
	p.tickets.SetCallbackPolicy(callbackPolicy(cfg))
	p.users = auth.NewStore(db, nil)
	if err := closeInterrupted(ctx, p.tickets, log); err != nil {
		return err
	}
	st, err := startStorage(ctx, cfg, db, p.tickets, log, p.reg)
	if err != nil {
		return err
	}
	h.storage = st
	h.stopStore = h.steps.add("ticket backlog", func() error {
		if lost := st.stop(); lost > 0 {
			return fmt.Errorf("ticket writes lost: the database did not take %d before the end", lost)
		}
		return nil
	})
	outbox, err := adapt.NewOutbox(cfg, p.tickets, log, p.reg)
	if err != nil {
		return err
	}
	h.outbox = outbox
	h.stopOutbox = h.goUntil(ctx, "outbox", outbox.Run)
	if n, err := p.users.Count(ctx); err == nil && n == 0 {
		log.Warn("no console users yet: create one with `hotline user add --name NAME --role admin` (password on stdin)")
	}
	return nil
}

// goUntil runs fn in a goroutine until its step ends it (cancel, then
// wait). The context is not ctx's: a stop signal does not end fn, the
// shutdown does, in its turn.
func (h *hotline) goUntil(ctx context.Context, name string, fn func(context.Context)) *step {
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); fn(rctx) }()
	return h.steps.add(name, func() error { stop(); <-done; return nil })
}

// buildFloor makes the ACD: in memory on one node, shared in Redis with
// the other nodes (acd.backend redis).
func (h *hotline) buildFloor(ctx context.Context, p *parts) error {
	cfg, log := h.cfg, h.log
	seats, acdCfg := acdSettings(cfg)
	if cfg.ACD.Backend == "redis" {
		n, rdb, err := startCluster(ctx, cfg, seats, acdCfg, log, p.reg)
		if err != nil {
			return err
		}
		h.steps.add("redis", rdb.Close)
		h.steps.add("cluster", n.Close)
		h.node, p.floor = n, n
		p.users.SetShared(n.Users(), log.With("component", "users"))
		h.goUntil(ctx, "user sync", func(ctx context.Context) { syncUsers(ctx, p.users, log) })
		log.Info("one call centre with the other nodes (acd.backend redis)", "advertise_sip", cfg.Cluster.AdvertiseSIP,
			"advertise_http", cfg.Cluster.AdvertiseHTTP, "redis_up", n.Up())
	} else {
		a, err := acd.New(acdCfg, seats, acd.NewMemoryStore())
		if err != nil {
			return err
		}
		h.steps.add("acd", a.Close)
		p.floor = a
	}
	p.reg.MustRegister(adapt.NewSeatMetrics(p.floor))
	return nil
}

// buildMedia loads the menu and prompts and makes the media engine.
func (h *hotline) buildMedia(p *parts) error {
	cfg, log := h.cfg, h.log
	menu, promptFS, err := loadIVR(cfg)
	if err != nil {
		return err
	}
	p.menu = menu
	if p.prompts, err = loadPrompts(promptFS); err != nil {
		return err
	}
	engine, err := newEngine(cfg, log, p.reg)
	if err != nil {
		return err
	}
	h.steps.add("media", engine.Close)
	p.engine = engine
	if p.rtpIP, err = netip.ParseAddr(cfg.Media.RTPIP); err != nil {
		return fmt.Errorf("app: media.rtp_ip: %w", err)
	}
	for _, c := range ivr.Categories() {
		p.queues = append(p.queues, string(c))
	}
	p.calls, err = call.NewMetrics(p.reg, p.queues)
	return err
}
