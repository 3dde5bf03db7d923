package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/sip"
)

// reconcileEvery: one heartbeat in this many also compares this node's
// calls with the shared state (an offer whose stream entry was lost, a
// call the shared state lost).
const reconcileEvery = 5

func (n *Node) heartbeats() {
	t := time.NewTicker(n.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.opt.Heartbeat+opTimeout)
		if err := n.Heartbeat(ctx); err != nil && !errors.Is(err, acd.ErrUnavailable) {
			n.log.Warn("cluster: heartbeat", "error", err)
		}
		cancel()
	}
}

type mineJSON struct {
	ID   string `json:"id"`
	Seat string `json:"seat"`
	Tok  uint64 `json:"tok"`
}

// Heartbeat tells the cluster this node is alive, reaps nodes that are
// not, and — after Redis was unreachable, the node was reaped or the
// shared state lost — replays what could not be reported and re-asserts
// what this node holds.
func (n *Node) Heartbeat(ctx context.Context) error {
	n.mu.Lock()
	joined, stale, dead := n.joined, n.stale, n.dead
	n.mu.Unlock()
	if dead {
		return nil
	}
	if !joined || stale {
		// Not joined yet (Redis was down at start), or Redis was away:
		// join (again) and re-assert — reassert does both.
		if err := n.rdb.Ping(ctx).Err(); err != nil {
			n.setUp(false, err)
			return fmt.Errorf("cluster: %w: %w", acd.ErrUnavailable, err)
		}
		n.setUp(true, nil)
		n.markStale()
		if err := n.reassert(ctx); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.beats++
	reconcile := n.beats%reconcileEvery == 0
	calls := len(n.calls)
	n.mu.Unlock()
	flag := "0"
	if reconcile {
		flag = "1"
	}
	var res struct {
		Gen  string         `json:"gen"`
		Mine list[mineJSON] `json:"mine"`
	}
	started := time.Now()
	if err := n.run(ctx, "heartbeat", &res, flag, calls); err != nil {
		return err
	}
	n.mu.Lock()
	lost := res.Gen != n.gen
	n.mu.Unlock()
	if lost {
		n.log.Warn("cluster: the shared state was replaced (Redis restarted empty?): re-asserting", "was", n.gen, "now", res.Gen)
		n.markStale()
		return n.reassert(ctx)
	}
	if reconcile {
		n.reconcile(ctx, res.Mine, started)
	}
	return nil
}

// reconcile compares this node's calls with what the shared state says
// they are: an offer whose stream entry this node never read is delivered
// now; a call the shared state lacks is re-asserted.
func (n *Node) reconcile(ctx context.Context, mine []mineJSON, started time.Time) {
	shared := make(map[string]mineJSON, len(mine))
	for _, m := range mine {
		shared[m.ID] = m
	}
	missing := false
	n.mu.Lock()
	for id, c := range n.calls {
		if c.connected || !c.queued {
			continue
		}
		m, ok := shared[id]
		if !ok {
			missing = true
			continue
		}
		if m.Seat != "" && m.Tok > c.lastTok {
			n.log.Warn("cluster: an offer missed on the stream, delivered now", "call_id", id, "seat", m.Seat, "token", m.Tok)
			n.callChangeLocked(change{K: "call_offered", C: &callJSON{ID: id, Seat: m.Seat, Tok: m.Tok, Node: n.opt.NodeID, Boot: n.boot}})
		}
	}
	n.mu.Unlock()
	_ = started
	if missing {
		n.log.Warn("cluster: the shared state lacks calls this node holds: re-asserting")
		n.markStale()
		if err := n.reassert(ctx); err != nil {
			n.log.Warn("cluster: re-assert", "error", err)
		}
	}
}

type assertCall struct {
	ID    string `json:"id"`
	Skill string `json:"sk"`
	Prio  string `json:"pr"`
	Seq   uint64 `json:"seq"`
	Enq   int64  `json:"enq"`
	State string `json:"state"` // waiting | offered | connected
	Seat  string `json:"seat"`
	Tok   uint64 `json:"tok"`
}

type assertArgs struct {
	MaxSeq   uint64        `json:"maxseq"`
	MaxTok   uint64        `json:"maxtok"`
	Bindings []bindingJSON `json:"bindings"`
	Calls    []assertCall  `json:"calls"`
	Seats    []seatFlags   `json:"seats"`
}

// reassert replays the reports kept while Redis was unreachable, then
// merges everything this node holds into the shared state (see the
// package comment and ops.assert in acd.lua).
func (n *Node) reassert(ctx context.Context) error {
	n.assertMu.Lock()
	defer n.assertMu.Unlock()
	n.mu.Lock()
	if !n.stale {
		n.mu.Unlock()
		return nil
	}
	pending := n.pending
	n.pending = nil
	n.mu.Unlock()
	if err := n.rdb.Ping(ctx).Err(); err != nil {
		n.requeue(pending)
		n.setUp(false, err)
		return fmt.Errorf("cluster: re-assert: %w: %w", acd.ErrUnavailable, err)
	}
	// Join again first: a lost shared state has no generation, no seats
	// and no record of this node (join makes them; on a state that has
	// them it changes nothing but this node's record).
	n.mu.Lock()
	oldGen := n.gen
	n.mu.Unlock()
	if err := n.join(ctx); err != nil {
		n.requeue(pending)
		return err
	}
	n.mu.Lock()
	if n.gen != oldGen {
		n.lastID, n.lastTick = "0-0", "0-0" // a new stream: read it whole
		n.subs.Missed()
	}
	n.mu.Unlock()
	for i, r := range pending {
		err := n.runOnce(ctx, r.op, nil, r.args...)
		if errors.Is(err, acd.ErrUnavailable) {
			n.requeue(pending[i:])
			return err
		}
		if err != nil {
			n.log.Info("cluster: a report replayed after the outage changed nothing", "op", r.op, "error", err)
		}
	}
	a := n.holding()
	b, _ := json.Marshal(a)
	var res struct {
		Lost      int    `json:"lost"`
		Conflicts int    `json:"conflicts"`
		Gen       string `json:"gen"`
	}
	if err := n.runOnce(ctx, "assert", &res, string(b)); err != nil {
		return err
	}
	n.mu.Lock()
	n.stale = false
	n.gen = res.Gen
	n.joined = true
	n.mu.Unlock()
	if res.Lost > 0 {
		n.m.claims.WithLabelValues("reasserted").Add(float64(res.Lost))
	}
	if res.Conflicts > 0 {
		n.m.claims.WithLabelValues("conflict").Add(float64(res.Conflicts))
	}
	n.log.Info("cluster: re-asserted what this node holds", "calls", len(a.Calls), "registrations", len(a.Bindings),
		"restored", res.Lost, "conflicts", res.Conflicts)
	return nil
}

func (n *Node) requeue(r []report) {
	n.mu.Lock()
	n.pending = append(slices.Clone(r), n.pending...)
	n.mu.Unlock()
}

// holding is everything this node holds, for assert.
func (n *Node) holding() assertArgs {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := assertArgs{MaxSeq: n.maxSeq, MaxTok: n.maxTok, Bindings: []bindingJSON{}, Calls: []assertCall{}, Seats: []seatFlags{}}
	now := time.Now()
	for _, b := range n.held {
		if b.Expires.After(now) {
			a.Bindings = append(a.Bindings, toBindingJSON(b))
			if f, ok := n.flags[b.Seat]; ok {
				a.Seats = append(a.Seats, f)
			}
		}
	}
	for _, c := range n.calls {
		if !c.queued && !c.connected {
			continue
		}
		ac := assertCall{ID: c.id, Skill: c.skill, Prio: c.prio, Seq: c.seq, Enq: c.enq, State: "waiting", Seat: string(c.seat), Tok: c.tok}
		switch {
		case c.connected:
			ac.State = "connected"
		case c.seat != "":
			ac.State = "offered"
		}
		a.Calls = append(a.Calls, ac)
		a.MaxTok = max(a.MaxTok, c.tok)
		a.MaxSeq = max(a.MaxSeq, c.seq)
	}
	return a
}

// Leave marks this node as leaving after a graceful drain: no new work is
// given to it or to the seats registered through it, and its registrations
// wait for its restart (or are reaped after node_timeout).
func (n *Node) Leave(ctx context.Context) error {
	if !n.Up() {
		return nil
	}
	return n.run(ctx, "leave", nil)
}

var _ = sip.Binding{}
