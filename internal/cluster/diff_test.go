package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/sip"
)

// TestDifferentialMemoryVsRedis holds the "one decision point" of SPEC §11
// to account: the single-node ACD (package acd, Go) and the shared one
// (acd.lua on a real Redis) are driven with the same random steps — calls
// arriving, seats registering and leaving, operators choosing states,
// offers answered, let ring out (reported, or the ring watchdog), declined, stale reports, callers hanging
// up, time passing over every deadline — and after every step their seats,
// their queues and the events each call got must be identical, offer
// tokens included.
func TestDifferentialMemoryVsRedis(t *testing.T) {
	rdb := newRedis(t)
	seen := map[string]int{}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ok(t, rdb.FlushAll(context.Background()).Err())
			runDifferential(t, rdb, seed, 500, seen)
		})
	}
	// The steps must have reached every kind of outcome, or the
	// comparison proves little.
	for _, k := range []string{"event offer", "event withdrawn", "event ring_timeout", "event max_wait", "event no_seats", "ok answered",
		"ok noanswer", "ok declined", "refused stale", "ok hangup", "ok abandon", "refused setstate"} {
		if seen[k] == 0 {
			t.Errorf("no %q in any run: %v", k, seen)
		}
	}
	t.Logf("outcomes: %v", seen)
}

type diffCall struct {
	mem, red  <-chan acd.Event
	tok       uint64 // the current offer's token, 0 if none
	seat      agent.SeatID
	connected bool
	gone      bool
	old       []uint64 // tokens of earlier offers (stale)
}

type differ struct {
	t     *testing.T
	r     *rand.Rand
	clk   *fakeClock
	mem   *acd.ACD
	red   *Node
	seats []agent.Seat
	calls map[string]*diffCall
	order []string
	n     int
	step  int
	seen  map[string]int
}

func runDifferential(t *testing.T, rdb redis.UniversalClient, seed uint64, steps int, seen map[string]int) {
	cfg := acd.Config{RingTimeout: 15 * time.Second, WrapUp: 20 * time.Second, MaxWait: 3 * time.Minute, SkillFallback: 30 * time.Second, DeclinePause: 5 * time.Second}
	d := &differ{t: t, r: rand.New(rand.NewPCG(seed, 12348)), clk: newClock(), calls: map[string]*diffCall{}, seen: seen}
	cfg.Now = d.clk.Now
	d.seats = seatSpecs("8001", "8002:consult,legal_aid", "8003:mediation", "8004:notary,complaint", "8005:consult")
	mem, err := acd.New(cfg, d.seats, nil)
	ok(t, err)
	t.Cleanup(func() { mem.Close() })
	d.mem = mem
	d.red = manualNode(t, rdb, "solo", d.clk, cfg, d.seats)
	for d.step = 0; d.step < steps; d.step++ {
		what := d.act()
		d.compare(what)
	}
}

func (d *differ) pickSeat() agent.SeatID { return d.seats[d.r.IntN(len(d.seats))].ID }

// sameErr: both nil, or both the same kind of refusal.
func (d *differ) sameErr(what string, em, er error) {
	if (em == nil) != (er == nil) {
		d.t.Fatalf("step %d %s: memory err %v, redis err %v", d.step, what, em, er)
	}
	if em == nil {
		d.seen["ok "+strings.Fields(what)[0]]++
	} else {
		d.seen["refused "+strings.Fields(what)[0]]++
	}
	for _, k := range []error{acd.ErrNotOffered, acd.ErrUnknownCall, acd.ErrNotConnected, acd.ErrDuplicateCall,
		agent.ErrOffline, agent.ErrBadState, acd.ErrUnknownSeat} {
		if errors.Is(em, k) != errors.Is(er, k) {
			d.t.Fatalf("step %d %s: memory err %v, redis err %v (differ on %v)", d.step, what, em, er, k)
		}
	}
}

