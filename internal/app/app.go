// Package app builds the hotline from its configuration and runs it: the
// database, tickets, media engine, prompts, IVR, SIP server and HTTP API.
// cmd/hotline calls Run and nothing else; whole-app tests do too. Run is
// build (build.go), serve (serve.go) and an ordered shutdown (shutdown.go);
// the types that fit one package to another's interface are in
// internal/adapt.
package app

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/sip"
)

// Options are what main passes in.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// ReadyFile, when set, receives a JSON object with the bound addresses
	// once every listener is up ({"sip_udp","sip_tcp","http"}): tests and
	// scripts use it with port 0.
	ReadyFile string
}

// Ready is what ReadyFile contains.
type Ready struct {
	SIPUDP string `json:"sip_udp,omitempty"`
	SIPTCP string `json:"sip_tcp,omitempty"`
	SIPTLS string `json:"sip_tls,omitempty"`
	HTTP   string `json:"http"`
	PID    int    `json:"pid"`
}

// DBPath is where the SQLite database lives under data_dir.
func DBPath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "hotline.db") }

// RecordingsDir is the root of recordings under data_dir.
func RecordingsDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "recordings") }

// Location is the time zone days are counted in.
func Location(cfg *config.Config) *time.Location {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return time.Local // Validate refused a bad timezone already
	}
	return loc
}

// Run serves until ctx is cancelled, then shuts down gracefully: no new
// calls, calls in progress finish (bounded by shutdown.grace), exit.
func Run(ctx context.Context, opt Options) error {
	h := &hotline{cfg: opt.Config, log: opt.Logger, readyFile: opt.ReadyFile}
	err := h.build(ctx)
	if err == nil {
		err = h.serve(ctx)
	}
	if serr := h.shutdown(); serr != nil {
		h.log.Warn("shutdown", "error", serr)
	}
	return err
}

// hotline is one running switch: what build made, for serve and shutdown.
type hotline struct {
	cfg       *config.Config
	log       *slog.Logger
	readyFile string
	steps     teardown

	outbox     *adapt.Outbox
	stopOutbox *step         // ends the delivery worker and waits for it
	node       *cluster.Node // nil on one node (acd.backend memory)
	storage    *storage      // the ticket backlog and the storage health
	stopStore  *step         // flushes the backlog (before the outbox's last round)
	sip        *sip.Server
	closeSIP   *step // ends the calls left, after the drain
	ln         net.Listener
	httpDone   chan error
}

// shutdown undoes what build made, last made first (safe to call twice).
func (h *hotline) shutdown() error { return h.steps.run() }
