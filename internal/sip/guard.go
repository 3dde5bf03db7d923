package sip

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// The guard stands between the sockets and sipgo (issue 9): what an
// untrusted peer sends is judged before sipgo keeps anything for it.
//
//   - UDP (udpgate.go): a datagram that does not parse is answered
//     statelessly where RFC 4475 expects it (400/505/416) and dropped;
//     requests over the per-source rate limit are dropped; only then does
//     sipgo see the datagram and remember its source.
//   - TCP (tcpguard.go): connections per source and in total are capped, a
//     message must arrive whole within tcp_header_timeout, an idle
//     connection that carries no registered seat is closed after
//     tcp_idle_timeout, a message may not exceed max_message_size, and a
//     source over its rate gets 503 and a closed connection.
//
// Trusted sources (the SBC) are exempt from the limits: their flows are
// never touched. Everything dropped is counted in
// hotline_sip_dropped_total{transport,reason} and summed up in one log line
// a minute, never a line per packet.

// Limits are what an untrusted peer may cost; zero values take the
// defaults of the configuration keys (sip.max_message_size …).
type Limits struct {
	MaxMessageSize    int           // bytes, default 16384
	TCPHeaderTimeout  time.Duration // default 10s
	TCPIdleTimeout    time.Duration // default 30s
	TCPMaxPerSource   int           // default 32
	TCPMaxConnections int           // default 256
	RateLimit         int           // requests per RateWindow from one source, default 16
	RateWindow        time.Duration // default 2s
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxMessageSize, 16384)
	defDur(&l.TCPHeaderTimeout, 10*time.Second)
	defDur(&l.TCPIdleTimeout, 30*time.Second)
	def(&l.TCPMaxPerSource, 32)
	def(&l.TCPMaxConnections, 256)
	def(&l.RateLimit, 16)
	defDur(&l.RateWindow, 2*time.Second)
	return l
}

// Drop reasons: the label values of hotline_sip_dropped_total{reason}.
const (
	dropNotSIP       = "not_sip"        // UDP: not a SIP message at all
	dropMalformed    = "malformed"      // UDP: SIP that does not parse (answered 400/505/416 where possible)
	dropTooLarge     = "too_large"      // over max_message_size
	dropRateLimited  = "rate_limited"   // over sip.rate_limit
	dropSourceBudget = "source_budget"  // UDP: too many new sources at once to remember (a spoofing flood)
	dropSourceLimit  = "source_limit"   // TCP: tcp_max_per_source reached
	dropTotalLimit   = "total_limit"    // TCP: tcp_max_connections reached
	dropHeaderTime   = "header_timeout" // TCP: a message did not arrive whole in time
	dropIdleTime     = "idle_timeout"   // TCP: idle, and no registered seat's flow
)

var dropLabels = map[string][]string{
	"udp": {dropNotSIP, dropMalformed, dropTooLarge, dropRateLimited, dropSourceBudget},
	"tcp": {dropTooLarge, dropRateLimited, dropSourceLimit, dropTotalLimit, dropHeaderTime, dropIdleTime},
}

// summaryEvery is how often the dropped input is summed up in the log.
const summaryEvery = time.Minute

type guard struct {
	lim     Limits
	log     *slog.Logger
	parser  *sip.Parser
	limiter *rateLimiter
	trusted func(netip.Addr) bool
	// flowRegistered reports whether a registered seat's binding is this
	// flow (its REGISTER came from addr over transport): never idle.
	flowRegistered func(addr netip.AddrPort, transport string) bool
	// seatSource reports whether a registered seat's live binding came from
	// ip: seats are trusted by the rate limit (a seat's DTMF by SIP INFO
	// and its refreshes are no flood).
	seatSource func(ip netip.Addr) bool
	// authorized reports whether a parsed request carries a valid cluster
	// flow token (forward.go): not rate-limited either.
	authorized func(req *sip.Request) bool

	dropped *prometheus.CounterVec
	tcpOpen prometheus.Gauge

	// Since the last summary line, by "transport/reason"; sipgoLines
	// counts sipgo's per-packet log lines (logging.go).
	mu         sync.Mutex
	counts     map[string]int64
	sipgoLines atomic.Int64
}

func newGuard(lim Limits, log *slog.Logger, trusted func(netip.Addr) bool) *guard {
	lim = lim.withDefaults()
	p := sip.NewParser()
	p.MaxMessageLength = lim.MaxMessageSize
	g := &guard{
		lim: lim, log: log, parser: p, trusted: trusted,
		limiter:        newRateLimiter(lim.RateLimit, lim.RateWindow, nil),
		flowRegistered: func(netip.AddrPort, string) bool { return false },
		seatSource:     func(netip.Addr) bool { return false },
		authorized:     func(*sip.Request) bool { return false },
		counts:         map[string]int64{},
	}
	g.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_sip_dropped_total",
		Help: "SIP input from untrusted sources dropped before sipgo kept state for it (UDP datagrams) or closed (TCP connections), by transport and reason.",
	}, []string{"transport", "reason"})
	for tr, reasons := range dropLabels {
		for _, r := range reasons {
			g.dropped.WithLabelValues(tr, r)
		}
	}
	g.tcpOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_sip_tcp_connections", Help: "Open SIP TCP connections (all sources).",
	})
	return g
}

func (g *guard) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.dropped, g.tcpOpen}
}

func (g *guard) drop(transport, reason string) {
	g.dropped.WithLabelValues(transport, reason).Inc()
	g.mu.Lock()
	g.counts[transport+"/"+reason]++
	g.mu.Unlock()
}

// allow counts a request (or TCP connection attempt) of an untrusted
// source against its rate; trusted sources (the SBC, the sources of
// registered seats) are never limited.
func (g *guard) allow(ip netip.Addr, trusted bool) bool {
	return trusted || g.seatSource(ip) || g.limiter.allow(ip)
}

// run writes the summary line every summaryEvery until ctx ends.
func (g *guard) run(ctx context.Context) {
	t := time.NewTicker(summaryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.summary()
			return
		case <-t.C:
			g.summary()
		}
	}
}

// summary logs what was dropped since the last call, if anything.
func (g *guard) summary() {
	g.mu.Lock()
	counts := g.counts
	g.counts = map[string]int64{}
	g.mu.Unlock()
	sipgoLines := g.sipgoLines.Swap(0)
	if len(counts) == 0 && sipgoLines == 0 {
		return
	}
	attrs := make([]any, 0, 2*len(counts)+4)
	for k, n := range counts {
		attrs = append(attrs, k, n)
	}
	if sipgoLines > 0 {
		attrs = append(attrs, "sipgo_errors", sipgoLines)
	}
	attrs = append(attrs, "period", summaryEvery.String())
	g.log.Warn("SIP input dropped or refused (counts by transport/reason; see hotline_sip_dropped_total)", attrs...)
}
