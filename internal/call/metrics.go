package call

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/ticket"
)

// Metrics are the call-level series of SPEC §10. Label values are known
// from the configuration and start at 0, so dashboards and alerts never see
// a missing series. Caller numbers are never a label.
type Metrics struct {
	active        prometheus.Gauge
	offeredC      *prometheus.CounterVec
	abandonedC    *prometheus.CounterVec
	endedC        *prometheus.CounterVec
	answeredByIVR prometheus.Counter
}

// NewMetrics registers the call metrics on reg for the given queues.
func NewMetrics(reg prometheus.Registerer, queues []string) (*Metrics, error) {
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_active_calls", Help: "Calls in progress on this node (IVR, queue, talking).",
		}),
		offeredC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_offered_total", Help: "Calls offered to the hotline, by queue (the general queue for calls that chose nothing).",
		}, []string{"queue"}),
		abandonedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_abandoned_total", Help: "Calls the caller gave up, by queue and stage (ivr, queue, ringing).",
		}, []string{"queue", "stage"}),
		endedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_ended_total", Help: "Calls ended, by ticket outcome.",
		}, []string{"outcome"}),
		answeredByIVR: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_calls_ivr_answered_total", Help: "Calls the switch answered (200 OK) and put into the IVR.",
		}),
	}
	for _, q := range queues {
		m.offeredC.WithLabelValues(q)
		for _, st := range []string{ticket.StageIVR, ticket.StageQueue, ticket.StageRinging} {
			m.abandonedC.WithLabelValues(q, st)
		}
	}
	for _, o := range []string{ticket.OutcomeAnswered, ticket.OutcomeAbandoned, ticket.OutcomeVoicemail, ticket.OutcomeRejected, ticket.OutcomeInterrupted} {
		m.endedC.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{m.active, m.offeredC, m.abandonedC, m.endedC, m.answeredByIVR} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("call: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) offered(queue string)          { m.offeredC.WithLabelValues(queue).Inc() }
func (m *Metrics) abandoned(queue, stage string) { m.abandonedC.WithLabelValues(queue, stage).Inc() }
func (m *Metrics) ended(outcome string)          { m.endedC.WithLabelValues(outcome).Inc() }
