package web

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/pii"
	"github.com/hotline12348/hotline/internal/ticket"

	"github.com/hotline12348/hotline/internal/vocab"
)

// listTickets: GET /api/tickets?caller=&status=&from=&to=&limit=
// from/to are RFC 3339 times or YYYY-MM-DD dates (local days).
func (s *Server) listTickets(w http.ResponseWriter, r *http.Request, u auth.User) {
	q := r.URL.Query()
	f := ticket.Filter{Caller: q.Get("caller"), Status: q.Get("status")}
	if f.Status != "" && f.Status != vocab.StatusOpen && f.Status != vocab.StatusClosed {
		writeError(w, http.StatusBadRequest, "status: must be open or closed")
		return
	}
	var err error
	if f.From, err = s.parseTime(q.Get("from"), false); err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	if f.To, err = s.parseTime(q.Get("to"), true); err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			writeError(w, http.StatusBadRequest, "limit: must be a positive number")
			return
		}
	}
	sc, ok := s.scopeFor(w, r, u)
	if !ok {
		return
	}
	f.Scope = sc.filter()
	if f.Caller != "" && callerNode(r) == "" {
		// A search by number: who looked for whom (masked), once, on the
		// node the person asked.
		if err := s.users.Audit(r.Context(), u.Name, auditTicketSearch, "caller="+pii.Mask(f.Caller), s.auditRemote(r)); err != nil {
			s.log.Error("audit", "error", err)
			writeError(w, http.StatusInternalServerError, "could not write the audit log")
			return
		}
	}
	list, err := s.tickets.List(r.Context(), f)
	if err != nil {
		s.log.Error("list tickets", "error", err)
		writeError(w, http.StatusInternalServerError, "could not list tickets")
		return
	}
	if list == nil {
		list = []*ticket.Ticket{}
	}
	for i, t := range list {
		list[i] = forUser(u, t)
	}
	if s.fan == nil || nodeScope(r) {
		writeJSON(w, http.StatusOK, map[string]any{"tickets": list})
		return
	}
	// The whole centre: every node's list for the same filter, as each
	// node shows it to this user, merged; the limit applies to the merge.
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	pq := url.Values{"limit": {strconv.Itoa(limit)}}
	if f.Caller != "" {
		pq.Set("caller", f.Caller)
	}
	if f.Status != "" {
		pq.Set("status", f.Status)
	}
	// Times as this node read them: every node counts the same days.
	if !f.From.IsZero() {
		pq.Set("from", f.From.Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		pq.Set("to", f.To.Format(time.RFC3339Nano))
	}
	peers, missing := fanGet[ticketsReply](r.Context(), s.fan, u, "/api/tickets", pq)
	ans, err := s.mergeTickets(list, peers, missing, limit)
	if err != nil {
		s.log.Error("list tickets: merge", "error", err)
		writeError(w, http.StatusInternalServerError, "could not list tickets")
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// parseTime reads an RFC 3339 time or a YYYY-MM-DD date; a date as an upper
// bound means the end of that day.
func (s *Server) parseTime(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation("2006-01-02", v, s.tickets.Location())
	if err != nil {
		return time.Time{}, errors.New("must be RFC 3339 or YYYY-MM-DD")
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request, u auth.User) {
	if s.relayTicket(w, r, u, r.PathValue("id"), maxRelayed) {
		return
	}
	t, err := s.tickets.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ticket.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such ticket")
		return
	}
	if err != nil {
		s.log.Error("get ticket", "error", err)
		writeError(w, http.StatusInternalServerError, "could not read ticket")
		return
	}
	sc, ok := s.scopeFor(w, r, u)
	if !ok {
		return
	}
	if !sc.mayRead(t) {
		writeError(w, http.StatusForbidden, outOfScope)
		return
	}
	if u.CanManage() && !isSystem(r, u) && (u.SeatID == "" || string(t.SeatID) != u.SeatID) {
		// A manager reading another seat's ticket: audited where it is kept.
		if err := s.users.Audit(r.Context(), u.Name, auditTicketRead, t.ID, s.auditRemote(r)); err != nil {
			s.log.Error("audit", "error", err)
			writeError(w, http.StatusInternalServerError, "could not write the audit log")
			return
		}
	}
	writeJSON(w, http.StatusOK, forUser(u, t))
}

// forUser is the ticket as user u may see it: operators get the caller's
// number masked (138****0000, personal data), except on a ticket marked for
// callback, whose number they must dial. Managers see it whole.
func forUser(u auth.User, t *ticket.Ticket) *ticket.Ticket {
	if u.CanManage() || t.Callback {
		return t
	}
	return maskTicket(t)
}

// recording serves a ticket's WAV: to managers and admins any; to an
// operator the voicemail of their callback work (roles.go). Every request
// served writes one audit line first (SPEC §8): "recording.download" for
// one without Range, "recording.range" with the range asked for any other
// (an <audio> element's seeks, bytes=-N tails): no audit line, no bytes.
func (s *Server) recording(w http.ResponseWriter, r *http.Request, u auth.User) {
	s.serveRecording(w, r, u, false)
}

// voicemail serves the message a caller left (ticket.VoicemailRoute): the
// file beside the recording when the call had talked to an operator before
// it came back to a queue, else the recording itself. Access and audit as
// for recordings.
func (s *Server) voicemail(w http.ResponseWriter, r *http.Request, u auth.User) {
	s.serveRecording(w, r, u, true)
}

func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request, u auth.User, voicemail bool) {
	// A recording lives with its ticket: on another node, that node
	// decides and serves it (and writes the audit line).
	if s.relayTicket(w, r, u, r.PathValue("id"), maxRelayedRecording) {
		return
	}
	t, err := s.tickets.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ticket.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such ticket")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read ticket")
		return
	}
	if !u.CanManage() {
		sc, ok := s.scopeFor(w, r, u)
		if !ok {
			return
		}
		if !sc.callback(t) {
			writeError(w, http.StatusForbidden, "recordings are for managers; operators hear the voicemails of their callback work")
			return
		}
	}
	beside := voicemail && t.AnsweredAt != nil
	if voicemail && (string(t.Outcome) != vocab.OutcomeVoicemail || t.RecordingFailed) {
		writeError(w, http.StatusNotFound, "ticket has no voicemail")
		return
	}
	if (t.Recording == nil && !beside) || s.opt.RecordingPath == nil {
		if t.RecordingDeletedAt != nil {
			writeError(w, http.StatusGone, "recording deleted by the retention policy")
			return
		}
		writeError(w, http.StatusNotFound, "ticket has no recording")
		return
	}
	path, name := s.opt.RecordingPath(t), t.ID+".wav"
	if beside {
		path, name = strings.TrimSuffix(path, ".wav")+"-voicemail.wav", t.ID+"-voicemail.wav"
	}
	f, err := os.Open(path)
	if err != nil {
		writeError(w, http.StatusNotFound, "recording file missing")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "recording unreadable")
		return
	}
	action, object := auditRecording, strings.TrimSuffix(name, ".wav")
	if rng := r.Header.Get("Range"); rng != "" {
		action, object = auditRecordingPart, object+" "+auditRange(rng)
	}
	if err := s.users.Audit(r.Context(), u.Name, action, object, s.auditRemote(r)); err != nil {
		// No audit line, no bytes.
		s.log.Error("audit", "error", err)
		writeError(w, http.StatusInternalServerError, "could not write the audit log")
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	// A long download is bounded by its progress, not WriteTimeout.
	http.ServeContent(newProgressWriter(w), r, name, st.ModTime(), f)
}

// auditRange is a Range header as the audit line keeps it: printable
// ASCII, at most 100 bytes (a longer one is cut and says so).
func auditRange(v string) string {
	const max = 100
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
