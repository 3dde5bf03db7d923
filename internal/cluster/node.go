package cluster

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/sip"
)

//go:embed acd.lua
var acdLua string

var acdScript = redis.NewScript(acdLua)

// Options configure a Node.
type Options struct {
	NodeID        string
	AdvertiseSIP  string // cluster.advertise_sip
	AdvertiseHTTP string // cluster.advertise_http
	// Heartbeat is cluster.heartbeat (default 1s); NodeTimeout is
	// cluster.node_timeout (default 5s): a node silent this long is dead.
	Heartbeat   time.Duration
	NodeTimeout time.Duration
	// ACD carries the ACD's parameters (ring timeout — the ring watchdog —,
	// wrap-up, max wait, skill fallback, decline pause) into the script.
	ACD acd.Config
	// Seats are the configured seats; a seat new to the shared state
	// starts offline.
	Seats []agent.Seat
	// Prefix of every key, with its hash tag; default "{hotline}".
	Prefix string
	// WaitReplicas: after every write, WAIT for this many replicas (bounded
	// by WaitTimeout) on the same connection; 1 with Sentinel, else 0.
	WaitReplicas int
	WaitTimeout  time.Duration
	Log          *slog.Logger
	Registerer   prometheus.Registerer
	// Now, when set, is the clock passed to the script instead of the
	// Redis server's TIME: tests only.
	Now func() time.Time
	// Manual: no background goroutines (heartbeat, timer, stream reader);
	// tests drive them with Heartbeat, Settle and Pump.
	Manual bool
}

// Node is this node's part of the cluster: the shared ACD (acd.Floor),
// the seats' registrations (Bindings), the list of nodes (Nodes).
type Node struct {
	opt  Options
	rdb  redis.UniversalClient
	log  *slog.Logger
	boot string
	keys []string
	cfg  string // the script's config argument
	m    *metrics

	// ops serialises re-assertion against the steps that depend on it.
	assertMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	up       bool   // the last exchange with Redis worked
	everUp   bool   // it has worked once
	joined   bool   // join has run on the current shared state
	gen      string // the shared state's generation, as last seen
	stale    bool   // the shared state may lack what this node holds: re-assert
	dead     bool   // another process took this node id: no more steps
	calls    map[string]*localCall
	subs     acd.Fanout
	held     map[string]sip.Binding // registrations through this node's sockets, by seat
	flags    map[string]seatFlags   // operators' not_ready choices, from the stream
	pending  []report               // reports to replay once Redis is back
	maxSeq   uint64
	maxTok   uint64
	lastID   string // stream position
	lastTick string // ticket stream position
	seats    []agent.Seat
	due      time.Time // when the timer fires
	nextAt   int64     // the next deadline the script reported (ms, its clock)
	timer    *time.Timer
	beats    int
	revs     chan revisionOut
	remote   func(TicketEvent)

	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

type seatFlags struct {
	ID  string `json:"id"`
	ONR bool   `json:"onr"`
	ORS string `json:"ors"`
}

// Start connects this node to the cluster: it joins (seats, its previous
// boot reaped), then heartbeats, reads the stream and keeps the timer
// until Close. Redis being unreachable at start is not an error: the node
// runs degraded and joins when Redis answers.
func Start(ctx context.Context, rdb redis.UniversalClient, opt Options) (*Node, error) {
	if opt.NodeID == "" {
		return nil, errors.New("cluster: node_id is empty")
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = time.Second
	}
	if opt.NodeTimeout <= 0 {
		opt.NodeTimeout = 5 * time.Second
	}
	if opt.NodeTimeout < 2*opt.Heartbeat {
		return nil, fmt.Errorf("cluster: node_timeout %v must be at least twice the heartbeat %v", opt.NodeTimeout, opt.Heartbeat)
	}
	if opt.Prefix == "" {
		opt.Prefix = "{hotline}"
	}
	if opt.WaitTimeout <= 0 {
		opt.WaitTimeout = 100 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	n := &Node{
		opt: opt, rdb: rdb, log: opt.Log, boot: hex.EncodeToString(b),
		keys:  []string{opt.Prefix + ":gen"},
		calls: map[string]*localCall{},
		held:  map[string]sip.Binding{}, flags: map[string]seatFlags{},
		lastID: "$", lastTick: "$",
		timer: time.NewTimer(time.Hour),
		revs:  make(chan revisionOut, 256),
		wake:  make(chan struct{}, 1), stop: make(chan struct{}),
	}
	n.timer.Stop()
	cfg, _ := json.Marshal(map[string]int64{
		"ring": ms(max(opt.ACD.RingTimeout, 0)), "wrap": ms(max(opt.ACD.WrapUp, 0)), "maxwait": ms(opt.ACD.MaxWait), "fallback": ms(max(opt.ACD.SkillFallback, 0)),
		"pause": ms(max(opt.ACD.DeclinePause, 0)), "timeout": ms(opt.NodeTimeout), "suspect": ms(max(opt.NodeTimeout/2, 2*opt.Heartbeat)),
		"freeze": ms(2*opt.Heartbeat + time.Second), "leavegrace": ms(LeaveGrace), "maxlen": 20000,
	})
	n.cfg = string(cfg)
	m, err := newMetrics(n, opt.Registerer)
	if err != nil {
		return nil, err
	}
	n.m = m
	if err := n.join(ctx); err != nil {
		if !errors.Is(err, acd.ErrUnavailable) {
			return nil, err
		}
		n.log.Error("redis unreachable at start: running degraded (new callers go to voicemail) until it answers", "error", err)
	}
	if n.Up() {
		// Follow the streams from here: every change after the join.
		if id, err := n.newest(ctx, opt.Prefix+":ev"); err == nil {
			n.lastID = id
		}
		if id, err := n.newest(ctx, opt.Prefix+":tick"); err == nil {
			n.lastTick = id
		}
	}
	if !opt.Manual {
		n.wg.Go(n.heartbeats)
		n.wg.Go(n.timerLoop)
		n.wg.Go(n.reader)
		n.wg.Go(n.publishRevisions)
	}
	return n, nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// LeaveGrace is how long a node that left gracefully (SIGTERM, drained:
// a rolling upgrade) keeps the UDP registrations of the seats that came
// through it: restarted within it, with the same node_id and address, it
// takes them back and its seats never went offline. Meanwhile no call is
// offered to them. Past it, those seats go offline until their phones
// register again.
const LeaveGrace = 10 * time.Minute

// Self is this node's id.
func (n *Node) Self() string { return n.opt.NodeID }

// Boot is this process's random boot id.
func (n *Node) Boot() string { return n.boot }

// Up reports whether Redis answered the last exchange.
func (n *Node) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up && n.joined && !n.dead
}

// Degraded says why this node cannot use the shared state ("" when it can).
func (n *Node) Degraded() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.dead:
		return "another process runs as this node_id: this one takes no queue work"
	case !n.up:
		return "redis unreachable: new callers go to voicemail"
	case !n.joined:
		return "not joined to the cluster yet"
	}
	return ""
}

