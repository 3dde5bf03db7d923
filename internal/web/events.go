package web

// Live events for the console: GET /api/events, a text/event-stream (SSE).
//
// A Hub fans out what happens on the floor to every console that listens:
//
//	seat    {"seat": <agent.Seat>, "at"}             a seat's new state (coalesced, read fresh)
//	queue   {"queue": [<acd.QueueEntry>…], "at"}     the whole queue (coalesced, read fresh)
//	offer   {"stage", "seat", "ticket", "history", "wait_seconds", "at"}
//	        stage "ringing" (offered), "answered", "wrap_up" (on reconnect),
//	        or "gone" {"stage","seat","ticket_id","reason","at"} when the
//	        offer ended without an answer; only to the users bound to that seat
//	ticket  a ticket revision, without the caller's number or the summary
//	        (managers: every ticket; operators: their seat's); in a cluster
//	        the other nodes' revisions too (Hub.RemoteRevision)
//	stats   the body of GET /api/stats/today, at most once a second, to managers
//
// Every event has an id: line (one counter for the hub); there is no replay:
// a console that reconnects gets a fresh snapshot (every seat, the queue,
// its seat's current offer, the last stats) instead. A ": ping" comment goes
// out every 15 s. Delivery never blocks the ACD or the ticket store: the ACD
// buffers its changes (and says when it dropped some: the hub re-reads the
// floor), ticket revisions are handed over without waiting, and each console
// has a bounded buffer: one that falls behind is disconnected (its
// EventSource reconnects and gets a snapshot), never waited for.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/pii"
	"github.com/hotline12348/hotline/internal/ticket"
)

// The event names of GET /api/events.
const (
	EventSeat   = "seat"
	EventQueue  = "queue"
	EventOffer  = "offer"
	EventTicket = "ticket"
	EventStats  = "stats"
)

// Offer stages (the "stage" of an offer event).
const (
	OfferRinging  = "ringing"
	OfferAnswered = "answered"
	OfferWrapUp   = "wrap_up"
	OfferGone     = "gone"
)

// historyDays is how far back the screen-pop lists the caller's tickets.
const historyDays = 90

// HubOptions configure the live events.
type HubOptions struct {
	// Changes subscribes to the ACD (acd.ACD.Subscribe); nil: no live
	// seat, queue or offer events (snapshots still come from Floor).
	Changes func() (<-chan acd.Change, func())
	// Floor gives the snapshots (seats, queue); nil: an empty floor.
	Floor Floor
	// Tickets feeds the ticket events (Store.OnRevision) and the screen-pop.
	Tickets *ticket.Store
	// Lookup finds the screen-pop's ticket and the caller's earlier tickets;
	// nil: in Tickets (one node). In a cluster: NewClusterLookup, which
	// looks on every node.
	Lookup TicketLookup
	// Node is this node's id: RemoteRevision ignores revisions of this
	// node's own tickets (they come from Tickets already).
	Node string
	// StatsToday returns today's numbers (the body of GET /api/stats/today)
	// for the "stats" event; nil: no stats events.
	StatsToday func(ctx context.Context) (any, error)
	Log        *slog.Logger

	// Tunables; zero means the default in brackets.
	Heartbeat    time.Duration // between ": ping" comments [15s]
	Coalesce     time.Duration // seat and queue events wait this long to gather a burst [100ms]
	StatsEvery   time.Duration // at most one stats event per [1s]
	ClientBuffer int           // events a console may lag behind before it is dropped [64]
	MaxClients   int           // consoles at once [256]
	WriteTimeout time.Duration // one write to a console [10s]
	// Now is the clock ("at" of the events) [time.Now].
	Now func() time.Time
}

