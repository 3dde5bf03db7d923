package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
)

// Floor is the ACD as the console sees it: seats, queue, operator state.
type Floor interface {
	Seats() []agent.Seat
	Queue() []acd.QueueEntry
	SetState(id agent.SeatID, state agent.State, reason string) error
}

func (s *Server) listSeats(w http.ResponseWriter, r *http.Request, u auth.User) {
	if s.opt.Floor == nil {
		writeJSON(w, http.StatusOK, map[string]any{"seats": []agent.Seat{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"seats": s.opt.Floor.Seats()})
}

func (s *Server) listQueue(w http.ResponseWriter, r *http.Request, u auth.User) {
	q := []acd.QueueEntry{}
	if s.opt.Floor != nil {
		q = append(q, s.opt.Floor.Queue()...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": q})
}

// setSeatState: POST /api/seats/{id}/state {"state": "ready"|"not_ready", "reason"}.
// Operators change their own seat; managers and admins any seat.
func (s *Server) setSeatState(w http.ResponseWriter, r *http.Request, u auth.User) {
	id := agent.SeatID(r.PathValue("id"))
	if !u.CanManage() && agent.SeatID(u.SeatID) != id {
		writeError(w, http.StatusForbidden, "operators set their own seat only")
		return
	}
	var req struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be JSON {"state": "ready"|"not_ready", "reason"}`)
		return
	}
	st := agent.State(req.State)
	if st != agent.Ready && st != agent.NotReady {
		writeError(w, http.StatusBadRequest, "state: must be ready or not_ready")
		return
	}
	if st == agent.NotReady && req.Reason == "" {
		req.Reason = "break"
	}
	if len(req.Reason) > 64 {
		writeError(w, http.StatusBadRequest, "reason: at most 64 bytes")
		return
	}
	if s.opt.Floor == nil {
		writeError(w, http.StatusNotFound, "no such seat")
		return
	}
	err := s.opt.Floor.SetState(id, st, req.Reason)
	switch {
	case errors.Is(err, acd.ErrUnknownSeat):
		writeError(w, http.StatusNotFound, "no such seat")
		return
	case errors.Is(err, agent.ErrOffline):
		writeError(w, http.StatusConflict, "the seat's phone is not registered")
		return
	case err != nil:
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.log.Info("seat state set", "seat", id, "state", st, "reason", req.Reason, "by", u.Name)
	for _, seat := range s.opt.Floor.Seats() {
		if seat.ID == id {
			writeJSON(w, http.StatusOK, seat)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
