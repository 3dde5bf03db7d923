package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/config"
)

// distributor adapts an acd.Floor to call.Distributor. The ACD decides and
// the call layer obeys: every report returns the ACD's answer, and the call
// layer acts on it (a stale offer's answer is hung up; a refused report
// means the ACD moved on and says how in its events).
type distributor struct {
	a acd.Floor
}

func (d distributor) LoggedIn() int { return d.a.LoggedIn() }

func (d distributor) Enqueue(id, skill, prio string, at time.Time) (<-chan acd.Event, error) {
	return d.a.Enqueue(acd.Call{ID: id, Skill: skill, Priority: prio, EnqueuedAt: at})
}

func (d distributor) Position(id string) int  { return d.a.Position(id) }
func (d distributor) Abandon(id string) error { return d.a.Abandon(id) }
func (d distributor) Answered(id, seat string, token uint64) error {
	return d.a.Answered(id, agent.SeatID(seat), token)
}
func (d distributor) NoAnswer(id, seat string, token uint64) error {
	return d.a.NoAnswer(id, agent.SeatID(seat), token)
}
func (d distributor) Declined(id, seat string, token uint64) error {
	return d.a.Declined(id, agent.SeatID(seat), token)
}
func (d distributor) Hangup(id, seat string, token uint64) error {
	return d.a.Hangup(id, agent.SeatID(seat), token)
}

// declinePause: a seat that declined a call gets it offered again no
// sooner than this when it is the only seat for it.
const declinePause = 5 * time.Second

// acdSettings are the configured seats and the ACD's parameters.
func acdSettings(cfg *config.Config) ([]agent.Seat, acd.Config) {
	seats := make([]agent.Seat, 0, len(cfg.Seats))
	for _, s := range cfg.Seats {
		seats = append(seats, agent.New(agent.SeatID(s.ID), s.Name, s.Skills))
	}
	return seats, acd.Config{
		RingTimeout:   cfg.ACD.RingTimeout.D(),
		WrapUp:        cfg.ACD.WrapUp.D(),
		MaxWait:       cfg.ACD.MaxWait.D(),
		SkillFallback: cfg.ACD.SkillFallback.D(),
		DeclinePause:  declinePause,
	}
}

// seatMetrics is hotline_seats{state}, read from the ACD at scrape time so
// it can never drift from the ACD's own view; every state is always present.
type seatMetrics struct {
	a    acd.Floor
	desc *prometheus.Desc
}

func newSeatMetrics(a acd.Floor) *seatMetrics {
	return &seatMetrics{a: a, desc: prometheus.NewDesc("hotline_seats", "Seats by state (offline, ready, not_ready, ringing, busy, wrap_up).", []string{"state"}, nil)}
}

func (m *seatMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

func (m *seatMetrics) Collect(ch chan<- prometheus.Metric) {
	counts := map[agent.State]int{}
	for _, s := range m.a.Seats() {
		counts[s.State]++
	}
	for _, st := range agent.States() {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
