package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// maxSummaryRunes bounds the summary (characters, not bytes).
const maxSummaryRunes = 2000

// ticketPatch is the body of PATCH /api/tickets/{id}: the ticket form. A
// field left out is not changed.
type ticketPatch struct {
	Summary     *string `json:"summary"`
	Category    *string `json:"category"`
	LegalDomain *string `json:"legal_domain"`
	Disposition *string `json:"disposition"`
}

// validate checks the patch and normalizes the summary; it returns every
// problem at once.
func (p *ticketPatch) validate() error {
	var errs []string
	if p.Summary == nil && p.Category == nil && p.LegalDomain == nil && p.Disposition == nil {
		return errors.New("nothing to change: send summary, category, legal_domain or disposition")
	}
	if p.Summary != nil {
		s := strings.TrimSpace(strings.ReplaceAll(*p.Summary, "\r\n", "\n"))
		switch {
		case !utf8.ValidString(s):
			errs = append(errs, "summary: must be UTF-8")
		case utf8.RuneCountInString(s) > maxSummaryRunes:
			errs = append(errs, fmt.Sprintf("summary: at most %d characters", maxSummaryRunes))
		case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
			errs = append(errs, "summary: control characters are not allowed")
		}
		p.Summary = &s
	}
	if p.Category != nil && !vocab.Categories.Has(*p.Category) {
		errs = append(errs, "category: must be one of consult, legal_aid, mediation, notary, complaint")
	}
	if p.LegalDomain != nil && *p.LegalDomain != "" && !vocab.LegalDomains.Has(*p.LegalDomain) {
		errs = append(errs, "legal_domain: unknown value (GET /api/console/options lists them)")
	}
	if p.Disposition != nil && *p.Disposition != "" && !vocab.Dispositions.Has(*p.Disposition) {
		errs = append(errs, "disposition: unknown value (GET /api/console/options lists them)")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

var errNotYours = errors.New("not your ticket")

// patchTicket: PATCH /api/tickets/{id} with the ticket form (summary,
// category, legal_domain, disposition). Only those fields; unknown fields,
// bad values or an empty body are 400 with every problem listed; a ticket
// the user may not edit is 403; an unknown one 404. A save that changes
// something is a new revision (and so a work-order push "updated"); a save
// that changes nothing makes none. Answers 200 with the ticket.
func (s *Server) patchTicket(w http.ResponseWriter, r *http.Request, u auth.User) {
	id := r.PathValue("id")
	if s.relayTicket(w, r, u, id, maxRelayed) {
		return
	}
	var p ticketPatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, `body must be a JSON object with summary, category, legal_domain and/or disposition: `+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body must be one JSON object")
		return
	}
	if err := p.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sc, ok := s.scopeFor(w, r, u)
	if !ok {
		return
	}
	before, callback := 0, false
	t, err := s.tickets.Update(r.Context(), id, func(t *ticket.Ticket) error {
		// Checked on the row being updated, inside its transaction.
		if !sc.mayEdit(t) {
			return errNotYours
		}
		before, callback = t.Revision, t.Callback && t.SeatID == ""
		if p.Summary != nil {
			t.Summary = *p.Summary
		}
		if p.Category != nil {
			t.Category = *p.Category
		}
		if p.LegalDomain != nil {
			t.LegalDomain = *p.LegalDomain
		}
		if p.Disposition != nil {
			t.Disposition = *p.Disposition
		}
		return nil
	})
	switch {
	case errors.Is(err, ticket.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such ticket")
		return
	case errors.Is(err, errNotYours):
		writeError(w, http.StatusForbidden, "operators edit the tickets of their own calls, the call on their seat and their callback work")
		return
	case err != nil:
		s.log.Error("patch ticket", "ticket_id", id, "error", err)
		writeError(w, http.StatusInternalServerError, "could not save the ticket")
		return
	}
	var fields []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"summary", p.Summary != nil}, {"category", p.Category != nil}, {"legal_domain", p.LegalDomain != nil}, {"disposition", p.Disposition != nil}} {
		if f.set {
			fields = append(fields, f.name)
		}
	}
	if callback && !u.CanManage() {
		// The operator who writes a callback up keeps it (roles.go).
		if err := s.users.Audit(r.Context(), u.Name, auditCallbackWrite, t.ID, s.auditRemote(r)); err != nil {
			s.log.Error("audit: callback written up, not recorded as the operator's", "ticket_id", id, "error", err)
		}
	}
	s.log.Info("ticket form saved", "ticket_id", id, "by", u.Name, "fields", strings.Join(fields, ","),
		"revision", t.Revision, "new_revision", t.Revision != before)
	writeJSON(w, http.StatusOK, forUser(u, t))
}
