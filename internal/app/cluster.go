package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/web"
)

// RedisClient connects to the configured Redis (acd.redis_url or
// acd.redis_sentinel).
func RedisClient(cfg *config.Config) (redis.UniversalClient, error) {
	rc := cluster.RedisConfig{URL: cfg.ACD.RedisURL}
	if s := cfg.ACD.RedisSentinel; s.Master != "" {
		rc.Sentinel = cluster.SentinelConfig{Master: s.Master, Addrs: s.Addrs, Password: s.Password, DB: s.DB}
	}
	return cluster.NewClient(rc)
}

// startCluster connects this node to the others (SPEC §11): the shared
// ACD, registrations and node list in Redis. Redis being down at start is
// not fatal: the node serves degraded (new callers get voicemail) and
// joins when Redis answers.
func startCluster(ctx context.Context, cfg *config.Config, seats []agent.Seat, acdCfg acd.Config, log *slog.Logger, reg prometheus.Registerer) (*cluster.Node, redis.UniversalClient, error) {
	wait := 0
	if cfg.ACD.RedisSentinel.Master != "" {
		wait = 1 // a Sentinel master has a replica: WAIT for it after every write
	}
	rdb, err := RedisClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	node, err := cluster.Start(ctx, rdb, cluster.Options{
		NodeID: cfg.NodeID, AdvertiseSIP: cfg.Cluster.AdvertiseSIP, AdvertiseHTTP: cfg.Cluster.AdvertiseHTTP,
		Heartbeat: cfg.Cluster.Heartbeat.D(), NodeTimeout: cfg.Cluster.NodeTimeout.D(),
		ACD: acdCfg, Seats: seats, WaitReplicas: wait,
		Log: log.With("component", "cluster"), Registerer: reg,
	})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return node, rdb, nil
}

// sipCluster is the signalling side of the cluster: this node forwards the
// requests of calls on other nodes to the seats registered through it.
func sipCluster(cfg *config.Config, peers *clusterPeers) *sip.ClusterConfig {
	if cfg.ACD.Backend != "redis" {
		return nil
	}
	c := &sip.ClusterConfig{Secret: []byte(cfg.Cluster.Secret), Advertise: cfg.Cluster.AdvertiseSIP}
	if peers != nil {
		c.Peer = peers.has
	}
	return c
}

// clusterPeers are the addresses of the cluster's nodes (the hosts of
// their cluster.advertise_sip, as the shared state lists them), refreshed
// every few seconds: the SIP guard exempts their links from the limits for
// untrusted sources, which a node forwarding a busy centre's calls would
// otherwise hit (sip.rate_limit is 16 requests per 2 s).
type clusterPeers struct {
	n   *cluster.Node
	set atomic.Pointer[map[netip.Addr]bool]
}

func newClusterPeers(n *cluster.Node) *clusterPeers {
	p := &clusterPeers{n: n}
	p.set.Store(&map[netip.Addr]bool{})
	return p
}

func (p *clusterPeers) has(ip netip.Addr) bool { return (*p.set.Load())[ip] }

// run refreshes the set until ctx ends; while Redis is down the last set stays.
func (p *clusterPeers) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *clusterPeers) refresh(ctx context.Context) {
	nodes, err := p.n.Nodes(ctx)
	if err != nil {
		return
	}
	set := make(map[netip.Addr]bool, len(nodes))
	for _, s := range nodes {
		if ip, ok := sipHostIP(s.SIP); ok && s.Alive {
			set[ip] = true
		}
	}
	p.set.Store(&set)
}

// sipHostIP is the IP address of a SIP URI's host ("sip:10.0.0.11:5060;transport=tcp").
func sipHostIP(uri string) (netip.Addr, bool) {
	var u sipgosip.Uri
	if err := sipgosip.ParseUri(uri, &u); err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// webCluster shows the cluster to the console (web.Cluster).
type webCluster struct{ n *cluster.Node }

func (w webCluster) Self() string { return w.n.Self() }

func (w webCluster) Nodes(ctx context.Context) ([]web.NodeStatus, error) {
	nodes, err := w.n.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.NodeStatus, len(nodes))
	for i, s := range nodes {
		out[i] = web.NodeStatus{ID: s.ID, Alive: s.Alive, State: s.State, LastSeen: s.LastSeen, Calls: s.Calls,
			SeatsVia: s.SeatsVia, HTTP: s.HTTP, SIP: s.SIP}
	}
	return out, nil
}

// relayRevisions carries this node's ticket revisions to the other nodes'
// consoles, without the caller's number and the summary (personal data
// stays in this node's database), and hands theirs to this node's hub.
func relayRevisions(node *cluster.Node, tickets *ticket.Store, hub *web.Hub, log *slog.Logger) {
	tickets.OnRevision(func(t *ticket.Ticket, event string) {
		c := *t
		c.Caller, c.Summary = "", ""
		b, err := json.Marshal(&c)
		if err != nil {
			return
		}
		node.PublishRevision(cluster.TicketEvent{Event: event, Ticket: b})
	})
	node.OnRemoteRevision(func(ev cluster.TicketEvent) {
		var t ticket.Ticket
		if err := json.Unmarshal(ev.Ticket, &t); err != nil {
			log.Debug("cluster: unreadable ticket revision", "node", ev.Node, "error", err)
			return
		}
		hub.RemoteRevision(&t, ev.Event)
	})
}

// userSyncEvery: how often a node pushes its console users to the shared
// store and takes the others' (a user added with `hotline user add` on one
// node can log in on all of them within this time).
const userSyncEvery = 30 * time.Second

// syncUsers keeps console users the same on every node until ctx ends.
func syncUsers(ctx context.Context, users *auth.Store, log *slog.Logger) {
	t := time.NewTicker(userSyncEvery)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := users.SyncUsers(sctx); err != nil && ctx.Err() == nil {
			log.Debug("cluster: user sync", "error", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
