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
//   - voicemail, rejected, interrupted: tickets with that outcome.
//   - in_progress: offered calls not over yet (ticket still open), at any
//     stage: in the voice menu, waiting in the queue, ringing a seat or
//     talking. talking: those of them a seat answered (answered and still
//     open), so in_progress − talking are callers not yet answered. The
//     wallboard shows in_progress as "进行中" beside 呼入 and talking as
//     "通话中" beside 接通: a count under 接通 may only hold answered calls.
//   - answer_rate = answered / (offered − short_abandoned).
//   - abandon_rate = (abandoned − short_abandoned) / (offered −
//     short_abandoned): the abandons that count, over the calls that count,
//     the same denominator as answer_rate.
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
// In a cluster (SPEC §11) every node keeps the tickets of the calls it
// carried. Each node then answers with its part (DayPart, HourlyPart,
// StaffingPart): counts, and the sums behind the means in whole
// milliseconds, which add exactly, in any order; the asking node adds the
// parts and computes every ratio once (MergeDay, MergeHourly,
// MergeStaffing), so each ticket is counted once and the numbers are those
// one database holding every ticket would give. Day, Hourly and Staffing
// are the same merge over this database's part alone. The nodes must share
// the settings the counts depend on (service_level_seconds,
// short_abandon_seconds, the time zone); wrap_up only enters the ratios.
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

	"github.com/hotline12348/hotline/internal/vocab"
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
	// StaffingTarget is acd.target_service_level: the share of calls to
	// answer within ServiceLevelSeconds that staffing plans for and the
	// wallboard colours the service level against; default 0.95 when
	// unset here (the config's own default is 0.8).
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
	// TargetServiceLevel is acd.target_service_level: the share to answer
	// within ServiceLevelSeconds the wallboard colours against and
	// staffing plans for.
	TargetServiceLevel float64 `json:"target_service_level"`
}

