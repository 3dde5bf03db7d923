package web

// Call control from the console (SPEC §9a):
//
//	GET  /api/calls/{ticket id}                  the live call {ticket_id, seat, answered_at, held, muted}
//	POST /api/calls/{ticket id}/hold | /resume | /mute | /unmute | /hangup
//	POST /api/calls/{ticket id}/dtmf {"digits"}  keys to the citizen (1-32 of 0-9 * # A-D)
//
// Allowed to the operator whose seat is on the call, and to managers;
// anyone else 403. A ticket whose call is not connected now (queued,
// ringing, ended) is 409, an unknown ticket 404; an action that does not fit
// the call's state (resume a call not on hold) 409; bad keys 400. Each
// action answers 200 with the call's state and is written in the ticket's
// history under the user's name. In a cluster the request is relayed to the
// node the ticket id names: the call runs there.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/ticket"
)

// CallControl is this node's live calls (internal/call's Service).
type CallControl interface {
	Live(id string) (call.LiveCall, bool)
	Control(ctx context.Context, id, action, by, digits string) (call.LiveCall, error)
}

// callActions are the POST /api/calls/{id}/{action} actions.
var callActions = map[string]bool{
	call.ActionHold: true, call.ActionResume: true, call.ActionMute: true,
	call.ActionUnmute: true, call.ActionDTMF: true, call.ActionHangup: true,
}

func (s *Server) callRoutes() {
	s.mux.Handle("GET /api/calls/{id}", s.authed(s.getCall))
	s.mux.Handle("POST /api/calls/{id}/{action}", s.authed(s.controlCall))
}

// liveCallFor finds the live call of ticket id for u, or answers the error.
func (s *Server) liveCallFor(w http.ResponseWriter, r *http.Request, u auth.User, id string) (call.LiveCall, bool) {
	var (
		lc   call.LiveCall
		live bool
	)
	if s.opt.Calls != nil {
		lc, live = s.opt.Calls.Live(id)
	}
	if !live {
		t, err := s.tickets.Get(r.Context(), id)
		switch {
		case errors.Is(err, ticket.ErrNotFound):
			writeError(w, http.StatusNotFound, "no such ticket")
		case err != nil:
			s.log.Error("call control: ticket lookup failed", "ticket_id", id, "error", err)
			writeError(w, http.StatusInternalServerError, "ticket lookup failed")
		case !u.CanManage() && (u.SeatID == "" || string(t.SeatID) != u.SeatID):
			writeError(w, http.StatusForbidden, "not your call")
		default:
			writeError(w, http.StatusConflict, "the call is not connected now (queued, ringing or ended)")
		}
		return lc, false
	}
	if !u.CanManage() && (u.SeatID == "" || u.SeatID != lc.Seat) {
		writeError(w, http.StatusForbidden, "not your call: only the operator on it or a manager")
		return lc, false
	}
	return lc, true
}

// getCall: GET /api/calls/{id}.
func (s *Server) getCall(w http.ResponseWriter, r *http.Request, u auth.User) {
	id := r.PathValue("id")
	if s.relayTicket(w, r, u, id, maxRelayed) {
		return
	}
	if lc, ok := s.liveCallFor(w, r, u, id); ok {
		writeJSON(w, http.StatusOK, lc)
	}
}

// controlCall: POST /api/calls/{id}/{action}.
func (s *Server) controlCall(w http.ResponseWriter, r *http.Request, u auth.User) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !callActions[action] {
		writeError(w, http.StatusNotFound, "no such call action: hold, resume, mute, unmute, dtmf, hangup")
		return
	}
	if s.relayTicket(w, r, u, id, maxRelayed) {
		return
	}
	var body struct {
		Digits string `json:"digits"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, `body must be a JSON object ({"digits": "123#"} for dtmf): `+err.Error())
			return
		}
	}
	if action == call.ActionDTMF && body.Digits == "" {
		writeError(w, http.StatusBadRequest, `dtmf needs {"digits": "…"}: 1 to 32 of 0-9 * # A-D`)
		return
	}
	if action != call.ActionDTMF && body.Digits != "" {
		writeError(w, http.StatusBadRequest, "digits only go with dtmf")
		return
	}
	if _, ok := s.liveCallFor(w, r, u, id); !ok {
		return
	}
	lc, err := s.opt.Calls.Control(r.Context(), id, action, u.Name, body.Digits)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, lc)
	case errors.Is(err, call.ErrBadDigits):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, call.ErrNotLive):
		writeError(w, http.StatusConflict, "the call ended")
	case errors.Is(err, call.ErrCallState):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.log.Error("call control failed", "ticket_id", id, "action", action, "error", err)
		writeError(w, http.StatusInternalServerError, "call control failed: "+err.Error())
	}
}
