// Package stats computes the hotline's numbers (SPEC §9) from the tickets
// table in SQLite, so they survive restarts and can be asked for any day,
// and the seats Erlang C says each hour needs.
//
// A day is a calendar day in the configured time zone (the `timezone` key);
// a ticket belongs to the day and hour its call arrived (opened_at), so a
// call that starts at 23:59 and ends after midnight counts on the day it
// started. The definitions, per set of tickets (a day, an hour, the green
// channel alone, one queue):
//
//   - offered: tickets whose outcome is not "rejected" (a call refused with
//     404/488 never reached the service). Calls still in progress count.
//   - answered: tickets a seat answered (answered_at set), calls still
//     talking included. This is when an ACD counts a call answered, and when
//     hotline_calls_answered_total counts it; waiting for the call to end
//     would show a call in conversation as not answered on the wallboard for
//     its whole length. A call answered and then cut by a shutdown is both
//     answered and interrupted.
//   - abandoned: outcome "abandoned", at any stage (ivr, queue, ringing);
//     abandoned_by_stage splits them.
//   - short_abandoned: abandoned calls whose caller hung up less than
//     acd.short_abandon_seconds after the call arrived (ended_at − opened_at,
//     strictly less). These are the wrong numbers and instant regrets that
//     SPEC §9 keeps out of the denominators. Measured from the arrival, not
//     from entering the queue, because a caller who dialled by mistake
//     hangs up during the welcome prompt, before any queue.
//   - voicemail, rejected, interrupted: tickets with that outcome;
//     in_progress: tickets still open.
//   - answer_rate = answered / (offered − short_abandoned).
//   - service_level = answered with wait_seconds ≤ acd.service_level_seconds
//     / (offered − short_abandoned): exactly 15.000 s is within, 15.001 s is
//     not (wait_seconds is compared in whole milliseconds, its stored
//     precision). wait_seconds is the time from entering the queue to a
//     seat's answer, the time GB/T 33358's 15 s applies to (the IVR is the
//     caller's own choice time).
//   - asa_seconds: mean wait_seconds of answered calls.
//   - aht_seconds: average handle time = mean talk_seconds of answered calls
//     that have ended + the configured acd.wrap_up. The wrap-up is the
//     configured value, not a measured one: the ACD holds every seat in
//     wrap_up for exactly that long after a call. talk_seconds (without
//     wrap-up) is reported too.
//   - rated: tickets with a satisfaction score; satisfaction_rate =
//     (score 1 + score 2) / rated.
//
// A ratio whose denominator is 0 is null, never 0 or NaN.
//
// Tickets without a category (a caller who hung up in the IVR, a rejected
// call) are counted in the general queue, as hotline_calls_offered_total
// counts them.
//
// It imports internal/store and nothing else of this module.
package stats

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// Config is what the numbers depend on (SPEC §3 keys).
type Config struct {
	// Location is the time zone days and hours are counted in.
	Location            *time.Location
	ServiceLevelSeconds int           // acd.service_level_seconds
	ShortAbandonSeconds int           // acd.short_abandon_seconds
	WrapUp              time.Duration // acd.wrap_up, added to the talk time for AHT
	// Seats is the number of seats configured (for staffing).
	Seats int
	// Queues are the categories reported one by one, in order; GeneralQueue
	// is the one tickets without a category are counted in.
	Queues       []string
	GeneralQueue string
	// StaffingTarget is the share of calls to answer within
	// ServiceLevelSeconds that staffing plans for; default 0.95.
	StaffingTarget float64
	Now            func() time.Time
}

// Service answers the stats API from the database.
type Service struct {
	db  *sql.DB
	cfg Config
}

// New returns the stats service on db (reads only).
func New(db *store.DB, cfg Config) *Service {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StaffingTarget <= 0 || cfg.StaffingTarget >= 1 {
		cfg.StaffingTarget = 0.95
	}
	return &Service{db: db.R, cfg: cfg}
}

// Location is the time zone days are counted in.
func (s *Service) Location() *time.Location { return s.cfg.Location }

// Today is the current day in the configured time zone.
func (s *Service) Today() time.Time {
	n := s.cfg.Now().In(s.cfg.Location)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, s.cfg.Location)
}

// ParseDate reads YYYY-MM-DD as the start of that day in the configured
// time zone.
func (s *Service) ParseDate(v string) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, v, s.cfg.Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("stats: date %q: want YYYY-MM-DD", v)
	}
	return d, nil
}

