package stats

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/store"
)

// The wallboard's words mean what they say (package doc):
//   - in_progress ("进行中" beside 呼入) counts every call not over yet, at
//     any stage; talking ("通话中" beside 接通) only those a seat answered;
//   - abandon_rate = (abandoned − short) / (offered − short);
//   - target_service_level comes with the numbers, as configured.
func TestWallboardDefinitions(t *testing.T) {
	ctx := context.Background()
	zone := time.UTC
	now := time.Date(2026, 11, 26, 10, 30, 0, 0, zone)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := func(min int) *time.Time { v := now.Add(time.Duration(min) * time.Minute); return &v }
	sec := func(v float64) *float64 { return &v }
	open := now.Add(-time.Hour)
	tk := func(id, status, outcome, stage string, answered, ended *time.Time, wait *float64) fakeTicket {
		return fakeTicket{id: id, priority: "normal", category: "consult", status: status, outcome: outcome, stage: stage,
			opened: open, answered: answered, ended: ended, wait: wait}
	}
	short := open.Add(2 * time.Second)
	long := open.Add(40 * time.Second)
	insertFake(t, db, []fakeTicket{
		// Still open: one in the menu, one waiting, one ringing (not
		// answered), two talking (answered).
		tk("ivr", "open", "", "", nil, nil, nil),
		tk("queue", "open", "", "", nil, nil, nil),
		tk("ring", "open", "", "", nil, nil, nil),
		tk("talk1", "open", "", "", at(-50), nil, sec(3)),
		tk("talk2", "open", "", "", at(-40), nil, sec(30)),
		// Over: answered and completed, three abandons (one short), a rejected call.
		tk("done1", "closed", "answered", "", at(-55), at(-45), sec(5)),
		tk("done2", "closed", "answered", "", at(-35), at(-25), sec(10)),
		tk("ab-short", "closed", "abandoned", "ivr", nil, &short, nil),
		tk("ab-q1", "closed", "abandoned", "queue", nil, &long, nil),
		tk("ab-q2", "closed", "abandoned", "queue", nil, &long, nil),
		tk("rej", "closed", "rejected", "", nil, at(-59), nil),
	})
	s := New(db, Config{Location: zone, ServiceLevelSeconds: 15, ShortAbandonSeconds: 5, StaffingTarget: 0.85,
		Now: func() time.Time { return now }})
	d, err := s.Day(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Offered != 10 || d.Answered != 4 || d.Abandoned != 3 || d.ShortAbandoned != 1 {
		t.Fatalf("offered %d answered %d abandoned %d short %d, want 10 4 3 1", d.Offered, d.Answered, d.Abandoned, d.ShortAbandoned)
	}
	if d.InProgress != 5 {
		t.Errorf("in_progress %d, want 5: every open call (menu, queue, ringing, talking)", d.InProgress)
	}
	if d.Talking != 2 {
		t.Errorf("talking %d, want 2: answered and still open, never a caller still waiting", d.Talking)
	}
	// (3 − 1) / (10 − 1)
	if d.AbandonRate == nil || math.Abs(*d.AbandonRate-2.0/9) > 1e-12 {
		t.Errorf("abandon_rate %v, want 2/9", d.AbandonRate)
	}
	if d.TargetServiceLevel != 0.85 {
		t.Errorf("target_service_level %v, want the configured 0.85", d.TargetServiceLevel)
	}
	st, err := s.Staffing(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.TargetServiceLevel != 0.85 {
		t.Errorf("staffing plans for %v, want the configured target 0.85", st.TargetServiceLevel)
	}
	// Nothing offered: the rate is null, not 0.
	empty, err := s.Day(ctx, now.AddDate(0, 0, -3))
	if err != nil {
		t.Fatal(err)
	}
	if empty.AbandonRate != nil {
		t.Errorf("abandon_rate over no call: %v, want null", *empty.AbandonRate)
	}
}