// Hub is the fan-out of live events. It runs from NewHub until Close.
type Hub struct {
	o         HubOptions
	log       *slog.Logger
	unsub     func()
	changes   <-chan acd.Change
	revisions chan revision
	offers    chan offerJob
	stop      chan struct{}
	wg        sync.WaitGroup
	// ctx ends with Close: the lookups and stats in flight (which may wait
	// for other nodes) stop with it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	clients   map[*sseClient]struct{}
	closed    bool
	seq       uint64
	seatCalls map[agent.SeatID]string // each seat's current call (ticket id)
	lastStats []byte                  // the last stats payload
	statsFn   func(ctx context.Context) (any, error)
	dropped   int // consoles dropped for lagging
	lostRevs  int // ticket revisions not handed over
	// remoteRevs is the last revision delivered of each other node's
	// ticket: a late or repeated one is not delivered again.
	remoteRevs map[string]int
	// monitors: the supervision sessions going on (supervise.go), sent
	// to a console that connects while one lasts.
	monitors map[string]monitorSnap
}

type sseClient struct {
	user auth.User
	ch   chan []byte
	gone chan struct{}
	once sync.Once
}

func (c *sseClient) drop() { c.once.Do(func() { close(c.gone) }) }

type revision struct {
	t     *ticket.Ticket
	event string
}

type offerJob struct {
	stage  string
	seat   agent.SeatID
	ticket string
	wait   time.Duration
	reason string
	only   *sseClient // nil: every console of the seat
}

// NewHub starts the hub: it subscribes to the ACD and to the ticket store.
// Close stops it.
func NewHub(o HubOptions) *Hub {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Coalesce <= 0 {
		o.Coalesce = 100 * time.Millisecond
	}
	if o.StatsEvery <= 0 {
		o.StatsEvery = time.Second
	}
	if o.ClientBuffer <= 0 {
		o.ClientBuffer = 64
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		o: o, log: o.Log, unsub: func() {},
		revisions: make(chan revision, 1024),
		offers:    make(chan offerJob, 64),
		stop:      make(chan struct{}),
		clients:   map[*sseClient]struct{}{},
		seatCalls: map[agent.SeatID]string{},

		remoteRevs: map[string]int{},
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if o.Lookup == nil && o.Tickets != nil {
		h.o.Lookup = LocalLookup{Tickets: o.Tickets}
	}
	if o.Changes != nil {
		h.changes, h.unsub = o.Changes()
	}
	for _, s := range h.seats() {
		h.seatCalls[s.ID] = s.CallID
	}
	h.statsFn = o.StatsToday
	if o.Tickets != nil {
		o.Tickets.OnRevision(h.ticketRevision)
	}
	h.wg.Add(2)
	go h.run()
	go h.offerWorker()
	return h
}

// Close disconnects every console and stops the hub. Safe to call twice.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for c := range h.clients {
		c.drop()
		delete(h.clients, c)
	}
	dropped, lost := h.dropped, h.lostRevs
	h.mu.Unlock()
	h.log.Info("live events stopped", "consoles_dropped_for_lagging", dropped, "ticket_revisions_not_sent", lost)
	close(h.stop)
	h.cancel()
	h.unsub()
	h.wg.Wait()
}

// Clients returns how many consoles listen.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// ticketRevision is the ticket store's OnRevision hook: it hands the
// revision over without waiting (the store must never wait for a console).
func (h *Hub) ticketRevision(t *ticket.Ticket, event string) {
	select {
	case h.revisions <- revision{t, event}:
	default:
		h.mu.Lock()
		h.lostRevs++
		h.mu.Unlock()
	}
}

// maxRemoteRevs bounds Hub.remoteRevs; past it the memory starts afresh.
const maxRemoteRevs = 20000

