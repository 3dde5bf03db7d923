package app

import (
	"context"
	"fmt"
	"net"

	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/stats"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/web"
	"github.com/hotline12348/hotline/recordings"
)

// buildHTTP makes the console, API and live events, and starts serving
// them.
func (h *hotline) buildHTTP(ctx context.Context, p *parts) error {
	cfg, log := h.cfg, h.log
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("app: http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	h.ln = ln
	// The console's live events (GET /api/events), fed by the ACD and the tickets.
	hubOpt := web.HubOptions{Changes: p.floor.Subscribe, Floor: p.floor, Tickets: p.tickets, Node: cfg.NodeID, Log: log.With("component", "events")}
	webOpt := web.Options{NodeID: cfg.NodeID}
	if h.node != nil {
		wc := adapt.WebCluster{Node: h.node}
		secret := []byte(cfg.Cluster.Secret)
		hubOpt.Lookup = web.NewClusterLookup(p.tickets, wc, web.NewPeerClient(cfg.NodeID, secret), 0, log.With("component", "events"))
		webOpt.Cluster, webOpt.ClusterSecret, webOpt.Degraded = wc, secret, h.node.Degraded
	}
	events := web.NewHub(hubOpt)
	if h.node != nil {
		adapt.RelayRevisions(h.node, p.tickets, events, log)
	}
	managerSeats := map[string]bool{}
	for _, st := range cfg.Seats {
		if st.IsManager() {
			managerSeats[st.ID] = true
		}
	}
	webSrv := web.New(web.Options{
		NodeID:         webOpt.NodeID,
		Cluster:        webOpt.Cluster,
		ClusterSecret:  webOpt.ClusterSecret,
		Degraded:       h.storage.degraded(webOpt.Degraded),
		Unavailable:    h.storage.unavailable,
		IVRKeys:        p.menu.KeyLabels(),
		SessionTTL:     cfg.HTTP.SessionTTL.D(),
		SecureCookie:   cfg.HTTP.SecureCookie,
		TrustedProxies: cfg.HTTP.TrustedProxyPrefixes(),
		RecordingPath: func(t *ticket.Ticket) string {
			return recordings.Path(p.recRoot, t.ID, t.OpenedAt.In(p.loc))
		},
		Floor:          p.floor,
		Events:         events,
		FeedbackSecret: []byte(cfg.Workorder.FeedbackKey()),
		WakeOutbox:     h.outbox.Wake,
		Stats: stats.New(p.db, stats.Config{Location: p.loc, ServiceLevelSeconds: cfg.ACD.ServiceLevelSeconds, ShortAbandonSeconds: cfg.ACD.ShortAbandonSeconds,
			WrapUp: cfg.ACD.WrapUp.D(), StaffingTarget: cfg.ACD.TargetServiceLevel, Seats: len(cfg.Seats) - len(managerSeats), Queues: p.queues, GeneralQueue: string(p.menu.General.Category)}),
		Ready:     func() bool { return !h.sip.Draining() },
		Calls:     p.service,
		Transfers: adapt.WebTransfers{X: p.transfers},
		Callbacks: p.callbacks,

		WorkorderConfigured: cfg.Workorder.URL != "", // the wallboard's banner when not
	}, p.users, p.tickets, p.reg, log.With("component", "web"))
	notifyOperator := cfg.Supervision.NotifyOperator
	p.sup.SetNotify(func(n call.MonitorNotice) { events.Monitor(n, notifyOperator) })
	webSrv.SetSupervision(web.SupervisionOptions{Supervisor: p.sup, ManagerSeats: managerSeats})
	h.goUntil(ctx, "session pruning", func(ctx context.Context) { pruneSessions(ctx, p.users, sessionPruneEvery, log) })
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	h.httpDone = make(chan error, 1)
	go func() { h.httpDone <- web.Serve(httpCtx, ln, webSrv, log) }()
	// The live streams never go idle: end them before the HTTP server waits for idle connections.
	h.steps.add("http", func() error { events.Close(); stopHTTP(); <-h.httpDone; return nil })
	return nil
}
