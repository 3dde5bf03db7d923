package cluster

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
)

// TicketEvent is a ticket revision carried to the other nodes' consoles
// (SPEC §11: live events reach every node). Ticket is the ticket's JSON as
// the node that owns it chose to share it: without the caller's number or
// the summary, which never go to Redis.
type TicketEvent struct {
	Node   string          `json:"node"`
	Event  string          `json:"event"`
	Ticket json.RawMessage `json:"ticket"`
}

type revisionOut struct{ ev TicketEvent }

// ticketStreamLen bounds the ticket stream: it is for live consoles, not
// a record (the tickets are in each node's SQLite and the work-order
// system).
const ticketStreamLen = 2000

// PublishRevision sends a revision of one of this node's tickets to the
// other nodes. It never blocks: a revision that finds the buffer full is
// dropped (the consoles re-read the ticket on their next snapshot).
func (n *Node) PublishRevision(ev TicketEvent) {
	ev.Node = n.opt.NodeID
	select {
	case n.revs <- revisionOut{ev}:
	default:
		n.m.ticketsDropped.Inc()
	}
}

// OnRemoteRevision sets the function that receives the revisions of the
// other nodes' tickets (from the reader goroutine; it must not block).
func (n *Node) OnRemoteRevision(fn func(TicketEvent)) {
	n.mu.Lock()
	n.remote = fn
	n.mu.Unlock()
}

func (n *Node) publishRevisions() {
	for {
		select {
		case <-n.stop:
			return
		case r := <-n.revs:
			if !n.Up() {
				n.m.ticketsDropped.Inc()
				continue
			}
			b, _ := json.Marshal(r.ev)
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			err := n.rdb.XAdd(ctx, &redis.XAddArgs{Stream: n.opt.Prefix + ":tick", MaxLen: ticketStreamLen, Approx: true,
				Values: []any{"j", string(b)}}).Err()
			cancel()
			if err != nil {
				n.m.ticketsDropped.Inc()
				if unreachable(err) {
					n.setUp(false, err)
				}
			}
		}
	}
}

func (n *Node) applyTicket(j string) {
	var ev TicketEvent
	if err := json.Unmarshal([]byte(j), &ev); err != nil || ev.Node == n.opt.NodeID {
		return
	}
	n.mu.Lock()
	fn := n.remote
	n.mu.Unlock()
	if fn != nil {
		fn(ev)
	}
}