// RemoteRevision delivers a revision of a ticket that another node keeps
// (carried between the nodes by the app) to the consoles of this node,
// exactly as this node's own revisions are delivered: the same "ticket"
// event, to managers and to the operators of its seat or call. The ticket
// need not carry the caller's number or the summary (the event has
// neither). A revision of this node's own tickets, or one not newer than
// the last delivered for that ticket, is ignored. It never blocks.
func (h *Hub) RemoteRevision(t *ticket.Ticket, event string) {
	if t == nil || t.ID == "" {
		return
	}
	if h.o.Node != "" && (t.NodeID == h.o.Node || (t.NodeID == "" && TicketNode(t.ID) == h.o.Node)) {
		return
	}
	h.mu.Lock()
	if last, ok := h.remoteRevs[t.ID]; ok && t.Revision <= last {
		h.mu.Unlock()
		return
	}
	if len(h.remoteRevs) >= maxRemoteRevs {
		clear(h.remoteRevs)
	}
	h.remoteRevs[t.ID] = t.Revision
	h.mu.Unlock()
	c := *t
	c.Caller, c.Summary = "", ""
	h.ticketRevision(&c, event)
}

func (h *Hub) seats() []agent.Seat {
	if h.o.Floor == nil {
		return nil
	}
	return h.o.Floor.Seats()
}

func (h *Hub) queue() []acd.QueueEntry {
	q := []acd.QueueEntry{}
	if h.o.Floor != nil {
		q = append(q, h.o.Floor.Queue()...)
	}
	return q
}

// frameLocked encodes one event with the next id. h.mu is held.
func (h *Hub) frameLocked(name string, payload []byte) []byte {
	h.seq++
	var b strings.Builder
	b.Grow(len(payload) + len(name) + 32)
	b.WriteString("id: ")
	b.WriteString(strconv.FormatUint(h.seq, 10))
	b.WriteString("\nevent: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(payload) // JSON from encoding/json has no newline
	b.WriteString("\n\n")
	return []byte(b.String())
}

// broadcastLocked sends one event to every console that match accepts
// (nil: all); a console whose buffer is full is dropped. h.mu is held.
func (h *Hub) broadcastLocked(name string, payload []byte, match func(u auth.User) bool) {
	var frame []byte
	for c := range h.clients {
		if match != nil && !match(c.user) {
			continue
		}
		if frame == nil {
			frame = h.frameLocked(name, payload)
		}
		select {
		case c.ch <- frame:
		default:
			// Too slow: never wait for it. Its EventSource reconnects and
			// starts again from a snapshot.
			c.drop()
			delete(h.clients, c)
			h.dropped++
			h.log.Warn("live events: console too slow, disconnected", "user", c.user.Name)
		}
	}
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data goes through here; an error is a programming bug.
		return []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	return b
}

type seatEvent struct {
	Seat agent.Seat `json:"seat"`
	At   time.Time  `json:"at"`
}

type queueEvent struct {
	Queue []acd.QueueEntry `json:"queue"`
	At    time.Time        `json:"at"`
}

var (
	errHubClosed = errors.New("live events are stopping")
	errHubFull   = errors.New("too many consoles listening")
)

// join registers a console and queues its snapshot, read from the floor in
// the same critical section as every broadcast, so nothing older than the
// snapshot follows it.
func (h *Hub) join(u auth.User) (*sseClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errHubClosed
	}
	seats := h.seats()
	if len(h.clients) >= h.o.MaxClients {
		return nil, errHubFull
	}
	c := &sseClient{user: u, ch: make(chan []byte, h.o.ClientBuffer+len(seats)+4), gone: make(chan struct{})}
	now := h.o.Now()
	var mine *agent.Seat
	for i := range seats {
		c.ch <- h.frameLocked(EventSeat, marshal(seatEvent{Seat: seats[i], At: now}))
		if u.SeatID != "" && string(seats[i].ID) == u.SeatID {
			mine = &seats[i]
		}
	}
	c.ch <- h.frameLocked(EventQueue, marshal(queueEvent{Queue: h.queue(), At: now}))
	if h.lastStats != nil && u.CanManage() {
		c.ch <- h.frameLocked(EventStats, h.lastStats)
	}
	h.clients[c] = struct{}{}
	h.monitorSnapshotLocked(c)
	if mine != nil && mine.CallID != "" {
		stage := ""
		switch mine.State {
		case agent.Ringing:
			stage = OfferRinging
		case agent.Busy:
			stage = OfferAnswered
		case agent.WrapUp:
			stage = OfferWrapUp
		}
		if stage != "" {
			select {
			case h.offers <- offerJob{stage: stage, seat: mine.ID, ticket: mine.CallID, only: c}:
			default:
			}
		}
	}
	return c, nil
}

