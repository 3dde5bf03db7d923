package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/sip"
)

// TestPropertyThreeNodes drives thousands of random interleavings of
// claims, answers, ring-outs, declines, hang-ups, registrations, operator
// choices, node pauses (SIGSTOP past node_timeout), deaths (kill -9) and
// restarts, from three simulated nodes sharing one real Redis, and checks
// after every step:
//
//   - no double booking: a seat rings for or talks to one call at most, a
//     call is offered to one seat at most, and both halves of an offer
//     agree, token included;
//   - no lost caller: every call a live node holds is in the shared state
//     (waiting, offered, or connected to a busy seat) once the node has
//     heartbeat;
//   - order kept: waiting calls' positions are 1..n by priority then the
//     Redis sequence, and no ready seat idles beside a waiting call it may
//     take (declines, dead or suspect owners aside);
//   - seats never stuck: a seat ringing or busy is so for a call that a
//     live node holds that way — and node_timeout after a node died,
//     nothing of it is left.
func TestPropertyThreeNodes(t *testing.T) {
	rdb := newRedis(t)
	steps := 0
	seen := map[string]float64{}
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ok(t, rdb.FlushAll(context.Background()).Err())
			steps += runProperty(t, rdb, seed, 600, seen)
		})
	}
	// The interleavings must have reached the hard cases.
	for _, k := range []string{"killed", "paused", "restarted", "claims offered", "claims stale", "claims reasserted", "answered", "reaped"} {
		if seen[k] == 0 {
			t.Errorf("no %q in any run: %v", k, seen)
		}
	}
	t.Logf("%d steps: %v", steps, seen)
}

type simCall struct {
	id        string
	seat      agent.SeatID
	tok       uint64
	connected bool
	ch        <-chan acd.Event
}

type simNode struct {
	id      string
	n       *Node
	calls   map[string]*simCall
	paused  bool
	pauseTo time.Time
	dead    bool
	diedAt  time.Time
}

type prop struct {
	t     *testing.T
	r     *rand.Rand
	rdb   redis.UniversalClient
	clk   *fakeClock
	cfg   acd.Config
	seats []agent.Seat
	nodes []*simNode
	seq   int
	step  int
	log   []string
	seen  map[string]float64
	all   []*Node // every node started, for the tallies
	dead  map[string]bool
}

func runProperty(t *testing.T, rdb redis.UniversalClient, seed uint64, steps int, seen map[string]float64) int {
	p := &prop{t: t, seen: seen, dead: map[string]bool{}, r: rand.New(rand.NewPCG(seed, 3)), rdb: rdb, clk: newClock(),
		cfg:   acd.Config{RingTimeout: 12 * time.Second, WrapUp: 5 * time.Second, MaxWait: 90 * time.Second, SkillFallback: 20 * time.Second, DeclinePause: 3 * time.Second},
		seats: seatSpecs("8001", "8002:consult,legal_aid", "8003:mediation,consult", "8004:notary,complaint", "8005:consult", "8006:legal_aid")}
	for _, id := range []string{"a", "b", "c"} {
		p.nodes = append(p.nodes, &simNode{id: id, n: p.start(id), calls: map[string]*simCall{}})
	}
	defer func() {
		for _, n := range p.all {
			for _, r := range claimResults {
				p.seen["claims "+r] += testutil.ToFloat64(n.m.claims.WithLabelValues(r))
			}
		}
	}()
	for p.step = 0; p.step < steps; p.step++ {
		what := p.act()
		for _, k := range []string{"killed", "paused", "restarted", "answered"} {
			if strings.Contains(what, " "+k) && !strings.Contains(what, "error") {
				p.seen[k]++
			}
		}
		p.log = append(p.log, what)
		if len(p.log) > 12 {
			p.log = p.log[1:]
		}
		p.settleEvents()
		p.check(what)
	}
	return steps
}

func (p *prop) start(id string) *Node {
	n, err := Start(context.Background(), p.rdb, Options{NodeID: id, AdvertiseSIP: "sip:" + id, AdvertiseHTTP: "http://" + id,
		Heartbeat: time.Second, NodeTimeout: 5 * time.Second, ACD: p.cfg, Seats: p.seats, Now: p.clk.Now, Manual: true})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { n.Close() })
	p.all = append(p.all, n)
	return n
}

func (p *prop) fail(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("step %d: %s\nlast steps:\n  %s", p.step, fmt.Sprintf(format, args...), strings.Join(p.log, "\n  "))
}

