package call

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/vocab"
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
	answeredC     *prometheus.CounterVec
	waitH         *prometheus.HistogramVec
	waitingG      *prometheus.GaugeVec
	handleH       prometheus.Histogram
	satisfactionC *prometheus.CounterVec
	recFailedC    prometheus.Counter
	lateAnswersC  *prometheus.CounterVec
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
		answeredC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_answered_total", Help: "Calls answered by a seat, by queue.",
		}, []string{"queue"}),
		// Buckets around GB/T 33358's 15 s service level.
		waitH: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hotline_queue_wait_seconds", Help: "Time from entering the queue to leaving it, by how it was left (answered, abandoned, voicemail).",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600},
		}, []string{"outcome"}),
		waitingG: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_queue_waiting", Help: "Calls waiting in the queue now (ringing included), by queue.",
		}, []string{"queue"}),
		handleH: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hotline_handle_seconds", Help: "Talk time of answered calls, from the seat's answer to the hang-up.",
			Buckets: []float64{30, 60, 120, 180, 300, 420, 600, 900, 1200, 1800, 3600},
		}),
		satisfactionC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_satisfaction_total", Help: "Satisfaction survey answers, by score (1 satisfied, 2 basically satisfied, 3 dissatisfied).",
		}, []string{"score"}),
		recFailedC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_voicemail_recording_failed_total", Help: "Voicemails that could not be recorded (recordings not writable): the caller heard an apology, the ticket asks for a callback.",
		}),
		lateAnswersC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_acd_late_answers_total",
			Help: "Seat answers (200) to an offer the ACD no longer made that seat, ACKed and hung up, by why the offer had ended (withdrawn, ring_timeout, caller_gone, not_offered).",
		}, []string{"reason"}),
	}
	for _, r := range LateReasons {
		m.lateAnswersC.WithLabelValues(r)
	}
	for _, o := range []string{vocab.OutcomeAnswered, vocab.OutcomeAbandoned, vocab.OutcomeVoicemail} {
		m.waitH.WithLabelValues(o)
	}
	for _, sc := range []string{"1", "2", "3"} {
		m.satisfactionC.WithLabelValues(sc)
	}
	for _, q := range queues {
		m.answeredC.WithLabelValues(q)
		m.waitingG.WithLabelValues(q)
		m.offeredC.WithLabelValues(q)
		for _, st := range vocab.Stages.Values() {
			m.abandonedC.WithLabelValues(q, st)
		}
	}
	for _, o := range vocab.Outcomes.Values() {
		m.endedC.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{m.active, m.offeredC, m.abandonedC, m.endedC, m.answeredByIVR, m.answeredC, m.waitH, m.waitingG, m.handleH, m.satisfactionC, m.recFailedC, m.lateAnswersC} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("call: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) offered(queue string)          { m.offeredC.WithLabelValues(queue).Inc() }
func (m *Metrics) abandoned(queue, stage string) { m.abandonedC.WithLabelValues(queue, stage).Inc() }
func (m *Metrics) ended(outcome string)          { m.endedC.WithLabelValues(outcome).Inc() }
func (m *Metrics) answered(queue string)         { m.answeredC.WithLabelValues(queue).Inc() }
func (m *Metrics) waited(outcome string, d time.Duration) {
	m.waitH.WithLabelValues(outcome).Observe(d.Seconds())
}
func (m *Metrics) waiting(queue string, delta float64) { m.waitingG.WithLabelValues(queue).Add(delta) }
func (m *Metrics) handled(d time.Duration)             { m.handleH.Observe(d.Seconds()) }
func (m *Metrics) rated(score int)                     { m.satisfactionC.WithLabelValues(strconv.Itoa(score)).Inc() }
func (m *Metrics) recordingFailed()                    { m.recFailedC.Inc() }
func (m *Metrics) lateAnswer(reason string)            { m.lateAnswersC.WithLabelValues(reason).Inc() }
