// Command outbox measures the ticket store and the work-order push on this
// machine: tickets written (4 revisions each, each with its outbox row, in
// SQLite with synchronous=FULL) and delivered to a local HTTP receiver per
// second, and how fast a backlog drains once the work-order system is back
// after an outage.
//
//	go run ./bench/outbox -tickets 2000 -outage 10m -rate 2
//
// -outage and -rate size the backlog: the revisions a hotline taking -rate
// calls/s writes during -outage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

func main() {
	n := flag.Int("tickets", 2000, "tickets for the throughput run")
	outage := flag.Duration("outage", 10*time.Minute, "length of the simulated outage")
	rate := flag.Float64("rate", 2, "calls per second during the outage")
	workers := flag.Int("workers", 4, "workorder.workers")
	flag.Parse()
	ctx := context.Background()

	var got atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(201)
	}))
	defer rcv.Close()

	s, cleanup := newStore(ctx)
	defer cleanup()
	w := newWorker(s, rcv.URL, *workers)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	start := time.Now()
	writeTickets(ctx, s, *n)
	written := time.Since(start)
	waitDrained(ctx, s)
	total := time.Since(start)
	stop()
	<-done
	fmt.Printf("throughput: %d tickets (%d revisions) written in %s = %.0f tickets/s (%.0f revisions/s); written and delivered in %s = %.0f tickets/s end to end (receiver got %d)\n",
		*n, 4**n, written.Round(time.Millisecond), float64(*n)/written.Seconds(), float64(4**n)/written.Seconds(),
		total.Round(time.Millisecond), float64(*n)/total.Seconds(), got.Load())

	// The outage: the backlog of -outage at -rate, then the receiver is back.
	s2, cleanup2 := newStore(ctx)
	defer cleanup2()
	backlog := int(outage.Seconds() * *rate)
	writeTickets(ctx, s2, backlog)
	st, _ := s2.Outbox(ctx)
	got.Store(0)
	w2 := newWorker(s2, rcv.URL, *workers)
	wctx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan struct{})
	start = time.Now()
	go func() { w2.Run(wctx2); close(done2) }()
	waitDrained(ctx, s2)
	drain := time.Since(start)
	stop2()
	<-done2
	fmt.Printf("backlog: %s outage at %.1f calls/s = %d tickets, %d revisions pending; drained in %s = %.0f revisions/s (%d workers)\n",
		*outage, *rate, backlog, st.Pending, drain.Round(time.Millisecond), float64(st.Pending)/drain.Seconds(), *workers)
}

func newStore(ctx context.Context) (*ticket.Store, func()) {
	dir, err := os.MkdirTemp("", "outbox-bench-")
	must(err)
	db, err := store.Open(ctx, filepath.Join(dir, "hotline.db"))
	must(err)
	return ticket.NewStore(db, "bench-1", time.Local, nil), func() { db.Close(); os.RemoveAll(dir) }
}

func newWorker(s *ticket.Store, url string, workers int) *ticket.Worker {
	w, err := ticket.NewWorker(ticket.WorkerConfig{Workers: workers}, s,
		&ticket.Pusher{URL: url, Secret: []byte("bench"), Client: &http.Client{Timeout: 5 * time.Second}, Now: time.Now},
		slog.New(slog.DiscardHandler), nil)
	must(err)
	return w
}

// writeTickets writes what a call does: opened, IVR result, queue, closed.
func writeTickets(ctx context.Context, s *ticket.Store, n int) {
	for i := range n {
		tk := &ticket.Ticket{CallID: fmt.Sprintf("c%d", i), Caller: fmt.Sprintf("138%08d", i), Called: "12348"}
		must(s.Open(ctx, tk))
		now := time.Now()
		for _, f := range []func(*ticket.Ticket){
			func(t *ticket.Ticket) { t.Category, t.IVRPath, t.QueuedAt = "consult", "1", ticket.TimePtr(now) },
			func(t *ticket.Ticket) { t.AnsweredAt, t.SeatID = ticket.TimePtr(now), "8001" },
			func(t *ticket.Ticket) {
				t.Status, t.Outcome, t.EndedAt = vocab.StatusClosed, vocab.OutcomeAnswered, ticket.TimePtr(now)
			},
		} {
			_, err := s.Update(ctx, tk.ID, func(t *ticket.Ticket) error { f(t); return nil })
			must(err)
		}
	}
}

func waitDrained(ctx context.Context, s *ticket.Store) {
	for {
		st, err := s.Outbox(ctx)
		must(err)
		if st.Pending == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
