package web

// The whole centre from any node (SPEC §11).
//
// With Options.Cluster set, every node keeps its own tickets and recordings
// and its API shows the whole centre:
//
//   - GET /api/tickets, /api/workorder/dead, /api/workorder/reconciliation
//     and /api/stats/{today,hourly,staffing} ask every live node (this one
//     included) for its own part (scope=node, signed as the user, within
//     Options.PeerTimeout) and merge the parts: tickets newest first with the
//     limit applied after the merge, each node masking for the user as it
//     always does; stats counted once per ticket, the ratios computed once
//     (internal/stats). A node that is not alive, fails or is too slow does
//     not fail the answer: its id is listed in "partial" (absent when every
//     node answered; ["*"] when the list of nodes itself is unavailable).
//   - GET and PATCH /api/tickets/{id}, GET /api/tickets/{id}/recording,
//     POST /api/tickets/{id}/redeliver and POST /api/workorder/feedback are
//     relayed to the node the ticket id names (…-<node id>-<n>) and its
//     answer streamed back (Range honoured; audit lines are written there,
//     under the user's name). That node unknown or not alive: 503, never a
//     404 for a ticket that exists elsewhere.
//   - GET /api/cluster (managers) lists the nodes.
//
// The query parameter scope=node asks a node for its own data only (what
// nodes send each other; a person may use it too, it shows nothing more).
// On the stats routes scope=node answers the node's additive part
// (stats.DayPart, stats.HourlyPart, stats.StaffingPart) rather than the
// finished numbers; /api/stats/today then takes ?date= as the other stats
// routes do, and /api/stats/staffing takes the reference days as
// ?ref=YYYY-MM-DD (repeated).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/ticket"
)

// Cluster is what the web side needs of the cluster (implemented over Redis
// by the app).
type Cluster interface {
	// Self is this node's id.
	Self() string
	// Nodes returns every node known, this one included.
	Nodes(ctx context.Context) ([]NodeStatus, error)
}

// NodeStatus is one node as GET /api/cluster lists it.
type NodeStatus struct {
	ID       string    `json:"id"`
	Alive    bool      `json:"alive"`
	State    string    `json:"state"` // "alive", "suspect", "leaving", "dead"
	LastSeen time.Time `json:"last_seen"`
	Calls    int       `json:"calls"`     // calls it carries now
	SeatsVia int       `json:"seats_via"` // seats registered through it
	HTTP     string    `json:"http"`      // cluster.advertise_http, e.g. http://10.0.0.11:8080
	SIP      string    `json:"sip"`
}

// DefaultPeerTimeout is how long a fan-out waits for each other node.
const DefaultPeerTimeout = 2 * time.Second

// maxRelayed bounds a relayed JSON answer; maxRelayedRecording a recording.
const (
	maxRelayed          = 32 << 20
	maxRelayedRecording = 4 << 30 // a WAV file cannot be larger
)

// TicketNode returns the node id a ticket id names
// (20261126-083015-km-1-0042 → km-1), or "" when id is not of that form.
// Node ids may contain '-': the day, the time and the number around them
// have fixed forms.
func TicketNode(id string) string {
	const head = len("20261126-083015-")
	if len(id) < head+1+1+4 || id[8] != '-' || id[15] != '-' || !digits(id[:8]) || !digits(id[9:15]) {
		return ""
	}
	rest := id[head:]
	i := strings.LastIndexByte(rest, '-')
	if i < 1 || len(rest)-i-1 < 4 || !digits(rest[i+1:]) {
		return ""
	}
	return rest[:i]
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// nodeScope reports whether r asks for this node's own data only.
func nodeScope(r *http.Request) bool { return r.URL.Query().Get("scope") == "node" }

// withNodeScope returns the query q plus scope=node, encoded.
func withNodeScope(q url.Values) string {
	c := url.Values{}
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	c.Set("scope", "node")
	return c.Encode()
}

// systemUser is whom a node's own work (the screen-pop's lookups, the
// wallboard's stats event) acts as towards the other nodes: it sees
// everything, and the hub masks for each console itself.
func systemUser(node string) auth.User { return auth.User{Name: "node:" + node, Role: auth.RoleAdmin} }

type nodeCallerKey struct{}

// callerNode is the node a verified node-to-node request came from ("" for
// a person's request).
func callerNode(r *http.Request) string {
	n, _ := r.Context().Value(nodeCallerKey{}).(string)
	return n
}

// auditRemote is the address an audit line records: the person's address
// (behind trusted proxies, the one they saw: client.go), and the node that
// relayed the request, if one did (it says in X-Forwarded-For whom for).
func (s *Server) auditRemote(r *http.Request) string {
	node := callerNode(r)
	if node == "" {
		return s.clientIP(r)
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		return xff + " via " + node
	}
	return remoteIP(r) + " (node " + node + ")"
}

// fanout asks the other live nodes for their part.
type fanout struct {
	cluster Cluster
	client  *PeerClient
	timeout time.Duration
	log     *slog.Logger
}

// fanGet asks every other live node, as u, for path?query&scope=node, in
// parallel, each within f.timeout, and decodes each 200 answer as a T. It
// returns the answers by node and the sorted ids of the nodes whose part
// is missing (not alive, failed, too slow, undecodable); "*" when the list
// of nodes is unavailable.
func fanGet[T any](ctx context.Context, f *fanout, u auth.User, path string, q url.Values) (map[string]*T, []string) {
	nodes, err := f.cluster.Nodes(ctx)
	if err != nil {
		f.log.Warn("cluster: list of nodes unavailable; answering with this node's data only", "path", path, "error", err)
		return nil, []string{"*"}
	}
	self := f.cluster.Self()
	pq := path + "?" + withNodeScope(q)
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		out     = map[string]*T{}
		missing []string
	)
	for _, n := range nodes {
		if n.ID == self {
			continue
		}
		if !n.Alive || n.HTTP == "" {
			missing = append(missing, n.ID)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			v := new(T)
			err := f.client.GetJSON(cctx, n.HTTP, pq, u, v)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.log.Warn("cluster: node did not answer; its part is missing", "node", n.ID, "path", path, "error", err)
				missing = append(missing, n.ID)
				return
			}
			out[n.ID] = v
		}()
	}
	wg.Wait()
	sort.Strings(missing)
	return out, missing
}