// running are the nodes that run (not dead, not paused).
func (p *prop) running() []*simNode {
	var out []*simNode
	for _, s := range p.nodes {
		if !s.dead && !s.paused {
			out = append(out, s)
		}
	}
	return out
}

// tolerated: refusals that are the system working (a stale report, a step
// of a node that finds itself reaped and re-asserts first).
func (p *prop) tolerate(what string, err error) {
	if err == nil || errors.Is(err, acd.ErrNotOffered) || errors.Is(err, acd.ErrUnknownCall) || errors.Is(err, acd.ErrNotConnected) ||
		errors.Is(err, agent.ErrOffline) {
		return
	}
	p.fail("%s: %v", what, err)
}

func (p *prop) act() string {
	ctx := context.Background()
	run := p.running()
	if len(run) == 0 {
		return p.passTime()
	}
	sn := run[p.r.IntN(len(run))]
	n := sn.n
	seat := p.seats[p.r.IntN(len(p.seats))].ID
	switch k := p.r.IntN(100); {
	case k < 20:
		p.seq++
		id := fmt.Sprintf("%s-%04d", sn.id, p.seq)
		c := acd.Call{ID: id, Skill: allSkills[p.r.IntN(len(allSkills))]}
		if p.r.IntN(5) == 0 {
			c.Priority = acd.PriorityGreen
		}
		ch, err := n.Enqueue(c)
		p.tolerate("enqueue", err)
		if err == nil {
			sn.calls[id] = &simCall{id: id, ch: ch}
		}
		return sn.id + " enqueue " + id
	case k < 30:
		err := n.Bindings().Put(ctx, sip.Binding{Seat: string(seat), Contact: "sip:" + string(seat) + "@127.0.0.1:7000",
			Source: netip.MustParseAddrPort("127.0.0.1:7000"), Transport: []string{"UDP", "TCP"}[p.r.IntN(2)],
			Expires: p.clk.Now().Add(time.Duration(30+p.r.IntN(600)) * time.Second), CallID: "r", CSeq: uint32(p.step)})
		p.tolerate("bind", err)
		return sn.id + " register " + string(seat)
	case k < 33:
		p.tolerate("unbind", n.Bindings().Remove(ctx, string(seat)))
		return sn.id + " unregister " + string(seat)
	case k < 40:
		st := agent.Ready
		if p.r.IntN(3) == 0 {
			st = agent.NotReady
		}
		p.tolerate("setstate", n.SetState(seat, st, "break"))
		return sn.id + " setstate " + string(seat) + " " + string(st)
	case k < 65:
		var offered []*simCall
		for _, c := range sn.calls {
			if c.tok != 0 && !c.connected {
				offered = append(offered, c)
			}
		}
		if len(offered) == 0 {
			return p.passTime()
		}
		slices.SortFunc(offered, func(a, b *simCall) int { return strings.Compare(a.id, b.id) })
		c := offered[p.r.IntN(len(offered))]
		switch m := p.r.IntN(10); {
		case m < 5:
			err := n.Answered(c.id, c.seat, c.tok)
			p.tolerate("answered", err)
			if err == nil {
				c.connected = true
			} else {
				c.tok = 0 // a stale answer: the call layer hangs the leg up and waits on
			}
			if err != nil {
				return fmt.Sprintf("%s stale answer %s by %s: %v", sn.id, c.id, c.seat, err)
			}
			return fmt.Sprintf("%s answered %s by %s #%d", sn.id, c.id, c.seat, c.tok)
		case m < 8:
			p.tolerate("noanswer", n.NoAnswer(c.id, c.seat, c.tok))
			c.tok = 0
			return sn.id + " noanswer " + c.id
		default:
			p.tolerate("declined", n.Declined(c.id, c.seat, c.tok))
			c.tok = 0
			return sn.id + " declined " + c.id
		}
	case k < 73:
		for id, c := range sn.calls {
			if !c.connected {
				p.tolerate("abandon", n.Abandon(id))
				delete(sn.calls, id)
				return sn.id + " abandon " + id
			}
		}
		return p.passTime()
	case k < 81:
		for id, c := range sn.calls {
			if c.connected {
				p.tolerate("hangup", n.Hangup(id, c.seat, c.tok))
				delete(sn.calls, id)
				return sn.id + " hangup " + id
			}
		}
		return p.passTime()
	case k < 83 && len(run) > 1:
		sn.paused = true
		sn.pauseTo = p.clk.Now().Add(time.Duration(2+p.r.IntN(9)) * time.Second)
		return sn.id + " paused until " + sn.pauseTo.Format("15:04:05")
	case k < 84 && len(run) > 1:
		sn.dead, sn.diedAt = true, p.clk.Now()
		sn.n.Close()
		return sn.id + " killed"
	default:
		return p.passTime()
	}
}

