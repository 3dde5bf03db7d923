package adapt

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/ticket"
)

// outboxFlushTimeout bounds the last delivery round at shutdown.
const outboxFlushTimeout = 10 * time.Second

// Outbox runs the delivery worker, or nothing but the backlog metrics when
// workorder.url is empty: then every revision stays pending, never dropped.
type Outbox struct {
	w       *ticket.Worker
	tickets *ticket.Store
}

func NewOutbox(cfg *config.Config, tickets *ticket.Store, log *slog.Logger, reg prometheus.Registerer) (*Outbox, error) {
	log = log.With("component", "outbox")
	if err := ticket.RegisterOutboxMetrics(tickets, reg, log); err != nil {
		return nil, err
	}
	o := &Outbox{tickets: tickets}
	if cfg.Workorder.URL == "" {
		st, _ := tickets.Outbox(context.Background())
		log.Warn("workorder.url is empty: ticket revisions stay in the outbox as pending and are pushed once a URL is configured",
			"pending", st.Pending)
		// Still register the delivery counter, at 0, so dashboards and
		// alerts see the series.
		_, err := ticket.NewWorker(ticket.WorkerConfig{}, tickets, nil, log, reg)
		return o, err
	}
	w, err := ticket.NewWorker(ticket.WorkerConfig{
		Workers:     cfg.Workorder.Workers,
		MaxAttempts: cfg.Workorder.MaxAttempts,
	}, tickets, &ticket.Pusher{
		URL:    cfg.Workorder.URL,
		Secret: []byte(cfg.Workorder.Secret),
		Client: &http.Client{Timeout: cfg.Workorder.Timeout.D()},
		Now:    time.Now,
	}, log, reg)
	if err != nil {
		return nil, err
	}
	o.w = w
	return o, nil
}

func (o *Outbox) Run(ctx context.Context) {
	if o.w != nil {
		o.w.Run(ctx)
	}
}

func (o *Outbox) Wake() {
	if o.w != nil {
		o.w.Wake()
	}
}

// Flush gives every pending revision one more try; it returns what is left.
func (o *Outbox) Flush(ctx context.Context) int {
	if o.w == nil {
		st, _ := o.tickets.Outbox(ctx)
		return st.Pending
	}
	return o.w.Flush(ctx)
}
