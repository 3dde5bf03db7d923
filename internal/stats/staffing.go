package stats

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hotline12348/hotline/internal/store"

	"github.com/hotline12348/hotline/internal/vocab"
)

// referenceWeeks is how many earlier same weekdays a staffing plan averages.
const referenceWeeks = 4

// Staffing is GET /api/stats/staffing?date=: for each hour of the date, the
// calls to expect and the seats Erlang C says answer StaffingTarget of them
// within service_level_seconds.
//
// The forecast of an hour is the mean over the reference days: the last
// four same weekdays before the date that are over (before today) and not
// before the first day the database has a ticket. With fewer than four
// such days (a hotline younger than four weeks) the mean is over those
// there are, and reference_days lists them; with none, the forecast and
// the seats are null. A reference day with no call in an hour counts as 0
// calls in it.
//
// offered is the mean number of offered calls (package doc) that arrived
// in the hour. aht_seconds is the mean talk time of the answered calls of
// that hour on the reference days, pooled (every call weighs the same) +
// the configured wrap-up; an hour without an answered call takes the pooled
// talk time of the whole reference days instead (aht_source "days"), and
// with none at all it is null. erlangs = offered × aht_seconds / 3600.
type Staffing struct {
	Date    string `json:"date"`
	Weekday string `json:"weekday"`
	Settings
	SeatsConfigured   int            `json:"seats_configured"`
	ReferenceDays     []string       `json:"reference_days"`
	PeakSeatsRequired *int           `json:"peak_seats_required"`
	Hours             []StaffingHour `json:"hours"`
}

// StaffingHour is one hour of a staffing plan.
type StaffingHour struct {
	Hour       int      `json:"hour"`
	Offered    *float64 `json:"offered"`
	AHTSeconds *float64 `json:"aht_seconds"`
	AHTSource  *string  `json:"aht_source"` // "hour", "days" or null
	Erlangs    *float64 `json:"erlangs"`
	// SeatsRequired is the fewest seats that reach the target.
	SeatsRequired *int `json:"seats_required"`
	// ServiceLevelRequired is the service level Erlang C predicts with
	// SeatsRequired seats; ServiceLevelConfigured with every configured
	// seat logged in (null when they cannot keep up: erlangs ≥ seats).
	ServiceLevelRequired   *float64 `json:"service_level_at_required"`
	ServiceLevelConfigured *float64 `json:"service_level_at_configured"`
}

// StaffingPart is one node's share of a Staffing plan (GET
// /api/stats/staffing?scope=node): when its first ticket arrived, and for
// each day asked about, per hour, the offered calls and the talk time of
// the answered ones. The parts of every node merge (MergeStaffing) into the
// plan of the whole centre.
type StaffingPart struct {
	// FirstTicketAt is the arrival of the node's first ticket (null: none).
	FirstTicketAt *time.Time `json:"first_ticket_at"`
	// Days maps YYYY-MM-DD to its 24 hours.
	Days map[string][]StaffingCounts `json:"days"`
}

// StaffingCounts is one hour of one day of a StaffingPart.
type StaffingCounts struct {
	Offered    int   `json:"offered"`
	Talked     int   `json:"talked"`  // answered calls with a talk time
	TalkMillis int64 `json:"talk_ms"` // the sum of their talk times
}

// ReferenceCandidates returns the days a plan of the day containing d may
// average: the four same weekdays before it that are over (before today),
// newest first. The plan uses those not before the first ticket's day
// (MergeStaffing): a hotline younger than four weeks has fewer.
func (s *Service) ReferenceCandidates(d time.Time) []time.Time {
	day, _ := s.dayBounds(d)
	today := s.Today()
	// A date far ahead: start at the weeks that can be over already.
	w := 1
	if days := civilDays(day) - civilDays(today); days > 7 {
		w = days / 7
	}
	var out []time.Time
	for ; len(out) < referenceWeeks; w++ {
		if ref := time.Date(day.Year(), day.Month(), day.Day()-7*w, 0, 0, 0, 0, s.cfg.Location); ref.Before(today) {
			out = append(out, ref)
		}
	}
	return out
}

