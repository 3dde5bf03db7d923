package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/sip"
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
func sipCluster(cfg *config.Config, peers *adapt.ClusterPeers) *sip.ClusterConfig {
	if cfg.ACD.Backend != "redis" {
		return nil
	}
	c := &sip.ClusterConfig{Secret: []byte(cfg.Cluster.Secret), Advertise: cfg.Cluster.AdvertiseSIP}
	if peers != nil {
		c.Peer = peers.Has
	}
	return c
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
