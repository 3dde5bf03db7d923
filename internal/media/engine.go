package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PacerMode selects how legs are paced. Both exist so they can be measured
// against each other (BenchmarkPacer); PacerShared is the one to run.
type PacerMode int

const (
	// PacerShared: PacerShards goroutines each tick every 20 ms over their
	// set of legs. Cost grows with packets, not with goroutine wake-ups.
	PacerShared PacerMode = iota
	// PacerPerLeg: one goroutine and one timer per leg.
	PacerPerLeg
)

func (m PacerMode) String() string {
	if m == PacerPerLeg {
		return "per-leg"
	}
	return "shared"
}

// Config configures an Engine.
type Config struct {
	// BindIP is the local address RTP sockets bind to (media.rtp_ip).
	BindIP netip.Addr
	// PortMin, PortMax: the RTP port range. Only even ports are handed out
	// (RFC 3550 §11: RTP on even, RTCP on the next odd port), drawn at
	// random. PortMin = PortMax = 0 lets the kernel choose (tests only).
	PortMin, PortMax int
	// Inactivity: a leg whose peer should be sending but has sent no RTP
	// for this long ends with ErrInactivity. Suspended while the peer holds
	// (our direction sendonly or inactive). 0 disables the check.
	Inactivity time.Duration
	// PacerShards is the number of shared pacer goroutines; 0 means
	// runtime.GOMAXPROCS(0).
	PacerShards int
	// PacerMode: PacerShared (default) or PacerPerLeg.
	PacerMode PacerMode
}

const (
	frameDur = 20 * time.Millisecond
	frameNS  = int64(frameDur)
	// maxCatchUp bounds how many overdue frames one leg sends in a burst when
	// the pacer was late (GC, overload); older frames are skipped, their
	// timestamps still advancing so the receiver sees the gap as time.
	maxCatchUp = 5
	// portTries: how many random even ports NewLeg tries before it walks the
	// range for a free one.
	portTries = 16
	// bridgeFillAfter: while bridged, if nothing was relayed into a leg for
	// this long, its pacer sends silence again so carriers never see an RTP
	// timeout (e.g. the other phone uses silence suppression or holds).
	bridgeFillAfter = int64(500 * time.Millisecond)
	// digitBuffer is the capacity of Leg.Digits().
	digitBuffer = 32
	// maxPacket: larger datagrams are truncated and ignored as malformed.
	maxPacket = 1500
)

// Engine owns the RTP port pool, the pacer and the metrics for all legs.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	epoch time.Time

	mu      sync.Mutex
	closed  bool
	legs    map[*Leg]struct{}
	ports   map[int]struct{}
	retired legCounters // counters of closed legs, so totals stay monotonic

	// bridgeMu serialises Bridge set-up and tear-down (never held on a
	// packet path), so that two bridges cannot claim the same leg.
	bridgeMu sync.Mutex

	shards    []*shard
	nextShard atomic.Uint32
	stop      chan struct{}
	wg        sync.WaitGroup

	m *metrics
}

// NewEngine validates cfg, registers the hotline_rtp_* metrics on reg (nil:
// no metrics) and starts the shared pacer shards.
func NewEngine(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.BindIP.IsValid() {
		return nil, fmt.Errorf("media: new engine: BindIP not set: %w", ErrBadConfig)
	}
	switch {
	case cfg.PortMin == 0 && cfg.PortMax == 0:
	case cfg.PortMin < 1 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax:
		return nil, fmt.Errorf("media: new engine: port range %d-%d: %w", cfg.PortMin, cfg.PortMax, ErrBadConfig)
	}
	if cfg.PortMin%2 != 0 {
		cfg.PortMin++
	}
	if cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("media: new engine: port range %d-%d holds no even port: %w", cfg.PortMin, cfg.PortMax, ErrBadConfig)
	}
	if cfg.Inactivity < 0 {
		return nil, fmt.Errorf("media: new engine: negative inactivity: %w", ErrBadConfig)
	}
	if cfg.PacerShards <= 0 {
		cfg.PacerShards = runtime.GOMAXPROCS(0)
	}
	if cfg.PacerMode != PacerShared && cfg.PacerMode != PacerPerLeg {
		return nil, fmt.Errorf("media: new engine: pacer mode %d: %w", cfg.PacerMode, ErrBadConfig)
	}
	e := &Engine{
		cfg:   cfg,
		log:   logger,
		epoch: time.Now(),
		legs:  make(map[*Leg]struct{}),
		ports: make(map[int]struct{}),
		stop:  make(chan struct{}),
	}
	e.m = newMetrics(e)
	if reg != nil {
		if err := e.m.register(reg); err != nil {
			return nil, fmt.Errorf("media: new engine: register metrics: %w", err)
		}
	}
	if cfg.PacerMode == PacerShared {
		e.shards = make([]*shard, cfg.PacerShards)
		for i := range e.shards {
			s := &shard{e: e, idx: i, n: cfg.PacerShards}
			e.shards[i] = s
			e.wg.Add(1)
			go s.run()
		}
	}
	return e, nil
}

