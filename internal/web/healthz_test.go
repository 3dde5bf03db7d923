package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// /healthz tells the truth: 503 while no new call could be taken (storage),
// 200 degraded while calls are taken with something wrong, 200 ok else.
func TestHealthzUnavailableAndDegraded(t *testing.T) {
	unavailable, degraded := "", ""
	s := New(Options{
		Unavailable: func() string { return unavailable },
		Degraded:    func() string { return degraded },
	}, nil, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct {
		unavailable, degraded string
		code                  int
		body                  []string
	}{
		{"", "", http.StatusOK, []string{`"status":"ok"`}},
		{"", "database busy (locked by another process)", http.StatusOK, []string{`"status":"degraded"`, "database busy"}},
		{"database cannot take writes (readonly)", "database busy", http.StatusServiceUnavailable, []string{`"status":"unavailable"`, "readonly"}},
		{"", "", http.StatusOK, []string{`"status":"ok"`}}, // recovered, no restart
	} {
		unavailable, degraded = tc.unavailable, tc.degraded
		code, body := get()
		if code != tc.code {
			t.Errorf("unavailable %q degraded %q: %d %s, want %d", tc.unavailable, tc.degraded, code, body, tc.code)
		}
		for _, w := range tc.body {
			if !strings.Contains(body, w) {
				t.Errorf("unavailable %q degraded %q: body %s lacks %s", tc.unavailable, tc.degraded, body, w)
			}
		}
	}
}