func (d *differ) act() string {
	ctx := context.Background()
	live := func(f func(c *diffCall) bool) []string {
		var out []string
		for _, id := range d.order {
			if c := d.calls[id]; !c.gone && f(c) {
				out = append(out, id)
			}
		}
		return out
	}
	switch n := d.r.IntN(100); {
	case n < 18: // a call arrives
		d.n++
		id := fmt.Sprintf("c%03d", d.n)
		c := acd.Call{ID: id, Skill: allSkills[d.r.IntN(len(allSkills))]}
		if d.r.IntN(6) == 0 {
			c.Priority = acd.PriorityGreen
		}
		chm, em := d.mem.Enqueue(c)
		chr, er := d.red.Enqueue(c)
		d.sameErr("enqueue", em, er)
		if em == nil {
			d.calls[id] = &diffCall{mem: chm, red: chr}
			d.order = append(d.order, id)
		}
		return "enqueue " + id + " " + c.Skill + " " + c.Priority
	case n < 26: // a seat's phone registers
		s := d.pickSeat()
		em := d.mem.SeatRegistered(s)
		er := d.red.Bindings().Put(ctx, sip.Binding{Seat: string(s), Contact: "sip:" + string(s) + "@127.0.0.1:7000",
			Source: netip.MustParseAddrPort("127.0.0.1:7000"), Transport: "UDP", Expires: d.clk.Now().Add(24 * time.Hour), CallID: "r" + string(s), CSeq: uint32(d.step + 1)})
		d.sameErr("register", em, er)
		return "register " + string(s)
	case n < 29: // a seat's phone goes away
		s := d.pickSeat()
		em := d.mem.SeatUnregistered(s)
		er := d.red.Bindings().Remove(ctx, string(s))
		d.sameErr("unregister", em, er)
		return "unregister " + string(s)
	case n < 37: // an operator chooses a state
		s := d.pickSeat()
		st, reason := agent.Ready, ""
		if d.r.IntN(3) == 0 {
			st, reason = agent.NotReady, []string{"break", "meeting"}[d.r.IntN(2)]
		}
		d.sameErr("setstate", d.mem.SetState(s, st, reason), d.red.SetState(s, st, reason))
		return "setstate " + string(s) + " " + string(st)
	case n < 62: // a ringing seat's phone does something
		ids := live(func(c *diffCall) bool { return c.tok != 0 && !c.connected })
		if len(ids) == 0 {
			return d.passTime()
		}
		id := ids[d.r.IntN(len(ids))]
		c := d.calls[id]
		switch m := d.r.IntN(10); {
		case m < 5:
			em := d.mem.Answered(id, c.seat, c.tok)
			er := d.red.Answered(id, c.seat, c.tok)
			d.sameErr("answered", em, er)
			if em == nil {
				c.connected = true
			}
			return "answered " + id
		case m < 8:
			d.sameErr("noanswer", d.mem.NoAnswer(id, c.seat, c.tok), d.red.NoAnswer(id, c.seat, c.tok))
			c.old, c.tok = append(c.old, c.tok), 0
			return "noanswer " + id
		default:
			d.sameErr("declined", d.mem.Declined(id, c.seat, c.tok), d.red.Declined(id, c.seat, c.tok))
			c.old, c.tok = append(c.old, c.tok), 0
			return "declined " + id
		}
	case n < 66: // a stale report: an older offer's answer or ring-out
		ids := live(func(c *diffCall) bool { return len(c.old) > 0 })
		if len(ids) == 0 {
			return d.passTime()
		}
		id := ids[d.r.IntN(len(ids))]
		c := d.calls[id]
		tok := c.old[d.r.IntN(len(c.old))]
		seat := d.pickSeat()
		d.sameErr("stale", d.mem.Answered(id, seat, tok), d.red.Answered(id, seat, tok))
		return "stale " + id
	case n < 74: // a caller hangs up while waiting or ringing
		ids := live(func(c *diffCall) bool { return !c.connected })
		if len(ids) == 0 {
			return d.passTime()
		}
		id := ids[d.r.IntN(len(ids))]
		em, er := d.mem.Abandon(id), d.red.Abandon(id)
		d.sameErr("abandon", em, er)
		d.calls[id].gone = true
		return "abandon " + id
	case n < 82: // a connected call ends
		ids := live(func(c *diffCall) bool { return c.connected })
		if len(ids) == 0 {
			return d.passTime()
		}
		id := ids[d.r.IntN(len(ids))]
		c := d.calls[id]
		d.sameErr("hangup", d.mem.Hangup(id, c.seat, c.tok), d.red.Hangup(id, c.seat, c.tok))
		c.gone = true
		return "hangup " + id
	default:
		return d.passTime()
	}
}

