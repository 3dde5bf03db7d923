package adapt

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/web"
)

// ClusterPeers are the addresses of the cluster's nodes (the hosts of
// their cluster.advertise_sip, as the shared state lists them), refreshed
// every few seconds: the SIP guard exempts their links from the limits for
// untrusted sources, which a node forwarding a busy centre's calls would
// otherwise hit (sip.rate_limit is 16 requests per 2 s).
type ClusterPeers struct {
	n   *cluster.Node
	set atomic.Pointer[map[netip.Addr]bool]
}

func NewClusterPeers(n *cluster.Node) *ClusterPeers {
	p := &ClusterPeers{n: n}
	p.set.Store(&map[netip.Addr]bool{})
	return p
}

func (p *ClusterPeers) Has(ip netip.Addr) bool { return (*p.set.Load())[ip] }

// Run refreshes the set until ctx ends; while Redis is down the last set stays.
func (p *ClusterPeers) Run(ctx context.Context, every time.Duration) {
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

func (p *ClusterPeers) refresh(ctx context.Context) {
	nodes, err := p.n.Nodes(ctx)
	if err != nil {
		return
	}
	set := make(map[netip.Addr]bool, len(nodes))
	for _, s := range nodes {
		if ip, ok := SIPHostIP(s.SIP); ok && s.Alive {
			set[ip] = true
		}
	}
	p.set.Store(&set)
}

// SIPHostIP is the IP address of a SIP URI's host ("sip:10.0.0.11:5060;transport=tcp").
func SIPHostIP(uri string) (netip.Addr, bool) {
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

// WebCluster shows the cluster to the console (web.Cluster).
type WebCluster struct{ Node *cluster.Node }

func (w WebCluster) Self() string { return w.Node.Self() }

func (w WebCluster) Nodes(ctx context.Context) ([]web.NodeStatus, error) {
	nodes, err := w.Node.Nodes(ctx)
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

// RelayRevisions carries this node's ticket revisions to the other nodes'
// consoles, without the caller's number and the summary (personal data
// stays in this node's database), and hands theirs to this node's hub.
func RelayRevisions(node *cluster.Node, tickets *ticket.Store, hub *web.Hub, log *slog.Logger) {
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