// passTime lets up to 2 s pass in heartbeat steps; paused nodes whose
// pause is over resume, dead ones restart (a new boot) now and then.
func (p *prop) passTime() string {
	dt := time.Duration(100+p.r.IntN(1900)) * time.Millisecond
	p.clk.Advance(dt)
	now := p.clk.Now()
	for _, sn := range p.nodes {
		switch {
		case sn.paused && !now.Before(sn.pauseTo):
			sn.paused = false
		case sn.dead && now.Sub(sn.diedAt) > 8*time.Second && p.r.IntN(4) == 0:
			sn.dead = false
			sn.calls = map[string]*simCall{}
			sn.n = p.start(sn.id)
			p.seen["restarted"]++
		}
	}
	for _, sn := range p.running() {
		if err := sn.n.Heartbeat(context.Background()); err != nil {
			p.fail("heartbeat %s: %v", sn.id, err)
		}
	}
	return "time +" + dt.String()
}

// settleEvents reads every running node's stream and the calls' events,
// as their call goroutines would.
func (p *prop) settleEvents() {
	for _, sn := range p.running() {
		if err := sn.n.Pump(context.Background(), 0); err != nil {
			p.fail("pump %s: %v", sn.id, err)
		}
		for id, c := range sn.calls {
			if c.connected {
				continue
			}
		read:
			for {
				select {
				case ev, open := <-c.ch:
					if !open {
						delete(sn.calls, id)
						break read
					}
					switch ev.Kind {
					case acd.Offer:
						c.seat, c.tok = ev.Seat, ev.Token
					case acd.Withdrawn, acd.RingTimeout:
						if ev.Token == c.tok {
							c.tok = 0
						}
					}
				default:
					break read
				}
			}
		}
	}
}

type rawSeat struct {
	id, st, call, cnode, via string
	tok                      uint64
	skills                   string
	reg                      bool
}

type rawCall struct {
	id, sk, pr, node, seat, dec string
	seq, tok                    uint64
}

func (p *prop) readState() (map[string]rawSeat, map[string]rawCall) {
	ctx := context.Background()
	seats := map[string]rawSeat{}
	for _, s := range p.seats {
		v, err := p.rdb.HMGet(ctx, "{hotline}:seat:"+string(s.ID), "st", "call", "cnode", "tok", "skills", "reg", "via").Result()
		if err != nil {
			p.fail("read seat: %v", err)
		}
		str := func(i int) string { x, _ := v[i].(string); return x }
		tok, _ := strconv.ParseUint(str(3), 10, 64)
		seats[string(s.ID)] = rawSeat{id: string(s.ID), st: str(0), call: str(1), cnode: str(2), tok: tok, skills: str(4), reg: str(5) == "1", via: str(6)}
	}
	calls := map[string]rawCall{}
	keys, err := p.rdb.Keys(ctx, "{hotline}:call:*").Result()
	if err != nil {
		p.fail("keys: %v", err)
	}
	for _, k := range keys {
		v, err := p.rdb.HMGet(ctx, k, "sk", "pr", "node", "seat", "seq", "tok", "dec").Result()
		if err != nil {
			p.fail("read call: %v", err)
		}
		str := func(i int) string { x, _ := v[i].(string); return x }
		seq, _ := strconv.ParseUint(str(4), 10, 64)
		tok, _ := strconv.ParseUint(str(5), 10, 64)
		id := strings.TrimPrefix(k, "{hotline}:call:")
		calls[id] = rawCall{id: id, sk: str(0), pr: str(1), node: str(2), seat: str(3), seq: seq, tok: tok, dec: str(6)}
	}
	return seats, calls
}