// dayBounds returns [start, end) of the calendar day of d (23 or 25 hours
// long across a daylight-saving change).
func (s *Service) dayBounds(d time.Time) (time.Time, time.Time) {
	d = d.In(s.cfg.Location)
	start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, s.cfg.Location)
	return start, time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, s.cfg.Location)
}

// Settings are the configuration values the numbers were computed with.
type Settings struct {
	Timezone            string  `json:"timezone"`
	ServiceLevelSeconds int     `json:"service_level_seconds"`
	ShortAbandonSeconds int     `json:"short_abandon_seconds"`
	WrapUpSeconds       float64 `json:"wrap_up_seconds"`
}

func (s *Service) settings() Settings {
	return Settings{
		Timezone:            s.cfg.Location.String(),
		ServiceLevelSeconds: s.cfg.ServiceLevelSeconds,
		ShortAbandonSeconds: s.cfg.ShortAbandonSeconds,
		WrapUpSeconds:       s.cfg.WrapUp.Seconds(),
	}
}

// Stages counts abandoned calls by where the caller gave up.
type Stages struct {
	IVR     int `json:"ivr"`
	Queue   int `json:"queue"`
	Ringing int `json:"ringing"`
}

// Scores counts satisfaction answers (1 satisfied, 2 basically satisfied,
// 3 dissatisfied).
type Scores struct {
	S1 int `json:"1"`
	S2 int `json:"2"`
	S3 int `json:"3"`
}

// Block is the set of numbers for one set of tickets (see the package doc).
type Block struct {
	Offered          int    `json:"offered"`
	Answered         int    `json:"answered"`
	AnsweredInTarget int    `json:"answered_within_service_level"`
	Abandoned        int    `json:"abandoned"`
	ShortAbandoned   int    `json:"short_abandoned"`
	AbandonedBy      Stages `json:"abandoned_by_stage"`
	Voicemail        int    `json:"voicemail"`
	Rejected         int    `json:"rejected"`
	Interrupted      int    `json:"interrupted"`
	InProgress       int    `json:"in_progress"`
	Rated            int    `json:"rated"`
	Satisfaction     Scores `json:"satisfaction"`

	AnswerRate       *float64 `json:"answer_rate"`
	ServiceLevel     *float64 `json:"service_level"`
	ASASeconds       *float64 `json:"asa_seconds"`
	TalkSeconds      *float64 `json:"talk_seconds"`
	AHTSeconds       *float64 `json:"aht_seconds"`
	SatisfactionRate *float64 `json:"satisfaction_rate"`

	waitSum, talkSum float64
	waited, talked   int
}

// row is what the numbers need of one ticket.
type row struct {
	openedAt     int64
	answeredAt   sql.NullInt64
	endedAt      sql.NullInt64
	wait, talk   sql.NullFloat64
	satisfaction sql.NullInt64
	status       string
	outcome      string
	stage        string
	priority     string
	category     string
}

