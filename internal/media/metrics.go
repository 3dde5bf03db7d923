package media

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// dropReason is why a received datagram was ignored: the label values of
// hotline_rtp_dropped_packets_total, a small fixed set so every one of them
// is exported (at 0) from the first scrape.
type dropReason uint8

const (
	// dropMalformed: not RTP v2 (STUN, ZRTP, garbage), truncated, or longer
	// than maxPacket.
	dropMalformed dropReason = iota
	// dropRTCP: RTCP multiplexed on the RTP port (RFC 5761 §4); we do not
	// use RTCP.
	dropRTCP
	// dropStranger: from an address the peer was never announced at (not
	// its SDP c=/m=, not its signalling source). The RTP Bleed attack
	// (CVE-2017-14099) shows up here.
	dropStranger
	// dropLearning: from an announced address while the leg is still
	// learning its peer: before a run of learnPackets in-sequence packets.
	dropLearning
	// dropNotLatched: from an announced address, but not the one the leg
	// latched to; without a new offer/answer a leg never relatches.
	dropNotLatched
	// dropSRTP: on an SRTP leg, a packet that fails authentication
	// (RFC 3711 §3.3: forged, replayed, or plain RTP).
	dropSRTP
	numDropReasons
)

// dropLabels are the reason label values, indexed by dropReason.
var dropLabels = [numDropReasons]string{"malformed", "rtcp", "stranger", "learning", "not_latched", "srtp"}

// legCounters are a leg's packet counters. They live on the leg (each is
// written by one goroutine: the reader or the current sender) and are summed
// when Prometheus scrapes, so the packet paths never touch a shared cache line.
type legCounters struct {
	packetsIn, bytesIn   uint64
	packetsOut, bytesOut uint64
	relayed              uint64
	lost                 uint64
	dropped              [numDropReasons]uint64
	sendErrors           uint64
	digits               uint64
}

func (c *legCounters) droppedTotal() uint64 {
	var n uint64
	for _, v := range c.dropped {
		n += v
	}
	return n
}

func (c *legCounters) add(o legCounters) {
	c.packetsIn += o.packetsIn
	c.bytesIn += o.bytesIn
	c.packetsOut += o.packetsOut
	c.bytesOut += o.bytesOut
	c.relayed += o.relayed
	c.lost += o.lost
	for i := range c.dropped {
		c.dropped[i] += o.dropped[i]
	}
	c.sendErrors += o.sendErrors
	c.digits += o.digits
}

// atomicCounters is the live form of legCounters.
type atomicCounters struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	relayed              atomic.Uint64
	lost                 atomic.Uint64
	dropped              [numDropReasons]atomic.Uint64
	sendErrors           atomic.Uint64
	digits               atomic.Uint64
}

func (a *atomicCounters) drop(r dropReason) { a.dropped[r].Add(1) }

func (a *atomicCounters) load() legCounters {
	c := legCounters{
		packetsIn:  a.packetsIn.Load(),
		bytesIn:    a.bytesIn.Load(),
		packetsOut: a.packetsOut.Load(),
		bytesOut:   a.bytesOut.Load(),
		relayed:    a.relayed.Load(),
		lost:       a.lost.Load(),
		sendErrors: a.sendErrors.Load(),
		digits:     a.digits.Load(),
	}
	for i := range c.dropped {
		c.dropped[i] = a.dropped[i].Load()
	}
	return c
}

// metrics: every name is hotline_rtp_*, and no label ever identifies a call.
type metrics struct {
	e *Engine

	lateTicks   prometheus.Counter
	skipped     prometheus.Counter
	catchUp     prometheus.Counter
	inactivity  prometheus.Counter
	tickSeconds prometheus.Histogram

	legs, ports            *prometheus.Desc
	packets, bytes         *prometheus.Desc
	relayed, lost, dropped *prometheus.Desc
	sendErrors, digits     *prometheus.Desc
	bridges, mixers        *prometheus.Desc
	pacerLegs, shardsDesc  *prometheus.Desc

	activeBridges atomic.Int64
	activeMixers  atomic.Int64
}

