package adapt

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

// Distributor adapts an acd.Floor to call.Distributor. The ACD decides and
// the call layer obeys: every report returns the ACD's answer, and the call
// layer acts on it (a stale offer's answer is hung up; a refused report
// means the ACD moved on and says how in its events).
type Distributor struct {
	Floor acd.Floor
}

func (d Distributor) LoggedIn() int { return d.Floor.LoggedIn() }

func (d Distributor) Enqueue(id, skill, prio string, at time.Time) (<-chan acd.Event, error) {
	return d.Floor.Enqueue(acd.Call{ID: id, Skill: skill, Priority: prio, EnqueuedAt: at})
}

func (d Distributor) Position(id string) int  { return d.Floor.Position(id) }
func (d Distributor) Abandon(id string) error { return d.Floor.Abandon(id) }
func (d Distributor) Answered(id, seat string, token uint64) error {
	return d.Floor.Answered(id, agent.SeatID(seat), token)
}
func (d Distributor) NoAnswer(id, seat string, token uint64) error {
	return d.Floor.NoAnswer(id, agent.SeatID(seat), token)
}
func (d Distributor) Declined(id, seat string, token uint64) error {
	return d.Floor.Declined(id, agent.SeatID(seat), token)
}
func (d Distributor) Hangup(id, seat string, token uint64) error {
	return d.Floor.Hangup(id, agent.SeatID(seat), token)
}

// SeatMetrics is hotline_seats{state}, read from the ACD at scrape time so
// it can never drift from the ACD's own view; every state is always present.
type SeatMetrics struct {
	a    acd.Floor
	desc *prometheus.Desc
}

func NewSeatMetrics(a acd.Floor) *SeatMetrics {
	return &SeatMetrics{a: a, desc: prometheus.NewDesc("hotline_seats", "Seats by state (offline, ready, not_ready, ringing, busy, wrap_up).", []string{"state"}, nil)}
}

func (m *SeatMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

func (m *SeatMetrics) Collect(ch chan<- prometheus.Metric) {
	counts := map[agent.State]int{}
	for _, s := range m.a.Seats() {
		counts[s.State]++
	}
	for _, st := range agent.States() {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
