package web

// Supervision (SPEC §9a): POST /api/calls/{id}/monitor {"mode": "listen" |
// "whisper" | "barge" | "off"} and DELETE /api/calls/{id}/monitor, for
// managers. The switch rings the manager's own phone (their user's seat, a
// seat of role manager) and joins it to the live call in that mode; posting
// again changes the mode; "off", DELETE or hanging up ends it. Every use is
// audited ("call.monitor.<mode>", object the ticket id) and, unless
// supervision.notify_operator is false, shown to the operator: the live
// event
//
//	monitor {"ticket_id", "seat", "manager", "manager_seat", "mode", "state", "reason", "at"}
//
// goes to the consoles of the operator's seat (their banner: 值班长正在监听)
// and to every manager (the wallboard's buttons).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
)

// EventMonitor is the live event of supervision.
const EventMonitor = "monitor"

// Supervisor runs the monitor sessions (call.Supervision).
type Supervisor interface {
	Monitor(ctx context.Context, id, manager, managerSeat, mode string) (string, error)
	Stop(id, manager string) error
}

// SupervisionOptions wire supervision into the server.
type SupervisionOptions struct {
	Supervisor Supervisor
	// ManagerSeats are the seats of role manager (seats[].role).
	ManagerSeats map[string]bool
}

// SetSupervision enables the monitor routes (503 until it is called).
func (s *Server) SetSupervision(o SupervisionOptions) {
	s.supMu.Lock()
	s.sup = o
	s.supMu.Unlock()
}

func (s *Server) supervision() SupervisionOptions {
	s.supMu.Lock()
	defer s.supMu.Unlock()
	return s.sup
}

func (s *Server) superviseRoutes() {
	s.mux.Handle("POST /api/calls/{id}/monitor", s.authed(s.monitor))
	s.mux.Handle("DELETE /api/calls/{id}/monitor", s.authed(s.monitor))
}

func (s *Server) monitor(w http.ResponseWriter, r *http.Request, u auth.User) {
	if !u.CanManage() {
		writeError(w, http.StatusForbidden, "只有值班长可以监听、耳语或强插")
		return
	}
	id := r.PathValue("id")
	if s.relayTicket(w, r, u, id, maxRelayed) { // the call runs on the ticket's node
		return
	}
	o := s.supervision()
	if o.Supervisor == nil {
		writeError(w, http.StatusServiceUnavailable, "本节点未启用监听")
		return
	}
	mode := call.MonitorOff
	if r.Method == http.MethodPost {
		var body struct {
			Mode string `json:"mode"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "请求格式错误：需要 {\"mode\": \"listen\"|\"whisper\"|\"barge\"|\"off\"}")
			return
		}
		mode = body.Mode
		if mode != call.MonitorOff && !call.ValidMonitorMode(mode) {
			writeError(w, http.StatusBadRequest, "mode 须为 listen（监听）、whisper（耳语）、barge（强插）或 off")
			return
		}
	}
	if mode == call.MonitorOff {
		err := o.Supervisor.Stop(id, u.Name)
		if err != nil && !errors.Is(err, call.ErrNotMonitored) {
			s.monitorError(w, err)
			return
		}
		s.auditMonitor(r, u, mode, id)
		writeJSON(w, http.StatusOK, map[string]string{"ticket_id": id, "mode": call.MonitorOff, "state": call.MonitorEnded})
		return
	}
	if u.SeatID == "" || !o.ManagerSeats[u.SeatID] {
		writeError(w, http.StatusConflict, "您的账号没有值班长话机：需在 seats 中配置 role: manager 的座席，并用 hotline user add --seat 绑定")
		return
	}
	state, err := o.Supervisor.Monitor(r.Context(), id, u.Name, u.SeatID, mode)
	if err != nil {
		s.monitorError(w, err)
		return
	}
	s.auditMonitor(r, u, mode, id)
	writeJSON(w, http.StatusOK, map[string]string{"ticket_id": id, "mode": mode, "state": state})
}

func (s *Server) auditMonitor(r *http.Request, u auth.User, mode, id string) {
	if err := s.users.Audit(r.Context(), u.Name, "call.monitor."+mode, id, s.auditRemote(r)); err != nil {
		s.log.Error("audit of supervision failed", "error", err, "ticket_id", id)
	}
}

func (s *Server) monitorError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, call.ErrNotLive):
		writeError(w, http.StatusNotFound, "该工单没有正在进行的通话")
	case errors.Is(err, call.ErrMonitorBusy):
		writeError(w, http.StatusConflict, "另一位值班长正在监听该通话")
	case errors.Is(err, call.ErrNotMonitored):
		writeError(w, http.StatusConflict, "该通话未被监听")
	case errors.Is(err, call.ErrBadMonitor):
		writeError(w, http.StatusBadRequest, "mode 须为 listen、whisper 或 barge")
	default:
		s.log.Error("supervision failed", "error", err)
		writeError(w, http.StatusInternalServerError, "监听失败")
	}
}

// monitorSnap is a supervision session's last notice.
type monitorSnap struct {
	payload        []byte
	seat           string
	notifyOperator bool
}

func (m monitorSnap) visibleTo(u auth.User) bool {
	return u.CanManage() || (m.notifyOperator && m.seat != "" && u.SeatID == m.seat)
}

// Monitor sends a supervision notice: to managers always, to the
// operator's seat when notifyOperator. A console that connects while the
// session lasts gets its last notice.
func (h *Hub) Monitor(n call.MonitorNotice, notifyOperator bool) {
	snap := monitorSnap{payload: marshal(n), seat: n.Seat, notifyOperator: notifyOperator}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if h.monitors == nil {
		h.monitors = map[string]monitorSnap{}
	}
	if n.State == call.MonitorEnded {
		delete(h.monitors, n.TicketID)
	} else {
		h.monitors[n.TicketID] = snap
	}
	h.broadcastLocked(EventMonitor, snap.payload, snap.visibleTo)
}

// monitorSnapshotLocked sends a joining console the sessions it may see
// (never blocking: the snapshot is best effort, like the offer's).
func (h *Hub) monitorSnapshotLocked(c *sseClient) {
	for _, m := range h.monitors {
		if !m.visibleTo(c.user) {
			continue
		}
		select {
		case c.ch <- h.frameLocked(EventMonitor, m.payload):
		default:
		}
	}
}
