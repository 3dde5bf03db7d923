package call

// Supervision (SPEC §9a, POST /api/calls/{id}/monitor): a manager joins a
// connected call on their own phone (a seat of role manager) to listen,
// whisper to the operator, or barge in. The switch rings the manager's
// phone and, once it answers, mixes it into the call (MediaFactory's
// Mixing): who hears whom follows the mode, and a new mode applies at once.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/ticket"
)

// Monitor modes (the "mode" of POST /api/calls/{id}/monitor).
const (
	MonitorListen  = "listen"  // the manager hears citizen and operator; nobody hears the manager
	MonitorWhisper = "whisper" // as listen, and the operator (only) hears the manager
	MonitorBarge   = "barge"   // three-way: everyone hears everyone
	MonitorOff     = "off"     // ends it
)

// MonitorModes are the modes that join a call, in the order of the metric's labels.
var MonitorModes = []string{MonitorListen, MonitorWhisper, MonitorBarge}

// ValidMonitorMode reports whether m is listen, whisper or barge.
func ValidMonitorMode(m string) bool {
	return m == MonitorListen || m == MonitorWhisper || m == MonitorBarge
}

// Mixing is what a MediaFactory does to take more than two parties into a
// connected call (adapt.MediaFactory: a media.Mixer). The caller's Media
// names the call.
type Mixing interface {
	// Join adds party (made by Offer, started by ApplyAnswer) to the call
	// that Bridge made for caller; it hears nobody and nobody hears it until
	// SetHears.
	Join(caller, party Media) error
	// SetHears sets who hears whom among caller, seat and joined parties.
	SetHears(caller Media, hears func(listener, source Media) bool) error
	// Leave takes party out; the last one leaving makes it a plain
	// two-party relay again.
	Leave(caller, party Media)
}

// Errors of Monitor.
var (
	ErrMonitorBusy  = errors.New("call: another manager is supervising this call")
	ErrNoMixing     = errors.New("call: this media cannot mix more than two parties")
	ErrBadMonitor   = errors.New("call: monitor mode must be listen, whisper or barge")
	ErrNotMonitored = errors.New("call: nobody is supervising this call")
)

