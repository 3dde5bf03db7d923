// Package callback works the callback worklist (SPEC §9a) beyond what the
// ticket store keeps: it calls the citizen back for an operator — their
// own phone rings first, then the citizen is dialled through the trunk
// with the hotline number shown, the two bridged and recorded like any
// call — records results, hands tasks to idle ready operators, and counts.
//
// Toll-fraud guard: the number dialled is always the task's ticket's
// caller, read from the database; nothing a client sends is ever dialled.
//
// Like internal/call it must not import internal/sip or internal/media.
package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/pii"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// Media makes and bridges the two legs of a callback.
type Media interface {
	// OfferFirst makes the operator's leg, offering every codec.
	OfferFirst(seat string, log *slog.Logger) (call.Media, []byte, error)
	// Offer makes the citizen's leg in like's codec.
	Offer(like call.Media, seat string, log *slog.Logger) (call.Media, []byte, error)
	Bridge(a, b call.Media, recordPath string) (func() (time.Duration, error), error)
}

// Trunk places calls to outside numbers (adapt.TrunkDialer).
type Trunk interface {
	Dial(ctx context.Context, number string, offer []byte, onOffer func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (call.SeatCall, error)
}

// Floor is the ACD as the worklist sees it.
type Floor interface {
	Seats() []agent.Seat
	Queue() []acd.QueueEntry
	SetState(id agent.SeatID, state agent.State, reason string) error
}

// Users finds the operator logged in at a seat (their user name).
type Users interface {
	UserBySeat(ctx context.Context, seat string) (string, error)
}

// Errors of Dial.
var (
	ErrBusy       = errors.New("callback: the seat is on a call")
	ErrDialing    = errors.New("callback: this task is being dialled already")
	ErrNoSeat     = errors.New("callback: the user has no seat to ring")
	ErrNoTrunk    = errors.New("callback: no trunk configured (transfer.trunk)")
	ErrUndialable = errors.New("callback: the caller's number cannot be dialled")
)

// ReasonCallback is the not_ready reason of a seat on a callback.
const ReasonCallback = "callback"

// Service runs callbacks. Fields are set once by internal/app.
type Service struct {
	Tickets *ticket.Store
	Media   Media
	Seats   call.SeatDialer
	Trunk   Trunk // nil: no trunk, no callback calls
	Floor   Floor
	Users   Users
	// RecordingPath is the WAV path of a ticket's recording ("" = no
	// recording); a callback's recording goes beside it.
	RecordingPath func(id ticket.ID, opened time.Time) string
	// RingSeat and RingCitizen bound the ringing of each leg.
	RingSeat, RingCitizen time.Duration
	Metrics               *Metrics
	Log                   *slog.Logger

	mu       sync.Mutex
	dialing  map[int64]bool
	onSeat   map[string]bool
	stopping bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

// ErrStopping: the switch is shutting down.
var ErrStopping = errors.New("callback: shutting down")

// Wait waits for the callback calls in progress.
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) stopCh() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	return s.stop
}

// Close ends the callback calls in progress (both legs hung up, the
// outcome written) and refuses new ones; it waits up to bound for them.
func (s *Service) Close(bound time.Duration) {
	stop := s.stopCh()
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(stop)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		s.Log.Warn("callback calls still ending at shutdown")
	}
}

// Result records what a callback came to and counts it.
func (s *Service) Result(ctx context.Context, id int64, user string, manager bool, result string, retryAt *time.Time) (*ticket.Callback, error) {
	c, err := s.Tickets.CallbackResult(ctx, id, user, manager, result, retryAt)
	if err == nil {
		s.Metrics.completed(result, c.State)
	}
	return c, err
}

