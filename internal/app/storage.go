package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
)

// storageProbeEvery is how often the database, the recordings directory
// and the free space are tried.
const storageProbeEvery = time.Second

// storageProbeBusy is the probe's busy timeout: a lock held longer reads
// as busy (calls go on through the backlog), not as a fault.
const storageProbeBusy = 200 * time.Millisecond

// backlogFlushTimeout bounds the last writes of the ticket backlog at
// shutdown, before the outbox's last delivery round.
const backlogFlushTimeout = 10 * time.Second

// storage runs the ticket write backlog and the storage health probe:
// whether a new call could get a ticket (else /healthz and OPTIONS 503,
// INVITE 503), and what is degraded (database busy, recordings not
// writable, disk space low). Metrics hotline_storage_*.
type storage struct {
	backlog *ticket.Backlog
	db      *store.DB
	recDir  string // "" when recordings are off
	dataDir string
	minFree uint64 // bytes; 0: off
	log     *slog.Logger

	mu     sync.Mutex
	dbKind string // store.Fault* of the last probe
	dbErr  error
	recErr error
	free   uint64
	low    bool

	ok       *prometheus.GaugeVec
	freeG    prometheus.GaugeFunc
	failures *prometheus.CounterVec

	stopOnce sync.Once
	stopRun  context.CancelFunc
	done     sync.WaitGroup
}

// storage parts, the label of hotline_storage_ok and the failure counter.
const (
	partDatabase   = "database"
	partRecordings = "recordings"
	partDiskSpace  = "disk_space"
)

func startStorage(ctx context.Context, cfg *config.Config, db *store.DB, tickets *ticket.Store, log *slog.Logger, reg prometheus.Registerer) (*storage, error) {
	log = log.With("component", "storage")
	b, err := ticket.NewBacklog(tickets, ticket.BacklogConfig{}, log, reg)
	if err != nil {
		return nil, err
	}
	s := &storage{backlog: b, db: db, dataDir: cfg.DataDir, minFree: uint64(cfg.Storage.MinFreeMB) << 20, log: log}
	if cfg.Recordings.Enabled {
		s.recDir = RecordingsDir(cfg)
	}
	s.ok = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hotline_storage_ok", Help: "1 while a storage part works: database (takes a write now), recordings (directory writable), disk_space (above storage.min_free_mb).",
	}, []string{"part"})
	s.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_storage_probe_failures_total", Help: "Failed storage probes (one a second), by part and kind (busy, readonly, io, full, other; unwritable; low).",
	}, []string{"part", "kind"})
	s.freeG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotline_storage_free_bytes", Help: "Bytes free for the hotline on data_dir's file system.",
	}, func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(s.free) })
	for _, p := range []string{partDatabase, partRecordings, partDiskSpace} {
		s.ok.WithLabelValues(p).Set(1)
	}
	for _, c := range []prometheus.Collector{s.ok, s.failures, s.freeG} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("app: storage metrics: %w", err)
		}
	}
	s.probe(ctx)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopRun = cancel
	s.done.Go(func() { b.Run(rctx) })
	s.done.Go(func() {
		t := time.NewTicker(storageProbeEvery)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				s.probe(rctx)
			}
		}
	})
	return s, nil
}

// probe tries each part once and logs what changed.
func (s *storage) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	kind, dbErr := s.db.Probe(pctx, storageProbeBusy)
	cancel()
	var recErr error
	if s.recDir != "" {
		if recErr = os.MkdirAll(s.recDir, 0o750); recErr == nil {
			recErr = store.ProbeDir(s.recDir)
		}
	}
	free, freeErr := freeBytes(s.dataDir)
	low := freeErr == nil && s.minFree > 0 && free < s.minFree

	s.mu.Lock()
	was, wasRec, wasLow := s.dbKind, s.recErr, s.low
	s.dbKind, s.dbErr, s.recErr, s.low = kind, dbErr, recErr, low
	if freeErr == nil {
		s.free = free
	}
	s.mu.Unlock()

	set := func(part string, ok bool) {
		v := 0.0
		if ok {
			v = 1
		}
		s.ok.WithLabelValues(part).Set(v)
	}
	set(partDatabase, kind == store.FaultNone)
	set(partRecordings, recErr == nil)
	set(partDiskSpace, !low)
	if kind != store.FaultNone {
		s.failures.WithLabelValues(partDatabase, kind).Inc()
	}
	if recErr != nil {
		s.failures.WithLabelValues(partRecordings, "unwritable").Inc()
	}
	if low {
		s.failures.WithLabelValues(partDiskSpace, "low").Inc()
	}
	switch {
	case kind != was && kind == store.FaultNone:
		s.log.Info("database takes writes again", "was", was)
	case kind != was && kind == store.FaultBusy:
		s.log.Warn("database busy: another process holds its write lock; calls go on, their ticket writes wait in memory", "error", dbErr)
	case kind != was:
		s.log.Error("database cannot take writes: new calls are refused (503) until it can", "fault", kind, "error", dbErr)
	}
	switch {
	case recErr != nil && wasRec == nil:
		s.log.Error("recordings directory not writable: calls are not recorded, voicemail callers hear an apology", "dir", s.recDir, "error", recErr)
	case recErr == nil && wasRec != nil:
		s.log.Info("recordings directory writable again", "dir", s.recDir)
	}
	if low != wasLow {
		if low {
			s.log.Warn("disk space low on data_dir", "free_mb", free>>20, "min_free_mb", s.minFree>>20)
		} else {
			s.log.Info("disk space above storage.min_free_mb again", "free_mb", free>>20)
		}
	}
}

// unavailable says why a new call could not get a ticket now ("": it
// could): the database refuses writes for a reason other than a lock, or
// the backlog holding the writes it cannot take yet is full.
func (s *storage) unavailable() string {
	if s.backlog.Full() {
		return fmt.Sprintf("ticket write backlog full (%d tickets waiting for the database)", s.backlog.Tickets())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.dbKind {
	case store.FaultNone, store.FaultBusy:
		return ""
	}
	return fmt.Sprintf("database cannot take writes (%s): %v", s.dbKind, s.dbErr)
}

// degraded says what works less than fully while calls are still taken
// (""), after other's reason (the cluster's) when set.
func (s *storage) degraded(other func() string) func() string {
	return func() string {
		var why []string
		if other != nil {
			if w := other(); w != "" {
				why = append(why, w)
			}
		}
		s.mu.Lock()
		if s.dbKind == store.FaultBusy {
			why = append(why, "database busy (locked by another process)")
		}
		if s.recErr != nil {
			why = append(why, "recordings directory not writable")
		}
		if s.low {
			why = append(why, fmt.Sprintf("disk space low (%d MiB free)", s.free>>20))
		}
		s.mu.Unlock()
		if n := s.backlog.Len(); n > 0 {
			why = append(why, fmt.Sprintf("%d ticket writes waiting for the database", n))
		}
		out := ""
		for i, w := range why {
			if i > 0 {
				out += "; "
			}
			out += w
		}
		return out
	}
}

// stop ends the probe and writes what the backlog still holds, for at most
// backlogFlushTimeout; it returns how many writes were lost. Idempotent.
func (s *storage) stop() int {
	left := 0
	s.stopOnce.Do(func() {
		s.stopRun()
		s.done.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), backlogFlushTimeout)
		left = s.backlog.Flush(ctx)
		cancel()
	})
	return left
}

// freeBytes is what an unprivileged writer may still use on dir's file system.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
