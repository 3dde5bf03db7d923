package app

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
	"github.com/hotline12348/hotline/recordings"
)

// buildSIP makes the registrar, the call service and the SIP server, and
// starts it.
func (h *hotline) buildSIP(ctx context.Context, p *parts) error {
	cfg, log := h.cfg, h.log
	registrar, peers, err := h.buildRegistrar(ctx, p)
	if err != nil {
		return err
	}
	dialer := &adapt.SeatDialer{Registrar: registrar, Node: h.node, FullID: cfg.ACD.CallerID == "full", Menu: p.menu, GreenNote: "[" + vocab.Priorities.Label(vocab.PriorityGreen) + "]"}
	h.goUntil(ctx, "retention", func(ctx context.Context) {
		runRetention(ctx, p.tickets, p.recRoot, cfg.Recordings.RetentionDays, log)
	})
	svc := &call.Service{
		Tickets:        h.storage.backlog,
		Media:          &adapt.MediaFactory{Engine: p.engine, Codecs: mediaCodecs(cfg), Prompts: p.prompts, Advertise: p.rtpIP, SRTP: srtpSeats(cfg)},
		Menu:           p.menu,
		ACD:            adapt.Distributor{Floor: p.floor},
		Dialer:         dialer,
		HotlineNumbers: cfg.SIP.HotlineNumbers,
		Metrics:        p.calls,
		Now:            time.Now,
		Log:            log,
	}
	p.service = svc
	trunk := &adapt.TrunkDialer{Trunk: cfg.Transfer.Trunk, CallerID: cfg.Transfer.CallerID}
	if svc.Transfer, err = buildTransfers(cfg, p, trunk); err != nil {
		return err
	}
	if p.sup, err = call.NewSupervision(p.reg); err != nil {
		return err
	}
	p.sup.Media, p.sup.Dialer, p.sup.Log = svc.Media, dialer, log.With("component", "supervision")
	svc.Supervision = p.sup
	if cfg.Recordings.Enabled {
		svc.RecordingPath = func(id ticket.ID, opened time.Time) string {
			return recordings.Path(p.recRoot, id, opened.In(p.loc))
		}
	}
	trusted := make([]netip.Prefix, 0, len(cfg.SIP.TrustedSources))
	for _, s := range cfg.SIP.TrustedSources {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("app: sip.trusted_sources: %w", err)
		}
		trusted = append(trusted, pfx)
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
		Unavailable:    h.storage.unavailable,
		Refer:          adapt.ReferTransfers{X: svc.Transfer},
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
		in := adapt.NewInbound(c)
		defer in.Close()
		svc.Handle(ctx, in)
	}, log.With("component", "sip"), p.reg)
	if err != nil {
		return err
	}
	if err := sipSrv.Start(); err != nil {
		return err
	}
	h.sip = sipSrv
	h.closeSIP = h.steps.add("sip", func() error {
		// Close cancels what is left (tickets say "interrupted") and waits;
		// its errors are the sockets' own, of no use to anyone.
		if err := sipSrv.Close(); err != nil {
			log.Debug("sip close", "error", err)
		}
		return nil
	})
	dialer.Server = sipSrv
	trunk.Server = sipSrv
	p.transfers = svc.Transfer
	h.buildCallbacks(ctx, p, dialer, svc.Media.(*adapt.MediaFactory), trunk, svc.RecordingPath)
	go reloadOnHangup(ctx, sipSrv, log)
	return nil
}

// buildRegistrar makes the SIP registrar of the configured seats, its bans
// kept in the database, its bindings in Redis on a cluster.
func (h *hotline) buildRegistrar(ctx context.Context, p *parts) (*sip.Registrar, *adapt.ClusterPeers, error) {
	cfg, log := h.cfg, h.log
	passwords := map[string]string{}
	seatAlgs := map[string][]string{}
	managerPhones := map[string]bool{} // registered, never on the ACD floor
	for _, s := range cfg.Seats {
		managerPhones[s.ID] = s.IsManager()
		passwords[s.ID] = s.Password
		seatAlgs[s.ID] = s.DigestAlgorithms // defaults to sip.digest_algorithms
	}
	bans, err := adapt.NewSQLBans(ctx, p.db)
	if err != nil {
		return nil, nil, err
	}
	var bindings sip.Bindings // nil: the registrar's own, in memory
	var peers *adapt.ClusterPeers
	if h.node != nil {
		bindings = h.node.Bindings()
		peers = adapt.NewClusterPeers(h.node)
		go peers.Run(ctx, 2*time.Second)
	}
	floor := p.floor
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
			if managerPhones[seat] {
				log.Info("manager phone registration change", "seat", seat, "registered", up)
				return
			}
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
	}, log.With("component", "registrar"), p.reg)
	if err != nil {
		return nil, nil, err
	}
	h.steps.add("registrar", registrar.Close)
	return registrar, peers, nil
}