// Dial starts a callback of task id for user at seat: it checks what can
// be checked at once (the task is the user's or open — then it becomes
// theirs —, the number is dialable, the seat free) and runs the call in
// the background; the outcome lands in the task's history.
func (s *Service) Dial(ctx context.Context, id int64, user, seat string, manager bool) (*ticket.Callback, error) {
	if s.Trunk == nil {
		return nil, ErrNoTrunk
	}
	if seat == "" {
		return nil, ErrNoSeat
	}
	c, err := s.Tickets.Callback(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == vocab.CallbackDone || c.State == vocab.CallbackUnreachable {
		return nil, ticket.ErrCallbackClosed
	}
	if !ticket.Dialable(c.Caller) {
		return nil, ErrUndialable
	}
	number := c.Caller // the task's own number: the only one dialled
	if c.State == vocab.CallbackAssigned && string(c.AssignedTo) != user && !manager {
		return nil, fmt.Errorf("%w (%s)", ticket.ErrCallbackTaken, c.AssignedTo)
	}
	var prior agent.Seat
	found := false
	for _, st := range s.Floor.Seats() {
		if st.ID == agent.SeatID(seat) {
			prior, found = st, true
		}
	}
	switch {
	case !found:
		return nil, ErrNoSeat
	case prior.State == agent.Offline:
		return nil, fmt.Errorf("%w: the seat's phone is not registered", ErrNoSeat)
	case prior.State == agent.Ringing || prior.State == agent.Busy:
		return nil, ErrBusy
	}
	stop := s.stopCh()
	s.mu.Lock()
	if s.dialing == nil {
		s.dialing, s.onSeat = map[int64]bool{}, map[string]bool{}
	}
	switch {
	case s.stopping:
		s.mu.Unlock()
		return nil, ErrStopping
	case s.dialing[id]:
		s.mu.Unlock()
		return nil, ErrDialing
	case s.onSeat[seat]:
		s.mu.Unlock()
		return nil, ErrBusy
	}
	s.dialing[id], s.onSeat[seat] = true, true
	s.mu.Unlock()
	if c.State != vocab.CallbackAssigned || string(c.AssignedTo) != user {
		if c, err = s.Tickets.ClaimCallback(ctx, id, user, manager); err != nil {
			s.release(id, seat)
			return nil, err
		}
		c.Caller = number
	}
	// The ACD offers the seat no call meanwhile.
	if err := s.Floor.SetState(agent.SeatID(seat), agent.NotReady, ReasonCallback); err != nil {
		s.release(id, seat)
		return nil, fmt.Errorf("%w: %v", ErrBusy, err)
	}
	t, err := s.Tickets.Get(ctx, c.TicketID)
	if err != nil {
		s.restore(seat, prior)
		s.release(id, seat)
		return nil, err
	}
	task := *c // the caller's copy is theirs to change
	task.Caller = number
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.release(id, seat)
		defer s.restore(seat, prior)
		s.run(context.WithoutCancel(ctx), &task, t, user, seat, stop)
	}()
	return c, nil
}

func (s *Service) release(id int64, seat string) {
	s.mu.Lock()
	delete(s.dialing, id)
	delete(s.onSeat, seat)
	s.mu.Unlock()
}

// restore puts the seat back where it was before the callback.
func (s *Service) restore(seat string, prior agent.Seat) {
	st, reason := agent.Ready, ""
	if prior.State == agent.NotReady || prior.OperatorNotReady {
		st, reason = agent.NotReady, prior.OperatorReason
		if reason == "" {
			reason = prior.Reason
		}
	}
	if err := s.Floor.SetState(agent.SeatID(seat), st, reason); err != nil {
		s.Log.Warn("callback: seat state not restored", "seat", seat, "error", err)
	}
}