func newMetrics(e *Engine) *metrics {
	return &metrics{
		e: e,
		lateTicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_rtp_late_ticks_total",
			Help: "Pacer ticks that woke up a whole frame (20 ms) or more late.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_rtp_skipped_frames_total",
			Help: "Frames not sent because the pacer was later than the catch-up bound (100 ms); their time still passes in the RTP timestamps.",
		}),
		catchUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_rtp_catchup_frames_total",
			Help: "Frames sent late, in a burst, to catch up after a late pacer tick.",
		}),
		inactivity: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_rtp_inactivity_timeouts_total",
			Help: "Legs ended because no RTP arrived for the inactivity timeout.",
		}),
		tickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_rtp_pacer_tick_seconds",
			Help:    "Time one shared pacer shard spends sending one 20 ms round of frames.",
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.04},
		}),
		legs:       prometheus.NewDesc("hotline_rtp_legs", "Open RTP legs.", nil, nil),
		ports:      prometheus.NewDesc("hotline_rtp_ports_in_use", "RTP ports bound by this engine.", nil, nil),
		packets:    prometheus.NewDesc("hotline_rtp_packets_total", "RTP packets received (in) and sent (out), relayed ones included.", []string{"direction"}, nil),
		bytes:      prometheus.NewDesc("hotline_rtp_bytes_total", "RTP bytes (UDP payload) received (in) and sent (out).", []string{"direction"}, nil),
		relayed:    prometheus.NewDesc("hotline_rtp_relayed_packets_total", "RTP packets relayed from one leg of a bridge to the other.", nil, nil),
		lost:       prometheus.NewDesc("hotline_rtp_lost_packets_total", "RTP packets missing from received sequence numbers (RFC 3550 A.3).", nil, nil),
		dropped:    prometheus.NewDesc("hotline_rtp_dropped_packets_total", "Received datagrams ignored, by reason: malformed, rtcp, stranger (from an address the peer was never announced at), learning (before the leg latched to its peer), not_latched (from another announced address once latched).", []string{"reason"}, nil),
		sendErrors: prometheus.NewDesc("hotline_rtp_send_errors_total", "RTP sends that failed.", nil, nil),
		digits:     prometheus.NewDesc("hotline_rtp_dtmf_digits_total", "RFC 4733 key presses detected.", nil, nil),
		bridges:    prometheus.NewDesc("hotline_rtp_bridges", "Active bridges (relays between two legs).", nil, nil),
		mixers:     prometheus.NewDesc("hotline_rtp_mixers", "Active mixers (supervised calls, conferences: more than two legs).", nil, nil),
		pacerLegs:  prometheus.NewDesc("hotline_rtp_pacer_legs", "Legs scheduled on the shared pacer.", nil, nil),
		shardsDesc: prometheus.NewDesc("hotline_rtp_pacer_shards", "Shared pacer goroutines.", nil, nil),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.lateTicks, m.skipped, m.catchUp, m.inactivity, m.tickSeconds, m} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.legs, m.ports, m.packets, m.bytes, m.relayed, m.lost, m.dropped, m.sendErrors, m.digits, m.bridges, m.mixers, m.pacerLegs, m.shardsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it sums the live legs' counters
// and those of closed legs, under the engine lock so a leg closing during a
// scrape is counted exactly once.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	e := m.e
	e.mu.Lock()
	total := e.retired
	for l := range e.legs {
		total.add(l.counters())
	}
	nLegs, nPorts := len(e.legs), len(e.ports)
	e.mu.Unlock()
	var pacerLegs int
	for _, s := range e.shards {
		pacerLegs += int(s.count.Load())
	}

	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge(m.legs, float64(nLegs))
	gauge(m.ports, float64(nPorts))
	counter(m.packets, total.packetsIn, "in")
	counter(m.packets, total.packetsOut, "out")
	counter(m.bytes, total.bytesIn, "in")
	counter(m.bytes, total.bytesOut, "out")
	counter(m.relayed, total.relayed)
	counter(m.lost, total.lost)
	for r, label := range dropLabels {
		counter(m.dropped, total.dropped[r], label)
	}
	counter(m.sendErrors, total.sendErrors)
	counter(m.digits, total.digits)
	gauge(m.bridges, float64(m.activeBridges.Load()))
	gauge(m.mixers, float64(m.activeMixers.Load()))
	gauge(m.pacerLegs, float64(pacerLegs))
	gauge(m.shardsDesc, float64(len(e.shards)))
}
