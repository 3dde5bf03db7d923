package web

// The callback worklist (SPEC §9a): every voicemail, every caller who hung
// up after acd.short_abandon_seconds and every "3 不满意" is a task
// (internal/ticket callback.go). Operators see the open tasks nobody has
// and their own; managers all. Dialling goes through the switch to the
// task's own number: a client never names a number (toll-fraud guard).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/callback"
	"github.com/hotline12348/hotline/internal/pii"
	"github.com/hotline12348/hotline/internal/ticket"
)

// CallbackWork places callback calls and records results (internal/callback).
type CallbackWork interface {
	Dial(ctx context.Context, id int64, user, seat string, manager bool) (*ticket.Callback, error)
	Result(ctx context.Context, id int64, user string, manager bool, result string, retryAt *time.Time) (*ticket.Callback, error)
}

// Audit actions of the worklist.
const (
	auditCallbackClaim  = "callback.claim"
	auditCallbackDial   = "callback.dial"
	auditCallbackResult = "callback.result"
)

func (s *Server) callbackRoutes() {
	s.mux.Handle("GET /api/callbacks", s.authed(s.listCallbacks))
	s.mux.Handle("POST /api/callbacks/{id}/claim", s.authed(s.claimCallback))
	s.mux.Handle("POST /api/callbacks/{id}/dial", s.authed(s.dialCallback))
	s.mux.Handle("POST /api/callbacks/{id}/result", s.authed(s.callbackResult))
	s.mux.Handle("GET /api/stats/callbacks", s.authed(s.callbackStats))
	s.mux.Handle("GET /api/callbacks/{id}/recording/{n}", s.authed(s.managers(s.callbackRecording)))
}

// callbackRecording: GET /api/callbacks/{id}/recording/{n} — the stereo WAV
// of the n-th entry (0-based) of a task's history; managers, audited like
// every recording.
func (s *Server) callbackRecording(w http.ResponseWriter, r *http.Request, u auth.User) {
	id, ok := callbackID(w, r)
	if !ok {
		return
	}
	if s.callbackElsewhere(w, r, u, id, maxRelayedRecording) {
		return
	}
	c, err := s.tickets.Callback(r.Context(), id)
	if err != nil {
		s.callbackError(w, err)
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= len(c.History) || c.History[n].Recording == "" || s.opt.RecordingPath == nil {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	t, err := s.tickets.Get(r.Context(), c.TicketID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read ticket")
		return
	}
	name := c.History[n].Recording
	if filepath.Base(name) != name || !strings.HasSuffix(name, ".wav") {
		writeError(w, http.StatusNotFound, "no such recording")
		return
	}
	f, err := os.Open(filepath.Join(filepath.Dir(s.opt.RecordingPath(t)), name))
	if err != nil {
		writeError(w, http.StatusNotFound, "recording file missing (deleted by the retention policy?)")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "recording unreadable")
		return
	}
	action, object := auditRecording, t.ID+" "+name
	if rng := r.Header.Get("Range"); rng != "" {
		action, object = auditRecordingPart, object+" "+auditRange(rng)
	}
	if err := s.users.Audit(r.Context(), u.Name, action, object, s.auditRemote(r)); err != nil {
		s.log.Error("audit", "error", err)
		writeError(w, http.StatusInternalServerError, "could not write the audit log")
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(newProgressWriter(w), r, name, st.ModTime(), f)
}

// listCallbacks: GET /api/callbacks?state=open|done&reason=
func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request, u auth.User) {
	q := r.URL.Query()
	f := ticket.CallbackFilter{State: q.Get("state"), Reason: q.Get("reason")}
	if !u.CanManage() {
		f.User = u.Name
	}
	list, err := s.tickets.Callbacks(r.Context(), f)
	if errors.Is(err, ticket.ErrCallbackBadInput) {
		writeError(w, http.StatusBadRequest, "state must be open or done; reason voicemail, abandoned or dissatisfied")
		return
	}
	if err != nil {
		s.log.Error("list callbacks", "error", err)
		writeError(w, http.StatusInternalServerError, "could not list callback tasks")
		return
	}
	for i := range list {
		list[i].Caller = s.maskFor(u, list[i].Caller)
	}
	var missing []string
	if s.fan != nil && !nodeScope(r) {
		// A cluster: every node keeps the tasks of its own tickets (each
		// masks for the user itself); one list, due first.
		peers, miss := fanGet[callbackList](r.Context(), s.fan, u, "/api/callbacks", q)
		for _, p := range peers {
			list = append(list, p.Callbacks...)
		}
		slices.SortStableFunc(list, func(a, b ticket.Callback) int {
			if c := a.DueAt.Compare(b.DueAt); c != 0 {
				return c
			}
			return strings.Compare(string(a.TicketID), string(b.TicketID))
		})
		missing = miss
	}
	if list == nil {
		list = []ticket.Callback{}
	}
	writeJSON(w, http.StatusOK, callbackList{Callbacks: list, Partial: sortedStrings(missing)})
}

// callbackList is the body of GET /api/callbacks.
type callbackList struct {
	Callbacks []ticket.Callback `json:"callbacks"`
	Partial   []string          `json:"partial,omitempty"`
}

// callbackElsewhere: task ids are a node's own, so a request on a task
// names its ticket too (?ticket=, as the console sends it). A ticket kept
// by another node: the request is relayed there. Here: the task must be
// that ticket's (404 otherwise). It reports whether it answered.
func (s *Server) callbackElsewhere(w http.ResponseWriter, r *http.Request, u auth.User, id int64, limit int64) bool {
	tid := r.URL.Query().Get("ticket")
	if tid == "" {
		return false
	}
	if s.relayTicket(w, r, u, tid, limit) {
		return true
	}
	if c, err := s.tickets.Callback(r.Context(), id); err == nil && string(c.TicketID) != tid {
		writeError(w, http.StatusNotFound, "no such callback task on that ticket")
		return true
	}
	return false
}

// maskFor: operators see the number masked (the switch dials it for them).
func (s *Server) maskFor(u auth.User, n string) string {
	if u.CanManage() {
		return n
	}
	return pii.Mask(n)
}

func callbackID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusNotFound, "no such callback task")
		return 0, false
	}
	return id, true
}

