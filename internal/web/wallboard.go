package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hotline12348/hotline/internal/auth"
)

// The wallboard's work-order side (issue 11, "wallboard honesty"):
//
//	GET  /api/workorder/status        {"configured": bool}: whether workorder.url is set
//	                                  (without it tickets stay in the outbox, undelivered;
//	                                  the wallboard shows a banner)
//	POST /api/workorder/redeliver-all every dead letter of the centre queued again
//	                                  (managers; audited once per node with the count)
//
// Errors of these endpoints carry a stable "code" beside the English
// "error" text; the console shows its Chinese sentence for the code (and,
// for every other endpoint, for the HTTP status and known texts:
// console/errors.js).
func (s *Server) wallboardRoutes() {
	s.mux.Handle("GET /api/workorder/status", s.authed(s.managers(s.workorderStatus)))
	s.mux.Handle("POST /api/workorder/redeliver-all", s.authed(s.managers(s.redeliverAll)))
}

// writeErrorCode is writeError with a stable code for the console.
func writeErrorCode(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func (s *Server) workorderStatus(w http.ResponseWriter, r *http.Request, u auth.User) {
	writeJSON(w, http.StatusOK, map[string]any{"configured": s.opt.WorkorderConfigured})
}

// maxRedeliverAll bounds one bulk redeliver per node (as the dead-letter list).
const maxRedeliverAll = 1000

// redeliverResult is one node's part of a bulk redeliver.
type redeliverResult struct {
	Tickets   int      `json:"tickets"`   // dead tickets queued again
	Revisions int      `json:"revisions"` // their revisions queued again
	Failed    []string `json:"failed,omitempty"`
	Partial   []string `json:"partial,omitempty"` // nodes that did not answer
}

// redeliverAll: POST /api/workorder/redeliver-all. Each node requeues its
// own dead letters (a ticket's outbox is on its node); in a cluster the
// asking node asks every other live node (scope=node) and adds the counts.
func (s *Server) redeliverAll(w http.ResponseWriter, r *http.Request, u auth.User) {
	res, err := s.redeliverLocal(r.Context(), r, u)
	if err != nil {
		s.log.Error("redeliver all", "error", err)
		writeErrorCode(w, http.StatusInternalServerError, "redeliver_failed", "could not list dead letters")
		return
	}
	if s.fan != nil && !nodeScope(r) {
		s.redeliverPeers(r.Context(), u, &res)
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) redeliverLocal(ctx context.Context, r *http.Request, u auth.User) (redeliverResult, error) {
	res := redeliverResult{}
	list, err := s.tickets.DeadTickets(ctx, maxRedeliverAll)
	if err != nil {
		return res, err
	}
	for _, t := range list {
		n, err := s.tickets.Redeliver(ctx, t.ID)
		if err != nil {
			s.log.Error("redeliver all: ticket", "ticket_id", t.ID, "error", err)
			res.Failed = append(res.Failed, t.ID)
			continue
		}
		res.Tickets++
		res.Revisions += n
	}
	if res.Tickets > 0 || len(res.Failed) > 0 {
		// One audit line for the action, with what it did.
		obj := "tickets=" + strconv.Itoa(res.Tickets) + " revisions=" + strconv.Itoa(res.Revisions)
		if len(res.Failed) > 0 {
			obj += " failed=" + strings.Join(res.Failed, ",")
		}
		_ = s.users.Audit(ctx, u.Name, "workorder.redeliver_all", obj, s.auditRemote(r))
		if s.opt.WakeOutbox != nil {
			s.opt.WakeOutbox()
		}
	}
	s.log.Info("redeliver all", "tickets", res.Tickets, "revisions", res.Revisions, "failed", len(res.Failed), "by", u.Name)
	return res, nil
}

// redeliverPeers asks the other live nodes to requeue theirs.
func (s *Server) redeliverPeers(ctx context.Context, u auth.User, res *redeliverResult) {
	nodes, err := s.fan.cluster.Nodes(ctx)
	if err != nil {
		res.Partial = []string{"*"}
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n.ID == s.fan.cluster.Self() {
			continue
		}
		if !n.Alive || n.HTTP == "" {
			res.Partial = append(res.Partial, n.ID)
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.fan.timeout)
			defer cancel()
			var part redeliverResult
			hr, err := s.fan.client.Do(cctx, http.MethodPost, n.HTTP, "/api/workorder/redeliver-all?scope=node", &u, []byte{}, nil)
			if err == nil {
				defer hr.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
				if hr.StatusCode != http.StatusOK {
					err = &PeerError{Status: hr.StatusCode, Msg: string(b)}
				} else {
					err = json.Unmarshal(b, &part)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Warn("cluster: redeliver all: node did not answer", "node", n.ID, "error", err)
				res.Partial = append(res.Partial, n.ID)
				return
			}
			res.Tickets += part.Tickets
			res.Revisions += part.Revisions
			res.Failed = append(res.Failed, part.Failed...)
		})
	}
	wg.Wait()
	sort.Strings(res.Partial)
}
