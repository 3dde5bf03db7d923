package web

import (
	"net/http"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
)

// statsRoutes serves the numbers (SPEC §9) computed from SQLite by
// internal/stats; see that package for every definition.
//
//	GET /api/stats/today                     the day so far: totals, green, queues
//	GET /api/stats/hourly?date=YYYY-MM-DD    24 hours of any day (default today)
//	GET /api/stats/staffing?date=YYYY-MM-DD  Erlang C seats per hour (default today)
func (s *Server) statsRoutes() {
	s.mux.Handle("GET /api/stats/today", s.authed(s.statsToday))
	s.mux.Handle("GET /api/stats/hourly", s.authed(s.statsHourly))
	s.mux.Handle("GET /api/stats/staffing", s.authed(s.statsStaffing))
}

func (s *Server) statsToday(w http.ResponseWriter, r *http.Request, _ auth.User) {
	if s.opt.Stats == nil {
		writeError(w, http.StatusServiceUnavailable, "statistics are not configured")
		return
	}
	day, err := s.opt.Stats.Day(r.Context(), s.opt.Stats.Today())
	s.writeStats(w, day, err)
}

func (s *Server) statsHourly(w http.ResponseWriter, r *http.Request, _ auth.User) {
	d, ok := s.statsDate(w, r)
	if !ok {
		return
	}
	h, err := s.opt.Stats.Hourly(r.Context(), d)
	s.writeStats(w, h, err)
}

func (s *Server) statsStaffing(w http.ResponseWriter, r *http.Request, _ auth.User) {
	d, ok := s.statsDate(w, r)
	if !ok {
		return
	}
	p, err := s.opt.Stats.Staffing(r.Context(), d)
	s.writeStats(w, p, err)
}

// statsDate reads ?date=YYYY-MM-DD (default: today), a day of the years a
// hotline can have tickets for.
func (s *Server) statsDate(w http.ResponseWriter, r *http.Request) (time.Time, bool) {
	if s.opt.Stats == nil {
		writeError(w, http.StatusServiceUnavailable, "statistics are not configured")
		return time.Time{}, false
	}
	v := r.URL.Query().Get("date")
	if v == "" {
		return s.opt.Stats.Today(), true
	}
	d, err := s.opt.Stats.ParseDate(v)
	if err != nil || d.Year() < 2000 || d.Year() > 2999 {
		writeError(w, http.StatusBadRequest, "date: must be YYYY-MM-DD")
		return time.Time{}, false
	}
	return d, true
}

func (s *Server) writeStats(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.log.Error("stats", "error", err)
		writeError(w, http.StatusInternalServerError, "could not compute statistics")
		return
	}
	writeJSON(w, http.StatusOK, v)
}
