package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
)

// Transfers is call transfer as the API sees it (SPEC §9a); internal/adapt
// implements it on the call layer.
type Transfers interface {
	// Operator is the seat talking to the citizen of ticket id now, on
	// this node; ok false: no such connected call here.
	Operator(id string) (seat string, ok bool)
	// Targets are the configured target names, in order, with their kind.
	Targets() []TransferTargetView
	// Request acts on the call: op "transfer" (target, mode), "complete",
	// "cancel" or "conference" (a consultation becomes three-way). A
	// *TransferError says what went wrong.
	Request(ctx context.Context, id, op, target, mode, by string) error
}

// TransferTargetView is a configured target as the console lists it.
type TransferTargetView struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // number | queue | seat
}

// TransferError is a refused transfer request: the HTTP status and the
// message shown to the operator (Chinese, the console's language).
type TransferError struct {
	Code int
	Msg  string
	Err  error
}

func (e *TransferError) Error() string { return e.Msg }
func (e *TransferError) Unwrap() error { return e.Err }

// transferRoutes: POST /api/calls/{id}/transfer, /transfer/complete,
// /transfer/cancel, /transfer/conference (the operator of the call, or a
// manager), and GET
// /api/transfer/targets.
func (s *Server) transferRoutes() {
	s.mux.Handle("GET /api/transfer/targets", s.authed(s.transferTargets))
	s.mux.Handle("POST /api/calls/{id}/transfer", s.authed(s.transferOp("transfer")))
	s.mux.Handle("POST /api/calls/{id}/transfer/complete", s.authed(s.transferOp("complete")))
	s.mux.Handle("POST /api/calls/{id}/transfer/cancel", s.authed(s.transferOp("cancel")))
	s.mux.Handle("POST /api/calls/{id}/transfer/conference", s.authed(s.transferOp("conference")))
}

func (s *Server) transferTargets(w http.ResponseWriter, r *http.Request, _ auth.User) {
	out := []TransferTargetView{}
	if s.opt.Transfers != nil {
		out = append(out, s.opt.Transfers.Targets()...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"targets": out})
}

func (s *Server) transferOp(op string) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u auth.User) {
		id := r.PathValue("id")
		if s.relayTicket(w, r, u, id, maxRelayed) { // the call runs on the ticket's node
			return
		}
		x := s.opt.Transfers
		if x == nil {
			writeError(w, http.StatusServiceUnavailable, "本节点未启用转接")
			return
		}
		seat, ok := x.Operator(id)
		if !ok {
			writeError(w, http.StatusNotFound, "此工单没有正在进行的通话")
			return
		}
		if !u.CanManage() && (u.SeatID == "" || u.SeatID != seat) {
			writeError(w, http.StatusForbidden, "只有本通话的话务员或管理员可以转接")
			return
		}
		var req struct {
			Target string `json:"target"`
			Mode   string `json:"mode"`
		}
		if op == "transfer" {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, `请求格式错误：需要 {"target": 名称, "mode": "blind"|"consult"|"conference"}`)
				return
			}
			if req.Mode == "" {
				req.Mode = "blind"
			}
		}
		by := u.SeatID
		if by == "" {
			by = u.Name
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		err := x.Request(ctx, id, op, req.Target, req.Mode, by)
		if err != nil {
			var te *TransferError
			if errors.As(err, &te) {
				writeError(w, te.Code, te.Msg)
			} else {
				writeError(w, http.StatusInternalServerError, "转接失败")
			}
			s.log.Info("transfer refused", "ticket_id", id, "op", op, "target", req.Target, "mode", req.Mode, "by", by, "error", err)
			return
		}
		s.log.Info("transfer", "ticket_id", id, "op", op, "target", req.Target, "mode", req.Mode, "by", by)
		status := map[string]string{"transfer": "ringing", "complete": "completed", "cancel": "cancelled", "conference": "conference"}[op]
		if op == "transfer" && req.Mode == "blind" {
			status = "transferred"
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": status})
	}
}
