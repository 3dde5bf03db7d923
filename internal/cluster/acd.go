package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

var _ acd.Floor = (*Node)(nil)

// localCall is one of this node's calls as this node holds it: what it
// re-asserts, and where its events go.
type localCall struct {
	id, skill, prio string
	seq             uint64
	enq             int64 // ms, the Redis server's clock
	ch              chan acd.Event
	queued          bool // Enqueue has returned: the shared state has it
	// The offer this node holds for the call: delivered to the call
	// (offered), or answered (connected, the call has left the queue).
	seat      agent.SeatID
	tok       uint64
	connected bool
	lastTok   uint64 // the highest offer token delivered
}

// eventBuffer is each call's channel; a call whose goroutine stops reading
// is abandoned rather than waited for.
const eventBuffer = 16

// stepTimeout bounds one step on behalf of a call.
const stepTimeout = 3 * time.Second

func stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), stepTimeout)
}

// Enqueue implements acd.Floor. The call's events arrive from the stream,
// in the order the script made them, whichever node made them.
func (n *Node) Enqueue(c acd.Call) (<-chan acd.Event, error) {
	if c.Priority == "" {
		c.Priority = acd.PriorityNormal
	}
	if c.ID == "" || c.Skill == "" || (c.Priority != acd.PriorityNormal && c.Priority != acd.PriorityGreen) {
		return nil, fmt.Errorf("cluster: enqueue: id %q, skill %q, priority %q: %w", c.ID, c.Skill, c.Priority, acd.ErrBadCall)
	}
	if !n.waitUp() {
		return nil, fmt.Errorf("cluster: enqueue %s: %w", c.ID, acd.ErrUnavailable)
	}
	lc := &localCall{id: c.ID, skill: c.Skill, prio: c.Priority, ch: make(chan acd.Event, eventBuffer)}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("cluster: enqueue %s: %w", c.ID, acd.ErrClosed)
	}
	if _, dup := n.calls[c.ID]; dup {
		n.mu.Unlock()
		return nil, fmt.Errorf("cluster: enqueue %s: %w", c.ID, acd.ErrDuplicateCall)
	}
	n.calls[c.ID] = lc // before the script: its offer may be in the stream at once
	n.mu.Unlock()
	ctx, cancel := stepCtx()
	defer cancel()
	var res struct {
		NoSeats bool   `json:"noseats"`
		Seq     uint64 `json:"seq"`
		Enq     int64  `json:"enq"`
	}
	err := n.run(ctx, "enqueue", &res, c.ID, c.Skill, c.Priority)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		if n.calls[c.ID] == lc {
			delete(n.calls, c.ID)
		}
		return nil, err
	}
	if res.NoSeats {
		delete(n.calls, c.ID)
		ch := make(chan acd.Event, 1)
		ch <- acd.Event{Kind: acd.NoSeats}
		close(ch)
		return ch, nil
	}
	lc.seq, lc.enq, lc.queued = res.Seq, res.Enq, true
	n.maxSeq = max(n.maxSeq, res.Seq)
	return lc.ch, nil
}

// waitUp waits, for a caller about to be queued, until the shared state
// answers again — a Sentinel failover or a Redis restart takes seconds, and
// a caller should not be sent to voicemail for that — but no longer than
// node_timeout: an outage that lasts sends them to voicemail.
func (n *Node) waitUp() bool {
	deadline := time.Now().Add(n.opt.NodeTimeout)
	for !n.Up() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-n.stop:
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return true
}

// forget drops a local call; its channel is closed unless it was handed
// over already (connected calls have no channel left).
func (n *Node) forgetLocked(id string) {
	if c, ok := n.calls[id]; ok {
		if !c.connected {
			close(c.ch)
		}
		delete(n.calls, id)
	}
}

// report is a step on behalf of a call that is replayed, in order, once
// Redis is back if it could not be taken now.
type report struct {
	op   string
	args []any
}

// step runs a report; when Redis is unreachable it is kept for replay.
func (n *Node) step(op string, args ...any) error {
	if !n.Up() {
		n.mu.Lock()
		n.pending = append(n.pending, report{op, args})
		n.mu.Unlock()
		return fmt.Errorf("cluster: %s: %w (kept for replay)", op, acd.ErrUnavailable)
	}
	ctx, cancel := stepCtx()
	defer cancel()
	err := n.run(ctx, op, nil, args...)
	if errors.Is(err, acd.ErrUnavailable) {
		n.mu.Lock()
		n.pending = append(n.pending, report{op, args})
		n.mu.Unlock()
	}
	return err
}

// Abandon implements acd.Floor.
func (n *Node) Abandon(callID string) error {
	n.mu.Lock()
	n.forgetLocked(callID)
	n.mu.Unlock()
	return n.step("abandon", callID)
}

