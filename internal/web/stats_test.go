package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/stats"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
)

var statsZone = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// statsAt reads "2006-01-02 15:04:05.000" as a time in Asia/Shanghai.
func statsAt(t *testing.T, v string) time.Time {
	t.Helper()
	d, err := time.ParseInLocation("2006-01-02 15:04:05.000", v, statsZone)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// statsRow is one hand-built ticket: zero times and negative seconds are NULL,
// satisfaction 0 is NULL.
type statsRow struct {
	id, priority, category, status, outcome, stage string
	opened, queued, answered, ended                time.Time
	wait, talk                                     float64
	sat                                            int
}

func newStatsEnv(t *testing.T, cfg stats.Config) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, tickets: ticket.NewStore(db, "t-1", statsZone, nil), users: auth.NewStore(db, nil), recDir: dir}
	if err := e.users.AddUser(ctx, auth.User{Name: "boss", Role: auth.RoleManager}, "boss-password", false); err != nil {
		t.Fatal(err)
	}
	h := New(Options{Stats: stats.New(db, cfg)}, e.users, e.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func insertStatsRows(t *testing.T, db *store.DB, rows []statsRow) {
	t.Helper()
	ms := func(v time.Time) any {
		if v.IsZero() {
			return nil
		}
		return store.Millis(v)
	}
	sec := func(v float64) any {
		if v < 0 {
			return nil
		}
		return v
	}
	err := db.Tx(context.Background(), func(tx *sql.Tx) error {
		for _, r := range rows {
			var sat any
			if r.sat != 0 {
				sat = r.sat
			}
			if r.priority == "" {
				r.priority = "normal"
			}
			if r.status == "" {
				r.status = "closed"
			}
			_, err := tx.Exec(`INSERT INTO tickets(id, call_id, caller, called, channel, category, priority, status,
				outcome, abandon_stage, node_id, opened_at, queued_at, answered_at, ended_at, wait_seconds, talk_seconds,
				satisfaction, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)`,
				r.id, "call-"+r.id, "13800000000", "12348", "hotline", r.category, r.priority, r.status,
				r.outcome, r.stage, "t-1", ms(r.opened), ms(r.queued), ms(r.answered), ms(r.ended),
				sec(r.wait), sec(r.talk), sat)
			if err != nil {
				return fmt.Errorf("%s: %w", r.id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// statsWant is a block of numbers worked out by hand; nil ratios must be JSON null.
type statsWant struct {
	offered, answered, inSL, abandoned, short, voicemail, rejected, interrupted, inProgress, rated int
	stages                                                                                         [3]int // ivr, queue, ringing
	scores                                                                                         [3]int // 1, 2, 3
	answerRate, serviceLevel, asa, talk, aht, satRate                                              any    // float64 or nil
}

func checkBlock(t *testing.T, name string, got map[string]any, w statsWant) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: missing", name)
		return
	}
	ints := map[string]int{
		"offered": w.offered, "answered": w.answered, "answered_within_service_level": w.inSL,
		"abandoned": w.abandoned, "short_abandoned": w.short, "voicemail": w.voicemail, "rejected": w.rejected,
		"interrupted": w.interrupted, "in_progress": w.inProgress, "rated": w.rated,
	}
	for k, v := range ints {
		if g, ok := got[k].(float64); !ok || g != float64(v) {
			t.Errorf("%s.%s = %v, want %d", name, k, got[k], v)
		}
	}
	for i, k := range []string{"ivr", "queue", "ringing"} {
		if g := got["abandoned_by_stage"].(map[string]any)[k]; g != float64(w.stages[i]) {
			t.Errorf("%s.abandoned_by_stage.%s = %v, want %d", name, k, g, w.stages[i])
		}
	}
	for i, k := range []string{"1", "2", "3"} {
		if g := got["satisfaction"].(map[string]any)[k]; g != float64(w.scores[i]) {
			t.Errorf("%s.satisfaction.%s = %v, want %d", name, k, g, w.scores[i])
		}
	}
	ratios := map[string]any{
		"answer_rate": w.answerRate, "service_level": w.serviceLevel, "asa_seconds": w.asa,
		"talk_seconds": w.talk, "aht_seconds": w.aht, "satisfaction_rate": w.satRate,
	}
	for k, v := range ratios {
		g, present := got[k]
		if !present {
			t.Errorf("%s.%s missing", name, k)
			continue
		}
		if v == nil {
			if g != nil {
				t.Errorf("%s.%s = %v, want null", name, k, g)
			}
			continue
		}
		if gf, ok := g.(float64); !ok || math.Abs(gf-v.(float64)) > 1e-9 {
			t.Errorf("%s.%s = %v, want %v", name, k, g, v)
		}
	}
}

func getStatsJSON(t *testing.T, e *env, token, path string) map[string]any {
	t.Helper()
	code, b := e.do(t, "GET", path, token, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
	return m
}

// A hand-built day of tickets, Tuesday 2026-03-10 in Asia/Shanghai (UTC+8),
// with acd.service_level_seconds 15, acd.short_abandon_seconds 5 and
// acd.wrap_up 30s. Every expected number below is worked out by hand.
func TestStatsHandBuiltDay(t *testing.T) {
	now := statsAt(t, "2026-03-10 23:58:00.000")
	e := newStatsEnv(t, stats.Config{
		Location: statsZone, ServiceLevelSeconds: 15, ShortAbandonSeconds: 5, WrapUp: 30 * time.Second, Seats: 6,
		Queues:       []string{"consult", "legal_aid", "mediation", "notary", "complaint"},
		GeneralQueue: "consult", Now: func() time.Time { return now },
	})
	ts := func(v string) time.Time { return statsAt(t, v) }
	const N = -1.0 // NULL seconds
	insertStatsRows(t, e.db, []statsRow{
		// T1 03:00 local is 2026-03-09 19:00 UTC: counted on the 10th only in the configured zone.
		{id: "T1", priority: "green", category: "legal_aid", outcome: "answered",
			opened: ts("2026-03-10 03:00:00.000"), queued: ts("2026-03-10 03:00:06.000"), answered: ts("2026-03-10 03:00:16.000"),
			ended: ts("2026-03-10 03:01:56.000"), wait: 10, talk: 100},
		// T2: waited exactly 15.000 s: within the service level.
		{id: "T2", category: "consult", outcome: "answered", sat: 1,
			opened: ts("2026-03-10 09:00:00.000"), queued: ts("2026-03-10 09:00:10.000"), answered: ts("2026-03-10 09:00:25.000"),
			ended: ts("2026-03-10 09:05:25.000"), wait: 15, talk: 300},
		// T3: waited 15.001 s: not within.
		{id: "T3", category: "consult", outcome: "answered", sat: 3,
			opened: ts("2026-03-10 09:10:00.000"), queued: ts("2026-03-10 09:10:08.000"), answered: ts("2026-03-10 09:10:23.001"),
			ended: ts("2026-03-10 09:12:23.001"), wait: 15.001, talk: 120},
		{id: "T4", priority: "green", category: "legal_aid", outcome: "answered", sat: 2,
			opened: ts("2026-03-10 09:20:00.000"), queued: ts("2026-03-10 09:20:06.000"), answered: ts("2026-03-10 09:20:09.000"),
			ended: ts("2026-03-10 09:23:29.000"), wait: 3, talk: 200},
		{id: "T5", category: "mediation", outcome: "answered",
			opened: ts("2026-03-10 10:00:00.000"), queued: ts("2026-03-10 10:00:07.000"), answered: ts("2026-03-10 10:00:07.500"),
			ended: ts("2026-03-10 10:01:07.500"), wait: 0.5, talk: 60},
		// T6: hung up in the IVR 4.999 s after arriving: a short abandon (no category: general queue).
		{id: "T6", outcome: "abandoned", stage: "ivr",
			opened: ts("2026-03-10 10:30:00.000"), ended: ts("2026-03-10 10:30:04.999"), wait: N, talk: N},
		// T7: exactly 5.000 s: not less than 5, so not short.
		{id: "T7", outcome: "abandoned", stage: "ivr",
			opened: ts("2026-03-10 10:40:00.000"), ended: ts("2026-03-10 10:40:05.000"), wait: N, talk: N},
		{id: "T8", priority: "green", category: "legal_aid", outcome: "abandoned", stage: "queue",
			opened: ts("2026-03-10 11:00:00.000"), queued: ts("2026-03-10 11:00:06.000"), ended: ts("2026-03-10 11:01:06.000"), wait: 60, talk: N},
		{id: "T9", category: "notary", outcome: "abandoned", stage: "ringing",
			opened: ts("2026-03-10 11:30:00.000"), queued: ts("2026-03-10 11:30:05.000"), ended: ts("2026-03-10 11:30:20.000"), wait: 15, talk: N},
		// T10: green, gave up in the queue 4 s after arriving: short.
		{id: "T10", priority: "green", category: "legal_aid", outcome: "abandoned", stage: "queue",
			opened: ts("2026-03-10 11:45:00.000"), queued: ts("2026-03-10 11:45:03.000"), ended: ts("2026-03-10 11:45:04.000"), wait: 1, talk: N},
		{id: "T11", category: "complaint", outcome: "voicemail",
			opened: ts("2026-03-10 12:00:00.000"), queued: ts("2026-03-10 12:00:06.000"), ended: ts("2026-03-10 12:02:00.000"), wait: 114, talk: N},
		// T12: refused (404/488): not offered.
		{id: "T12", outcome: "rejected",
			opened: ts("2026-03-10 12:30:00.000"), ended: ts("2026-03-10 12:30:00.050"), wait: N, talk: N},
		{id: "T13", category: "consult", outcome: "interrupted",
			opened: ts("2026-03-10 13:00:00.000"), queued: ts("2026-03-10 13:00:06.000"), ended: ts("2026-03-10 13:00:30.000"), wait: 24, talk: N},
		// T14: talking now (open, answered, no talk time yet).
		{id: "T14", category: "consult", status: "open",
			opened: ts("2026-03-10 23:50:00.000"), queued: ts("2026-03-10 23:50:06.000"), answered: ts("2026-03-10 23:50:10.000"), wait: 4, talk: N},
		// T15: waiting in the queue now (open).
		{id: "T15", category: "consult", status: "open",
			opened: ts("2026-03-10 23:55:00.000"), queued: ts("2026-03-10 23:55:06.000"), wait: N, talk: N},
		// T16: arrived 23:59:50, answered and ended after midnight: counted on the 10th, hour 23.
		{id: "T16", category: "consult", outcome: "answered", sat: 2,
			opened: ts("2026-03-10 23:59:50.000"), queued: ts("2026-03-10 23:59:56.000"), answered: ts("2026-03-11 00:00:01.000"),
			ended: ts("2026-03-11 00:03:01.000"), wait: 5, talk: 180},
		// X1: the first millisecond of the 11th (2026-03-10 16:00 UTC): not the 10th.
		{id: "X1", category: "consult", outcome: "answered", sat: 1,
			opened: ts("2026-03-11 00:00:00.000"), queued: ts("2026-03-11 00:00:06.000"), answered: ts("2026-03-11 00:00:08.000"),
			ended: ts("2026-03-11 00:00:58.000"), wait: 2, talk: 50},
		// X2: the last millisecond of the 9th, answered on the 10th: not the 10th.
		{id: "X2", category: "consult", outcome: "answered", sat: 3,
			opened: ts("2026-03-09 23:59:59.999"), queued: ts("2026-03-10 00:00:05.999"), answered: ts("2026-03-10 00:00:07.999"),
			ended: ts("2026-03-10 00:00:37.999"), wait: 2, talk: 30},
	})
	tok := e.login(t, "boss")

	day := getStatsJSON(t, e, tok, "/api/stats/today")
	if day["date"] != "2026-03-10" || day["timezone"] != "Asia/Shanghai" || day["service_level_seconds"] != 15.0 ||
		day["short_abandon_seconds"] != 5.0 || day["wrap_up_seconds"] != 30.0 {
		t.Errorf("today: header %v %v %v %v %v", day["date"], day["timezone"], day["service_level_seconds"], day["short_abandon_seconds"], day["wrap_up_seconds"])
	}
	// The day: T1…T16.
	// offered = 16 tickets − T12 (rejected) = 15 (T14, T15 still open count).
	// answered (a seat answered) = T1 T2 T3 T4 T5 T14 T16 = 7.
	// abandoned = T6 T7 T8 T9 T10 = 5: ivr T6 T7, queue T8 T10, ringing T9.
	// short = T6 (4.999 s) + T10 (4 s) = 2; T7 (5.000 s) is not short.
	// answer_rate = 7 / (15 − 2) = 7/13.
	// within 15 s: T1 10, T2 15.000, T4 3, T5 0.5, T14 4, T16 5 = 6 (T3 15.001 is not);
	//   service_level = 6/13.
	// asa = (10 + 15 + 15.001 + 3 + 0.5 + 4 + 5) / 7 = 52.501 / 7.
	// talk = (T1 100 + T2 300 + T3 120 + T4 200 + T5 60 + T16 180) / 6 = 960 / 6 = 160 (T14 still talking);
	//   aht = 160 + 30 (wrap-up) = 190.
	// rated = T2(1) T3(3) T4(2) T16(2) = 4; satisfaction_rate = (1 + 2) / 4: T2, T4, T16 → 3/4.
	checkBlock(t, "today", day, statsWant{
		offered: 15, answered: 7, inSL: 6, abandoned: 5, short: 2, voicemail: 1, rejected: 1, interrupted: 1, inProgress: 2, rated: 4,
		stages: [3]int{2, 2, 1}, scores: [3]int{1, 2, 1},
		answerRate: 7.0 / 13, serviceLevel: 6.0 / 13, asa: 52.501 / 7, talk: 160.0, aht: 190.0, satRate: 0.75,
	})
	// Green channel: T1 T4 T8 T10. offered 4, answered T1 T4 = 2, abandoned T8 T10 (queue), short T10.
	// answer_rate = 2 / (4 − 1) = 2/3; within 15 s T1 (10) T4 (3) → 2/3; asa (10 + 3)/2 = 6.5;
	// talk (100 + 200)/2 = 150, aht 180; rated T4 (2) → 1/1.
	green := day["green"].(map[string]any)
	checkBlock(t, "today.green", green, statsWant{
		offered: 4, answered: 2, inSL: 2, abandoned: 2, short: 1, rated: 1,
		stages: [3]int{0, 2, 0}, scores: [3]int{0, 1, 0},
		answerRate: 2.0 / 3, serviceLevel: 2.0 / 3, asa: 6.5, talk: 150.0, aht: 180.0, satRate: 1.0,
	})
	queues := day["queues"].(map[string]any)
	if len(queues) != 5 {
		t.Errorf("queues: %d, want the 5 categories", len(queues))
	}
	// consult: T2 T3 T13 T14 T15 T16 + no category T6 T7 T12 (general queue).
	// offered = 9 − T12 = 8; answered T2 T3 T14 T16 = 4; abandoned T6 T7, short T6;
	// answer_rate 4 / (8 − 1) = 4/7; within 15 s T2 T14 T16 = 3 → 3/7;
	// asa (15 + 15.001 + 4 + 5) / 4 = 39.001/4; talk (300 + 120 + 180)/3 = 200, aht 230;
	// rated T2(1) T3(3) T16(2) → 2/3.
	checkBlock(t, "queues.consult", queues["consult"].(map[string]any), statsWant{
		offered: 8, answered: 4, inSL: 3, abandoned: 2, short: 1, rejected: 1, interrupted: 1, inProgress: 2, rated: 3,
		stages: [3]int{2, 0, 0}, scores: [3]int{1, 1, 1},
		answerRate: 4.0 / 7, serviceLevel: 3.0 / 7, asa: 39.001 / 4, talk: 200.0, aht: 230.0, satRate: 2.0 / 3,
	})
	// legal_aid = the green calls here.
	checkBlock(t, "queues.legal_aid", queues["legal_aid"].(map[string]any), statsWant{
		offered: 4, answered: 2, inSL: 2, abandoned: 2, short: 1, rated: 1,
		stages: [3]int{0, 2, 0}, scores: [3]int{0, 1, 0},
		answerRate: 2.0 / 3, serviceLevel: 2.0 / 3, asa: 6.5, talk: 150.0, aht: 180.0, satRate: 1.0,
	})
	// mediation: T5 alone: 1/1 answered, within, asa 0.5, aht 60 + 30 = 90, nobody rated → null.
	checkBlock(t, "queues.mediation", queues["mediation"].(map[string]any), statsWant{
		offered: 1, answered: 1, inSL: 1,
		answerRate: 1.0, serviceLevel: 1.0, asa: 0.5, talk: 60.0, aht: 90.0, satRate: nil,
	})
	// notary: T9 abandoned while ringing: 0/1 (a real 0, not null); nothing answered → asa, aht null.
	checkBlock(t, "queues.notary", queues["notary"].(map[string]any), statsWant{
		offered: 1, abandoned: 1, stages: [3]int{0, 0, 1},
		answerRate: 0.0, serviceLevel: 0.0, asa: nil, talk: nil, aht: nil, satRate: nil,
	})
	// complaint: T11 voicemail: 0/1.
	checkBlock(t, "queues.complaint", queues["complaint"].(map[string]any), statsWant{
		offered: 1, voicemail: 1, answerRate: 0.0, serviceLevel: 0.0,
	})

	hourly := getStatsJSON(t, e, tok, "/api/stats/hourly?date=2026-03-10")
	hours := hourly["hours"].([]any)
	if len(hours) != 24 {
		t.Fatalf("hourly: %d hours", len(hours))
	}
	hour := func(h int) map[string]any {
		m := hours[h].(map[string]any)
		if m["hour"] != float64(h) {
			t.Errorf("hours[%d].hour = %v", h, m["hour"])
		}
		return m
	}
	// 03: T1 (green): 1/1, within, asa 10, talk 100, aht 130.
	checkBlock(t, "hour 3", hour(3), statsWant{offered: 1, answered: 1, inSL: 1,
		answerRate: 1.0, serviceLevel: 1.0, asa: 10.0, talk: 100.0, aht: 130.0})
	checkBlock(t, "hour 3 green", hour(3)["green"].(map[string]any), statsWant{offered: 1, answered: 1, inSL: 1,
		answerRate: 1.0, serviceLevel: 1.0, asa: 10.0, talk: 100.0, aht: 130.0})
	// 09: T2 T3 T4: 3/3 answered; within T2 T4 → 2/3; asa (15 + 15.001 + 3)/3 = 33.001/3;
	// talk (300 + 120 + 200)/3 = 620/3, aht 620/3 + 30; rated 3, scores 1,3,2 → 2/3.
	checkBlock(t, "hour 9", hour(9), statsWant{offered: 3, answered: 3, inSL: 2, rated: 3, scores: [3]int{1, 1, 1},
		answerRate: 1.0, serviceLevel: 2.0 / 3, asa: 33.001 / 3, talk: 620.0 / 3, aht: 620.0/3 + 30, satRate: 2.0 / 3})
	// 10: T5 T6 T7: answered 1, abandoned 2 (ivr), short T6 → 1/(3 − 1) = 0.5 both.
	checkBlock(t, "hour 10", hour(10), statsWant{offered: 3, answered: 1, inSL: 1, abandoned: 2, short: 1, stages: [3]int{2, 0, 0},
		answerRate: 0.5, serviceLevel: 0.5, asa: 0.5, talk: 60.0, aht: 90.0})
	// 11: T8 T9 T10: all abandoned, short T10 → 0/(3 − 1) = 0.
	checkBlock(t, "hour 11", hour(11), statsWant{offered: 3, abandoned: 3, short: 1, stages: [3]int{0, 2, 1},
		answerRate: 0.0, serviceLevel: 0.0})
	// 12: T11 voicemail (offered) + T12 rejected (not offered): 0/1.
	checkBlock(t, "hour 12", hour(12), statsWant{offered: 1, voicemail: 1, rejected: 1, answerRate: 0.0, serviceLevel: 0.0})
	// 13: T13 interrupted: 0/1.
	checkBlock(t, "hour 13", hour(13), statsWant{offered: 1, interrupted: 1, answerRate: 0.0, serviceLevel: 0.0})
	// 23: T14 (talking) T15 (waiting) T16: answered T14 T16 → 2/3, both within (4, 5) → 2/3;
	// asa 4.5; talk T16 180 alone, aht 210; rated T16 (2) → 1.
	checkBlock(t, "hour 23", hour(23), statsWant{offered: 3, answered: 2, inSL: 2, inProgress: 2, rated: 1, scores: [3]int{0, 1, 0},
		answerRate: 2.0 / 3, serviceLevel: 2.0 / 3, asa: 4.5, talk: 180.0, aht: 210.0, satRate: 1.0})
	// Every other hour is empty: zeros, and null ratios. The hours add up to the day.
	total := 0.0
	for h := range 24 {
		m := hour(h)
		total += m["offered"].(float64)
		switch h {
		case 3, 9, 10, 11, 12, 13, 23:
			continue
		}
		checkBlock(t, fmt.Sprintf("hour %d", h), m, statsWant{})
	}
	if total != 15 {
		t.Errorf("hours add up to %v offered, the day has 15", total)
	}
	if from := hour(0)["from"]; from != "2026-03-10T00:00:00+08:00" {
		t.Errorf("hour 0 from %v", from)
	}

	// The neighbouring days hold X1 and X2 alone.
	next := getStatsJSON(t, e, tok, "/api/stats/hourly?date=2026-03-11")["hours"].([]any)
	checkBlock(t, "11th hour 0", next[0].(map[string]any), statsWant{offered: 1, answered: 1, inSL: 1, rated: 1, scores: [3]int{1, 0, 0},
		answerRate: 1.0, serviceLevel: 1.0, asa: 2.0, talk: 50.0, aht: 80.0, satRate: 1.0})
	prev := getStatsJSON(t, e, tok, "/api/stats/hourly?date=2026-03-09")["hours"].([]any)
	checkBlock(t, "9th hour 23", prev[23].(map[string]any), statsWant{offered: 1, answered: 1, inSL: 1, rated: 1, scores: [3]int{0, 0, 1},
		answerRate: 1.0, serviceLevel: 1.0, asa: 2.0, talk: 30.0, aht: 60.0, satRate: 0.0})
	// No date: today.
	if d := getStatsJSON(t, e, tok, "/api/stats/hourly")["date"]; d != "2026-03-10" {
		t.Errorf("hourly without date: %v", d)
	}
	for _, bad := range []string{"2026-3-10", "10/03/2026", "2026-02-30", "junk", "1900-01-01"} {
		if code, b := e.do(t, "GET", "/api/stats/hourly?date="+bad, tok, ""); code != 400 {
			t.Errorf("date=%s: %d %s", bad, code, b)
		}
	}
	for _, p := range []string{"/api/stats/today", "/api/stats/hourly", "/api/stats/staffing"} {
		if code, _ := e.do(t, "GET", p, "", ""); code != 401 {
			t.Errorf("%s without login: %d", p, code)
		}
	}
}

// Staffing on hand-built history: Tuesday 2026-03-31, with a service-level
// target of 80 % within 20 s and 30 s wrap-up, so that hour 9 is the
// published Erlang C example (10 Erlangs of 180 s calls → 14 agents).
func TestStatsStaffing(t *testing.T) {
	now := statsAt(t, "2026-03-31 10:00:00.000")
	e := newStatsEnv(t, stats.Config{
		Location: statsZone, ServiceLevelSeconds: 20, ShortAbandonSeconds: 5, WrapUp: 30 * time.Second, Seats: 6,
		StaffingTarget: 0.80, GeneralQueue: "consult", Now: func() time.Time { return now },
	})
	var rows []statsRow
	n := 0
	add := func(day string, clock time.Duration, outcome string, talk float64) {
		n++
		open := statsAt(t, day+" 00:00:00.000").Add(clock)
		r := statsRow{id: fmt.Sprintf("R%04d", n), category: "consult", outcome: outcome, opened: open, wait: -1, talk: -1}
		switch outcome {
		case "answered":
			r.queued, r.answered, r.wait = open.Add(5*time.Second), open.Add(10*time.Second), 5
			r.talk, r.ended = talk, r.answered.Add(time.Duration(talk)*time.Second)
		default:
			r.ended = open.Add(30 * time.Second)
		}
		rows = append(rows, r)
	}
	// Hour 9 of the Tuesdays 10, 17, 24 March: 190, 200, 210 calls, 10 abandoned each day,
	// the others answered with talk times alternating 120 s and 180 s (180, 190, 200
	// answered: even counts, so each day's mean talk is 150 s).
	for i, total := range map[string]int{"2026-03-10": 190, "2026-03-17": 200, "2026-03-24": 210} {
		for k := range total {
			clock := 9*time.Hour + time.Duration(k)*15*time.Second // all within 09:00–09:59
			switch {
			case k < 10:
				add(i, clock, "abandoned", 0)
			case k%2 == 0:
				add(i, clock, "answered", 120)
			default:
				add(i, clock, "answered", 180)
			}
		}
	}
	// Hour 10 of the 17th: three abandoned calls, no answered one.
	for k := range 3 {
		add("2026-03-17", 10*time.Hour+time.Duration(k)*time.Minute, "abandoned", 0)
	}
	// Hour 11 of the 17th: a rejected call (not offered).
	add("2026-03-17", 11*time.Hour, "rejected", 0)
	// Not reference days: a Monday, and the day itself.
	for k := range 50 {
		add("2026-03-23", 9*time.Hour+time.Duration(k)*time.Minute, "answered", 600)
		add("2026-03-31", 9*time.Hour+time.Duration(k)*time.Second, "answered", 600)
	}
	insertStatsRows(t, e.db, rows)
	tok := e.login(t, "boss")

	for _, date := range []string{"2026-03-31", "2026-04-14"} {
		// The 14th of April is two weeks ahead: its last four Tuesdays that are over are the same.
		p := getStatsJSON(t, e, tok, "/api/stats/staffing?date="+date)
		if p["date"] != date || p["weekday"] != "Tuesday" || p["seats_configured"] != 6.0 ||
			p["target_service_level"] != 0.8 || p["service_level_seconds"] != 20.0 {
			t.Errorf("%s: header %v %v %v %v %v", date, p["date"], p["weekday"], p["seats_configured"], p["target_service_level"], p["service_level_seconds"])
		}
		// The database starts on the 10th: the 3rd is not a reference day, so three weeks are used.
		if got := fmt.Sprint(p["reference_days"]); got != "[2026-03-24 2026-03-17 2026-03-10]" {
			t.Errorf("%s: reference_days %s", date, got)
		}
		hours := p["hours"].([]any)
		h9 := hours[9].(map[string]any)
		// offered = (190 + 200 + 210) / 3 = 200 an hour; aht = 150 + 30 = 180 s;
		// erlangs = 200 × 180 / 3600 = 10; 80 % within 20 s → 14 seats, where Erlang C
		// predicts 0.88835 (ErlangC R package README, the Call Centre Helper example).
		// With the 6 configured seats 10 Erlangs cannot be served: null.
		if h9["offered"] != 200.0 || h9["aht_seconds"] != 180.0 || h9["aht_source"] != "hour" ||
			math.Abs(h9["erlangs"].(float64)-10) > 1e-12 || h9["seats_required"] != 14.0 ||
			math.Abs(h9["service_level_at_required"].(float64)-0.88835) > 5e-6 || h9["service_level_at_configured"] != nil {
			t.Errorf("%s hour 9: %v", date, h9)
		}
		// Hour 10: 3 calls over 3 days = 1 an hour, no answered call that hour: the days'
		// pooled talk (150 s) + 30 = 180; erlangs = 1 × 180 / 3600 = 0.05. One seat is
		// M/M/1, where the chance to wait is the load: SL = 1 − 0.05·e^(−(1 − 0.05)·20/180)
		// = 1 − 0.05 × 0.899825 = 0.955009 ≥ 0.80 → 1 seat.
		h10 := hours[10].(map[string]any)
		if h10["offered"] != 1.0 || h10["aht_seconds"] != 180.0 || h10["aht_source"] != "days" ||
			math.Abs(h10["erlangs"].(float64)-0.05) > 1e-12 || h10["seats_required"] != 1.0 ||
			math.Abs(h10["service_level_at_required"].(float64)-0.955009) > 1e-6 ||
			h10["service_level_at_configured"].(float64) < 0.999999 {
			t.Errorf("%s hour 10: %v", date, h10)
		}
		// Hour 11 (a rejected call) and the rest: nothing to expect, no seat needed.
		for _, h := range []int{0, 8, 11, 23} {
			m := hours[h].(map[string]any)
			if m["offered"] != 0.0 || m["erlangs"] != 0.0 || m["seats_required"] != 0.0 || m["service_level_at_required"] != nil {
				t.Errorf("%s hour %d: %v", date, h, m)
			}
		}
		if p["peak_seats_required"] != 14.0 {
			t.Errorf("%s peak: %v", date, p["peak_seats_required"])
		}
	}

	// The 10th itself has no earlier history: no reference day, nothing to forecast.
	p := getStatsJSON(t, e, tok, "/api/stats/staffing?date=2026-03-10")
	if got := fmt.Sprint(p["reference_days"]); got != "[]" {
		t.Errorf("10th: reference_days %s", got)
	}
	if h := p["hours"].([]any)[9].(map[string]any); h["offered"] != nil || h["seats_required"] != nil || p["peak_seats_required"] != nil {
		t.Errorf("10th hour 9: %v peak %v", h, p["peak_seats_required"])
	}
}

func TestStatsNotConfigured(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, "boss")
	for _, p := range []string{"/api/stats/today", "/api/stats/hourly", "/api/stats/staffing"} {
		if code, _ := e.do(t, "GET", p, tok, ""); code != 503 {
			t.Errorf("%s without a stats service: %d", p, code)
		}
	}
}