func (s *Service) settings() Settings {
	return Settings{
		Timezone:            s.cfg.Location.String(),
		ServiceLevelSeconds: s.cfg.ServiceLevelSeconds,
		ShortAbandonSeconds: s.cfg.ShortAbandonSeconds,
		WrapUpSeconds:       s.cfg.WrapUp.Seconds(),
		TargetServiceLevel:  s.cfg.StaffingTarget,
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

// Counts is the additive part of the numbers of one set of tickets: the
// counts, and the sums behind the means in whole milliseconds (the stored
// precision of wait_seconds and talk_seconds). Counts of disjoint sets of
// tickets (one set per node of a cluster) add up exactly, in any order, to
// the Counts of their union; the ratios of a Block are computed once, from
// the sum (Service.Block).
type Counts struct {
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
	Talking          int    `json:"talking"`
	Rated            int    `json:"rated"`
	Satisfaction     Scores `json:"satisfaction"`
	// WaitMillis is the sum of wait_seconds of the answered calls that have
	// one (Waited of them), in milliseconds; TalkMillis and Talked the same
	// for talk_seconds.
	WaitMillis int64 `json:"wait_ms"`
	Waited     int   `json:"waited"`
	TalkMillis int64 `json:"talk_ms"`
	Talked     int   `json:"talked"`
}

// Add adds o into c.
func (c *Counts) Add(o Counts) {
	c.Offered += o.Offered
	c.Answered += o.Answered
	c.AnsweredInTarget += o.AnsweredInTarget
	c.Abandoned += o.Abandoned
	c.ShortAbandoned += o.ShortAbandoned
	c.AbandonedBy.IVR += o.AbandonedBy.IVR
	c.AbandonedBy.Queue += o.AbandonedBy.Queue
	c.AbandonedBy.Ringing += o.AbandonedBy.Ringing
	c.Voicemail += o.Voicemail
	c.Rejected += o.Rejected
	c.Interrupted += o.Interrupted
	c.InProgress += o.InProgress
	c.Talking += o.Talking
	c.Rated += o.Rated
	c.Satisfaction.S1 += o.Satisfaction.S1
	c.Satisfaction.S2 += o.Satisfaction.S2
	c.Satisfaction.S3 += o.Satisfaction.S3
	c.WaitMillis += o.WaitMillis
	c.Waited += o.Waited
	c.TalkMillis += o.TalkMillis
	c.Talked += o.Talked
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
	Talking          int    `json:"talking"`
	Rated            int    `json:"rated"`
	Satisfaction     Scores `json:"satisfaction"`

	AnswerRate       *float64 `json:"answer_rate"`
	AbandonRate      *float64 `json:"abandon_rate"`
	ServiceLevel     *float64 `json:"service_level"`
	ASASeconds       *float64 `json:"asa_seconds"`
	TalkSeconds      *float64 `json:"talk_seconds"`
	AHTSeconds       *float64 `json:"aht_seconds"`
	SatisfactionRate *float64 `json:"satisfaction_rate"`
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

// millis is a stored number of seconds in whole milliseconds, its stored
// precision, whatever binary fraction REAL kept.
func millis(v float64) int64 { return int64(math.Round(v * 1000)) }

// add counts one ticket into c.
func (s *Service) add(c *Counts, r row) {
	if r.outcome == vocab.OutcomeRejected {
		c.Rejected++
		return
	}
	c.Offered++
	if r.status == "open" {
		c.InProgress++
	}
	if r.answeredAt.Valid {
		c.Answered++
		if r.status == "open" {
			c.Talking++
		}
		if r.wait.Valid {
			w := millis(r.wait.Float64)
			c.WaitMillis += w
			c.Waited++
			// Whole milliseconds: 15.000 is within 15 s, 15.001 is not.
			if w <= int64(s.cfg.ServiceLevelSeconds)*1000 {
				c.AnsweredInTarget++
			}
		}
		if r.talk.Valid {
			c.TalkMillis += millis(r.talk.Float64)
			c.Talked++
		}
	}
	switch r.outcome {
	case vocab.OutcomeAbandoned:
		c.Abandoned++
		switch r.stage {
		case vocab.StageQueue:
			c.AbandonedBy.Queue++
		case vocab.StageRinging:
			c.AbandonedBy.Ringing++
		default:
			c.AbandonedBy.IVR++
		}
		if r.endedAt.Valid && r.endedAt.Int64-r.openedAt < int64(s.cfg.ShortAbandonSeconds)*1000 {
			c.ShortAbandoned++
		}
	case vocab.OutcomeVoicemail:
		c.Voicemail++
	case vocab.OutcomeInterrupted:
		c.Interrupted++
	}
	if r.satisfaction.Valid {
		c.Rated++
		switch r.satisfaction.Int64 {
		case 1:
			c.Satisfaction.S1++
		case 2:
			c.Satisfaction.S2++
		case 3:
			c.Satisfaction.S3++
		}
	}
}

// Block computes the numbers of c: its counts and the ratios (package doc).
func (s *Service) Block(c Counts) Block {
	b := Block{
		Offered: c.Offered, Answered: c.Answered, AnsweredInTarget: c.AnsweredInTarget, Abandoned: c.Abandoned,
		ShortAbandoned: c.ShortAbandoned, AbandonedBy: c.AbandonedBy, Voicemail: c.Voicemail, Rejected: c.Rejected,
		Interrupted: c.Interrupted, InProgress: c.InProgress, Talking: c.Talking, Rated: c.Rated, Satisfaction: c.Satisfaction,
	}
	base := c.Offered - c.ShortAbandoned
	b.AnswerRate = ratio(float64(c.Answered), base)
	b.AbandonRate = ratio(float64(c.Abandoned-c.ShortAbandoned), base)
	b.ServiceLevel = ratio(float64(c.AnsweredInTarget), base)
	b.ASASeconds = ratio(float64(c.WaitMillis)/1000, c.Waited)
	b.TalkSeconds = ratio(float64(c.TalkMillis)/1000, c.Talked)
	if b.TalkSeconds != nil {
		aht := *b.TalkSeconds + s.cfg.WrapUp.Seconds()
		b.AHTSeconds = &aht
	}
	b.SatisfactionRate = ratio(float64(c.Satisfaction.S1+c.Satisfaction.S2), c.Rated)
	return b
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

// DayPart is one node's share of a Day (GET /api/stats/today?scope=node):
// the Counts of its tickets of that day. The DayParts of every node merge
// (MergeDay) into the Day of the whole centre, each ticket counted once.
type DayPart struct {
	Date   string             `json:"date"`
	Total  Counts             `json:"total"`
	Green  Counts             `json:"green"`
	Queues map[string]*Counts `json:"queues"`
}

// DayPart counts this database's tickets of the calendar day containing d.
func (s *Service) DayPart(ctx context.Context, d time.Time) (*DayPart, error) {
	from, to := s.dayBounds(d)
	rows, err := s.load(ctx, from, to)
	if err != nil {
		return nil, err
	}
	p := &DayPart{Date: from.Format(time.DateOnly), Queues: map[string]*Counts{}}
	for _, r := range rows {
		s.add(&p.Total, r)
		if r.priority == vocab.PriorityGreen {
			s.add(&p.Green, r)
		}
		q := r.category
		if q == "" {
			q = s.cfg.GeneralQueue
		}
		if q != "" {
			if p.Queues[q] == nil {
				p.Queues[q] = &Counts{}
			}
			s.add(p.Queues[q], r)
		}
	}
	return p, nil
}

// MergeDay adds the parts (one per node, each of the day containing d) and
// computes the Day: the ratios once, from the sums.
func (s *Service) MergeDay(d time.Time, parts ...*DayPart) (*Day, error) {
	from, to := s.dayBounds(d)
	date := from.Format(time.DateOnly)
	var total, green Counts
	queues := map[string]*Counts{}
	for _, q := range s.cfg.Queues {
		queues[q] = &Counts{}
	}
	for _, p := range parts {
		if p.Date != date {
			return nil, fmt.Errorf("stats: merge day %s: a part is of %q", date, p.Date)
		}
		total.Add(p.Total)
		green.Add(p.Green)
		for q, c := range p.Queues {
			if c == nil {
				continue
			}
			if queues[q] == nil {
				queues[q] = &Counts{}
			}
			queues[q].Add(*c)
		}
	}
	g := s.Block(green)
	out := &Day{
		Date: date, Settings: s.settings(), From: from, To: to,
		GeneratedAt: s.cfg.Now().In(s.cfg.Location).Truncate(time.Millisecond),
		Block:       s.Block(total), Green: &g, Queues: map[string]*Block{},
	}
	for q, c := range queues {
		b := s.Block(*c)
		out.Queues[q] = &b
	}
	return out, nil
}

// Day computes the numbers of the calendar day containing d.
func (s *Service) Day(ctx context.Context, d time.Time) (*Day, error) {
	p, err := s.DayPart(ctx, d)
	if err != nil {
		return nil, err
	}
	return s.MergeDay(d, p)
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

// HourlyPart is one node's share of an Hourly (GET /api/stats/hourly?scope=node):
// 24 hours of Counts, all tickets and the green channel.
type HourlyPart struct {
	Date  string     `json:"date"`
	Hours []HourPart `json:"hours"`
}

// HourPart is one hour of an HourlyPart.
type HourPart struct {
	Total Counts `json:"total"`
	Green Counts `json:"green"`
}

// HourlyPart counts this database's tickets of the day containing d hour by hour.
func (s *Service) HourlyPart(ctx context.Context, d time.Time) (*HourlyPart, error) {
	from, to := s.dayBounds(d)
	rows, err := s.load(ctx, from, to)
	if err != nil {
		return nil, err
	}
	p := &HourlyPart{Date: from.Format(time.DateOnly), Hours: make([]HourPart, 24)}
	for _, r := range rows {
		h := &p.Hours[store.FromMillis(r.openedAt).In(s.cfg.Location).Hour()]
		s.add(&h.Total, r)
		if r.priority == vocab.PriorityGreen {
			s.add(&h.Green, r)
		}
	}
	return p, nil
}

// MergeHourly adds the parts (one per node) and computes the Hourly.
func (s *Service) MergeHourly(d time.Time, parts ...*HourlyPart) (*Hourly, error) {
	from, _ := s.dayBounds(d)
	date := from.Format(time.DateOnly)
	var sum [24]HourPart
	for _, p := range parts {
		if p.Date != date || len(p.Hours) != 24 {
			return nil, fmt.Errorf("stats: merge hourly %s: a part is of %q with %d hours", date, p.Date, len(p.Hours))
		}
		for h := range sum {
			sum[h].Total.Add(p.Hours[h].Total)
			sum[h].Green.Add(p.Hours[h].Green)
		}
	}
	out := &Hourly{Date: date, Settings: s.settings(),
		GeneratedAt: s.cfg.Now().In(s.cfg.Location).Truncate(time.Millisecond)}
	for h := range 24 {
		g := s.Block(sum[h].Green)
		out.Hours = append(out.Hours, &Hour{Hour: h, From: time.Date(from.Year(), from.Month(), from.Day(), h, 0, 0, 0, s.cfg.Location),
			Block: s.Block(sum[h].Total), Green: &g})
	}
	return out, nil
}

// Hourly computes the day containing d hour by hour.
func (s *Service) Hourly(ctx context.Context, d time.Time) (*Hourly, error) {
	p, err := s.HourlyPart(ctx, d)
	if err != nil {
		return nil, err
	}
	return s.MergeHourly(d, p)
}
