package adapt

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/metrictest"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
)

func outboxSetup(t *testing.T, url string) (*Outbox, *ticket.Store, *prometheus.Registry) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tickets := ticket.NewStore(db, "t-1", time.UTC, nil)
	if err := tickets.Open(ctx, &ticket.Ticket{CallID: "c-1", Caller: "13800000000", Called: "12348", OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("workorder: {url: %q, secret: push-key-0123456789, workers: 1, timeout: 2s}\n", url)), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o, err := NewOutbox(cfg, tickets, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	return o, tickets, reg
}

// Without workorder.url nothing is pushed and nothing is dropped: the
// revisions stay pending, Flush says how many, and the metrics exist.
func TestOutboxWithoutURLKeepsPending(t *testing.T) {
	o, tickets, reg := outboxSetup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o.Run(ctx) // returns at once: no worker
	o.Wake()
	if n := o.Flush(context.Background()); n != 1 {
		t.Fatalf("Flush left %d, want the 1 pending revision", n)
	}
	if st, _ := tickets.Outbox(context.Background()); st.Pending != 1 {
		t.Fatalf("pending %d, want 1", st.Pending)
	}
	if v := metrictest.Value(t, reg, "hotline_workorder_outbox_pending"); v != 1 {
		t.Fatalf("hotline_workorder_outbox_pending %v, want 1", v)
	}
	metrictest.Value(t, reg, "hotline_workorder_deliveries_total", "result", "delivered") // present, at 0
}

// With a URL, Run delivers and Flush gives what is left one more try.
func TestOutboxDeliversAndFlushes(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	o, tickets, _ := outboxSetup(t, srv.URL)
	if n := o.Flush(context.Background()); n != 0 {
		t.Fatalf("Flush left %d, want 0", n)
	}
	if got.Load() != 1 {
		t.Fatalf("the work-order system got %d pushes, want 1", got.Load())
	}
	// A new revision while Run runs is delivered after a Wake.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := tickets.Open(context.Background(), &ticket.Ticket{CallID: "c-2", Caller: "13800000001", Called: "12348", OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	o.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the new revision was not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