// passTime moves the clock (whole milliseconds, up to 25 s) and lets both
// bring their state up to the new now.
func (d *differ) passTime() string {
	dt := time.Duration(1+d.r.IntN(25_000)) * time.Millisecond
	d.red.mu.Lock()
	next := d.red.nextAt
	d.red.mu.Unlock()
	switch m := d.r.IntN(6); {
	case m < 2 && next > d.clk.Now().UnixMilli():
		// Exactly onto the next deadline (a wrap-up end, a fallback, a
		// pause, max_wait), where >= and > part ways.
		dt = time.Duration(next-d.clk.Now().UnixMilli()) * time.Millisecond
	case m == 2:
		dt = time.Duration(d.r.IntN(3)) * time.Millisecond
	}
	d.clk.Advance(dt)
	em := d.mem.Settle()
	er := d.red.Heartbeat(context.Background())
	d.sameErr("settle", em, er)
	return "time +" + dt.String()
}

func seatLine(s agent.Seat) string {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return fmt.Sprintf("%s %s %q call=%s tok=%d since=%d idle=%d wrap=%d op=%v/%q reg=%v", s.ID, s.State, s.Reason, s.CallID,
		s.Token, ms(s.Since), ms(s.IdleSince), ms(s.WrapUpUntil), s.OperatorNotReady, s.OperatorReason, s.Registered)
}

func queueLine(q acd.QueueEntry) string {
	return fmt.Sprintf("%s %s/%s %s pos=%d seat=%s enq=%d", q.CallID, q.Priority, q.Skill, q.State, q.Position, q.Seat, q.EnqueuedAt.UnixMilli())
}

func drain(ch <-chan acd.Event) (evs []string, closed bool) {
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs, true
			}
			evs = append(evs, fmt.Sprintf("%s %s #%d", ev.Kind, ev.Seat, ev.Token))
		default:
			return evs, false
		}
	}
}

func (d *differ) compare(what string) {
	t := d.t
	pump(t, d.red)
	var ms, rs []string
	for _, s := range d.mem.Seats() {
		ms = append(ms, seatLine(s))
	}
	for _, s := range d.red.Seats() {
		rs = append(rs, seatLine(s))
	}
	if !slices.Equal(ms, rs) {
		t.Fatalf("step %d (%s): seats differ\nmemory:\n  %s\nredis:\n  %s", d.step, what, strings.Join(ms, "\n  "), strings.Join(rs, "\n  "))
	}
	var mq, rq []string
	for _, q := range d.mem.Queue() {
		mq = append(mq, queueLine(q))
	}
	for _, q := range d.red.Queue() {
		rq = append(rq, queueLine(q))
	}
	if !slices.Equal(mq, rq) {
		t.Fatalf("step %d (%s): queues differ\nmemory:\n  %s\nredis:\n  %s", d.step, what, strings.Join(mq, "\n  "), strings.Join(rq, "\n  "))
	}
	for _, id := range d.order {
		c := d.calls[id]
		if c.connected {
			continue // both channels closed on the answer
		}
		em, mclosed := drain(c.mem)
		er, rclosed := drain(c.red)
		if !slices.Equal(em, er) || mclosed != rclosed {
			t.Fatalf("step %d (%s): call %s events differ: memory %q closed=%v, redis %q closed=%v", d.step, what, id, em, mclosed, er, rclosed)
		}
		for _, e := range em {
			d.seen["event "+strings.Fields(e)[0]]++
			var kind, seat string
			var tok uint64
			fmt.Sscanf(e, "%s %s #%d", &kind, &seat, &tok)
			switch kind {
			case "offer":
				if c.tok != 0 {
					c.old = append(c.old, c.tok)
				}
				c.tok, c.seat = tok, agent.SeatID(seat)
			case "withdrawn", "ring_timeout":
				c.old, c.tok = append(c.old, c.tok), 0
			}
		}
		if mclosed && !c.connected {
			c.gone = true
		}
	}
}