// callbackError answers an error of the worklist.
func (s *Server) callbackError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ticket.ErrCallbackNotFound):
		writeError(w, http.StatusNotFound, "no such callback task")
	case errors.Is(err, ticket.ErrCallbackBadInput):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ticket.ErrCallbackTaken):
		writeError(w, http.StatusConflict, "the task is assigned to someone else, or not claimed yet")
	case errors.Is(err, ticket.ErrCallbackClosed):
		writeError(w, http.StatusConflict, "the task is closed")
	case errors.Is(err, callback.ErrStopping):
		writeError(w, http.StatusServiceUnavailable, "the switch is shutting down")
	case errors.Is(err, callback.ErrNoTrunk):
		writeError(w, http.StatusServiceUnavailable, "no trunk for outside calls (transfer.trunk)")
	case errors.Is(err, callback.ErrUndialable):
		writeError(w, http.StatusUnprocessableEntity, "the caller's number cannot be called back")
	case errors.Is(err, callback.ErrNoSeat):
		writeError(w, http.StatusConflict, "your seat's phone is not registered (or you have no seat)")
	case errors.Is(err, callback.ErrBusy), errors.Is(err, callback.ErrDialing):
		writeError(w, http.StatusConflict, "your seat is on a call, or this task is being dialled")
	default:
		s.log.Error("callback", "error", err)
		writeError(w, http.StatusInternalServerError, "callback failed")
	}
}

func (s *Server) claimCallback(w http.ResponseWriter, r *http.Request, u auth.User) {
	id, ok := callbackID(w, r)
	if !ok {
		return
	}
	if s.callbackElsewhere(w, r, u, id, maxRelayed) {
		return
	}
	c, err := s.tickets.ClaimCallback(r.Context(), id, u.Name, u.CanManage())
	if err != nil {
		s.callbackError(w, err)
		return
	}
	s.auditCallback(r, u, auditCallbackClaim, c)
	c.Caller = s.maskFor(u, c.Caller)
	writeJSON(w, http.StatusOK, c)
}