// run is one callback call; its outcome is written to the task's history.
func (s *Service) run(ctx context.Context, c *ticket.Callback, t *ticket.Ticket, user, seat string, stop <-chan struct{}) {
	log := s.Log.With("callback_id", c.ID, "ticket_id", t.ID, "seat", seat)
	entry := ticket.CallbackEntry{By: user}
	defer func() {
		s.Metrics.call(entry.Result)
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := s.Tickets.RecordCallbackCall(wctx, c.ID, entry); err != nil {
			log.Error("callback call not recorded on the ticket", "error", err)
		}
	}()
	log.Info("callback: ringing the operator's phone", "caller", pii.Mask(c.Caller))

	// 1. The operator's phone.
	seatMedia, offer, err := s.Media.OfferFirst(seat, log)
	if err != nil {
		entry.Result = "failed"
		log.Error("callback: media", "error", err)
		return
	}
	defer seatMedia.Close()
	sc, err := s.Seats.Dial(ctx, seat, offer, seatMedia.Reoffer, t, log)
	if err != nil {
		entry.Result = "operator_no_answer"
		log.Warn("callback: operator's phone not reached", "error", err)
		return
	}
	defer sc.Close()
	ans, err := waitAnswer(sc, s.RingSeat, stop)
	if err != nil || ans.Code != 200 {
		entry.Result = "operator_no_answer"
		log.Info("callback: operator did not answer", "code", ans.Code, "error", err)
		return
	}
	defer func() { _ = sc.Hangup(ctx) }()
	if err := seatMedia.ApplyAnswer(ans.SDP, ans.Source); err != nil {
		entry.Result = "failed"
		log.Error("callback: operator's answer", "error", err)
		return
	}

	// 2. The citizen, through the trunk: their own number only.
	citMedia, offer2, err := s.Media.Offer(seatMedia, "", log)
	if err != nil {
		entry.Result = "failed"
		log.Error("callback: media", "error", err)
		return
	}
	defer citMedia.Close()
	cc, err := s.Trunk.Dial(ctx, c.Caller, offer2, citMedia.Reoffer, t, log)
	if err != nil {
		entry.Result = "failed"
		log.Error("callback: trunk", "error", err)
		return
	}
	defer cc.Close()
	// The operator hanging up cancels the citizen's ringing.
	gaveUp := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		select {
		case ev := <-sc.Events():
			if ev.Kind == call.EventHangup {
				close(gaveUp)
			}
		case <-seatMedia.Done():
			close(gaveUp)
		case <-stop:
			close(gaveUp)
		case <-stopWatch:
		}
	}()
	cans, err := waitAnswer(cc, s.RingCitizen, gaveUp)
	close(stopWatch)
	if err != nil || cans.Code != 200 {
		switch {
		case cans.Code == 486 || cans.Code == 600:
			entry.Result = "busy"
		case err == nil || cans.Code == 487 || cans.Code == 480 || cans.Code == 408:
			entry.Result = vocab.ResultNoAnswer
		default:
			entry.Result = "failed"
		}
		log.Info("callback: citizen not reached", "code", cans.Code, "error", err)
		return
	}
	defer func() { _ = cc.Hangup(ctx) }()
	if err := citMedia.ApplyAnswer(cans.SDP, cans.Source); err != nil {
		entry.Result = "failed"
		log.Error("callback: citizen's answer", "error", err)
		return
	}
	entry.Result = "answered"
	rec := ""
	if s.RecordingPath != nil {
		if p := s.RecordingPath(t.ID, t.OpenedAt); p != "" {
			rec = fmt.Sprintf("%s-callback-%d-%d.wav", strings.TrimSuffix(p, ".wav"), c.ID, time.Now().UnixMilli())
		}
	}
	// Citizen left, operator right, like an inbound call.
	stopBridge, err := s.Media.Bridge(citMedia, seatMedia, rec)
	if err != nil {
		log.Error("callback: bridge", "error", err)
		return
	}
	start := time.Now()
	log.Info("callback: connected")
	for ended := false; !ended; {
		select {
		case ev := <-sc.Events():
			ended = ev.Kind != call.EventDigit
		case ev := <-cc.Events():
			ended = ev.Kind != call.EventDigit
		case <-seatMedia.Done():
			ended = true
		case <-citMedia.Done():
			ended = true
		case <-stop:
			ended = true
		}
	}
	recorded, err := stopBridge()
	if err != nil {
		log.Error("callback: recording", "error", err)
	}
	entry.TalkSeconds = ticket.Seconds(time.Since(start))
	if rec != "" && recorded > 0 {
		entry.Recording = rec[strings.LastIndexByte(rec, '/')+1:]
	}
	log.Info("callback: ended", "talk_seconds", *entry.TalkSeconds)
}

