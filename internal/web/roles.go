package web

// Who sees which tickets (PIPL: a legal consultation is sensitive personal
// information). Managers and admins see every ticket. An operator sees:
//
//   - the tickets of their own calls (seat_id is their seat);
//   - the call on their seat now (ringing or connected: the screen-pop
//     comes on offer, before seat_id is set) and the current caller's
//     earlier tickets (that caller's history);
//   - the callback work: the tickets of the callback tasks open to
//     everyone (nobody assigned) and of the tasks assigned to them
//     (internal/ticket callback.go; the task list is the source of truth).
//
// Nothing else, on every route: the ticket list and search (a search by a
// full number outside that scope finds nothing), one ticket, PATCH, the
// recording (operators: the voicemails of their callback work only). In a
// cluster every node works the scope out itself for the user the signed
// request names (seat and role travel in it): the seats' calls come from
// the shared floor, the current caller's number from the ticket wherever it
// is kept.

import (
	"context"
	"net/http"
	"strings"

	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/ticket"
)

// Audit actions of role scoping.
const (
	auditCallbackWrite = "callback.write" // an operator wrote up a callback: it is theirs
	auditTicketRead    = "ticket.read"    // a manager read another seat's ticket
	auditTicketSearch  = "ticket.search"  // a search by the caller's number
	auditRecording     = "recording.download"
	auditRecordingPart = "recording.range" // a Range request not from byte 0
)

// viewScope is what one user may see.
type viewScope struct {
	all    bool
	seat   string
	callID string // the ticket of the call on their seat now
	caller string // that call's caller ("" when anonymous or unknown)
	// tasks: the tickets of the callback tasks open or assigned to them.
	tasks map[string]bool
}

// isSystem reports whether r is a node's own work (systemUser, signed by
// a node): not a person's access, not audited. A user who merely calls
// themselves node:… is a person like any other.
func isSystem(r *http.Request, u auth.User) bool {
	return callerNode(r) != "" && strings.HasPrefix(u.Name, "node:") && u.Role == auth.RoleAdmin
}

// scopeOf works out what u may see now.
func (s *Server) scopeOf(ctx context.Context, u auth.User) (viewScope, error) {
	if u.CanManage() {
		return viewScope{all: true}, nil
	}
	sc := viewScope{seat: u.SeatID, tasks: map[string]bool{}}
	if u.SeatID != "" && s.opt.Floor != nil {
		for _, seat := range s.opt.Floor.Seats() {
			if seat.ID == agent.SeatID(u.SeatID) {
				sc.callID = seat.CallID
				break
			}
		}
	}
	if sc.callID != "" {
		t, err := s.lookup.Get(ctx, sc.callID)
		if err != nil {
			// Fail closed: without the number, no history.
			s.log.Warn("role scope: the current call's ticket unavailable; its caller's history is not shown", "ticket_id", sc.callID, "error", err)
		} else if strings.ContainsAny(t.Caller, "0123456789") {
			sc.caller = t.Caller // anonymous calls are not one caller
		}
	}
	ids, err := s.tickets.CallbackTickets(ctx, u.Name)
	if err != nil {
		return viewScope{}, err
	}
	for _, id := range ids {
		sc.tasks[id] = true
	}
	return sc, nil
}

// callback reports whether t is callback work of this scope.
func (sc viewScope) callback(t *ticket.Ticket) bool {
	return sc.all || sc.tasks[t.ID]
}

// mayEdit reports whether the form of t may be written: the own seat's
// tickets, the call on the seat now, the callback work.
func (sc viewScope) mayEdit(t *ticket.Ticket) bool {
	return sc.all || (sc.seat != "" && string(t.SeatID) == sc.seat) || (sc.callID != "" && t.ID == sc.callID) || sc.callback(t)
}

// mayRead reports whether t may be seen: what may be edited, and the
// current caller's history.
func (sc viewScope) mayRead(t *ticket.Ticket) bool {
	return sc.mayEdit(t) || (sc.caller != "" && t.Caller == sc.caller)
}

// filter is the ticket store's scope of a list (nil: everything).
func (sc viewScope) filter() *ticket.Scope {
	if sc.all {
		return nil
	}
	f := &ticket.Scope{SeatID: sc.seat, Caller: sc.caller}
	if sc.callID != "" {
		f.IDs = append(f.IDs, sc.callID)
	}
	for id := range sc.tasks {
		f.IDs = append(f.IDs, id)
	}
	return f
}

// scopeFor answers 500 and returns false when the scope cannot be worked out.
func (s *Server) scopeFor(w http.ResponseWriter, r *http.Request, u auth.User) (viewScope, bool) {
	sc, err := s.scopeOf(r.Context(), u)
	if err != nil {
		s.log.Error("role scope", "user", u.Name, "error", err)
		writeError(w, http.StatusInternalServerError, "could not work out what you may see")
		return viewScope{}, false
	}
	return sc, true
}

// outOfScope is the message of the 403 for a ticket outside the user's scope.
const outOfScope = "operators see the tickets of their own calls, the current caller's history and their callback work"
