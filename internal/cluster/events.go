package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

// change is one change as the script writes it to the stream.
type change struct {
	K    string    `json:"k"`
	At   int64     `json:"at"`
	S    *seatJSON `json:"s"`
	C    *callJSON `json:"c"`
	Node string    `json:"node"` // node_dead
}

type seatJSON struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Skills list[string] `json:"skills"`
	State  string       `json:"state"`
	Reason string       `json:"reason"`
	Since  int64        `json:"since"`
	Idle   int64        `json:"idle"`
	Reg    bool         `json:"reg"`
	Call   string       `json:"call"`
	Tok    uint64       `json:"tok"`
	WU     int64        `json:"wu"`
	ONR    bool         `json:"onr"`
	ORS    string       `json:"ors"`
	Via    string       `json:"via"`
	CNode  string       `json:"cnode"`
}

type callJSON struct {
	ID    string `json:"id"`
	Skill string `json:"skill"`
	Prio  string `json:"prio"`
	State string `json:"state"`
	Pos   int    `json:"pos"`
	Seat  string `json:"seat"`
	Enq   int64  `json:"enq"`
	Seq   uint64 `json:"seq"`
	Node  string `json:"node"`
	Boot  string `json:"boot"`
	Tok   uint64 `json:"tok"`
}

// list is a JSON list that also reads Lua's cjson rendering of an empty
// table, "{}".
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*l = nil
		return nil
	}
	var s []T
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*l = s
	return nil
}

func msTime(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func (s *seatJSON) seat() agent.Seat {
	return agent.Seat{
		ID: agent.SeatID(s.ID), Name: s.Name, Skills: []string(s.Skills), State: agent.State(s.State), Reason: s.Reason,
		Since: msTime(s.Since), IdleSince: msTime(s.Idle), Registered: s.Reg, CallID: s.Call, Token: s.Tok,
		WrapUpUntil: msTime(s.WU), OperatorNotReady: s.ONR, OperatorReason: s.ORS, Via: s.Via,
	}
}

func (c *callJSON) entry(now time.Time) acd.QueueEntry {
	enq := msTime(c.Enq)
	return acd.QueueEntry{CallID: c.ID, Skill: c.Skill, Priority: c.Prio, State: c.State, Position: c.Pos,
		Seat: agent.SeatID(c.Seat), Node: c.Node, EnqueuedAt: enq, Wait: now.Sub(enq)}
}

var changeKinds = map[string]acd.ChangeKind{
	"seat_changed": acd.SeatChanged, "call_queued": acd.CallQueued, "call_offered": acd.CallOffered,
	"call_no_answer": acd.CallNoAnswer, "call_declined": acd.CallDeclined, "call_withdrawn": acd.CallWithdrawn,
	"call_answered": acd.CallAnswered, "call_abandoned": acd.CallAbandoned, "call_timed_out": acd.CallTimedOut,
	"call_no_seats": acd.CallNoSeats, "call_dropped": acd.CallDropped,
}

type batch struct {
	Node string       `json:"node"`
	Boot string       `json:"boot"`
	Ch   list[change] `json:"ch"`
}

// Subscribe implements acd.Floor: every change of the whole cluster, in
// the order the script made them.
func (n *Node) Subscribe() (<-chan acd.Change, func()) { return n.subs.Subscribe() }

// apply handles one stream entry: this node's calls get their events,
// subscribers every change.
func (n *Node) apply(b batch) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range b.Ch {
		if ch.S != nil {
			if ch.S.ONR {
				n.flags[ch.S.ID] = seatFlags{ID: ch.S.ID, ONR: true, ORS: ch.S.ORS}
			} else {
				delete(n.flags, ch.S.ID)
			}
			n.maxTok = max(n.maxTok, ch.S.Tok)
		}
		if ch.C != nil {
			n.maxSeq = max(n.maxSeq, ch.C.Seq)
			n.maxTok = max(n.maxTok, ch.C.Tok)
			if ch.C.Node == n.opt.NodeID {
				n.callChangeLocked(ch)
			}
		}
		kind, ok := changeKinds[ch.K]
		if !ok {
			continue
		}
		at := msTime(ch.At)
		c := acd.Change{Kind: kind, At: at}
		if ch.S != nil {
			c.Seat = ch.S.seat()
		}
		if ch.C != nil {
			c.Call = ch.C.entry(at)
		}
		n.subs.Publish(c)
	}
}

const readBlock = 2 * time.Second

// reader follows the change stream (and the ticket stream) until Close.
func (n *Node) reader() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-n.stop; cancel() }()
	for {
		select {
		case <-n.stop:
			return
		default:
		}
		if err := n.Pump(ctx, readBlock); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, acd.ErrUnavailable) {
				n.log.Warn("cluster: reading the change stream", "error", err)
			}
			select {
			case <-n.stop:
				return
			case <-time.After(n.opt.Heartbeat / 2):
			}
		}
	}
}

// Pump reads what is new in the streams (waiting up to block for the
// first entry; 0: not at all) and applies it.
func (n *Node) Pump(ctx context.Context, block time.Duration) error {
	n.mu.Lock()
	last, lastTick := n.lastID, n.lastTick
	n.mu.Unlock()
	if last == "$" {
		// Start after what exists now, without a gap: read the newest id.
		id, err := n.newest(ctx, n.opt.Prefix+":ev")
		if err != nil {
			return err
		}
		tid, err := n.newest(ctx, n.opt.Prefix+":tick")
		if err != nil {
			return err
		}
		last, lastTick = id, tid
		n.mu.Lock()
		n.lastID, n.lastTick = id, tid
		n.mu.Unlock()
	}
	args := &redis.XReadArgs{
		Streams: []string{n.opt.Prefix + ":ev", n.opt.Prefix + ":tick", last, lastTick},
		Count:   500,
		Block:   block,
	}
	if block <= 0 {
		args.Block = -1
	}
	streams, err := n.rdb.XRead(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		if unreachable(err) {
			n.setUp(false, err)
			return fmt.Errorf("cluster: read stream: %w: %w", acd.ErrUnavailable, err)
		}
		return fmt.Errorf("cluster: read stream: %w", err)
	}
	for _, st := range streams {
		for _, msg := range st.Messages {
			j, _ := msg.Values["j"].(string)
			if st.Stream == n.opt.Prefix+":ev" {
				var b batch
				if err := json.Unmarshal([]byte(j), &b); err != nil {
					n.log.Warn("cluster: unreadable stream entry", "id", msg.ID, "error", err)
				} else {
					n.apply(b)
				}
				n.mu.Lock()
				n.lastID = msg.ID
				n.mu.Unlock()
			} else {
				n.applyTicket(j)
				n.mu.Lock()
				n.lastTick = msg.ID
				n.mu.Unlock()
			}
		}
	}
	return nil
}

// newest is the id of a stream's last entry, "0-0" when it is empty.
func (n *Node) newest(ctx context.Context, stream string) (string, error) {
	msgs, err := n.rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		if unreachable(err) {
			n.setUp(false, err)
			return "", fmt.Errorf("cluster: %w: %w", acd.ErrUnavailable, err)
		}
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}