// Close stops the node's goroutines. It does not leave the cluster: call
// Leave first after a graceful drain. Safe to call twice.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for id, c := range n.calls {
		if !c.connected {
			close(c.ch)
		}
		delete(n.calls, id)
	}
	n.subs.Close()
	n.timer.Stop()
	close(n.stop)
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}

// reply is what the script returns.
type reply struct {
	R      json.RawMessage `json:"r"`
	Next   int64           `json:"next"`
	Now    int64           `json:"now"`
	Claims int             `json:"claims"`
}

// scriptError is an error the script raised: a refusal, not a failure.
type scriptError struct {
	code, msg string
}

func (e *scriptError) Error() string { return "cluster: " + e.code + " " + e.msg }

// Unwrap maps the script's codes to the acd and agent errors.
func (e *scriptError) Unwrap() []error {
	switch e.code {
	case "NOTOFFERED":
		if strings.Contains(e.msg, "is not queued") {
			return []error{acd.ErrNotOffered, acd.ErrUnknownCall}
		}
		return []error{acd.ErrNotOffered}
	case "UNKNOWNCALL":
		return []error{acd.ErrUnknownCall}
	case "DUPLICATE":
		return []error{acd.ErrDuplicateCall}
	case "UNKNOWNSEAT":
		return []error{acd.ErrUnknownSeat}
	case "NOTCONNECTED":
		return []error{acd.ErrNotConnected}
	case "OFFLINE":
		return []error{agent.ErrOffline}
	case "BADSTATE":
		return []error{agent.ErrBadState}
	case "STATE":
		return []error{agent.ErrIllegalTransition}
	case "INUSE":
		return []error{ErrNodeIDInUse}
	}
	return nil
}

var scriptCodes = []string{"NOTOFFERED", "UNKNOWNCALL", "DUPLICATE", "UNKNOWNSEAT", "NOTCONNECTED", "OFFLINE",
	"BADSTATE", "STATE", "REAPED", "LOST", "SUPERSEDED", "INUSE", "BADOP"}