// ticketOwner returns the live node that keeps ticket id when it is not
// this one (nil: this node answers). An error says why the owner cannot be
// reached (503).
func (s *Server) ticketOwner(ctx context.Context, r *http.Request, id string) (*NodeStatus, error) {
	if s.fan == nil || nodeScope(r) {
		return nil, nil
	}
	node := TicketNode(id)
	if node == "" || node == s.opt.Cluster.Self() {
		return nil, nil
	}
	if _, err := s.tickets.Get(ctx, id); err == nil {
		return nil, nil // kept here all the same (a node renamed since)
	}
	nodes, err := s.opt.Cluster.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("ticket %s is kept by node %s, and the list of nodes is unavailable: %v", id, node, err)
	}
	for _, n := range nodes {
		if n.ID != node {
			continue
		}
		if !n.Alive || n.HTTP == "" {
			state := n.State
			if state == "" {
				state = "not alive"
			}
			return nil, fmt.Errorf("ticket %s is kept by node %s, which is %s; try again when it is back", id, node, state)
		}
		return &n, nil
	}
	return nil, fmt.Errorf("ticket %s is kept by node %s, which this cluster does not know", id, node)
}

// relayTicket relays r to the node that keeps ticket id, if that is not
// this node, and reports whether it did (the answer is then written).
func (s *Server) relayTicket(w http.ResponseWriter, r *http.Request, u auth.User, id string, limit int64) bool {
	n, err := s.ticketOwner(r.Context(), r, id)
	if err != nil {
		s.log.Warn("cluster: ticket's node unreachable", "ticket_id", id, "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return true
	}
	if n == nil {
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return true
	}
	s.relay(w, r, *n, &u, body, limit)
	return true
}

// The request headers a relayed request keeps.
var relayedRequestHeaders = []string{"Accept", "Content-Type", "Range", "If-Range", "If-None-Match", "If-Modified-Since"}

// The answer headers a relayed answer keeps.
var relayedAnswerHeaders = []string{"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Content-Disposition",
	"Last-Modified", "ETag", "Retry-After", "Cache-Control", "WWW-Authenticate"}

// relay sends r (its body read into body) to node n, signed as u (nil:
// verbatim, with every end-to-end header: the work-order system's
// feedback), with scope=node, and streams the answer back, at most limit
// bytes of it.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, n NodeStatus, u *auth.User, body []byte, limit int64) {
	h := http.Header{}
	if u != nil {
		for _, k := range relayedRequestHeaders {
			if v := r.Header.Values(k); len(v) > 0 {
				h[k] = slices.Clone(v)
			}
		}
	} else {
		h = r.Header.Clone()
		for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
			"Content-Length", "Host", "Cookie", "Authorization", "Accept-Encoding", "Expect", HeaderNode, HeaderUser, "X-Forwarded-For"} {
			h.Del(k)
		}
	}
	h.Set("X-Forwarded-For", s.clientIP(r))
	res, err := s.peer.Do(r.Context(), r.Method, n.HTTP, r.URL.Path+"?"+withNodeScope(r.URL.Query()), u, body, h)
	if err != nil {
		if r.Context().Err() != nil {
			return // the person went away
		}
		s.log.Warn("cluster: relay failed", "node", n.ID, "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("node %s, which keeps this ticket, did not answer", n.ID))
		return
	}
	defer res.Body.Close()
	if u != nil && res.StatusCode == http.StatusUnauthorized {
		// Never a 401 to the console for a node's refusal: it would take it
		// for the end of its own session.
		s.log.Error("cluster: node refused this node's signature (same cluster.secret everywhere? clocks in sync?)", "node", n.ID)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("node %s refused this node's request (cluster.secret or clock mismatch)", n.ID))
		return
	}
	if res.ContentLength > limit {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("node %s answered more than %d bytes", n.ID, limit))
		return
	}
	for _, k := range relayedAnswerHeaders {
		if v := res.Header.Values(k); len(v) > 0 {
			w.Header()[k] = slices.Clone(v)
		}
	}
	w.Header().Set(HeaderServedBy, n.ID)
	w.WriteHeader(res.StatusCode)
	if _, err := io.Copy(newProgressWriter(w), io.LimitReader(res.Body, limit)); err != nil && r.Context().Err() == nil {
		s.log.Warn("cluster: relayed answer cut", "node", n.ID, "path", r.URL.Path, "error", err)
	}
}