// dialCallback: POST /api/callbacks/{id}/dial — no body, or {}: the number
// is the task's own. A body naming anything is refused.
func (s *Server) dialCallback(w http.ResponseWriter, r *http.Request, u auth.User) {
	id, ok := callbackID(w, r)
	if !ok {
		return
	}
	if s.callbackElsewhere(w, r, u, id, maxRelayed) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		writeError(w, http.StatusBadRequest, "body too large")
		return
	}
	if b := bytes.TrimSpace(body); len(b) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || len(m) > 0 {
			writeError(w, http.StatusBadRequest, "dial takes no parameters: only the callback's own number is ever dialled")
			return
		}
	}
	if s.opt.Callbacks == nil {
		writeError(w, http.StatusServiceUnavailable, "callback calls are not configured")
		return
	}
	c, err := s.opt.Callbacks.Dial(r.Context(), id, u.Name, u.SeatID, u.CanManage())
	if err != nil {
		s.callbackError(w, err)
		return
	}
	s.auditCallback(r, u, auditCallbackDial, c)
	c.Caller = s.maskFor(u, c.Caller)
	writeJSON(w, http.StatusAccepted, map[string]any{"callback": c, "dialing": true})
}

func (s *Server) callbackResult(w http.ResponseWriter, r *http.Request, u auth.User) {
	id, ok := callbackID(w, r)
	if !ok {
		return
	}
	if s.callbackElsewhere(w, r, u, id, maxRelayed) {
		return
	}
	var req struct {
		Result  string     `json:"result"`
		RetryAt *time.Time `json:"retry_at"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be JSON {"result": "reached"|"no_answer"|"wrong_number"|"retry", "retry_at": RFC 3339}`)
		return
	}
	var (
		c   *ticket.Callback
		err error
	)
	if s.opt.Callbacks != nil {
		c, err = s.opt.Callbacks.Result(r.Context(), id, u.Name, u.CanManage(), req.Result, req.RetryAt)
	} else {
		c, err = s.tickets.CallbackResult(r.Context(), id, u.Name, u.CanManage(), req.Result, req.RetryAt)
	}
	if err != nil {
		s.callbackError(w, err)
		return
	}
	s.auditCallback(r, u, auditCallbackResult, c)
	c.Caller = s.maskFor(u, c.Caller)
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) auditCallback(r *http.Request, u auth.User, action string, c *ticket.Callback) {
	if err := s.users.Audit(r.Context(), u.Name, action, c.TicketID+" #"+strconv.FormatInt(c.ID, 10), s.auditRemote(r)); err != nil {
		s.log.Error("audit", "action", action, "error", err)
	}
}

// callbackStats: GET /api/stats/callbacks — the wallboard's callback KPI.
func (s *Server) callbackStats(w http.ResponseWriter, r *http.Request, u auth.User) {
	now := time.Now().In(s.tickets.Location())
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	c, err := s.tickets.CountCallbacks(r.Context(), now, day)
	if err != nil {
		s.log.Error("callback stats", "error", err)
		writeError(w, http.StatusInternalServerError, "could not count callback tasks")
		return
	}
	if s.fan == nil || nodeScope(r) {
		writeJSON(w, http.StatusOK, c)
		return
	}
	// A cluster: every node keeps the tasks of its own tickets; the sum.
	peers, missing := fanGet[ticket.CallbackCounts](r.Context(), s.fan, u, "/api/stats/callbacks", url.Values{})
	for _, p := range peers {
		c.Open, c.Overdue, c.DoneToday, c.Unreachable = c.Open+p.Open, c.Overdue+p.Overdue, c.DoneToday+p.DoneToday, c.Unreachable+p.Unreachable
	}
	c.CompletionRate = nil
	if n := c.DoneToday + c.Unreachable + c.Open; n > 0 {
		v := float64(c.DoneToday+c.Unreachable) / float64(n)
		c.CompletionRate = &v
	}
	writeJSON(w, http.StatusOK, struct {
		ticket.CallbackCounts
		Partial []string `json:"partial,omitempty"`
	}{c, sortedStrings(missing)})
}
