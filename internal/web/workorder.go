package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/ticket"
)

// feedbackSkew is how far the feedback's X-Hotline-Timestamp may be from
// our clock: a captured request cannot be replayed after that.
const feedbackSkew = 5 * time.Minute

func (s *Server) workorderRoutes() {
	// The work-order system authenticates by signature, not by session.
	s.mux.HandleFunc("POST /api/workorder/feedback", s.feedback)
	s.mux.Handle("GET /api/workorder/dead", s.authed(s.managers(s.deadLetters)))
	s.mux.Handle("GET /api/workorder/reconciliation", s.authed(s.managers(s.reconciliation)))
	s.mux.Handle("POST /api/tickets/{id}/redeliver", s.authed(s.managers(s.redeliver)))
}

// managers lets managers and admins through, 403 for operators.
func (s *Server) managers(h handlerWithUser) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u auth.User) {
		if !u.CanManage() {
			writeError(w, http.StatusForbidden, "for managers")
			return
		}
		h(w, r, u)
	}
}

// feedback: POST /api/workorder/feedback, signed like our pushes (SPEC §7)
// but with the feedback direction's own key (workorder.feedback_secret,
// else workorder.secret): {"ticket_id", "external_id", "status", "note",
// "at"}. The signature admits a captured request again within
// feedbackSkew, and a work-order system may send a report again (without
// "at", each copy used to be stamped with its arrival and stored anew): a
// report is stored once per ticket.FeedbackKey, a hash of what it says
// with "at" as given, and a copy is answered 200 {"duplicate": true}.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if len(s.opt.FeedbackSecret) == 0 {
		writeError(w, http.StatusServiceUnavailable, "feedback is off: neither workorder.feedback_secret nor workorder.secret is set")
		return
	}
	if err := ticket.Verify(s.opt.FeedbackSecret, r.Header.Get("X-Hotline-Timestamp"), r.Header.Get("X-Hotline-Signature"), body, time.Now(), feedbackSkew); err != nil {
		s.log.Warn("work-order feedback refused", "reason", err.Error(), "remote", s.clientIP(r))
		writeError(w, http.StatusUnauthorized, "signature refused")
		return
	}
	var req struct {
		TicketID   string `json:"ticket_id"`
		ExternalID string `json:"external_id"`
		Status     string `json:"status"`
		Note       string `json:"note"`
		At         string `json:"at"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {ticket_id, external_id, status, note, at}")
		return
	}
	switch {
	case req.TicketID == "":
		writeError(w, http.StatusBadRequest, "ticket_id: required")
		return
	case req.Status == "" || len(req.Status) > 64:
		writeError(w, http.StatusBadRequest, "status: required, at most 64 bytes")
		return
	case len(req.ExternalID) > 128:
		writeError(w, http.StatusBadRequest, "external_id: at most 128 bytes")
		return
	case len(req.Note) > 4000:
		writeError(w, http.StatusBadRequest, "note: at most 4000 bytes")
		return
	}
	at := time.Now()
	if req.At != "" {
		if at, err = time.Parse(time.RFC3339, req.At); err != nil {
			writeError(w, http.StatusBadRequest, "at: must be RFC 3339")
			return
		}
	}
	// A ticket of another node: that node stores the feedback. The body and
	// the work-order system's headers go as they came, so that it checks
	// the work-order signature itself.
	if n, err := s.ticketOwner(r.Context(), r, req.TicketID); err != nil {
		s.log.Warn("work-order feedback: ticket's node unreachable", "ticket_id", req.TicketID, "error", err)
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	} else if n != nil {
		s.log.Info("work-order feedback relayed", "ticket_id", req.TicketID, "node", n.ID)
		s.relay(w, r, *n, nil, body, maxRelayed)
		return
	}
	added, err := s.tickets.AddFeedback(r.Context(), req.TicketID, ticket.Feedback{ExternalID: req.ExternalID, Status: req.Status, Note: req.Note, At: at,
		Key: ticket.FeedbackKey(req.TicketID, req.ExternalID, req.Status, req.Note, req.At)})
	if errors.Is(err, ticket.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such ticket")
		return
	}
	if err != nil {
		s.log.Error("feedback", "error", err)
		writeError(w, http.StatusInternalServerError, "could not store the feedback")
		return
	}
	s.log.Info("work-order feedback", "ticket_id", req.TicketID, "status", req.Status, "new", added)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "duplicate": !added})
}

// deadLetters: GET /api/workorder/dead, newest first (in a cluster, every
// node's, merged; each ticket's node_id says where it lives).
func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request, u auth.User) {
	const limit = 200
	list, err := s.tickets.DeadTickets(r.Context(), limit)
	if err != nil {
		s.log.Error("dead letters", "error", err)
		writeError(w, http.StatusInternalServerError, "could not list dead letters")
		return
	}
	if list == nil {
		list = []*ticket.Ticket{}
	}
	if s.fan == nil || nodeScope(r) {
		writeJSON(w, http.StatusOK, map[string]any{"tickets": list})
		return
	}
	peers, missing := fanGet[ticketsReply](r.Context(), s.fan, u, "/api/workorder/dead", nil)
	ans, err := s.mergeTickets(list, peers, missing, limit)
	if err != nil {
		s.log.Error("dead letters: merge", "error", err)
		writeError(w, http.StatusInternalServerError, "could not list dead letters")
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) redeliver(w http.ResponseWriter, r *http.Request, u auth.User) {
	id := r.PathValue("id")
	if s.relayTicket(w, r, u, id, maxRelayed) {
		return
	}
	n, err := s.tickets.Redeliver(r.Context(), id)
	if errors.Is(err, ticket.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such ticket")
		return
	}
	if err != nil {
		s.log.Error("redeliver", "error", err)
		writeError(w, http.StatusInternalServerError, "could not redeliver")
		return
	}
	_ = s.users.Audit(r.Context(), u.Name, "workorder.redeliver", id, s.auditRemote(r))
	if s.opt.WakeOutbox != nil {
		s.opt.WakeOutbox()
	}
	s.log.Info("redeliver", "ticket_id", id, "revisions", n, "by", u.Name)
	writeJSON(w, http.StatusOK, map[string]any{"requeued": n})
}

// NodeReconciliation is one node's reconciliation in a cluster's.
type NodeReconciliation struct {
	Node string `json:"node"`
	ticket.Reconciliation
}

// ClusterReconciliation is GET /api/workorder/reconciliation in a cluster:
// the sums of every node's (not_fully_delivered merged, at most 1000), each
// node's own in "nodes", and the nodes missing in "partial".
type ClusterReconciliation struct {
	ticket.Reconciliation
	Nodes   []NodeReconciliation `json:"nodes"`
	Partial []string             `json:"partial,omitempty"`
}

// reconciliation: GET /api/workorder/reconciliation?date=YYYY-MM-DD (default today).
func (s *Server) reconciliation(w http.ResponseWriter, r *http.Request, u auth.User) {
	day := time.Now()
	if v := r.URL.Query().Get("date"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, s.tickets.Location())
		if err != nil {
			writeError(w, http.StatusBadRequest, "date: must be YYYY-MM-DD")
			return
		}
		day = d
	}
	rep, err := s.tickets.Reconcile(r.Context(), day)
	if err != nil {
		s.log.Error("reconciliation", "error", err)
		writeError(w, http.StatusInternalServerError, "could not reconcile")
		return
	}
	if s.fan == nil || nodeScope(r) {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	peers, missing := fanGet[ticket.Reconciliation](r.Context(), s.fan, u, "/api/workorder/reconciliation", url.Values{"date": {rep.Date}})
	out := ClusterReconciliation{Reconciliation: rep, Nodes: []NodeReconciliation{{Node: s.opt.Cluster.Self(), Reconciliation: rep}}}
	out.NotFullyDelivered = slices.Clone(rep.NotFullyDelivered)
	for node, p := range peers {
		if p.Date != rep.Date {
			s.log.Warn("cluster: node reconciled another day; its part is missing", "node", node, "date", p.Date, "want", rep.Date)
			missing = append(missing, node)
			continue
		}
		out.Nodes = append(out.Nodes, NodeReconciliation{Node: node, Reconciliation: *p})
		out.Tickets += p.Tickets
		out.Revisions += p.Revisions
		out.Delivered += p.Delivered
		out.Pending += p.Pending
		out.Dead += p.Dead
		out.TicketsDelivered += p.TicketsDelivered
		out.NotFullyDelivered = append(out.NotFullyDelivered, p.NotFullyDelivered...)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	sort.Strings(out.NotFullyDelivered)
	if len(out.NotFullyDelivered) > 1000 {
		out.NotFullyDelivered = out.NotFullyDelivered[:1000]
	}
	sort.Strings(missing)
	out.Partial = missing
	writeJSON(w, http.StatusOK, out)
}
