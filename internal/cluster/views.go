package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

var seatFields = []string{"name", "skills", "st", "rs", "since", "idle", "reg", "call", "tok", "wu", "onr", "ors", "via"}

func atoi(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func decodeSeat(id string, v []any) (agent.Seat, bool) {
	if len(v) != len(seatFields) || v[2] == nil {
		return agent.Seat{}, false
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	var skills []string
	for _, sk := range strings.Split(str(1), ",") {
		if sk != "" {
			skills = append(skills, sk)
		}
	}
	return agent.Seat{
		ID: agent.SeatID(id), Name: str(0), Skills: skills, State: agent.State(str(2)), Reason: str(3),
		Since: msTime(atoi(v[4])), IdleSince: msTime(atoi(v[5])), Registered: str(6) == "1", CallID: str(7),
		Token: uint64(atoi(v[8])), WrapUpUntil: msTime(atoi(v[9])), OperatorNotReady: str(10) == "1",
		OperatorReason: str(11), Via: str(12),
	}, true
}

// readSeats reads every seat, ordered by ID.
func (n *Node) readSeats(ctx context.Context) ([]agent.Seat, error) {
	ids, err := n.rdb.SMembers(ctx, n.opt.Prefix+":seats").Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	pipe := n.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, n.opt.Prefix+":seat:"+id, seatFields...)
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := make([]agent.Seat, 0, len(ids))
	for i, id := range ids {
		if s, ok := decodeSeat(id, cmds[i].Val()); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Seats implements acd.Floor: read fresh; while Redis is unreachable, the
// last seats read.
func (n *Node) Seats() []agent.Seat {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if n.Up() {
		seats, err := n.readSeats(ctx)
		if err == nil {
			n.mu.Lock()
			n.seats = seats
			n.mu.Unlock()
			return cloneSeats(seats)
		}
		if unreachable(err) {
			n.setUp(false, err)
		} else {
			n.log.Warn("cluster: reading seats", "error", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return cloneSeats(n.seats)
}

func cloneSeats(s []agent.Seat) []agent.Seat {
	out := slices.Clone(s)
	for i := range out {
		out[i].Skills = slices.Clone(out[i].Skills)
	}
	return out
}

// Seat implements acd.Floor.
func (n *Node) Seat(id agent.SeatID) (agent.Seat, error) {
	for _, s := range n.Seats() {
		if s.ID == id {
			return s, nil
		}
	}
	return agent.Seat{}, fmt.Errorf("cluster: seat %s: %w", id, acd.ErrUnknownSeat)
}

// LoggedIn implements acd.Floor. While Redis is unreachable it counts the
// seats last read: a caller then goes on to Enqueue, which waits a little
// for Redis to come back (a failover) before it gives up (voicemail).
func (n *Node) LoggedIn() int {
	c := 0
	for _, s := range n.Seats() {
		if s.Registered {
			c++
		}
	}
	return c
}

type queued struct {
	e     acd.QueueEntry
	green bool
	seq   uint64
}

var callFields = []string{"sk", "pr", "seq", "enq", "node", "seat"}

// Queue implements acd.Floor: every queued call of the cluster, waiting
// and offered, in dispatch order.
func (n *Node) Queue() []acd.QueueEntry {
	if !n.Up() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()
	out, err := n.readQueue(ctx)
	if err != nil {
		if unreachable(err) {
			n.setUp(false, err)
		}
		n.log.Warn("cluster: reading the queue", "error", err)
		return nil
	}
	return out
}

func (n *Node) readQueue(ctx context.Context) ([]acd.QueueEntry, error) {
	qs, err := n.rdb.SMembers(ctx, n.opt.Prefix+":qs").Result()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, q := range qs {
		m, err := n.rdb.ZRange(ctx, n.opt.Prefix+":q:"+q, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		ids = append(ids, m...)
	}
	seats, err := n.readSeats(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range seats {
		if s.State == agent.Ringing && s.CallID != "" {
			ids = append(ids, s.CallID)
		}
	}
	pipe := n.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, n.opt.Prefix+":call:"+id, callFields...)
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	now := time.Now()
	var all []queued
	seen := map[string]bool{}
	for i, id := range ids {
		v := cmds[i].Val()
		if len(v) != len(callFields) || v[0] == nil || seen[id] {
			continue
		}
		seen[id] = true
		str := func(j int) string { s, _ := v[j].(string); return s }
		enq := msTime(atoi(v[3]))
		e := acd.QueueEntry{CallID: id, Skill: str(0), Priority: str(1), State: acd.EntryWaiting, Seat: agent.SeatID(str(5)),
			Node: str(4), EnqueuedAt: enq, Wait: now.Sub(enq)}
		if e.Seat != "" {
			e.State = acd.EntryOffered
		}
		all = append(all, queued{e: e, green: e.Priority == acd.PriorityGreen, seq: uint64(atoi(v[2]))})
	}
	slices.SortFunc(all, func(a, b queued) int {
		if a.green != b.green {
			if a.green {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]acd.QueueEntry, len(all))
	pos := 0
	for i, q := range all {
		if q.e.State == acd.EntryWaiting {
			pos++
			q.e.Position = pos
		}
		out[i] = q.e
	}
	return out, nil
}

// Counts implements acd.Floor.
func (n *Node) Counts() acd.Counts {
	c := acd.Counts{Waiting: map[string]int{}, Seats: map[agent.State]int{}}
	for _, st := range agent.States() {
		c.Seats[st] = 0
	}
	for _, s := range n.Seats() {
		c.Seats[s.State]++
		if s.State == agent.Ringing {
			c.Offered++
		}
	}
	for _, q := range n.Queue() {
		if q.State == acd.EntryWaiting {
			c.Waiting[q.Skill]++
		}
	}
	return c
}

// NodeStatus is one node as GET /api/cluster shows it.
type NodeStatus struct {
	ID       string    `json:"id"`
	Alive    bool      `json:"alive"`
	State    string    `json:"state"` // alive, suspect, leaving, away, dead
	LastSeen time.Time `json:"last_seen"`
	Calls    int       `json:"calls"`
	SeatsVia int       `json:"seats_via"`
	HTTP     string    `json:"http"`
	SIP      string    `json:"sip"`
}

// Nodes lists every node the shared state knows (dead ones for a day),
// with the state as of the Redis server's clock.
func (n *Node) Nodes(ctx context.Context) ([]NodeStatus, error) {
	if !n.Up() {
		return nil, fmt.Errorf("cluster: nodes: %w", acd.ErrUnavailable)
	}
	ids, err := n.rdb.SMembers(ctx, n.opt.Prefix+":nodes").Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	now, err := n.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	if n.opt.Now != nil {
		now = n.opt.Now()
	}
	binds, err := n.Bindings().List(ctx)
	if err != nil {
		return nil, err
	}
	via := map[string]int{}
	for _, b := range binds {
		if b.Expires.After(now) {
			via[b.Node]++
		}
	}
	suspect := max(n.opt.NodeTimeout/2, 2*n.opt.Heartbeat)
	out := make([]NodeStatus, 0, len(ids))
	for _, id := range ids {
		v, err := n.rdb.HMGet(ctx, n.opt.Prefix+":node:"+id, "state", "hb", "calls", "http", "sip").Result()
		if err != nil {
			return nil, err
		}
		str := func(i int) string { s, _ := v[i].(string); return s }
		if str(0) == "" {
			continue
		}
		hb := msTime(atoi(v[1]))
		st := NodeStatus{ID: id, State: str(0), LastSeen: hb, Calls: int(atoi(v[2])), SeatsVia: via[id], HTTP: str(3), SIP: str(4)}
		if st.State == "alive" && now.Sub(hb) >= suspect {
			st.State = "suspect"
		}
		st.Alive = st.State == "alive" || st.State == "suspect" || st.State == "leaving"
		out = append(out, st)
	}
	return out, nil
}

// NodeSIP returns the SIP URI through which node id reaches the seats
// registered on its sockets, if that node is alive.
func (n *Node) NodeSIP(ctx context.Context, id string) (string, bool) {
	v, err := n.rdb.HMGet(ctx, n.opt.Prefix+":node:"+id, "state", "sip").Result()
	if err != nil {
		return "", false
	}
	st, _ := v[0].(string)
	sip, _ := v[1].(string)
	return sip, sip != "" && st == "alive"
}