// StaffingPart counts this database's tickets of the given days.
func (s *Service) StaffingPart(ctx context.Context, days []time.Time) (*StaffingPart, error) {
	p := &StaffingPart{Days: map[string][]StaffingCounts{}}
	var first sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(opened_at) FROM tickets`).Scan(&first); err != nil {
		return nil, fmt.Errorf("stats: first ticket: %w", err)
	}
	if !first.Valid {
		return p, nil
	}
	p.FirstTicketAt = ptr(store.FromMillis(first.Int64).In(s.cfg.Location))
	for _, d := range days {
		from, to := s.dayBounds(d)
		hours := make([]StaffingCounts, 24)
		p.Days[from.Format(time.DateOnly)] = hours
		if !to.After(*p.FirstTicketAt) {
			continue // before the first ticket: nothing to read
		}
		rows, err := s.load(ctx, from, to)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			h := &hours[store.FromMillis(r.openedAt).In(s.cfg.Location).Hour()]
			if r.outcome != vocab.OutcomeRejected {
				h.Offered++
			}
			if r.answeredAt.Valid && r.talk.Valid {
				h.Talked++
				h.TalkMillis += millis(r.talk.Float64)
			}
		}
	}
	return p, nil
}

// Staffing plans the day containing d.
func (s *Service) Staffing(ctx context.Context, d time.Time) (*Staffing, error) {
	p, err := s.StaffingPart(ctx, s.ReferenceCandidates(d))
	if err != nil {
		return nil, err
	}
	return s.MergeStaffing(d, p)
}

// MergeStaffing adds the parts (one per node, each with the days of
// ReferenceCandidates(d)) and plans the day containing d. A part without
// one of the days is an error.
func (s *Service) MergeStaffing(d time.Time, parts ...*StaffingPart) (*Staffing, error) {
	day, _ := s.dayBounds(d)
	out := &Staffing{
		Date: day.Format(time.DateOnly), Weekday: day.Weekday().String(), Settings: s.settings(),
		SeatsConfigured: s.cfg.Seats, ReferenceDays: []string{},
	}
	// The reference days: the candidates not before the centre's first ticket.
	var first *time.Time
	for _, p := range parts {
		if p.FirstTicketAt != nil && (first == nil || p.FirstTicketAt.Before(*first)) {
			first = p.FirstTicketAt
		}
	}
	var refs []string
	if first != nil {
		firstDay, _ := s.dayBounds(*first)
		for _, ref := range s.ReferenceCandidates(day) {
			if ref.Before(firstDay) {
				break
			}
			refs = append(refs, ref.Format(time.DateOnly))
		}
	}
	type acc struct {
		offered, talked int
		talkMillis      int64
	}
	var hours [24]acc
	var all acc
	for _, ref := range refs {
		out.ReferenceDays = append(out.ReferenceDays, ref)
		for _, p := range parts {
			if p.FirstTicketAt == nil {
				continue // a node without tickets has nothing to add
			}
			hs, ok := p.Days[ref]
			if !ok || len(hs) != 24 {
				return nil, fmt.Errorf("stats: merge staffing %s: a part lacks the day %s", out.Date, ref)
			}
			for hr, c := range hs {
				h := &hours[hr]
				h.offered += c.Offered
				h.talked += c.Talked
				h.talkMillis += c.TalkMillis
				all.talked += c.Talked
				all.talkMillis += c.TalkMillis
			}
		}
	}
	wrap := s.cfg.WrapUp.Seconds()
	t := float64(s.cfg.ServiceLevelSeconds)
	for hr := range 24 {
		sh := StaffingHour{Hour: hr}
		out.Hours = append(out.Hours, sh)
		if len(refs) == 0 {
			continue
		}
		h := hours[hr]
		offered := float64(h.offered) / float64(len(refs))
		sh.Offered = &offered
		var aht float64
		switch {
		case h.talked > 0:
			aht = float64(h.talkMillis)/1000/float64(h.talked) + wrap
			sh.AHTSeconds, sh.AHTSource = &aht, ptr("hour")
		case all.talked > 0:
			aht = float64(all.talkMillis)/1000/float64(all.talked) + wrap
			sh.AHTSeconds, sh.AHTSource = &aht, ptr("days")
		}
		switch {
		case offered == 0:
			// No call to expect: no seat needed, and no service level to
			// predict (null, like every ratio over nothing).
			sh.Erlangs, sh.SeatsRequired = ptr(0.0), ptr(0)
		case sh.AHTSeconds != nil:
			a := offered * aht / 3600
			sh.Erlangs = &a
			if n := SeatsFor(a, aht, t, s.cfg.StaffingTarget); n >= 0 {
				sh.SeatsRequired = &n
				sh.ServiceLevelRequired = ptr(ServiceLevel(n, a, aht, t))
			}
			if s.cfg.Seats > 0 && a < float64(s.cfg.Seats) {
				sh.ServiceLevelConfigured = ptr(ServiceLevel(s.cfg.Seats, a, aht, t))
			}
		}
		if sh.SeatsRequired != nil && (out.PeakSeatsRequired == nil || *sh.SeatsRequired > *out.PeakSeatsRequired) {
			out.PeakSeatsRequired = ptr(*sh.SeatsRequired)
		}
		out.Hours[hr] = sh
	}
	return out, nil
}

// civilDays numbers calendar days (whatever the zone's offsets) so that
// their differences are whole days.
func civilDays(d time.Time) int {
	return int(time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func ptr[T any](v T) *T { return &v }