// clusterView: GET /api/cluster (managers). {"self": id, "nodes": [...]};
// on a single node (no Options.Cluster), "nodes" is empty and "self" is
// Options.NodeID.
func (s *Server) clusterView(w http.ResponseWriter, r *http.Request, _ auth.User) {
	if s.opt.Cluster == nil {
		writeJSON(w, http.StatusOK, map[string]any{"self": s.opt.NodeID, "nodes": []NodeStatus{}})
		return
	}
	nodes, err := s.opt.Cluster.Nodes(r.Context())
	if err != nil {
		s.log.Warn("cluster: list of nodes unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the list of nodes is unavailable: "+err.Error())
		return
	}
	if nodes == nil {
		nodes = []NodeStatus{}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"self": s.opt.Cluster.Self(), "nodes": nodes})
}

// rawTicket is one ticket of a merged list as a node wrote it, with what
// the merge sorts by.
type rawTicket struct {
	raw json.RawMessage
	id  string
	at  time.Time
}

// rawTickets reads the sort keys of a node's tickets.
func rawTickets(list []json.RawMessage) ([]rawTicket, error) {
	out := make([]rawTicket, 0, len(list))
	for _, raw := range list {
		var k struct {
			ID       string    `json:"id"`
			OpenedAt time.Time `json:"opened_at"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, err
		}
		out = append(out, rawTicket{raw: raw, id: k.ID, at: k.OpenedAt})
	}
	return out, nil
}

// newestFirst orders as ticket.Store.List does: opened_at DESC, id DESC.
func newestFirst(list []rawTicket) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.at.Equal(b.at) {
			return a.at.After(b.at)
		}
		return a.id > b.id
	})
}

// ticketsAnswer is the body of a merged ticket list.
type ticketsAnswer struct {
	Tickets []json.RawMessage `json:"tickets"`
	Partial []string          `json:"partial,omitempty"`
}

type ticketsReply struct {
	Tickets []json.RawMessage `json:"tickets"`
}

// mergeTickets merges this node's tickets (already as the user may see
// them) with the other nodes' answers, newest first, at most limit.
func (s *Server) mergeTickets(local []*ticket.Ticket, peers map[string]*ticketsReply, missing []string, limit int) (ticketsAnswer, error) {
	var all []rawTicket
	for _, t := range local {
		b, err := json.Marshal(t)
		if err != nil {
			return ticketsAnswer{}, err
		}
		all = append(all, rawTicket{raw: b})
	}
	var err error
	if all, err = rawTickets(rawsOf(all)); err != nil {
		return ticketsAnswer{}, err
	}
	for node, rep := range peers {
		list, err := rawTickets(rep.Tickets)
		if err != nil {
			s.log.Warn("cluster: node's tickets undecodable; its part is missing", "node", node, "error", err)
			missing = append(missing, node)
			continue
		}
		all = append(all, list...)
	}
	newestFirst(all)
	if len(all) > limit {
		all = all[:limit]
	}
	sort.Strings(missing)
	return ticketsAnswer{Tickets: rawsOf(all), Partial: missing}, nil
}

// sortedStrings sorts v; nil when empty (a "partial" left out).
func sortedStrings(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	sort.Strings(v)
	return v
}

func rawsOf(list []rawTicket) []json.RawMessage {
	out := make([]json.RawMessage, len(list))
	for i, t := range list {
		out[i] = t.raw
	}
	return out
}