// MonitorNotice tells the operator's desk and the wallboard what
// supervision does (the law requires telling the monitored worker).
type MonitorNotice struct {
	TicketID    string    `json:"ticket_id"`
	Seat        string    `json:"seat"` // the operator's seat
	Manager     string    `json:"manager"`
	ManagerSeat string    `json:"manager_seat"`
	Mode        string    `json:"mode"`  // listen, whisper, barge; off once ended
	State       string    `json:"state"` // ringing, active, ended
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// Monitor states.
const (
	MonitorRinging = "ringing"
	MonitorActive  = "active"
	MonitorEnded   = "ended"
)

// monitorRing bounds how long the manager's phone rings.
const monitorRing = 30 * time.Second

// Supervision runs the monitor sessions of this node's connected calls.
// Set its fields before calls arrive; SetNotify may come later.
type Supervision struct {
	Media  MediaFactory // must also implement Mixing
	Dialer SeatDialer
	Log    *slog.Logger
	// RingTimeout bounds the manager phone's ringing (default 30 s).
	RingTimeout time.Duration

	mu     sync.Mutex
	calls  map[ticket.ID]*liveCall
	notify func(MonitorNotice)
	total  *prometheus.CounterVec
}

// NewSupervision registers hotline_monitor_sessions_total{mode} on reg.
func NewSupervision(reg prometheus.Registerer) (*Supervision, error) {
	s := &Supervision{calls: map[ticket.ID]*liveCall{}}
	s.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_monitor_sessions_total",
		Help: "Supervision sessions joined (a manager's phone answered), by mode; a change of mode counts in the new mode.",
	}, []string{"mode"})
	for _, m := range MonitorModes {
		s.total.WithLabelValues(m)
	}
	if reg != nil {
		if err := reg.Register(s.total); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetNotify sets where notices go (the live events hub).
func (s *Supervision) SetNotify(fn func(MonitorNotice)) {
	s.mu.Lock()
	s.notify = fn
	s.mu.Unlock()
}

func (s *Supervision) send(n MonitorNotice) {
	n.At = time.Now()
	s.mu.Lock()
	fn := s.notify
	s.mu.Unlock()
	if fn != nil {
		fn(n)
	}
}

// liveCall is one connected call that can be supervised.
type liveCall struct {
	t      *ticket.Ticket
	caller Media
	seat   Media
	seatID string

	mu  sync.Mutex
	mon *monitorSession
}

type monitorSession struct {
	manager, managerSeat string
	mode                 string
	media                Media // the manager's leg, once answered
	joined               bool
	stop                 chan struct{}
	stopOnce             sync.Once
	done                 chan struct{}
}

func (m *monitorSession) end() { m.stopOnce.Do(func() { close(m.stop) }) }

// connected registers a bridged call; ended unregisters it and ends any
// supervision. Both are nil-safe hooks of callRun.connected.
func (s *Supervision) connected(t *ticket.Ticket, caller, seat Media, seatID string) *liveCall {
	if s == nil || t == nil {
		return nil
	}
	l := &liveCall{t: t, caller: caller, seat: seat, seatID: seatID}
	s.mu.Lock()
	s.calls[t.ID] = l
	s.mu.Unlock()
	return l
}

func (s *Supervision) ended(l *liveCall) {
	if s == nil || l == nil {
		return
	}
	s.mu.Lock()
	if s.calls[l.t.ID] == l {
		delete(s.calls, l.t.ID)
	}
	s.mu.Unlock()
	l.mu.Lock()
	mon := l.mon
	l.mu.Unlock()
	if mon != nil {
		mon.end()
		<-mon.done
	}
}

// Live reports whether the ticket's call is connected on this node, and
// on which seat.
func (s *Supervision) Live(id ticket.ID) (seat string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.calls[id]
	if !ok {
		return "", false
	}
	return l.seatID, true
}

// Monitor starts supervision of the ticket's call by manager on their
// phone managerSeat in mode, or changes the mode of their session. It
// returns the session's state: ringing (the phone is being rung) or
// active.
func (s *Supervision) Monitor(ctx context.Context, id ticket.ID, manager, managerSeat, mode string) (string, error) {
	if !ValidMonitorMode(mode) {
		return "", ErrBadMonitor
	}
	mix, ok := s.Media.(Mixing)
	if !ok {
		return "", ErrNoMixing
	}
	s.mu.Lock()
	l := s.calls[id]
	s.mu.Unlock()
	if l == nil {
		return "", ErrNotLive
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if mon := l.mon; mon != nil {
		if mon.manager != manager {
			return "", ErrMonitorBusy
		}
		mon.mode = mode
		if !mon.joined {
			return MonitorRinging, nil
		}
		if err := mix.SetHears(l.caller, l.hears(mon)); err != nil {
			return "", err
		}
		s.total.WithLabelValues(mode).Inc()
		s.send(l.notice(mon, MonitorActive, ""))
		return MonitorActive, nil
	}
	mon := &monitorSession{manager: manager, managerSeat: managerSeat, mode: mode, stop: make(chan struct{}), done: make(chan struct{})}
	l.mon = mon
	s.send(l.notice(mon, MonitorRinging, ""))
	go s.run(context.WithoutCancel(ctx), l, mon, mix)
	return MonitorRinging, nil
}

// refresh sets the supervision matrix of the ticket's call again, if a
// manager has joined it: the call's parties changed (a conference), and
// the manager keeps their mode (a listener stays unheard). Nil-safe.
func (s *Supervision) refresh(id ticket.ID) {
	if s == nil {
		return
	}
	mix, ok := s.Media.(Mixing)
	s.mu.Lock()
	l := s.calls[id]
	s.mu.Unlock()
	if l == nil || !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mon != nil && l.mon.joined {
		_ = mix.SetHears(l.caller, l.hears(l.mon))
	}
}

// Stop ends manager's supervision of the ticket's call.
func (s *Supervision) Stop(id ticket.ID, manager string) error {
	s.mu.Lock()
	l := s.calls[id]
	s.mu.Unlock()
	if l == nil {
		return ErrNotLive
	}
	l.mu.Lock()
	mon := l.mon
	l.mu.Unlock()
	if mon == nil {
		return ErrNotMonitored
	}
	if mon.manager != manager {
		return ErrMonitorBusy
	}
	mon.end()
	<-mon.done
	return nil
}

// hears is the mode's matrix; l.mu is held.
func (l *liveCall) hears(mon *monitorSession) func(listener, source Media) bool {
	mode, sup := mon.mode, mon.media
	return func(li, so Media) bool {
		switch {
		case li == so:
			return false
		case li == sup: // the manager hears the call in every mode
			return true
		case so != sup: // citizen and operator hear each other
			return true
		case mode == MonitorBarge:
			return true
		case mode == MonitorWhisper:
			return li == l.seat
		}
		return false
	}
}

func (l *liveCall) notice(mon *monitorSession, state, reason string) MonitorNotice {
	mode := MonitorOff
	if state != MonitorEnded {
		mode = mon.mode // l.mu is held
	}
	return MonitorNotice{TicketID: l.t.ID, Seat: l.seatID, Manager: mon.manager, ManagerSeat: mon.managerSeat, Mode: mode, State: state, Reason: reason}
}

// run rings the manager's phone, joins it, and takes it out again at the
// end (manager hangs up, Stop, the call ends).
func (s *Supervision) run(ctx context.Context, l *liveCall, mon *monitorSession, mix Mixing) {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("ticket_id", l.t.ID, "manager_seat", mon.managerSeat)
	reason := ""
	defer func() {
		l.mu.Lock()
		if l.mon == mon {
			l.mon = nil
		}
		l.mu.Unlock()
		s.send(l.notice(mon, MonitorEnded, reason))
		close(mon.done)
	}()
	mm, offer, err := s.Media.Offer(l.caller, mon.managerSeat, log)
	if err != nil {
		reason = "media"
		log.Error("supervision: no media for the manager's phone", "error", err)
		return
	}
	defer mm.Close()
	sc, err := s.Dialer.Dial(ctx, mon.managerSeat, offer, mm.Reoffer, l.t, log)
	if err != nil {
		reason = "unreachable"
		log.Warn("supervision: cannot ring the manager's phone", "error", err)
		return
	}
	defer sc.Close()
	ring := s.RingTimeout
	if ring <= 0 {
		ring = monitorRing
	}
	cancel := make(chan struct{})
	var cancelOnce sync.Once
	stopRinging := func() { cancelOnce.Do(func() { close(cancel) }) }
	timer := time.AfterFunc(ring, stopRinging)
	ringDone := make(chan struct{})
	defer close(ringDone)
	go func() {
		select {
		case <-mon.stop:
			stopRinging()
		case <-ringDone:
		}
	}()
	ans, err := sc.Wait(cancel)
	timer.Stop()
	select {
	case <-mon.stop:
		reason = "cancelled"
		if err == nil && ans.Code >= 200 && ans.Code < 300 {
			_ = sc.Hangup(ctx)
		}
		return
	default:
	}
	if err != nil || ans.Code < 200 || ans.Code >= 300 {
		reason = "no_answer"
		log.Info("supervision: the manager's phone did not answer", "code", ans.Code, "error", err)
		return
	}
	defer func() { _ = sc.Hangup(ctx) }()
	if err := mm.ApplyAnswer(ans.SDP, ans.Source); err != nil {
		reason = "media"
		log.Error("supervision: the manager phone's answer", "error", err)
		return
	}
	l.mu.Lock()
	mode := mon.mode
	mon.media = mm
	err = mix.Join(l.caller, mm)
	if err == nil {
		err = mix.SetHears(l.caller, l.hears(mon))
	}
	if err == nil {
		mon.joined = true
		s.total.WithLabelValues(mon.mode).Inc()
		s.send(l.notice(mon, MonitorActive, ""))
	}
	l.mu.Unlock()
	if err != nil {
		reason = "media"
		log.Error("supervision: joining the call failed", "error", err)
		mix.Leave(l.caller, mm)
		return
	}
	log.Info("supervision joined", "mode", mode)
	defer mix.Leave(l.caller, mm)
	for {
		select {
		case <-mon.stop:
			reason = "stopped"
			return
		case <-mm.Done():
			reason = "media_ended"
			return
		case ev := <-sc.Events():
			if ev.Kind == EventHangup {
				reason = "manager_hung_up"
				return
			}
		}
	}
}