func (p *prop) check(what string) {
	ctx := context.Background()
	for _, sn := range p.nodes {
		st, _ := p.rdb.HGet(ctx, "{hotline}:node:"+sn.id, "state").Result()
		if st == "dead" && !p.dead[sn.id] {
			p.seen["reaped"]++
		}
		p.dead[sn.id] = st == "dead"
	}
	seats, calls := p.readState()
	byNode := map[string]*simNode{}
	for _, sn := range p.nodes {
		byNode[sn.id] = sn
	}
	// No double booking, both halves agree.
	ringing := map[string]string{}
	for _, s := range seats {
		switch s.st {
		case "ringing":
			if other, dup := ringing[s.call]; dup {
				p.fail("call %s offered to two seats: %s and %s", s.call, other, s.id)
			}
			ringing[s.call] = s.id
			c, ok := calls[s.call]
			if !ok || c.seat != s.id || c.tok != s.tok {
				p.fail("seat %s rings for %s #%d, but the call is %+v", s.id, s.call, s.tok, c)
			}
		case "busy":
			if _, queued := calls[s.call]; queued {
				p.fail("seat %s busy with %s, which is still queued", s.id, s.call)
			}
		}
	}
	for _, c := range calls {
		if c.seat != "" && ringing[c.id] != c.seat {
			p.fail("call %s offered to %s, which is not ringing for it (%+v)", c.id, c.seat, seats[c.seat])
		}
	}
	// Seats never stuck: ringing or busy for a call a live node holds so;
	// nothing left of a node dead for node_timeout (plus a heartbeat for
	// the reap to run).
	now := p.clk.Now()
	for _, s := range seats {
		if s.st != "ringing" && s.st != "busy" {
			continue
		}
		sn := byNode[s.cnode]
		if sn == nil {
			p.fail("seat %s %s for a call of unknown node %q", s.id, s.st, s.cnode)
		}
		if sn.dead {
			if now.Sub(sn.diedAt) > 6*time.Second {
				p.fail("seat %s still %s for %s of node %s, dead since %v", s.id, s.st, s.call, sn.id, now.Sub(sn.diedAt))
			}
			continue
		}
		if sn.paused {
			continue
		}
		c := sn.calls[s.call]
		if c == nil {
			// The node's call may have just let go (a stale answer it hung
			// up, a call it re-asserted after a reap that lost the seat):
			// the seat must not be busy for it.
			if s.st == "busy" {
				p.fail("seat %s busy for %s, which node %s does not hold", s.id, s.call, sn.id)
			}
			continue
		}
		if s.st == "busy" && (!c.connected || c.seat != agent.SeatID(s.id)) {
			p.fail("seat %s busy for %s, which node %s holds as %+v", s.id, s.call, sn.id, *c)
		}
	}
	for _, c := range calls {
		sn := byNode[c.node]
		if sn != nil && sn.dead && now.Sub(sn.diedAt) > 6*time.Second {
			p.fail("call %s of node %s still queued %v after it died", c.id, sn.id, now.Sub(sn.diedAt))
		}
	}
	// No lost caller: after its heartbeat, a running node's calls are all
	// in the shared state.
	for _, sn := range p.running() {
		if err := sn.n.Heartbeat(ctx); err != nil {
			p.fail("heartbeat %s: %v", sn.id, err)
		}
	}
	seats, calls = p.readState()
	for _, sn := range p.running() {
		for id, c := range sn.calls {
			if c.connected {
				continue // left the queue; its seat is checked above
			}
			if _, ok := calls[id]; !ok {
				p.fail("node %s holds call %s, which the shared state lost", sn.id, id)
			}
		}
	}
	// Order kept: positions follow (priority, sequence).
	q := p.nodes[0].n.Queue()
	if len(p.running()) > 0 {
		q = p.running()[0].n.Queue()
	}
	var lastGreen bool
	var lastSeq uint64
	pos := 0
	for i, e := range q {
		c := calls[e.CallID]
		if e.State == acd.EntryWaiting {
			pos++
			if e.Position != pos {
				p.fail("queue[%d] %s at position %d, want %d", i, e.CallID, e.Position, pos)
			}
		}
		green := e.Priority == acd.PriorityGreen
		if i > 0 && (green && !lastGreen || green == lastGreen && c.seq < lastSeq) {
			p.fail("queue out of order at %s", e.CallID)
		}
		lastGreen, lastSeq = green, c.seq
	}
	// No ready seat idles beside a waiting call it may take, unless that
	// call's node or the seat's node is not live, the seat declined it,
	// or dispatch is frozen after a re-assertion.
	frozen, _ := p.rdb.Get(ctx, "{hotline}:freeze").Int64()
	if frozen > now.UnixMilli() {
		return
	}
	live := func(node string) bool {
		if node == "" {
			return true
		}
		v, _ := p.rdb.HMGet(ctx, "{hotline}:node:"+node, "state", "hb").Result()
		st, _ := v[0].(string)
		hb, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
		return st == "alive" && now.UnixMilli()-hb < 2500
	}
	for _, c := range calls {
		if c.seat != "" || !live(c.node) || c.dec != "" {
			continue
		}
		for _, s := range seats {
			if s.st == "ready" && live(s.via) && strings.Contains(s.skills, ","+c.sk+",") {
				p.fail("seat %s ready beside waiting call %s (%s) of node %s", s.id, c.id, c.sk, c.node)
			}
		}
	}
}