func (h *Hub) leave(c *sseClient) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.drop()
}

func (h *Hub) hasManagers() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if c.user.CanManage() {
			return true
		}
	}
	return false
}

// run is the hub's one loop: ACD changes, ticket revisions, the coalescing
// timer of seat and queue snapshots, the stats throttle.
func (h *Hub) run() {
	defer h.wg.Done()
	changes := h.changes
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	armed := false
	dirtySeats := map[agent.SeatID]bool{}
	allSeats, queueDirty := false, false
	stats := time.NewTicker(h.o.StatsEvery)
	defer stats.Stop()
	statsDirty := true
	// The stats are computed beside the loop, one at a time: in a cluster
	// they wait for the other nodes, and seat and queue events must not.
	statsBusy := false
	statsDone := make(chan struct{}, 1)
	arm := func() {
		if !armed {
			flush.Reset(h.o.Coalesce)
			armed = true
		}
	}
	for {
		select {
		case <-h.stop:
			flush.Stop()
			return
		case c, ok := <-changes:
			if !ok {
				changes = nil // the ACD closed
				continue
			}
			if c.Missed > 0 {
				allSeats, queueDirty = true, true
			}
			if c.Kind == acd.SeatChanged {
				dirtySeats[c.Seat.ID] = true
			} else {
				queueDirty = true
				h.callChange(c)
			}
			arm()
		case <-flush.C:
			armed = false
			h.flush(dirtySeats, allSeats, queueDirty)
			clear(dirtySeats)
			allSeats, queueDirty = false, false
		case r := <-h.revisions:
			h.sendTicket(r)
			statsDirty = true
		case <-stats.C:
			if statsDirty && !statsBusy && h.statsFunc() != nil && h.hasManagers() {
				statsDirty, statsBusy = false, true
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					h.sendStats()
					statsDone <- struct{}{}
				}()
			}
		case <-statsDone:
			statsBusy = false
		}
	}
}

// callChange turns a call change into offer work for the seat's consoles.
func (h *Hub) callChange(c acd.Change) {
	job := offerJob{seat: c.Seat.ID, ticket: c.Call.CallID, wait: c.Call.Wait, reason: c.Kind.String()}
	switch c.Kind {
	case acd.CallOffered:
		job.stage = OfferRinging
	case acd.CallAnswered:
		job.stage = OfferAnswered
	case acd.CallNoAnswer, acd.CallDeclined, acd.CallWithdrawn, acd.CallAbandoned:
		job.stage = OfferGone
	default:
		return
	}
	if job.seat == "" || job.ticket == "" {
		return
	}
	select {
	case h.offers <- job:
	default:
		h.log.Warn("live events: offer dropped (screen-pop worker behind)", "seat", job.seat, "ticket_id", job.ticket)
	}
}

// flush sends the seats that changed and the queue, read fresh from the
// floor. It reads under h.mu, as join reads its snapshot, so the reads and
// the sends are in one order: an event is never older than what a console
// already has.
func (h *Hub) flush(dirty map[agent.SeatID]bool, all, queue bool) {
	now := h.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var seats []agent.Seat
	if all || len(dirty) > 0 {
		seats = h.seats()
	}
	var q []acd.QueueEntry
	if queue {
		q = h.queue()
	}
	for i := range seats {
		h.seatCalls[seats[i].ID] = seats[i].CallID
		if all || dirty[seats[i].ID] {
			h.broadcastLocked(EventSeat, marshal(seatEvent{Seat: seats[i], At: now}), nil)
		}
	}
	if queue {
		h.broadcastLocked(EventQueue, marshal(queueEvent{Queue: q, At: now}), nil)
	}
}

