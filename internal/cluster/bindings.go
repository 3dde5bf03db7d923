package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/internal/sip"
)

// bindingJSON is a sip.Binding as the script stores it.
type bindingJSON struct {
	Seat    string `json:"seat"`
	Contact string `json:"contact"`
	Src     string `json:"src"`
	Tr      string `json:"tr"`
	UA      string `json:"ua"`
	Exp     int64  `json:"exp"`
	CID     string `json:"cid"`
	CSeq    uint32 `json:"cseq"`
}

func toBindingJSON(b sip.Binding) bindingJSON {
	src := ""
	if b.Source.IsValid() {
		src = b.Source.String()
	}
	return bindingJSON{Seat: b.Seat, Contact: b.Contact, Src: src, Tr: b.Transport, UA: b.UserAgent,
		Exp: b.Expires.UnixMilli(), CID: b.CallID, CSeq: b.CSeq}
}

// Bindings is sip.Bindings over the shared state: a call on any node finds
// a seat registered through any other, with the node that holds its flow.
// Writes go through the script (a binding and the seat's registered state
// change together); the registrations that came through this node are
// also kept here, to be re-asserted after an outage. While Redis is
// unreachable a REGISTER still succeeds (it is kept and asserted later)
// and lookups answer from what this node holds.
type Bindings struct{ n *Node }

var _ sip.Bindings = Bindings{}

// Bindings returns the node's registration store for the registrar.
func (n *Node) Bindings() Bindings { return Bindings{n} }

// Put implements sip.Bindings.
func (b Bindings) Put(ctx context.Context, bd sip.Binding) error {
	n := b.n
	bd.Node = n.opt.NodeID
	n.mu.Lock()
	n.held[bd.Seat] = bd
	n.mu.Unlock()
	if !n.Up() {
		n.markStale()
		return nil
	}
	j, _ := json.Marshal(toBindingJSON(bd))
	err := n.run(ctx, "bind", nil, string(j))
	if errors.Is(err, acd.ErrUnavailable) {
		return nil // kept; asserted when Redis is back
	}
	return err
}

// Remove implements sip.Bindings: the seat's binding goes if it is still
// the one this node holds (or has expired).
func (b Bindings) Remove(ctx context.Context, seat string) error {
	n := b.n
	n.mu.Lock()
	delete(n.held, seat)
	n.mu.Unlock()
	if !n.Up() {
		return nil
	}
	err := n.run(ctx, "unbind", nil, seat, n.opt.NodeID)
	if errors.Is(err, acd.ErrUnavailable) {
		return nil
	}
	return err
}

var bindFields = []string{"contact", "src", "tr", "ua", "exp", "cid", "cseq", "node"}

func (b Bindings) decode(seat string, v []any) (sip.Binding, bool) {
	if len(v) != len(bindFields) || v[0] == nil {
		return sip.Binding{}, false
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	var exp int64
	fmt.Sscan(str(4), &exp)
	var cseq uint32
	fmt.Sscan(str(6), &cseq)
	src, _ := netip.ParseAddrPort(str(1))
	return sip.Binding{Seat: seat, Contact: str(0), Source: src, Transport: str(2), UserAgent: str(3),
		Expires: time.UnixMilli(exp), CallID: str(5), CSeq: cseq, Node: str(7)}, true
}

func (b Bindings) key(seat string) string { return b.n.opt.Prefix + ":bind:" + seat }

// Get implements sip.Bindings.
func (b Bindings) Get(ctx context.Context, seat string) (sip.Binding, bool, error) {
	n := b.n
	if n.Up() {
		v, err := n.rdb.HMGet(ctx, b.key(seat), bindFields...).Result()
		if err == nil {
			bd, ok := b.decode(seat, v)
			return bd, ok, nil
		}
		if !unreachable(err) {
			return sip.Binding{}, false, err
		}
		n.setUp(false, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	bd, ok := n.held[seat]
	return bd, ok, nil
}

// List implements sip.Bindings.
func (b Bindings) List(ctx context.Context) ([]sip.Binding, error) {
	n := b.n
	if n.Up() {
		out, err := b.list(ctx)
		if err == nil {
			return out, nil
		}
		if !unreachable(err) {
			return nil, err
		}
		n.setUp(false, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]sip.Binding, 0, len(n.held))
	for _, bd := range n.held {
		out = append(out, bd)
	}
	return out, nil
}

func (b Bindings) list(ctx context.Context) ([]sip.Binding, error) {
	seats, err := b.n.rdb.ZRange(ctx, b.n.opt.Prefix+":bindexp", 0, -1).Result()
	if err != nil {
		return nil, err
	}
	pipe := b.n.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(seats))
	for i, s := range seats {
		cmds[i] = pipe.HMGet(ctx, b.key(s), bindFields...)
	}
	if len(seats) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := make([]sip.Binding, 0, len(seats))
	for i, s := range seats {
		if bd, ok := b.decode(s, cmds[i].Val()); ok {
			out = append(out, bd)
		}
	}
	return out, nil
}
