package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/stats"
)

// statsRoutes serves the numbers (SPEC §9) computed from SQLite by
// internal/stats; see that package for every definition.
//
//	GET /api/stats/today                     the day so far: totals, green, queues
//	GET /api/stats/hourly?date=YYYY-MM-DD    24 hours of any day (default today)
//	GET /api/stats/staffing?date=YYYY-MM-DD  Erlang C seats per hour (default today)
//
// In a cluster each counts every node's tickets once: the nodes' parts are
// added and the ratios computed once (cluster.go); "partial" lists the
// nodes whose tickets are missing. With scope=node a node answers its part.
func (s *Server) statsRoutes() {
	s.mux.Handle("GET /api/stats/today", s.authed(s.statsToday))
	s.mux.Handle("GET /api/stats/hourly", s.authed(s.statsHourly))
	s.mux.Handle("GET /api/stats/staffing", s.authed(s.statsStaffing))
}

// The merged answers: the numbers, and the nodes missing from them.
type (
	dayAnswer struct {
		*stats.Day
		Partial []string `json:"partial,omitempty"`
	}
	hourlyAnswer struct {
		*stats.Hourly
		Partial []string `json:"partial,omitempty"`
	}
	staffingAnswer struct {
		*stats.Staffing
		Partial []string `json:"partial,omitempty"`
	}
)

func (s *Server) statsToday(w http.ResponseWriter, r *http.Request, u auth.User) {
	if s.opt.Stats == nil {
		writeError(w, http.StatusServiceUnavailable, "statistics are not configured")
		return
	}
	if nodeScope(r) {
		d, ok := s.statsDate(w, r)
		if !ok {
			return
		}
		p, err := s.opt.Stats.DayPart(r.Context(), d)
		s.writeStats(w, p, err)
		return
	}
	if s.fan == nil {
		day, err := s.opt.Stats.Day(r.Context(), s.opt.Stats.Today())
		s.writeStats(w, day, err)
		return
	}
	ans, err := s.clusterDay(r.Context(), u, s.opt.Stats.Today())
	s.writeStats(w, ans, err)
}

// clusterDay is the day of every node's tickets.
func (s *Server) clusterDay(ctx context.Context, u auth.User, d time.Time) (*dayAnswer, error) {
	st := s.opt.Stats
	local, err := st.DayPart(ctx, d)
	if err != nil {
		return nil, err
	}
	peers, missing := fanGet[stats.DayPart](ctx, s.fan, u, "/api/stats/today", url.Values{"date": {local.Date}})
	parts := []*stats.DayPart{local}
	for node, p := range peers {
		if p.Date != local.Date {
			missing = s.wrongPart(missing, node, p.Date, local.Date)
			continue
		}
		parts = append(parts, p)
	}
	day, err := st.MergeDay(d, parts...)
	if err != nil {
		return nil, err
	}
	return &dayAnswer{Day: day, Partial: sortedStrings(missing)}, nil
}

func (s *Server) statsHourly(w http.ResponseWriter, r *http.Request, u auth.User) {
	d, ok := s.statsDate(w, r)
	if !ok {
		return
	}
	st := s.opt.Stats
	if s.fan == nil && !nodeScope(r) {
		h, err := st.Hourly(r.Context(), d)
		s.writeStats(w, h, err)
		return
	}
	local, err := st.HourlyPart(r.Context(), d)
	if err != nil || nodeScope(r) {
		s.writeStats(w, local, err)
		return
	}
	peers, missing := fanGet[stats.HourlyPart](r.Context(), s.fan, u, "/api/stats/hourly", url.Values{"date": {local.Date}})
	parts := []*stats.HourlyPart{local}
	for node, p := range peers {
		if p.Date != local.Date || len(p.Hours) != 24 {
			missing = s.wrongPart(missing, node, p.Date, local.Date)
			continue
		}
		parts = append(parts, p)
	}
	h, err := st.MergeHourly(d, parts...)
	if err != nil {
		s.writeStats(w, nil, err)
		return
	}
	s.writeStats(w, &hourlyAnswer{Hourly: h, Partial: sortedStrings(missing)}, nil)
}

func (s *Server) statsStaffing(w http.ResponseWriter, r *http.Request, u auth.User) {
	d, ok := s.statsDate(w, r)
	if !ok {
		return
	}
	st := s.opt.Stats
	if nodeScope(r) {
		// The asking node names the reference days (its clock decides which
		// days are over); without them, this node's candidates.
		refs := st.ReferenceCandidates(d)
		if vs := r.URL.Query()["ref"]; len(vs) > 0 {
			if len(vs) > 8 {
				writeError(w, http.StatusBadRequest, "ref: at most 8 days")
				return
			}
			refs = refs[:0]
			for _, v := range vs {
				day, err := st.ParseDate(v)
				if err != nil {
					writeError(w, http.StatusBadRequest, "ref: must be YYYY-MM-DD")
					return
				}
				refs = append(refs, day)
			}
		}
		p, err := st.StaffingPart(r.Context(), refs)
		s.writeStats(w, p, err)
		return
	}
	if s.fan == nil {
		p, err := st.Staffing(r.Context(), d)
		s.writeStats(w, p, err)
		return
	}
	refs := st.ReferenceCandidates(d)
	local, err := st.StaffingPart(r.Context(), refs)
	if err != nil {
		s.writeStats(w, nil, err)
		return
	}
	q := url.Values{"date": {d.Format(time.DateOnly)}}
	for _, ref := range refs {
		q.Add("ref", ref.Format(time.DateOnly))
	}
	peers, missing := fanGet[stats.StaffingPart](r.Context(), s.fan, u, "/api/stats/staffing", q)
	parts := []*stats.StaffingPart{local}
	for node, p := range peers {
		if !hasDays(p, refs) {
			missing = s.wrongPart(missing, node, "other days", q.Get("date"))
			continue
		}
		parts = append(parts, p)
	}
	plan, err := st.MergeStaffing(d, parts...)
	if err != nil {
		s.writeStats(w, nil, err)
		return
	}
	s.writeStats(w, &staffingAnswer{Staffing: plan, Partial: sortedStrings(missing)}, nil)
}

// hasDays reports whether a node's staffing part has every day asked for
// (a node without tickets has none, and needs none).
func hasDays(p *stats.StaffingPart, days []time.Time) bool {
	if p.FirstTicketAt == nil {
		return true
	}
	for _, d := range days {
		if h, ok := p.Days[d.Format(time.DateOnly)]; !ok || len(h) != 24 {
			return false
		}
	}
	return true
}

// wrongPart notes a node that answered for another day than asked.
func (s *Server) wrongPart(missing []string, node, got, want string) []string {
	s.log.Warn("cluster: node's stats are of another day; its part is missing", "node", node, "got", got, "want", want)
	return append(missing, node)
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
