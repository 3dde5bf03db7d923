package stats

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// A cluster's numbers are the sum of its nodes' parts: one set of tickets
// split over several databases (one per node) gives, merged, exactly the
// numbers the whole set gives in one database, field by field: every count,
// every ratio, the staffing plan (whose reference days depend on the first
// ticket of the whole centre, here on one node only).
func TestMergedPartsEqualOneDatabase(t *testing.T) {
	ctx := context.Background()
	zone, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 18, 30, 0, 0, zone)
	cfg := Config{
		Location: zone, ServiceLevelSeconds: 15, ShortAbandonSeconds: 5, WrapUp: 30 * time.Second, Seats: 6,
		Queues: []string{"consult", "legal_aid", "mediation", "notary", "complaint"}, GeneralQueue: "consult",
		Now: func() time.Time { return now },
	}
	open := func(name string) *store.DB {
		db, err := store.Open(ctx, filepath.Join(t.TempDir(), name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	all, km1, km2, empty := open("all"), open("km-1"), open("km-2"), open("km-3")

	// Five weeks of random calls; km-1 alone holds those older than two
	// weeks, so km-2's first ticket is not the centre's.
	rng := rand.New(rand.NewPCG(1, 2))
	var one, two []fakeTicket
	start := now.AddDate(0, 0, -35)
	for i := range 1500 {
		tk := randomTicket(rng, i, start.Add(time.Duration(rng.Int64N(int64(now.Sub(start))))))
		if tk.opened.Before(now.AddDate(0, 0, -14)) || rng.IntN(2) == 0 {
			one = append(one, tk)
		} else {
			two = append(two, tk)
		}
	}
	insertFake(t, all, append(append([]fakeTicket{}, one...), two...))
	insertFake(t, km1, one)
	insertFake(t, km2, two)

	whole := New(all, cfg)
	nodes := []*Service{New(km2, cfg), New(km1, cfg), New(empty, cfg)}
	for _, day := range []time.Time{now, now.AddDate(0, 0, -1), now.AddDate(0, 0, -20), now.AddDate(0, 0, 7), now.AddDate(0, 0, -40)} {
		name := day.Format(time.DateOnly)
		want, err := whole.Day(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		var dayParts []*DayPart
		var hourParts []*HourlyPart
		var staffParts []*StaffingPart
		for _, n := range nodes {
			dp, err := n.DayPart(ctx, day)
			if err != nil {
				t.Fatal(err)
			}
			hp, err := n.HourlyPart(ctx, day)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := n.StaffingPart(ctx, whole.ReferenceCandidates(day))
			if err != nil {
				t.Fatal(err)
			}
			// Parts travel between nodes as JSON.
			dayParts = append(dayParts, viaJSON(t, dp))
			hourParts = append(hourParts, viaJSON(t, hp))
			staffParts = append(staffParts, viaJSON(t, sp))
		}
		got, err := whole.MergeDay(day, dayParts...)
		if err != nil {
			t.Fatal(err)
		}
		if day.Before(now) && day.After(start) && (want.Offered == 0 || want.ASASeconds == nil || want.AHTSeconds == nil) {
			t.Fatalf("%s: a day without numbers proves nothing: %+v", name, want.Block)
		}
		sameJSON(t, "day "+name, want, got)

		wantH, err := whole.Hourly(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		gotH, err := whole.MergeHourly(day, hourParts...)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "hourly "+name, wantH, gotH)

		wantS, err := whole.Staffing(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		gotS, err := whole.MergeStaffing(day, staffParts...)
		if err != nil {
			t.Fatal(err)
		}
		if day.After(now) && len(wantS.ReferenceDays) != 4 {
			t.Fatalf("%s: staffing has reference days %v, want four", name, wantS.ReferenceDays)
		}
		sameJSON(t, "staffing "+name, wantS, gotS)
	}

	// A part of another day is refused, never added.
	p, _ := nodes[0].DayPart(ctx, now.AddDate(0, 0, -1))
	if _, err := whole.MergeDay(now, p); err == nil {
		t.Fatal("a part of another day was merged")
	}
}

type fakeTicket struct {
	id, priority, category, status, outcome, stage string
	opened                                         time.Time
	queued, answered, ended                        *time.Time
	wait, talk                                     *float64
	sat                                            *int
}

// randomTicket is a plausible ticket: every outcome, stage, priority and
// category, waits around the service level, short abandons, ratings.
func randomTicket(rng *rand.Rand, i int, opened time.Time) fakeTicket {
	opened = opened.Truncate(time.Millisecond)
	at := func(d time.Duration) *time.Time { v := opened.Add(d).Truncate(time.Millisecond); return &v }
	sec := func(ms int64) *float64 { v := float64(ms) / 1000; return &v }
	tk := fakeTicket{id: fmt.Sprintf("T%05d", i), priority: "normal", status: "closed",
		category: []string{"", "consult", "legal_aid", "mediation", "notary", "complaint", "other"}[rng.IntN(7)], opened: opened}
	if rng.IntN(10) == 0 {
		tk.priority = "green"
	}
	ivr := time.Duration(rng.IntN(12000)) * time.Millisecond
	switch r := rng.IntN(20); {
	case r < 12: // answered
		tk.outcome = "answered"
		waitMs := rng.Int64N(40000)
		if rng.IntN(8) == 0 {
			waitMs = 15000 // exactly the service level
		}
		talkMs := rng.Int64N(900000)
		tk.queued, tk.answered = at(ivr), at(ivr+time.Duration(waitMs)*time.Millisecond)
		tk.wait = sec(waitMs)
		if rng.IntN(15) == 0 {
			tk.status = "open" // still talking
		} else {
			tk.ended, tk.talk = at(ivr+time.Duration(waitMs+talkMs)*time.Millisecond), sec(talkMs)
		}
		if rng.IntN(3) > 0 {
			s := 1 + rng.IntN(3)
			tk.sat = &s
		}
	case r < 16:
		tk.outcome = "abandoned"
		tk.stage = []string{"ivr", "queue", "ringing"}[rng.IntN(3)]
		tk.ended = at(time.Duration(rng.Int64N(20000)) * time.Millisecond)
	case r < 17:
		tk.outcome, tk.ended = "voicemail", at(ivr+time.Minute)
	case r < 18:
		tk.outcome, tk.ended = "rejected", at(0)
	case r < 19:
		tk.outcome, tk.ended = "interrupted", at(ivr)
	default:
		tk.status = "open" // in the IVR or the queue now
	}
	return tk
}

func insertFake(t *testing.T, db *store.DB, list []fakeTicket) {
	t.Helper()
	ms := func(v *time.Time) any {
		if v == nil {
			return nil
		}
		return store.Millis(*v)
	}
	f := func(v *float64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	err := db.Tx(context.Background(), func(tx *sql.Tx) error {
		for _, r := range list {
			var sat any
			if r.sat != nil {
				sat = *r.sat
			}
			_, err := tx.Exec(`INSERT INTO tickets(id, call_id, caller, called, channel, category, priority, status,
				outcome, abandon_stage, node_id, opened_at, queued_at, answered_at, ended_at, wait_seconds, talk_seconds,
				satisfaction, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)`,
				r.id, "call-"+r.id, "13800000000", "12348", "hotline", r.category, r.priority, r.status,
				r.outcome, r.stage, "n", store.Millis(r.opened), ms(r.queued), ms(r.answered), ms(r.ended), f(r.wait), f(r.talk), sat)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func viaJSON[T any](t *testing.T, v *T) *T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameJSON compares two answers as the API writes them, field by field,
// exactly (no tolerance: the parts carry whole milliseconds).
func sameJSON(t *testing.T, name string, want, got any) {
	t.Helper()
	var w, g any
	for _, x := range []struct {
		v   any
		out *any
	}{{want, &w}, {got, &g}} {
		b, err := json.Marshal(x.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, x.out); err != nil {
			t.Fatal(err)
		}
	}
	var diffs []string
	diffJSON("", w, g, &diffs)
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Errorf("%s: %s", name, d)
	}
}

func diffJSON(path string, w, g any, out *[]string) {
	wm, wok := w.(map[string]any)
	gm, gok := g.(map[string]any)
	if wok && gok {
		for k := range wm {
			diffJSON(path+"."+k, wm[k], gm[k], out)
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: unexpected %v", path, k, gm[k]))
			}
		}
		return
	}
	wl, wok := w.([]any)
	gl, gok := g.([]any)
	if wok && gok && len(wl) == len(gl) {
		for i := range wl {
			diffJSON(fmt.Sprintf("%s[%d]", path, i), wl[i], gl[i], out)
		}
		return
	}
	if !reflect.DeepEqual(w, g) {
		*out = append(*out, fmt.Sprintf("%s = %v, want %v", path, g, w))
	}
}
