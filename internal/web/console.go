package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/vocab"
)

// The console: index.html, app.js and app.css, embedded in the binary and
// served as they are (no build step): login, the operator desk and the
// manager wallboard, fed by GET /api/events.
//
//go:embed console/index.html console/app.js console/app.css console/callctl.js console/transfer.js console/errors.js console/supervise.js console/supervise.css console/callbacks.js
var consoleFS embed.FS

type consoleAsset struct {
	body  []byte
	etag  string
	ctype string
}

// consoleAssets reads the embedded files once, with their ETags.
func consoleAssets() map[string]consoleAsset {
	out := map[string]consoleAsset{}
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	_ = fs.WalkDir(consoleFS, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[path.Base(p)] = consoleAsset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: types[path.Ext(p)]}
		return nil
	})
	return out
}

// consoleCSP keeps the console to its own origin: no inline script, no
// third-party anything; recordings play from /api.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (s *Server) consoleRoutes() {
	if s.opt.Events != nil && s.opt.Stats != nil {
		// The wallboard's "stats" events: today's numbers, as GET /api/stats/today has them.
		st := s.opt.Stats
		if s.fan != nil {
			sys := systemUser(s.opt.Cluster.Self())
			s.opt.Events.useStats(func(ctx context.Context) (any, error) { return s.clusterDay(ctx, sys, st.Today()) })
		} else {
			s.opt.Events.useStats(func(ctx context.Context) (any, error) { return st.Day(ctx, st.Today()) })
		}
	}
	assets := consoleAssets()
	serve := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a, ok := assets[name]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h := w.Header()
			h.Set("Content-Type", a.ctype)
			h.Set("ETag", a.etag)
			h.Set("Cache-Control", "no-cache") // revalidate: a new binary brings new files
			h.Set("Content-Security-Policy", consoleCSP)
			// same-origin, not no-referrer: under no-referrer a browser
			// sends "Origin: null" on the console's own POST and PATCH,
			// which the origin check (origin.go) must refuse. Other sites
			// still get no referrer.
			h.Set("Referrer-Policy", "same-origin")
			h.Set("X-Frame-Options", "DENY")
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
		}
	}
	s.mux.HandleFunc("GET /{$}", serve("index.html"))
	s.mux.HandleFunc("GET /console/{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "index.html" {
			http.Redirect(w, r, "/", http.StatusMovedPermanently)
			return
		}
		serve(name)(w, r)
	})
	s.mux.Handle("GET /api/console/options", s.authed(s.consoleOptions))
	s.mux.Handle("GET /api/events", s.authed(s.events))
	s.mux.Handle("PATCH /api/tickets/{id}", s.authed(s.patchTicket))
}

// consoleOptions: GET /api/console/options — the closed lists of the ticket
// form and of the seat's not_ready reasons, with their labels, so that the
// console offers exactly what PATCH accepts.
func (s *Server) consoleOptions(w http.ResponseWriter, r *http.Request, u auth.User) {
	writeJSON(w, http.StatusOK, map[string]any{
		"categories":        vocab.Categories,
		"legal_domains":     vocab.LegalDomains,
		"dispositions":      vocab.Dispositions,
		"not_ready_reasons": vocab.NotReadyReasons,
		"labels":            vocab.Labels(),
		"ivr_keys":          s.opt.IVRKeys,
		"history_days":      historyDays,
		"live_events":       s.opt.Events != nil,
	})
}
