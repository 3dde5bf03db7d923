package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/hotline12348/hotline/internal/ticket"
)

// TicketLookup finds tickets for the screen-pop: the offered call's ticket
// and the caller's earlier ones. Tickets come whole (caller's number
// included); the hub masks them for each console.
type TicketLookup interface {
	// Get returns one ticket (ticket.ErrNotFound when there is none).
	Get(ctx context.Context, id string) (*ticket.Ticket, error)
	// History returns the caller's tickets opened since, newest first, at
	// most limit.
	History(ctx context.Context, caller string, since time.Time, limit int) ([]*ticket.Ticket, error)
}

// LocalLookup looks in this node's ticket store only (one node).
type LocalLookup struct{ Tickets *ticket.Store }

// Get implements TicketLookup.
func (l LocalLookup) Get(ctx context.Context, id string) (*ticket.Ticket, error) {
	return l.Tickets.Get(ctx, id)
}

// History implements TicketLookup.
func (l LocalLookup) History(ctx context.Context, caller string, since time.Time, limit int) ([]*ticket.Ticket, error) {
	return l.Tickets.List(ctx, ticket.Filter{Caller: caller, From: since, Limit: limit})
}

// ClusterLookup looks on every node: the ticket on the node its id names,
// the history on all live nodes (a node that does not answer within the
// timeout is left out, and logged: the history is a help, not a must).
type ClusterLookup struct {
	local LocalLookup
	fan   *fanout
}

// NewClusterLookup returns the lookup of a node of cluster c; client signs
// its requests (NewPeerClient(c.Self(), cluster.secret)); timeout bounds
// each other node's answer [DefaultPeerTimeout].
func NewClusterLookup(local *ticket.Store, c Cluster, client *PeerClient, timeout time.Duration, log *slog.Logger) *ClusterLookup {
	if timeout <= 0 {
		timeout = DefaultPeerTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClusterLookup{local: LocalLookup{local}, fan: &fanout{cluster: c, client: client, timeout: timeout, log: log}}
}

// Get implements TicketLookup.
func (l *ClusterLookup) Get(ctx context.Context, id string) (*ticket.Ticket, error) {
	t, err := l.local.Get(ctx, id)
	node := TicketNode(id)
	self := l.fan.cluster.Self()
	if err == nil || !errors.Is(err, ticket.ErrNotFound) || node == "" || node == self {
		return t, err
	}
	nodes, err := l.fan.cluster.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: ticket %s: list of nodes: %w", id, err)
	}
	for _, n := range nodes {
		if n.ID != node {
			continue
		}
		if !n.Alive || n.HTTP == "" {
			return nil, fmt.Errorf("web: ticket %s: node %s is not alive", id, node)
		}
		cctx, cancel := context.WithTimeout(ctx, l.fan.timeout)
		defer cancel()
		var t ticket.Ticket
		if err := l.fan.client.GetJSON(cctx, n.HTTP, "/api/tickets/"+url.PathEscape(id)+"?scope=node", systemUser(self), &t); err != nil {
			var pe *PeerError
			if errors.As(err, &pe) && pe.Status == 404 {
				return nil, fmt.Errorf("web: ticket %s on node %s: %w", id, node, ticket.ErrNotFound)
			}
			return nil, fmt.Errorf("web: ticket %s on node %s: %w", id, node, err)
		}
		return &t, nil
	}
	return nil, fmt.Errorf("web: ticket %s: node %s unknown", id, node)
}

// History implements TicketLookup.
func (l *ClusterLookup) History(ctx context.Context, caller string, since time.Time, limit int) ([]*ticket.Ticket, error) {
	list, err := l.local.History(ctx, caller, since, limit)
	if err != nil {
		return nil, err
	}
	q := url.Values{"caller": {caller}, "from": {since.Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(limit)}}
	peers, _ := fanGet[ticketsReply](ctx, l.fan, systemUser(l.fan.cluster.Self()), "/api/tickets", q)
	all := make([]rawTicket, 0, len(list))
	byID := map[string]*ticket.Ticket{}
	for _, t := range list {
		all = append(all, rawTicket{id: t.ID, at: t.OpenedAt})
		byID[t.ID] = t
	}
	for node, rep := range peers {
		for _, raw := range rep.Tickets {
			var t ticket.Ticket
			if err := json.Unmarshal(raw, &t); err != nil {
				l.fan.log.Warn("cluster: node's ticket undecodable", "node", node, "error", err)
				continue
			}
			if _, dup := byID[t.ID]; dup {
				continue
			}
			byID[t.ID] = &t
			all = append(all, rawTicket{id: t.ID, at: t.OpenedAt})
		}
	}
	newestFirst(all)
	if len(all) > limit {
		all = all[:limit]
	}
	out := make([]*ticket.Ticket, len(all))
	for i, r := range all {
		out[i] = byID[r.id]
	}
	return out, nil
}