func (s *Service) load(ctx context.Context, from, to time.Time) ([]row, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT opened_at, answered_at, ended_at, wait_seconds, talk_seconds, satisfaction,
       status, outcome, abandon_stage, priority, category
FROM tickets WHERE opened_at >= ? AND opened_at < ?`, store.Millis(from), store.Millis(to))
	if err != nil {
		return nil, fmt.Errorf("stats: query tickets: %w", err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.openedAt, &r.answeredAt, &r.endedAt, &r.wait, &r.talk, &r.satisfaction,
			&r.status, &r.outcome, &r.stage, &r.priority, &r.category); err != nil {
			return nil, fmt.Errorf("stats: scan ticket: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: read tickets: %w", err)
	}
	return out, nil
}

// add counts one ticket into b.
func (s *Service) add(b *Block, r row) {
	if r.outcome == "rejected" {
		b.Rejected++
		return
	}
	b.Offered++
	if r.status == "open" {
		b.InProgress++
	}
	if r.answeredAt.Valid {
		b.Answered++
		if r.wait.Valid {
			b.waitSum += r.wait.Float64
			b.waited++
			// Compare in whole milliseconds: 15.000 is within 15 s, 15.001
			// is not, whatever binary fraction REAL stored.
			if int64(math.Round(r.wait.Float64*1000)) <= int64(s.cfg.ServiceLevelSeconds)*1000 {
				b.AnsweredInTarget++
			}
		}
		if r.talk.Valid {
			b.talkSum += r.talk.Float64
			b.talked++
		}
	}
	switch r.outcome {
	case "abandoned":
		b.Abandoned++
		switch r.stage {
		case "queue":
			b.AbandonedBy.Queue++
		case "ringing":
			b.AbandonedBy.Ringing++
		default:
			b.AbandonedBy.IVR++
		}
		if r.endedAt.Valid && r.endedAt.Int64-r.openedAt < int64(s.cfg.ShortAbandonSeconds)*1000 {
			b.ShortAbandoned++
		}
	case "voicemail":
		b.Voicemail++
	case "interrupted":
		b.Interrupted++
	}
	if r.satisfaction.Valid {
		b.Rated++
		switch r.satisfaction.Int64 {
		case 1:
			b.Satisfaction.S1++
		case 2:
			b.Satisfaction.S2++
		case 3:
			b.Satisfaction.S3++
		}
	}
}

// finish computes the ratios from the counts.
func (s *Service) finish(b *Block) {
	base := b.Offered - b.ShortAbandoned
	b.AnswerRate = ratio(float64(b.Answered), base)
	b.ServiceLevel = ratio(float64(b.AnsweredInTarget), base)
	b.ASASeconds = ratio(b.waitSum, b.waited)
	b.TalkSeconds = ratio(b.talkSum, b.talked)
	if b.TalkSeconds != nil {
		aht := *b.TalkSeconds + s.cfg.WrapUp.Seconds()
		b.AHTSeconds = &aht
	}
	b.SatisfactionRate = ratio(float64(b.Satisfaction.S1+b.Satisfaction.S2), b.Rated)
}

func ratio(num float64, den int) *float64 {
	if den <= 0 {
		return nil
	}
	v := num / float64(den)
	return &v
}

// Day is GET /api/stats/today (for any day): the whole day, the green
// channel alone, and each queue. The day's fields are at the top level.
type Day struct {
	Date string `json:"date"`
	Settings
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`
	Block
	Green  *Block            `json:"green"`
	Queues map[string]*Block `json:"queues"`
}

// Day computes the numbers of the calendar day containing d.
func (s *Service) Day(ctx context.Context, d time.Time) (*Day, error) {
	from, to := s.dayBounds(d)
	rows, err := s.load(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := &Day{
		Date: from.Format(time.DateOnly), Settings: s.settings(), From: from, To: to,
		GeneratedAt: s.cfg.Now().In(s.cfg.Location).Truncate(time.Millisecond),
		Green:       &Block{}, Queues: map[string]*Block{},
	}
	for _, q := range s.cfg.Queues {
		out.Queues[q] = &Block{}
	}
	for _, r := range rows {
		s.add(&out.Block, r)
		if r.priority == "green" {
			s.add(out.Green, r)
		}
		q := r.category
		if q == "" {
			q = s.cfg.GeneralQueue
		}
		if q != "" {
			if out.Queues[q] == nil {
				out.Queues[q] = &Block{}
			}
			s.add(out.Queues[q], r)
		}
	}
	s.finish(&out.Block)
	s.finish(out.Green)
	for _, b := range out.Queues {
		s.finish(b)
	}
	return out, nil
}

// Hour is one hour of GET /api/stats/hourly: the calls that arrived in it.
type Hour struct {
	Hour int       `json:"hour"`
	From time.Time `json:"from"`
	Block
	Green *Block `json:"green"`
}

// Hourly is GET /api/stats/hourly?date=: 24 hours by the local clock hour
// of the arrival (on a day that leaves daylight saving, the repeated hour
// shares its bucket).
type Hourly struct {
	Date string `json:"date"`
	Settings
	GeneratedAt time.Time `json:"generated_at"`
	Hours       []*Hour   `json:"hours"`
}

// Hourly computes the day containing d hour by hour.
func (s *Service) Hourly(ctx context.Context, d time.Time) (*Hourly, error) {
	from, to := s.dayBounds(d)
	rows, err := s.load(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := &Hourly{Date: from.Format(time.DateOnly), Settings: s.settings(),
		GeneratedAt: s.cfg.Now().In(s.cfg.Location).Truncate(time.Millisecond)}
	for h := range 24 {
		out.Hours = append(out.Hours, &Hour{Hour: h, From: time.Date(from.Year(), from.Month(), from.Day(), h, 0, 0, 0, s.cfg.Location), Green: &Block{}})
	}
	for _, r := range rows {
		h := out.Hours[store.FromMillis(r.openedAt).In(s.cfg.Location).Hour()]
		s.add(&h.Block, r)
		if r.priority == "green" {
			s.add(h.Green, r)
		}
	}
	for _, h := range out.Hours {
		s.finish(&h.Block)
		s.finish(h.Green)
	}
	return out, nil
}
