package ticket

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/vocab"
)

// sqliteErr is an error as modernc.org/sqlite reports one.
type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

func newTestBacklog(t *testing.T, s *Store, cfg BacklogConfig) (*Backlog, func()) {
	t.Helper()
	b, err := NewBacklog(s, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return b, stop
}

func waitEmpty(t *testing.T, b *Backlog, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for b.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backlog still holds %d writes after %s (last error %v)", b.Len(), within, b.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A database locked by another process: opening and closing tickets does
// not wait for the lock, and everything lands, in order, once it is
// released — each revision once in the outbox.
func TestBacklogRidesOutALock(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	b, _ := newTestBacklog(t, s, BacklogConfig{Wait: 50 * time.Millisecond})

	other, err := sql.Open("sqlite", "file:"+s.db.Path+"?_pragma=busy_timeout(1000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE; INSERT INTO ticket_seq(day, n) VALUES ('lock', 1) ON CONFLICT(day) DO UPDATE SET n = n + 1"); err != nil {
		t.Fatal(err)
	}

	var ids []ID
	start := time.Now()
	for i := range 3 {
		tk := &Ticket{CallID: fmt.Sprintf("c%d", i), Caller: "13800000000", Called: "12348"}
		if err := b.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
		if _, err := b.Update(ctx, tk.ID, func(t *Ticket) error { t.Category = "consult"; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := b.Update(ctx, tk.ID, func(t *Ticket) error { t.Status, t.Outcome = vocab.StatusClosed, vocab.OutcomeAnswered; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != 3 || got.Status != vocab.StatusClosed || got.Category != "consult" {
			t.Fatalf("view of %s: revision %d status %s category %q", tk.ID, got.Revision, got.Status, got.Category)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("9 ticket writes under a lock took %s: the calls waited for the database", d)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("ids not unique: %v", ids)
	}
	if b.Len() != 9 || b.Tickets() != 3 {
		t.Fatalf("backlog holds %d writes of %d tickets, want 9 of 3", b.Len(), b.Tickets())
	}
	if _, err := s.Get(ctx, ids[0]); err == nil {
		t.Fatal("a ticket was written through the lock")
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, b, 15*time.Second)
	for _, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vocab.StatusClosed || got.Revision != 3 {
			t.Fatalf("%s: status %s revision %d", id, got.Status, got.Revision)
		}
		want := []outboxRow{{1, EventOpened}, {2, EventUpdated}, {3, EventClosed}}
		if o := outboxOf(t, s, id); fmt.Sprint(o) != fmt.Sprint(want) {
			t.Fatalf("%s: outbox %v, want %v", id, o, want)
		}
	}
}

// Storage faults are retried with backoff, in order, until the write
// lands; the first attempts never reach the outbox twice.
func TestBacklogRetriesInOrder(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	b, err := NewBacklog(s, BacklogConfig{Wait: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		attempts []string
		failures = 6
	)
	b.inject = func(op *backlogOp) error {
		mu.Lock()
		defer mu.Unlock()
		kind := "update"
		if op.open != nil {
			kind = "open"
		}
		attempts = append(attempts, op.id+"/"+kind)
		if failures > 0 {
			failures--
			return []error{sqliteErr(5), sqliteErr(8), sqliteErr(10 | 3<<8), sqliteErr(13)}[failures%4]
		}
		return nil
	}
	a := &Ticket{CallID: "a"}
	if err := b.Open(ctx, a); err != nil {
		t.Fatal(err)
	}
	c := &Ticket{CallID: "c"}
	if err := b.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for _, id := range []ID{a.ID, c.ID} {
			if _, err := b.Update(ctx, id, func(t *Ticket) error { t.Summary = fmt.Sprint("note ", i); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if b.Err() != nil || b.Len() != 8 {
		t.Fatalf("before the writer runs: %d writes, error %v", b.Len(), b.Err())
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(rctx) }()
	defer func() { cancel(); <-done }()
	waitEmpty(t, b, 5*time.Second)
	mu.Lock()
	if len(attempts) != 8+6 {
		t.Fatalf("attempts %d, want 14: %v", len(attempts), attempts)
	}
	for i := 1; i < 7; i++ {
		if attempts[i] != attempts[0] {
			t.Fatalf("attempt %d was %s while %s had not landed: order broken", i, attempts[i], attempts[0])
		}
	}
	mu.Unlock()
	if b.Err() != nil {
		t.Fatalf("error still set after everything landed: %v", b.Err())
	}
	for _, id := range []ID{a.ID, c.ID} {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != 4 || got.Summary != "note 2" {
			t.Fatalf("%s: revision %d summary %q", id, got.Revision, got.Summary)
		}
		if o := outboxOf(t, s, id); len(o) != 4 || o[0].rev != 1 || o[3].rev != 4 {
			t.Fatalf("%s: outbox %v", id, o)
		}
	}
}

// A write that the database has taken although the attempt reported an
// error is not written twice: the insert and the update are idempotent.
func TestBacklogExactlyOnceAfterAmbiguousCommit(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	b, err := NewBacklog(s, BacklogConfig{Wait: time.Millisecond, MinBackoff: time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	lied := map[*backlogOp]bool{}
	b.inject = func(op *backlogOp) error {
		if lied[op] {
			return nil
		}
		lied[op] = true
		// The write lands, then the attempt "fails".
		if op.open != nil {
			if err := s.Insert(ctx, op.open.clone()); err != nil {
				return err
			}
		} else if _, err := s.Update(ctx, op.id, op.fn); err != nil {
			return err
		}
		return sqliteErr(10)
	}
	tk := &Ticket{CallID: "x"}
	if err := b.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, tk.ID, func(t *Ticket) error { t.Status = vocab.StatusClosed; return nil }); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go b.Run(rctx)
	waitEmpty(t, b, 5*time.Second)
	want := []outboxRow{{1, EventOpened}, {2, EventClosed}}
	if o := outboxOf(t, s, tk.ID); fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf("outbox %v, want %v", o, want)
	}
}

// The backlog holds at most MaxTickets tickets: a new one beyond is
// refused, an update of one held is always taken; a write the database
// refuses for good (not a storage fault) is dropped, not retried for ever.
func TestBacklogBound(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	b, err := NewBacklog(s, BacklogConfig{MaxTickets: 2, Wait: time.Millisecond, MinBackoff: time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var held []*Ticket
	for i := range 2 {
		tk := &Ticket{CallID: fmt.Sprint(i)}
		if err := b.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	if !b.Full() {
		t.Fatal("not full at MaxTickets")
	}
	if err := b.Open(ctx, &Ticket{CallID: "3"}); err != ErrBacklogFull {
		t.Fatalf("third ticket: %v, want ErrBacklogFull", err)
	}
	if _, err := b.Update(ctx, held[0].ID, func(t *Ticket) error { t.Status = vocab.StatusClosed; return nil }); err != nil {
		t.Fatal(err)
	}
	// An update of a ticket nobody has: refused for good, dropped.
	b.mu.Lock()
	b.queue = append(b.queue, &backlogOp{id: "no-such", fn: func(t *Ticket) error { t.Summary = "x"; return nil }, queued: time.Now(), done: make(chan struct{})})
	b.mu.Unlock()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go b.Run(rctx)
	waitEmpty(t, b, 5*time.Second)
	if b.Full() || b.Tickets() != 0 {
		t.Fatalf("after landing: full %v, %d tickets held", b.Full(), b.Tickets())
	}
	if got, err := s.Get(ctx, held[0].ID); err != nil || got.Status != vocab.StatusClosed {
		t.Fatalf("held ticket: %v %v", got, err)
	}
	if err := b.Open(ctx, &Ticket{CallID: "4"}); err != nil {
		t.Fatalf("room again, still refused: %v", err)
	}
}

// Ids are drawn in memory and continue after those stored, across a restart.
func TestIDsContinueAfterRestart(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, s.loc)
	a := &Ticket{CallID: "a", OpenedAt: at}
	if err := s.Open(ctx, a); err != nil {
		t.Fatal(err)
	}
	s2 := NewStore(s.db, "km-1", s.loc, nil) // a new process on the same file
	b := &Ticket{CallID: "b", OpenedAt: at}
	if err := s2.Open(ctx, b); err != nil {
		t.Fatal(err)
	}
	if a.ID != "20261203-100000-km-1-0001" || b.ID != "20261203-100000-km-1-0002" {
		t.Fatalf("ids %s, %s", a.ID, b.ID)
	}
}

// recording_failed is a ticket field: stored, read back, and in the push.
func TestRecordingFailedStoredAndPushed(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	tk := &Ticket{CallID: "vm"}
	if err := s.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, tk.ID, func(t *Ticket) error {
		t.Status, t.Outcome, t.Callback, t.RecordingFailed = vocab.StatusClosed, vocab.OutcomeVoicemail, true, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, tk.ID)
	if err != nil || !got.RecordingFailed || !got.Callback {
		t.Fatalf("read back: %+v %v", got, err)
	}
	var body string
	if err := s.db.R.QueryRow("SELECT body FROM outbox WHERE ticket_id = ? AND revision = 2", tk.ID).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"recording_failed":true`) {
		t.Fatalf("push body lacks recording_failed: %s", body)
	}
}