// ErrNodeIDInUse: another live node runs with this node_id (a
// configuration mistake that would make the two reap each other's calls).
var ErrNodeIDInUse = errors.New("cluster: node_id in use by another live node")

func asScriptError(err error) (*scriptError, bool) {
	var re redis.Error
	if !errors.As(err, &re) {
		return nil, false
	}
	msg := re.Error()
	for _, c := range scriptCodes {
		if i := strings.Index(msg, c+" "); i >= 0 && (i == 0 || msg[i-1] == ' ' || msg[i-1] == ':') {
			rest := msg[i+len(c)+1:]
			if j := strings.Index(rest, " script:"); j >= 0 {
				rest = rest[:j]
			}
			return &scriptError{code: c, msg: strings.TrimSpace(rest)}, true
		}
	}
	return nil, false
}

// opTimeout bounds one script run, WAIT included.
const opTimeout = 2 * time.Second

// run runs one operation of the script. A node found reaped or a lost
// state is re-asserted and the operation tried once more; Redis
// unreachable is acd.ErrUnavailable (and marks the node down).
func (n *Node) run(ctx context.Context, op string, out any, args ...any) error {
	for attempt := 0; ; attempt++ {
		err := n.runOnce(ctx, op, out, args...)
		var se *scriptError
		if !errors.As(err, &se) || attempt > 0 {
			return err
		}
		switch se.code {
		case "REAPED", "LOST":
			n.log.Warn("cluster: the shared state lost what this node holds: re-asserting", "why", se.code, "op", op)
			n.markStale()
			if aerr := n.reassert(ctx); aerr != nil {
				return aerr
			}
			continue
		case "SUPERSEDED":
			n.supersede(se)
			return fmt.Errorf("cluster: %w: %w", acd.ErrUnavailable, err)
		}
		return err
	}
}

func (n *Node) runOnce(ctx context.Context, op string, out any, args ...any) error {
	n.mu.Lock()
	dead := n.dead
	n.mu.Unlock()
	if dead {
		return fmt.Errorf("cluster: %s: superseded: %w", op, acd.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	now := "0"
	if n.opt.Now != nil {
		now = fmt.Sprint(n.opt.Now().UnixMilli())
	}
	argv := append([]any{op, n.opt.NodeID, n.boot, now, n.cfg}, args...)
	var (
		text string
		err  error
	)
	if n.opt.WaitReplicas > 0 && op != "position" {
		text, err = n.runWait(ctx, argv)
	} else {
		text, err = acdScript.Run(ctx, n.rdb, n.keys, argv...).Text()
	}
	if err != nil {
		if se, ok := asScriptError(err); ok {
			if se.code == "NOTOFFERED" || se.code == "NOTCONNECTED" {
				n.m.claims.WithLabelValues("stale").Inc()
			}
			return fmt.Errorf("cluster: %s: %w", op, se)
		}
		if unreachable(err) {
			n.setUp(false, err)
			return fmt.Errorf("cluster: %s: %w: %w", op, acd.ErrUnavailable, err)
		}
		return fmt.Errorf("cluster: %s: %w", op, err)
	}
	n.setUp(true, nil)
	var r reply
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return fmt.Errorf("cluster: %s: reply %q: %w", op, text, err)
	}
	if r.Claims > 0 {
		n.m.claims.WithLabelValues("offered").Add(float64(r.Claims))
	}
	n.mu.Lock()
	n.nextAt = r.Next
	n.mu.Unlock()
	n.arm(r.Now, r.Next)
	if out != nil && len(r.R) > 0 && string(r.R) != "null" {
		if err := json.Unmarshal(r.R, out); err != nil {
			return fmt.Errorf("cluster: %s: result %s: %w", op, r.R, err)
		}
	}
	return nil
}

// runWait runs the script and WAITs for a replica on the same connection
// (a pipeline is one connection: WAIT counts the writes of the connection
// that made them).
func (n *Node) runWait(ctx context.Context, argv []any) (string, error) {
	for attempt := 0; ; attempt++ {
		pipe := n.rdb.Pipeline()
		cmd := acdScript.EvalSha(ctx, pipe, n.keys, argv...)
		wait := pipe.Do(ctx, "WAIT", n.opt.WaitReplicas, n.opt.WaitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx)
		text, err := cmd.Text()
		if err != nil && attempt == 0 && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			if lerr := acdScript.Load(ctx, n.rdb).Err(); lerr != nil {
				return "", lerr
			}
			continue
		}
		if err == nil {
			if got, werr := wait.Int(); werr == nil && got < n.opt.WaitReplicas {
				n.m.unreplicated.Inc()
			}
		}
		return text, err
	}
}