// TicketEvent is the payload of a "ticket" event: what a wallboard shows,
// without the caller's number or the summary.
type TicketEvent struct {
	ID           string           `json:"id"`
	Event        string           `json:"event"` // opened, updated, closed
	Revision     int              `json:"revision"`
	Status       string           `json:"status"`
	Outcome      ticket.Optional  `json:"outcome"`
	AbandonStage ticket.Optional  `json:"abandon_stage"`
	EndReason    ticket.Optional  `json:"end_reason"`
	Category     string           `json:"category"`
	Priority     string           `json:"priority"`
	IVRPath      string           `json:"ivr_path"`
	SeatID       ticket.Optional  `json:"seat_id"`
	OpenedAt     time.Time        `json:"opened_at"`
	QueuedAt     *time.Time       `json:"queued_at"`
	AnsweredAt   *time.Time       `json:"answered_at"`
	EndedAt      *time.Time       `json:"ended_at"`
	WaitSeconds  *float64         `json:"wait_seconds"`
	TalkSeconds  *float64         `json:"talk_seconds"`
	Satisfaction *int             `json:"satisfaction"`
	Callback     bool             `json:"callback"`
	Disposition  string           `json:"disposition"`
	LegalDomain  string           `json:"legal_domain"`
	Workorder    ticket.Workorder `json:"workorder"`
	// Transfer is the call's latest transfer leg (the desk follows a
	// consultation or a conference with it); nil when it had none.
	Transfer *ticket.Transfer `json:"transfer,omitempty"`
	At       time.Time        `json:"at"`
}

func (h *Hub) sendTicket(r revision) {
	t := r.t
	ev := TicketEvent{
		ID: t.ID, Event: r.event, Revision: t.Revision, Status: t.Status, Outcome: t.Outcome,
		AbandonStage: t.AbandonStage, EndReason: t.EndReason, Category: t.Category, Priority: t.Priority,
		IVRPath: t.IVRPath, SeatID: t.SeatID, OpenedAt: t.OpenedAt, QueuedAt: t.QueuedAt,
		AnsweredAt: t.AnsweredAt, EndedAt: t.EndedAt, WaitSeconds: t.WaitSeconds, TalkSeconds: t.TalkSeconds,
		Satisfaction: t.Satisfaction, Callback: t.Callback, Disposition: t.Disposition,
		LegalDomain: t.LegalDomain, Workorder: t.Workorder, At: h.o.Now(),
	}
	if n := len(t.Transfers); n > 0 {
		last := t.Transfers[n-1]
		ev.Transfer = &last
	}
	payload := marshal(ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcastLocked(EventTicket, payload, func(u auth.User) bool {
		if u.CanManage() {
			return true
		}
		return u.SeatID != "" && (string(t.SeatID) == u.SeatID || h.seatCalls[agent.SeatID(u.SeatID)] == t.ID)
	})
}

// useStats sets where the stats events come from, unless HubOptions did.
func (h *Hub) useStats(fn func(ctx context.Context) (any, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.statsFn == nil {
		h.statsFn = fn
	}
}

func (h *Hub) statsFunc() func(ctx context.Context) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statsFn
}

func (h *Hub) sendStats() {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	v, err := h.statsFunc()(ctx)
	if err != nil {
		if h.ctx.Err() == nil {
			h.log.Warn("live events: stats", "error", err)
		}
		return
	}
	payload := marshal(v)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastStats = payload
	h.broadcastLocked(EventStats, payload, func(u auth.User) bool { return u.CanManage() })
}

// OfferEvent is the payload of an "offer" event: the screen-pop.
type OfferEvent struct {
	Stage    string           `json:"stage"`
	Seat     agent.SeatID     `json:"seat"`
	TicketID string           `json:"ticket_id"`
	Ticket   *ticket.Ticket   `json:"ticket,omitempty"`
	History  []*ticket.Ticket `json:"history,omitempty"`
	// WaitSeconds is how long the call had waited in the queue when offered.
	WaitSeconds *float64  `json:"wait_seconds,omitempty"`
	Reason      string    `json:"reason,omitempty"` // why a "gone" offer ended (call_no_answer …)
	At          time.Time `json:"at"`
}

func (h *Hub) offerWorker() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case j := <-h.offers:
			h.sendOffer(j)
		}
	}
}

