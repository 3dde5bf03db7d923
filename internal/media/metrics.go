package media

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// legCounters are a leg's packet counters. They live on the leg (each is
// written by one goroutine: the reader or the current sender) and are summed
// when Prometheus scrapes, so the packet paths never touch a shared cache line.
type legCounters struct {
	packetsIn, bytesIn   uint64
	packetsOut, bytesOut uint64
	relayed              uint64
	lost                 uint64
	dropMalformed        uint64
	dropRTCP             uint64
	dropUnlatched        uint64
	sendErrors           uint64
	digits               uint64
}

func (c *legCounters) add(o legCounters) {
	c.packetsIn += o.packetsIn
	c.bytesIn += o.bytesIn
	c.packetsOut += o.packetsOut
	c.bytesOut += o.bytesOut
	c.relayed += o.relayed
	c.lost += o.lost
	c.dropMalformed += o.dropMalformed
	c.dropRTCP += o.dropRTCP
	c.dropUnlatched += o.dropUnlatched
	c.sendErrors += o.sendErrors
	c.digits += o.digits
}

// atomicCounters is the live form of legCounters.
type atomicCounters struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	relayed              atomic.Uint64
	lost                 atomic.Uint64
	dropMalformed        atomic.Uint64
	dropRTCP             atomic.Uint64
	dropUnlatched        atomic.Uint64
	sendErrors           atomic.Uint64
	digits               atomic.Uint64
}

func (a *atomicCounters) load() legCounters {
	return legCounters{
		packetsIn:     a.packetsIn.Load(),
		bytesIn:       a.bytesIn.Load(),
		packetsOut:    a.packetsOut.Load(),
		bytesOut:      a.bytesOut.Load(),
		relayed:       a.relayed.Load(),
		lost:          a.lost.Load(),
		dropMalformed: a.dropMalformed.Load(),
		dropRTCP:      a.dropRTCP.Load(),
		dropUnlatched: a.dropUnlatched.Load(),
		sendErrors:    a.sendErrors.Load(),
		digits:        a.digits.Load(),
	}
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
	bridges                *prometheus.Desc
	pacerLegs, shardsDesc  *prometheus.Desc

	activeBridges atomic.Int64
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
		dropped:    prometheus.NewDesc("hotline_rtp_dropped_packets_total", "Received datagrams ignored, by reason.", []string{"reason"}, nil),
		sendErrors: prometheus.NewDesc("hotline_rtp_send_errors_total", "RTP sends that failed.", nil, nil),
		digits:     prometheus.NewDesc("hotline_rtp_dtmf_digits_total", "RFC 4733 key presses detected.", nil, nil),
		bridges:    prometheus.NewDesc("hotline_rtp_bridges", "Active bridges (relays between two legs).", nil, nil),
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
	for _, d := range []*prometheus.Desc{m.legs, m.ports, m.packets, m.bytes, m.relayed, m.lost, m.dropped, m.sendErrors, m.digits, m.bridges, m.pacerLegs, m.shardsDesc} {
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
	counter(m.dropped, total.dropMalformed, "malformed")
	counter(m.dropped, total.dropRTCP, "rtcp")
	counter(m.dropped, total.dropUnlatched, "unlatched_source")
	counter(m.sendErrors, total.sendErrors)
	counter(m.digits, total.digits)
	gauge(m.bridges, float64(m.activeBridges.Load()))
	gauge(m.pacerLegs, float64(pacerLegs))
	gauge(m.shardsDesc, float64(len(e.shards)))
}
