package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hotline12348/hotline/internal/sip"
)

// outboxFlushTimeout bounds the last delivery round at shutdown.
const outboxFlushTimeout = 10 * time.Second

// serve says where the hotline listens, serves until ctx ends (or the HTTP
// server fails), then stops gracefully (drain).
func (h *hotline) serve(ctx context.Context) error {
	cfg := h.cfg
	addrs := h.sip.Addrs()
	ready := Ready{HTTP: h.ln.Addr().String(), PID: os.Getpid()}
	if a, ok := addrs["udp"]; ok {
		ready.SIPUDP = a.String()
	}
	if a, ok := addrs["tcp"]; ok {
		ready.SIPTCP = a.String()
	}
	if a, ok := addrs["tls"]; ok {
		ready.SIPTLS = a.String()
	}
	h.log.Info("hotline serving", "node_id", cfg.NodeID, "sip_udp", ready.SIPUDP, "sip_tcp", ready.SIPTCP, "sip_tls", ready.SIPTLS,
		"http", ready.HTTP, "data_dir", cfg.DataDir, "numbers", strings.Join(cfg.SIP.HotlineNumbers, ","))
	if h.readyFile != "" {
		if err := writeReady(h.readyFile, ready); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-h.httpDone:
		h.httpDone <- err // for the http step, which waits for it
		return err
	}
	h.drain()
	return nil
}

// drain is the graceful stop (SPEC §2): refuse new calls, let calls finish
// within shutdown.grace, end the rest, leave the cluster, and give the
// outbox one more round. The console stays up meanwhile (/healthz says
// draining); shutdown ends it and the rest.
func (h *hotline) drain() {
	log := h.log
	h.sip.Drain()
	grace := h.cfg.Shutdown.Grace.D()
	log.Info("shutting down: no new calls; waiting for calls in progress", "calls", h.sip.ActiveCalls(), "grace", grace.String())
	wctx, cancel := context.WithTimeout(context.Background(), grace)
	err := h.sip.Wait(wctx)
	cancel()
	if err != nil {
		log.Warn("grace period over: ending the remaining calls", "calls", h.sip.ActiveCalls())
	}
	_ = h.closeSIP.run()
	if h.node != nil {
		// Drained: no more work for this node or the seats registered
		// through it, until it comes back (SPEC §11, rolling upgrade).
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := h.node.Leave(lctx); err != nil {
			log.Warn("cluster: leave", "error", err)
		}
		lcancel()
	}
	// Flush the outbox: the last revisions of the calls just ended, and
	// anything waiting on a backoff, get one more try (SPEC §2).
	if err := h.stopStore.run(); err != nil {
		log.Error("shutdown", "error", err)
	}
	_ = h.stopOutbox.run()
	fctx, fcancel := context.WithTimeout(context.Background(), outboxFlushTimeout)
	left := h.outbox.Flush(fctx)
	fcancel()
	log.Info("hotline stopped", "outbox_pending", left)
}

func writeReady(path string, r Ready) error {
	b, _ := json.Marshal(r)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("app: ready file: %w", err)
	}
	return os.Rename(tmp, path)
}

// reloadOnHangup reads the TLS certificate again on SIGHUP (renewed by
// certbot or the PKI: new connections get it, none is dropped). Catching
// SIGHUP also means a closed terminal no longer ends a hotline that was
// started by hand.
func reloadOnHangup(ctx context.Context, srv *sip.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		switch notAfter, err := srv.ReloadTLS(); {
		case err != nil:
			log.Error("SIGHUP: TLS certificate not reloaded; the one in use stays", "error", err)
		case notAfter.IsZero():
			log.Info("SIGHUP: no tls:// listener, nothing to reload")
		default:
			log.Info("SIGHUP: TLS certificate reloaded", "not_after", notAfter.UTC().Format(time.RFC3339))
		}
	}
}