// Answered implements acd.Floor. A refusal (a stale offer) leaves the
// call waiting; when Redis is unreachable the answer stands (the call is
// connected) and is re-asserted later.
func (n *Node) Answered(callID string, seat agent.SeatID, token uint64) error {
	ctx, cancel := stepCtx()
	defer cancel()
	var err error
	if n.Up() {
		err = n.run(ctx, "answered", nil, callID, string(seat), token)
	} else {
		err = fmt.Errorf("cluster: answered: %w", acd.ErrUnavailable)
	}
	if err != nil && !errors.Is(err, acd.ErrUnavailable) {
		return err
	}
	n.mu.Lock()
	if c, ok := n.calls[callID]; ok {
		if !c.connected {
			close(c.ch)
		}
		c.connected, c.seat, c.tok = true, seat, token
	}
	n.mu.Unlock()
	return err
}

// NoAnswer implements acd.Floor.
func (n *Node) NoAnswer(callID string, seat agent.SeatID, token uint64) error {
	n.offerOver(callID, token)
	return n.step("noanswer", callID, string(seat), token)
}

// Declined implements acd.Floor.
func (n *Node) Declined(callID string, seat agent.SeatID, token uint64) error {
	n.offerOver(callID, token)
	return n.step("declined", callID, string(seat), token)
}

// offerOver: this node no longer holds offer token of the call.
func (n *Node) offerOver(callID string, token uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.calls[callID]; ok && c.tok == token && !c.connected {
		c.seat, c.tok = "", 0
	}
}

// Hangup implements acd.Floor.
func (n *Node) Hangup(callID string, seat agent.SeatID, token uint64) error {
	n.mu.Lock()
	if c, ok := n.calls[callID]; ok && c.connected {
		delete(n.calls, callID)
	}
	n.mu.Unlock()
	return n.step("hangup", callID, string(seat), token)
}

// SeatRegistered implements acd.Floor: checked against the seat's binding.
func (n *Node) SeatRegistered(id agent.SeatID) error {
	return n.seatStep("registered", string(id))
}

// SeatUnregistered implements acd.Floor: checked against the seat's binding.
func (n *Node) SeatUnregistered(id agent.SeatID) error {
	return n.seatStep("unregistered", string(id))
}

// SetState implements acd.Floor.
func (n *Node) SetState(id agent.SeatID, state agent.State, reason string) error {
	return n.seatStep("setstate", string(id), string(state), reason)
}

func (n *Node) seatStep(op string, args ...any) error {
	if !n.Up() {
		return fmt.Errorf("cluster: %s: %w", op, acd.ErrUnavailable)
	}
	ctx, cancel := stepCtx()
	defer cancel()
	return n.run(ctx, op, nil, args...)
}

// Position implements acd.Floor: 0 when unknown or Redis is unreachable.
func (n *Node) Position(callID string) int {
	if !n.Up() {
		return 0
	}
	ctx, cancel := stepCtx()
	defer cancel()
	var pos int
	if err := n.run(ctx, "position", &pos, callID); err != nil {
		n.log.Debug("cluster: position", "error", err)
		return 0
	}
	return pos
}

// deliver hands an event to one of this node's calls (under n.mu). A call
// that stopped reading is abandoned, never waited for.
func (n *Node) deliverLocked(c *localCall, ev acd.Event) {
	if c.connected {
		return
	}
	select {
	case c.ch <- ev:
	default:
		n.log.Error("cluster: a call stopped reading its events: abandoning it", "call_id", c.id)
		close(c.ch)
		delete(n.calls, c.id)
		go func() { _ = n.step("abandon", c.id) }()
	}
}

// callChange applies a change of the stream to this node's own call.
func (n *Node) callChangeLocked(ch change) {
	c, ok := n.calls[ch.C.ID]
	if !ok || ch.C.Boot != n.boot {
		return
	}
	switch ch.K {
	case "call_offered":
		if ch.C.Tok <= c.lastTok || c.connected {
			return
		}
		c.lastTok = ch.C.Tok
		c.seat, c.tok = agent.SeatID(ch.C.Seat), ch.C.Tok
		n.deliverLocked(c, acd.Event{Kind: acd.Offer, Seat: c.seat, Token: c.tok, Ring: max(n.opt.ACD.RingTimeout, 0)})
	case "call_withdrawn", "call_no_answer":
		// A withdrawal, or the ring watchdog (a no-answer this node
		// reported itself no longer matches: offerOver cleared c.tok).
		if c.tok == ch.C.Tok && !c.connected {
			kind := acd.Withdrawn
			if ch.K == "call_no_answer" {
				kind = acd.RingTimeout
			}
			seat := c.seat
			c.seat, c.tok = "", 0
			n.deliverLocked(c, acd.Event{Kind: kind, Seat: seat, Token: ch.C.Tok})
		}
	case "call_timed_out":
		n.deliverLocked(c, acd.Event{Kind: acd.MaxWait})
		n.forgetLocked(c.id)
	case "call_no_seats":
		if c.queued {
			n.deliverLocked(c, acd.Event{Kind: acd.NoSeats})
			n.forgetLocked(c.id)
		}
	}
	// call_dropped of our own call: we were reaped while the call lives on;
	// re-assertion brings it back. call_answered, call_abandoned: our own
	// reports, already applied.
}