// waitAnswer waits for a leg's final answer, cancelling it after ring or
// when giveUp closes.
func waitAnswer(sc call.SeatCall, ring time.Duration, giveUp <-chan struct{}) (call.SeatAnswer, error) {
	cancel := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(cancel) }) }
	timer := time.AfterFunc(ring, stop)
	defer timer.Stop()
	done := make(chan struct{})
	defer close(done)
	if giveUp != nil {
		go func() {
			select {
			case <-giveUp:
				stop()
			case <-done:
			}
		}()
	}
	ans, err := sc.Wait(cancel)
	if err == nil && ans.Late {
		// The answer crossed our CANCEL: not a call.
		return call.SeatAnswer{Code: 487}, nil
	}
	return ans, err
}

// AssignIdle hands open tasks to ready operators between calls: only
// while no caller waits in the queue (callers first), the task due first
// to the ready seat idle longest, one task at a time per operator (none
// to one who has a task assigned). It returns how many were assigned.
func (s *Service) AssignIdle(ctx context.Context) (int, error) {
	if len(s.Floor.Queue()) > 0 {
		return 0, nil
	}
	var ready []agent.Seat
	for _, st := range s.Floor.Seats() {
		if st.State == agent.Ready {
			ready = append(ready, st)
		}
	}
	sort.SliceStable(ready, func(i, j int) bool { return ready[i].IdleSince.Before(ready[j].IdleSince) })
	n := 0
	for _, st := range ready {
		user, err := s.Users.UserBySeat(ctx, string(st.ID))
		if err != nil || user == "" {
			continue
		}
		if has, err := s.Tickets.HasAssigned(ctx, user); err != nil || has {
			continue
		}
		c, err := s.Tickets.AssignOldest(ctx, user)
		if errors.Is(err, ticket.ErrCallbackTaken) {
			continue
		}
		if err != nil {
			return n, err
		}
		if c == nil {
			return n, nil // nothing open
		}
		n++
		s.Log.Info("callback task assigned", "callback_id", c.ID, "ticket_id", c.TicketID, "user", user, "seat", st.ID)
	}
	return n, nil
}

// RunAssigner calls AssignIdle every period until ctx ends.
func (s *Service) RunAssigner(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.AssignIdle(ctx); err != nil {
				s.Log.Warn("callback assignment", "error", err)
			}
		}
	}
}

// Metrics are the worklist's Prometheus series.
type Metrics struct {
	done  *prometheus.CounterVec
	calls *prometheus.CounterVec
}

// NewMetrics registers hotline_callbacks_open, _overdue (read from the
// database at each scrape), _completed_total{result} and _calls_total{outcome}.
func NewMetrics(reg prometheus.Registerer, tickets *ticket.Store, log *slog.Logger) *Metrics {
	m := &Metrics{
		done: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_callbacks_completed_total",
			Help: "Callback results recorded by operators, by result (reached, no_answer, wrong_number, retry)."}, []string{"result"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_callback_calls_total",
			Help: "Callback calls placed, by outcome (answered, no_answer, busy, operator_no_answer, failed)."}, []string{"outcome"}),
	}
	for _, r := range vocab.CallbackResults.Values() {
		m.done.WithLabelValues(r)
	}
	for _, o := range []string{"answered", vocab.ResultNoAnswer, "busy", "operator_no_answer", "failed"} {
		m.calls.WithLabelValues(o)
	}
	count := func(pick func(ticket.CallbackCounts) int) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			now := time.Now().In(tickets.Location())
			day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
			c, err := tickets.CountCallbacks(ctx, now, day)
			if err != nil {
				log.Warn("callback metrics", "error", err)
				return 0
			}
			return float64(pick(c))
		}
	}
	reg.MustRegister(m.done, m.calls,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_callbacks_open", Help: "Callback tasks not closed (open or assigned)."},
			count(func(c ticket.CallbackCounts) int { return c.Open })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_callbacks_overdue", Help: "Callback tasks not closed and past their due time."},
			count(func(c ticket.CallbackCounts) int { return c.Overdue })))
	return m
}

func (m *Metrics) call(outcome string) {
	if m != nil {
		m.calls.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) completed(result, _ string) {
	if m != nil {
		m.done.WithLabelValues(result).Inc()
	}
}