// supersede: another process runs as this node id now. This one takes no
// more queue work (its calls in progress finish without the ACD).
func (n *Node) supersede(se *scriptError) {
	n.mu.Lock()
	n.dead = true
	n.mu.Unlock()
	n.log.Error("cluster: another process has joined with this node_id: this one stops taking queue work; give every node its own node_id", "detail", se.msg)
}

// setUp records whether Redis answers, and says so once per change.
func (n *Node) setUp(up bool, err error) {
	n.mu.Lock()
	was, everUp := n.up, n.everUp
	n.up = up
	if up {
		n.everUp = true
	}
	if !up {
		n.stale = true // whatever happens next, re-assert when back
	}
	n.mu.Unlock()
	if was == up {
		return
	}
	if up {
		if everUp {
			n.log.Info("cluster: redis reachable again")
		} else {
			n.log.Info("cluster: connected to redis")
		}
		n.m.redisUp.Set(1)
	} else {
		n.log.Error("cluster: redis unreachable: new callers go to voicemail, connected calls go on; retrying", "error", err)
		n.m.redisUp.Set(0)
	}
}

func (n *Node) markStale() {
	n.mu.Lock()
	n.stale = true
	n.mu.Unlock()
}

// arm sets the timer for the next deadline the script reported (server
// time: the delay, not the instant, is what crosses between clocks).
func (n *Node) arm(now, next int64) {
	if next <= 0 || n.opt.Manual {
		return
	}
	at := time.Now().Add(time.Duration(next-now) * time.Millisecond)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || (!n.due.IsZero() && !at.Before(n.due) && n.due.After(time.Now())) {
		return
	}
	n.due = at
	n.timer.Reset(time.Until(at))
}

func (n *Node) timerLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.timer.C:
			n.mu.Lock()
			n.due = time.Time{}
			n.mu.Unlock()
			if err := n.Settle(context.Background()); err != nil && !errors.Is(err, acd.ErrUnavailable) {
				n.log.Warn("cluster: settle", "error", err)
			}
		}
	}
}

// Settle brings the shared state up to now (deadlines due, dead nodes
// reaped) and dispatches.
func (n *Node) Settle(ctx context.Context) error {
	if !n.Up() {
		return fmt.Errorf("cluster: settle: %w", acd.ErrUnavailable)
	}
	return n.run(ctx, "settle", nil)
}

type joinArgs struct {
	Rejoin bool       `json:"rejoin"`
	SIP    string     `json:"sip"`
	HTTP   string     `json:"http"`
	Gen    string     `json:"gen"`
	Seats  []seatConf `json:"seats"`
}

type seatConf struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Skills []string `json:"skills"`
}

// join makes this boot the node's current one and writes the configured
// seats; it reaps the node's previous boot.
func (n *Node) join(ctx context.Context) error {
	g := make([]byte, 8)
	_, _ = rand.Read(g)
	n.mu.Lock()
	rejoin := n.joined || n.gen != ""
	n.mu.Unlock()
	j := joinArgs{Rejoin: rejoin, SIP: n.opt.AdvertiseSIP, HTTP: n.opt.AdvertiseHTTP, Gen: hex.EncodeToString(g)}
	for _, s := range n.opt.Seats {
		skills := s.Skills
		if skills == nil {
			skills = []string{}
		}
		j.Seats = append(j.Seats, seatConf{ID: string(s.ID), Name: s.Name, Skills: skills})
	}
	b, _ := json.Marshal(j)
	var res struct {
		Gen   string `json:"gen"`
		Fresh bool   `json:"fresh"`
	}
	if err := n.runOnce(ctx, "join", &res, string(b)); err != nil {
		var se *scriptError
		if errors.As(err, &se) && se.code == "SUPERSEDED" {
			n.supersede(se)
			return fmt.Errorf("cluster: %w: %w", acd.ErrUnavailable, err)
		}
		return err
	}
	n.mu.Lock()
	n.gen, n.joined = res.Gen, true
	n.mu.Unlock()
	if res.Fresh {
		n.log.Info("cluster: created the shared state", "generation", res.Gen)
	}
	n.log.Info("cluster: joined", "node_id", n.opt.NodeID, "boot", n.boot)
	return nil
}