// sendOffer looks the ticket and the caller's history up and sends the
// screen-pop to the consoles of the seat. Operators get the caller's number
// masked (138****0000) in the ticket and in the history.
func (h *Hub) sendOffer(j offerJob) {
	ev := OfferEvent{Stage: j.stage, Seat: j.seat, TicketID: j.ticket, At: h.o.Now()}
	if j.stage == OfferGone {
		ev.Reason = j.reason
	} else if h.o.Lookup != nil {
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		t, hist, err := h.lookup(ctx, j.ticket)
		cancel()
		if err != nil {
			h.log.Warn("live events: screen-pop lookup", "ticket_id", j.ticket, "error", err)
		}
		ev.Ticket, ev.History = t, hist
		if j.wait > 0 {
			ev.WaitSeconds = ticket.Seconds(j.wait)
		}
	}
	full := marshal(ev)
	masked := full
	if ev.Ticket != nil {
		m := ev
		m.Ticket = maskTicket(ev.Ticket)
		m.History = make([]*ticket.Ticket, len(ev.History))
		for i, t := range ev.History {
			m.History[i] = maskTicket(t)
		}
		masked = marshal(m)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if c.user.SeatID != string(j.seat) || (j.only != nil && c != j.only) {
			continue
		}
		payload := masked
		if c.user.CanManage() {
			payload = full
		}
		frame := h.frameLocked(EventOffer, payload)
		select {
		case c.ch <- frame:
		default:
			c.drop()
			delete(h.clients, c)
			h.dropped++
		}
	}
}

// lookup returns the ticket and the caller's other tickets of the last
// historyDays days, newest first (at most 20), wherever they are kept.
func (h *Hub) lookup(ctx context.Context, id string) (*ticket.Ticket, []*ticket.Ticket, error) {
	t, err := h.o.Lookup.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !strings.ContainsAny(t.Caller, "0123456789") {
		return t, nil, nil // anonymous: every anonymous call is not one caller
	}
	list, err := h.o.Lookup.History(ctx, t.Caller, h.o.Now().AddDate(0, 0, -historyDays), 21)
	if err != nil {
		return t, nil, err
	}
	hist := make([]*ticket.Ticket, 0, len(list))
	for _, x := range list {
		if x.ID != t.ID && len(hist) < 20 {
			hist = append(hist, x)
		}
	}
	return t, hist, nil
}

func maskTicket(t *ticket.Ticket) *ticket.Ticket {
	c := *t
	c.Caller = pii.Mask(t.Caller)
	return &c
}

// events serves GET /api/events.
func (s *Server) events(w http.ResponseWriter, r *http.Request, u auth.User) {
	h := s.opt.Events
	if h == nil {
		writeError(w, http.StatusServiceUnavailable, "live events are not configured")
		return
	}
	c, err := h.join(u)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer h.leave(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how long EventSource waits before reconnecting (ms).
	if !write([]byte("retry: 3000\n\n")) {
		return
	}
	token := tokenOf(r)
	beat := time.NewTicker(h.o.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return
		case f := <-c.ch:
			// Write what is queued at once, then flush once.
			_ = rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout))
			if _, err := w.Write(f); err != nil {
				return
			}
		more:
			for {
				select {
				case f = <-c.ch:
					if _, err := w.Write(f); err != nil {
						return
					}
				default:
					break more
				}
			}
			if rc.Flush() != nil {
				return
			}
		case <-beat.C:
			// A session that ended (logout, expiry) ends its stream too.
			if _, err := s.users.Session(r.Context(), token); err != nil {
				return
			}
			if !write([]byte(": ping\n\n")) {
				return
			}
		}
	}
}
