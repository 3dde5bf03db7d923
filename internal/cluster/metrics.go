package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	redisUp        prometheus.Gauge
	claims         *prometheus.CounterVec
	unreplicated   prometheus.Counter
	ticketsDropped prometheus.Counter
}

// Claim results, the label values of hotline_acd_claims_total{result}.
var claimResults = []string{
	"offered",    // a call offered to a seat (the claim)
	"stale",      // a report carrying an offer token that is no longer current, refused
	"reasserted", // an offer, call or registration the shared state had lost, restored
	"conflict",   // a re-asserted offer that lost to a newer one
}

func newMetrics(n *Node, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hotline_redis_up",
			Help: "1 when this node reaches the shared state in Redis (SPEC §11), else 0."}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_claims_total",
			Help: "Claims (call offered to a seat) made by this node's steps, and refusals and repairs of them, by result."}, []string{"result"}),
		unreplicated: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_redis_unreplicated_writes_total",
			Help: "Writes that no replica acknowledged within the WAIT timeout (Sentinel deployments)."}),
		ticketsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_cluster_ticket_events_dropped_total",
			Help: "Ticket revisions not carried to the other nodes' consoles (buffer full or Redis unreachable)."}),
	}
	for _, r := range claimResults {
		m.claims.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.redisUp, m.claims, m.unreplicated, m.ticketsDropped, &nodesCollector{n: n}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cluster: metrics: %w", err)
		}
	}
	return m, nil
}

// nodesCollector is hotline_cluster_nodes{state}, read from the shared
// state at scrape time; every state is always present.
type nodesCollector struct{ n *Node }

var nodesDesc = prometheus.NewDesc("hotline_cluster_nodes",
	"Nodes of the cluster by state (alive, suspect, leaving: drained and stopping, away: left gracefully and expected back, dead) as this node sees them.", []string{"state"}, nil)

func (c *nodesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nodesDesc }

func (c *nodesCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{"alive": 0, "suspect": 0, "leaving": 0, "away": 0, "dead": 0}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if nodes, err := c.n.Nodes(ctx); err == nil {
		for _, s := range nodes {
			counts[s.State]++
		}
	}
	for st, v := range counts {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(v), st)
	}
}