// now is the engine's monotonic clock in nanoseconds.
func (e *Engine) now() int64 { return int64(time.Since(e.epoch)) }

// since converts a wall time (with its monotonic reading) to engine ns.
func (e *Engine) since(t time.Time) int64 { return int64(t.Sub(e.epoch)) }

// NewLeg binds a UDP socket on a free even port of the range, drawn at
// random (ports another process holds are skipped: we try to bind and draw
// again), and returns an idle leg. Start it once the SDP exchange is done.
func (e *Engine) NewLeg(logger *slog.Logger) (*Leg, error) {
	if logger == nil {
		logger = e.log
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("media: new leg: %w", ErrClosed)
	}
	conn, port, err := e.bindLocked()
	if err != nil {
		return nil, fmt.Errorf("media: new leg: %w", err)
	}
	l := newLeg(e, conn, port, logger.With("rtp_port", port))
	e.legs[l] = struct{}{}
	return l, nil
}

// bindLocked picks the leg's port. Sequential ports told an attacker the
// next call's port from the last one's (RTP Bleed needs only the port); a
// random draw from the whole range does not (RFC 6056 §3.3.1, the same idea
// for ephemeral ports). After portTries draws that were taken, the range is
// walked once from a random point, so a free port is found whenever one is
// left; the walk only happens in a range that is nearly full.
func (e *Engine) bindLocked() (*net.UDPConn, int, error) {
	network := "udp4"
	if e.cfg.BindIP.Is6() && !e.cfg.BindIP.Is4In6() {
		network = "udp6"
	}
	listen := func(port int) (*net.UDPConn, error) {
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.cfg.BindIP.Unmap(), uint16(port))))
	}
	if e.cfg.PortMin == 0 && e.cfg.PortMax == 0 {
		conn, err := listen(0)
		if err != nil {
			return nil, 0, fmt.Errorf("bind %s: %w", e.cfg.BindIP, err)
		}
		port := conn.LocalAddr().(*net.UDPAddr).Port
		e.ports[port] = struct{}{}
		return conn, port, nil
	}
	evens := (e.cfg.PortMax-e.cfg.PortMin)/2 + 1
	var lastErr error
	try := func(port int) *net.UDPConn {
		if _, used := e.ports[port]; used {
			return nil
		}
		conn, err := listen(port)
		if err != nil {
			lastErr = err // taken by someone else: try another
			return nil
		}
		e.ports[port] = struct{}{}
		return conn
	}
	// math/rand/v2's top-level source is ChaCha8 seeded by the runtime from
	// the OS: one port seen tells nothing about the next.
	for range min(portTries, evens) {
		port := e.cfg.PortMin + 2*rand.IntN(evens)
		if conn := try(port); conn != nil {
			return conn, port, nil
		}
	}
	start := rand.IntN(evens)
	for i := range evens {
		port := e.cfg.PortMin + 2*((start+i)%evens)
		if conn := try(port); conn != nil {
			return conn, port, nil
		}
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w in %d-%d (last error: %w)", ErrNoFreePort, e.cfg.PortMin, e.cfg.PortMax, lastErr)
	}
	return nil, 0, fmt.Errorf("%w in %d-%d", ErrNoFreePort, e.cfg.PortMin, e.cfg.PortMax)
}

// release is called by Leg.Close.
func (e *Engine) release(l *Leg) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.legs[l]; !ok {
		return
	}
	delete(e.legs, l)
	delete(e.ports, l.port)
	e.retired.add(l.counters())
}

// pickShard spreads legs over the shards round-robin.
func (e *Engine) pickShard() *shard {
	i := e.nextShard.Add(1)
	return e.shards[int(i)%len(e.shards)]
}

// Close closes every leg, stops the pacer and waits for all goroutines.
// Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	legs := make([]*Leg, 0, len(e.legs))
	for l := range e.legs {
		legs = append(legs, l)
	}
	e.mu.Unlock()
	var errs []error
	for _, l := range legs {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	close(e.stop)
	e.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("media: close engine: %w", err)
	}
	return nil
}

// Legs is the number of open legs.
func (e *Engine) Legs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.legs)
}
