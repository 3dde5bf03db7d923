package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/vocab"
)

// Transfer modes (SPEC §9a).
const (
	ModeBlind      = "blind"
	ModeConsult    = "consult"
	ModeConference = "conference"
)

// Kinds of transfer target.
const (
	KindNumber = "number"
	KindQueue  = "queue"
	KindSeat   = "seat"
)

// Outcomes of a transfer (ticket.Transfer.Outcome, hotline_transfers_total).
const (
	XferRinging    = "ringing"
	XferConsulting = "consulting"
	XferConnected  = "connected"
	XferRequeued   = "requeued"
	XferCancelled  = "cancelled"
	XferNoAnswer   = "no_answer"
	XferFailed     = "failed"
	XferRefused    = "refused"
)

// TransferTarget is a configured destination (transfer.targets): exactly
// one of Number (dialled through the trunk), Queue (a skill) or Seat.
type TransferTarget struct {
	Name, Number, Queue, Seat string
}

// Kind is KindNumber, KindQueue or KindSeat.
func (t TransferTarget) Kind() string {
	switch {
	case t.Number != "":
		return KindNumber
	case t.Queue != "":
		return KindQueue
	}
	return KindSeat
}

// OutsideDialer dials an outside number through the trunk
// (transfer.trunk), presenting transfer.caller_id. The call layer hands it
// only the numbers of configured targets.
type OutsideDialer interface {
	Dial(ctx context.Context, number string, offer []byte, onOffer func([]byte) ([]byte, error), t *ticket.Ticket, log *slog.Logger) (SeatCall, error)
}

// Mover is what a MediaFactory needs to transfer: Move swaps the leg the
// caller's bridge relays to (nil: the caller alone, on hold), the call's
// recording going on; Pair relays two legs unrecorded (operator and target
// while the caller is held).
type Mover interface {
	Move(caller, other Media) error
	Pair(x, y Media) (stop func(), err error)
}

// Errors of a transfer request (the HTTP API maps them).
var (
	ErrUnknownTarget    = errors.New("call: not a configured transfer target")
	ErrBadMode          = errors.New(`call: mode must be "blind", "consult" or "conference"`)
	ErrModeUnsupported  = errors.New("call: this media cannot hold a three-way conference")
	ErrTransferBusy     = errors.New("call: a transfer of this call is in progress")
	ErrNoConsult        = errors.New("call: no consultation in progress")
	ErrNotAnsweredYet   = errors.New("call: the target has not answered yet")
	ErrTransferDisabled = errors.New("call: transfers are not available")
	ErrTargetFailed     = errors.New("call: the target cannot be dialled")
	ErrTargetBusy       = errors.New("call: the target seat is on a call or ringing")
	ErrTargetOffline    = errors.New("call: the target seat's phone is not registered")
)

// ReasonTransfer is the not_ready reason of a seat talking to a caller
// transferred to it: the ACD offers it no queue call meanwhile.
const ReasonTransfer = "transfer"

// SeatFloor is the ACD as a transfer to a seat sees it.
type SeatFloor interface {
	Seats() []agent.Seat
	SetState(id agent.SeatID, state agent.State, reason string) error
}

// Transfers keeps the calls that can be transferred now (connected to an
// operator on this node) and the configured targets.
type Transfers struct {
	Targets []TransferTarget
	// Outside dials number targets; nil: none can be reached.
	Outside OutsideDialer
	// HoldPrompt is what the caller hears while the operator consults.
	HoldPrompt string
	// RingTimeout bounds how long a target rings (default 30s).
	RingTimeout time.Duration
	// Floor, when set, is asked before a seat target is rung: a seat on a
	// call or ringing is refused (ErrTargetBusy), an unregistered one too
	// (ErrTargetOffline); a free one goes not_ready (ReasonTransfer) while
	// the transferred caller has it, and ready again after.
	Floor SeatFloor

	counter *prometheus.CounterVec

	mu   sync.Mutex
	live map[ticket.ID]*xferState
}

// NewTransfers registers hotline_transfers_total on reg.
func NewTransfers(reg prometheus.Registerer, targets []TransferTarget, outside OutsideDialer) (*Transfers, error) {
	x := &Transfers{
		Targets: targets, Outside: outside, HoldPrompt: "legal_info_1", RingTimeout: 30 * time.Second,
		live: map[ticket.ID]*xferState{},
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_transfers_total",
			Help: "Transfers of calls, by mode (blind, consult, conference: the target added to the call, three-way), target kind (number, queue, seat; unknown when refused) and outcome (connected, requeued, cancelled, no_answer, failed, refused).",
		}, []string{"mode", "kind", "outcome"}),
	}
	for _, m := range []string{ModeBlind, ModeConsult, ModeConference} {
		for _, k := range []string{KindNumber, KindQueue, KindSeat} {
			for _, o := range []string{XferConnected, XferRequeued, XferCancelled, XferNoAnswer, XferFailed} {
				x.counter.WithLabelValues(m, k, o)
			}
		}
		x.counter.WithLabelValues(m, "unknown", XferRefused)
	}
	if reg != nil {
		if err := reg.Register(x.counter); err != nil {
			return nil, fmt.Errorf("call: metrics: %w", err)
		}
	}
	return x, nil
}

// Refused counts a request for an unconfigured target (a REFER's).
func (x *Transfers) Refused(mode string) { x.count(mode, "unknown", XferRefused) }

func (x *Transfers) count(mode, kind, outcome string) {
	if x.counter != nil {
		x.counter.WithLabelValues(mode, kind, outcome).Inc()
	}
}

// Target is the configured target called name.
func (x *Transfers) Target(name string) (TransferTarget, bool) {
	for _, t := range x.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return TransferTarget{}, false
}

// Match finds the configured target a REFER's Refer-To names: its user
// part is a target's name, outside number or seat. Nothing else matches.
func (x *Transfers) Match(user string) (TransferTarget, bool) {
	if user == "" {
		return TransferTarget{}, false
	}
	for _, t := range x.Targets {
		if t.Name == user || t.Number != "" && t.Number == user || t.Seat != "" && t.Seat == user {
			return t, true
		}
	}
	return TransferTarget{}, false
}

// Operator is the seat talking to the citizen of ticket id, while the call
// is connected on this node.
func (x *Transfers) Operator(id ticket.ID) (string, bool) {
	if x == nil {
		return "", false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.live[id]
	if !ok {
		return "", false
	}
	return s.seat, true
}

// OperatorCall finds the ticket whose operator leg is seat's (a REFER from
// that seat's phone).
func (x *Transfers) OperatorCall(seat string) (ticket.ID, bool) {
	if x == nil {
		return "", false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, s := range x.live {
		if s.seat == seat {
			return id, true
		}
	}
	return "", false
}

// Request asks the call of ticket id to transfer (op "transfer", with
// target and mode), or to complete or cancel a consultation. by is who
// asked (a seat or user name), via "console" or "refer". It returns once
// the call has acted on it: the target is being dialled (or the call is
// back in a queue), or the consultation completed or cancelled.
func (x *Transfers) Request(ctx context.Context, id ticket.ID, op, target, mode, by, via string) error {
	return x.RequestNotify(ctx, id, op, target, mode, by, via, nil)
}

// RequestNotify is Request with accepted called, in the call's goroutine,
// once the call has taken the request on and before the operator's leg is
// hung up (a REFER's final NOTIFY goes out then).
func (x *Transfers) RequestNotify(ctx context.Context, id ticket.ID, op, target, mode, by, via string, accepted func()) error {
	if x == nil {
		return ErrTransferDisabled
	}
	r := xferReq{op: op, mode: mode, by: by, via: via, reply: make(chan error, 1), accepted: accepted}
	if op == "transfer" {
		switch mode {
		case ModeBlind, ModeConsult, ModeConference:
		default:
			return ErrBadMode
		}
		t, ok := x.Target(target)
		if !ok {
			x.count(mode, "unknown", XferRefused)
			return fmt.Errorf("%w: %q", ErrUnknownTarget, target)
		}
		if t.Kind() == KindNumber && x.Outside == nil {
			return fmt.Errorf("%w: no transfer.trunk", ErrTargetFailed)
		}
		if t.Kind() == KindSeat {
			if _, _, err := x.seatFree(t.Seat); err != nil {
				return err // nothing dialled, nothing on the ticket
			}
		}
		r.target = t
	}
	x.mu.Lock()
	s, ok := x.live[id]
	x.mu.Unlock()
	if !ok {
		return ErrNotLive
	}
	select {
	case s.reqs <- r:
	case <-s.gone:
		return ErrNotLive
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type xferReq struct {
	op, mode, by, via string
	target            TransferTarget
	reply             chan error
	accepted          func()
}

// accept: the request is taken on.
func (r xferReq) accept() {
	if r.accepted != nil {
		r.accepted()
	}
	r.reply <- nil
}

// Consulting reports whether the operator of ticket id is consulting a
// target now (a REFER with Replaces then completes it).
func (x *Transfers) Consulting(id ticket.ID) bool {
	if x == nil {
		return false
	}
	x.mu.Lock()
	s, ok := x.live[id]
	x.mu.Unlock()
	return ok && s.consulting.Load()
}

// xferState is a connected call's side of transfers (nil-safe: without
// Transfers configured nothing happens).
type xferState struct {
	x    *Transfers
	id   ticket.ID
	seat string
	reqs chan xferReq
	gone chan struct{}
	once sync.Once

	// released: the operator's leg ended through a transfer (its wrap-up
	// reported); finished: the call went on from there (back in a queue)
	// and is closed; partyHungUp: the target hung up on the citizen.
	released, finished, partyHungUp bool
	consulting                      atomic.Bool
}

// transferable registers the call, connected to seat, for transfers.
func (c *callRun) transferable(seat string) *xferState {
	x := c.s.Transfer
	if x == nil || c.t == nil {
		return nil
	}
	s := &xferState{x: x, id: c.t.ID, seat: seat, reqs: make(chan xferReq), gone: make(chan struct{})}
	x.mu.Lock()
	x.live[s.id] = s
	x.mu.Unlock()
	return s
}

func (s *xferState) requests() <-chan xferReq {
	if s == nil {
		return nil
	}
	return s.reqs
}

// leave: the operator no longer has the call (ended, or released).
func (s *xferState) leave() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.x.mu.Lock()
		if s.x.live[s.id] == s {
			delete(s.x.live, s.id)
		}
		s.x.mu.Unlock()
		close(s.gone)
	})
}

func (s *xferState) isReleased() bool { return s != nil && s.released }
func (s *xferState) isFinished() bool { return s != nil && s.finished }

// operatorLeg is the connected operator as a transfer sees it.
type operatorLeg struct {
	o          offer
	sc         SeatCall
	media      Media
	answeredAt time.Time
	// hangup is closed when the operator hangs up from the console: the
	// same as the seat phone hanging up.
	hangup <-chan struct{}
}

// party is a leg dialled toward a transfer target.
type party struct {
	t      TransferTarget
	sc     SeatCall
	media  Media
	result chan error // one value: nil once answered and media started
	cancel chan struct{}
	once   sync.Once
	// release gives a seat target back to the ACD (nil: nothing held).
	release     func()
	releaseOnce sync.Once
}

func (p *party) stop(ctx context.Context) {
	p.once.Do(func() { close(p.cancel) })
	_ = p.sc.Hangup(context.WithoutCancel(ctx))
	p.sc.Close()
	p.media.Close()
	if p.release != nil {
		p.releaseOnce.Do(p.release)
	}
}

// seatFree finds a seat target on the floor and refuses one that is
// offline, ringing or on a call; found false: no floor, or no such ACD seat.
func (x *Transfers) seatFree(seat string) (agent.Seat, bool, error) {
	if x.Floor == nil {
		return agent.Seat{}, false, nil
	}
	for _, st := range x.Floor.Seats() {
		if st.ID != agent.SeatID(seat) {
			continue
		}
		switch st.State {
		case agent.Offline:
			return st, true, fmt.Errorf("%w: %s", ErrTargetOffline, seat)
		case agent.Ringing, agent.Busy:
			return st, true, fmt.Errorf("%w: %s is %s", ErrTargetBusy, seat, st.State)
		}
		return st, true, nil
	}
	return agent.Seat{}, false, nil
}

// holdSeat checks a seat target on the floor and keeps the ACD from
// offering it a call while the transfer has it; the function returned
// gives it back (ready again, unless someone changed its state since).
func (x *Transfers) holdSeat(seat string, log *slog.Logger) (func(), error) {
	prior, found, err := x.seatFree(seat)
	switch {
	case err != nil:
		return nil, err
	case !found: // no floor, or not an ACD seat: nothing to hold
		return nil, nil
	case prior.State == agent.NotReady:
		return nil, nil // takes no queue calls anyway; a transfer may ring it
	}
	if err := x.Floor.SetState(agent.SeatID(seat), agent.NotReady, ReasonTransfer); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTargetBusy, seat, err)
	}
	return func() {
		for _, st := range x.Floor.Seats() {
			if st.ID == agent.SeatID(seat) && st.State == agent.NotReady && st.Reason == ReasonTransfer {
				if err := x.Floor.SetState(st.ID, agent.Ready, ""); err != nil {
					log.Warn("transfer: the target seat was not made ready again", "seat", seat, "error", err)
				}
			}
		}
	}, nil
}

// dialParty dials target t (seat or outside number) with a new media leg
// speaking the caller's codec; the answer arrives on p.result.
func (c *callRun) dialParty(ctx context.Context, t TransferTarget, log *slog.Logger) (*party, error) {
	x := c.s.Transfer
	seatID := t.Seat
	var release func()
	if t.Kind() == KindSeat {
		var err error
		if release, err = x.holdSeat(t.Seat, log); err != nil {
			return nil, err
		}
	}
	m, offerSDP, err := c.s.Media.Offer(c.media, seatID, log)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, fmt.Errorf("%w: media: %w", ErrTargetFailed, err)
	}
	var sc SeatCall
	switch t.Kind() {
	case KindSeat:
		sc, err = c.s.Dialer.Dial(ctx, t.Seat, offerSDP, m.Reoffer, c.t, log)
	case KindNumber:
		sc, err = x.Outside.Dial(ctx, t.Number, offerSDP, m.Reoffer, c.t, log)
	default:
		err = errors.New("not a leg")
	}
	if err != nil {
		m.Close()
		if release != nil {
			release()
		}
		return nil, fmt.Errorf("%w: %w", ErrTargetFailed, err)
	}
	p := &party{t: t, sc: sc, media: m, result: make(chan error, 1), cancel: make(chan struct{}), release: release}
	ring := x.RingTimeout
	if ring <= 0 {
		ring = 30 * time.Second
	}
	go func() {
		timer := time.AfterFunc(ring, func() { p.once.Do(func() { close(p.cancel) }) })
		defer timer.Stop()
		ans, err := sc.Wait(p.cancel)
		switch {
		case err != nil:
			p.result <- err
		case ans.Code < 200 || ans.Code >= 300:
			p.result <- fmt.Errorf("answered %d", ans.Code)
		case ans.Late:
			p.result <- errors.New("answered after we gave up")
		default:
			p.result <- m.ApplyAnswer(ans.SDP, ans.Source)
		}
	}()
	return p, nil
}

// recordTransfer writes entry i of the ticket's transfers (set, not
// appended: a revision may be applied twice).
func (c *callRun) recordTransfer(ctx context.Context, i int, e ticket.Transfer) {
	c.update(ctx, func(t *ticket.Ticket) {
		list := slices.Clone(t.Transfers)
		if i < len(list) {
			list[i] = e
		} else {
			list = append(list, e)
		}
		t.Transfers = list
	})
}

// transfer acts on a request while the operator talks to the citizen. It
// returns true when the call is over for connected (the citizen talked to
// the target until one hung up, the caller is gone, or the call went back
// to a queue and is closed): s says which.
func (c *callRun) transfer(ctx, cctx context.Context, ch *channel, s *xferState, r xferReq, op operatorLeg) bool {
	if r.op != "transfer" {
		r.reply <- ErrNoConsult
		return false
	}
	mover, ok := c.s.Media.(Mover)
	if !ok {
		r.reply <- ErrTransferDisabled
		return false
	}
	t := r.target
	log := c.log.With("transfer_to", t.Name, "mode", r.mode)
	x := c.s.Transfer
	i := len(c.t.Transfers)
	e := ticket.Transfer{Target: t.Name, Kind: t.Kind(), Mode: r.mode, By: r.by, Via: r.via, StartedAt: *ticket.TimePtr(c.s.Now()), Outcome: XferRinging}
	done := func(outcome string) {
		e.Outcome = outcome
		e.EndedAt = ticket.TimePtr(c.s.Now())
		c.recordTransfer(ctx, i, e)
		x.count(r.mode, t.Kind(), outcome)
		log.Info("transfer", "outcome", outcome)
	}

	var mixing Mixing
	if r.mode == ModeConference {
		if mixing, ok = c.s.Media.(Mixing); !ok {
			r.reply <- ErrModeUnsupported
			return false
		}
	}

	if t.Kind() == KindQueue {
		if r.mode != ModeBlind {
			r.reply <- fmt.Errorf("%w: a queue is transferred to blind", ErrBadMode)
			return false
		}
		r.accept()
		c.releaseOperator(ctx, s, op, mover)
		done(XferRequeued)
		c.requeue(ctx, cctx, ch, t.Queue)
		s.finished = true
		return true
	}

	p, err := c.dialParty(ctx, t, log)
	if err != nil {
		log.Warn("transfer target cannot be dialled", "error", err)
		done(XferFailed)
		r.reply <- err
		return false
	}
	if r.mode == ModeBlind {
		r.accept()
	} else {
		r.reply <- nil
	}
	c.recordTransfer(ctx, i, e)

	switch r.mode {
	case ModeBlind:
		c.releaseOperator(ctx, s, op, mover)
		return c.blindRing(ctx, cctx, ch, s, p, mover, &e, done)
	case ModeConference:
		return c.conferenceRing(ctx, cctx, ch, s, p, op, mover, mixing, &e, done, log)
	}
	return c.consult(ctx, cctx, ch, s, p, op, mover, &e, done, log)
}

// blindRing: the operator is gone; the citizen hears ringback until the
// target answers (then they talk), or goes back to the queue.
func (c *callRun) blindRing(ctx, cctx context.Context, ch *channel, s *xferState, p *party, mover Mover, e *ticket.Transfer, done func(string)) bool {
	ring := c.loopPrompt(cctx, ch, Ringback)
	var err error
	select {
	case err = <-p.result:
	case <-cctx.Done():
		err = cctx.Err()
	}
	ring.stop()
	if cctx.Err() != nil {
		p.stop(ctx)
		done(XferCancelled)
		return true
	}
	if err != nil {
		p.stop(ctx)
		c.log.Info("transfer target did not answer: back to the queue", "error", err)
		done(XferNoAnswer)
		c.requeue(ctx, cctx, ch, c.queueOrGeneral())
		s.finished = true
		return true
	}
	return c.talkToParty(ctx, cctx, s, p, mover, e, done)
}

// talkToParty bridges the citizen with the target until one hangs up.
func (c *callRun) talkToParty(ctx, cctx context.Context, s *xferState, p *party, mover Mover, e *ticket.Transfer, done func(string)) bool {
	if err := mover.Move(c.media, p.media); err != nil {
		c.log.Error("transfer: bridging the citizen to the target failed", "error", err)
	}
	if e.Outcome != XferConnected { // a conference counted it when the target joined
		e.AnsweredAt = ticket.TimePtr(c.s.Now())
		e.Outcome = XferConnected
		c.s.Transfer.count(e.Mode, e.Kind, XferConnected)
	}
	c.log.Info("transfer connected", "to", e.Target)
	c.recordTransferEntry(ctx, *e)
	defer func() {
		e.EndedAt = ticket.TimePtr(c.s.Now())
		c.recordTransferEntry(ctx, *e)
	}()
	defer p.stop(ctx)
	for {
		select {
		case <-cctx.Done():
			return true
		case <-p.media.Done():
			s.partyHungUp = true
			return true
		case ev := <-p.sc.Events():
			switch ev.Kind {
			case EventHangup:
				s.partyHungUp = true
				return true
			case EventDigit:
				go func() { _ = c.in.SendDigit(context.WithoutCancel(ctx), ev.Digit) }()
			}
		case r := <-s.requests():
			r.reply <- ErrNotLive
		}
	}
}

// consult: the citizen is held (hold prompt), the operator hears ringback,
// then talks to the target; complete joins citizen and target and drops
// the operator, cancel (or the target hanging up) returns to the citizen.
func (c *callRun) consult(ctx, cctx context.Context, ch *channel, s *xferState, p *party, op operatorLeg, mover Mover, e *ticket.Transfer, done func(string), log *slog.Logger) bool {
	if err := mover.Move(c.media, nil); err != nil {
		log.Error("transfer: holding the citizen failed", "error", err)
	}
	s.consulting.Store(true)
	defer s.consulting.Store(false)
	hold := c.loopPrompt(cctx, ch, c.s.Transfer.HoldPrompt)
	opCh := newChannel(op.media)
	opRing := c.loopPrompt(cctx, opCh, Ringback)
	var unpair func()
	answered := false
	back := func() {
		opRing.stop()
		if unpair != nil {
			unpair()
			unpair = nil
		}
		hold.stop()
		if err := mover.Move(c.media, op.media); err != nil {
			log.Error("transfer: back to the citizen failed", "error", err)
		}
	}
	complete := func() bool {
		opRing.stop()
		if unpair != nil {
			unpair()
			unpair = nil
		}
		hold.stop()
		c.releaseOperator(ctx, s, op, mover)
		return c.talkToParty(ctx, cctx, s, p, mover, e, done)
	}
	// The operator hung up while consulting: the citizen goes to the
	// target (attended transfer by hanging up).
	operatorGone := func() bool {
		if answered {
			return complete()
		}
		opRing.stop()
		hold.stop()
		c.releaseOperator(ctx, s, op, mover)
		return c.blindRing(ctx, cctx, ch, s, p, mover, e, done)
	}
	result := p.result
	for {
		select {
		case <-cctx.Done():
			opRing.stop()
			if unpair != nil {
				unpair()
			}
			hold.stop()
			p.stop(ctx)
			done(XferCancelled)
			return true
		case err := <-result:
			result = nil
			if err != nil {
				log.Info("consultation target did not answer", "error", err)
				p.stop(ctx)
				back()
				done(XferNoAnswer)
				return false
			}
			opRing.stop()
			answered = true
			stop, perr := mover.Pair(op.media, p.media)
			if perr != nil {
				log.Error("transfer: bridging operator and target failed", "error", perr)
			}
			unpair = stop
			e.AnsweredAt = ticket.TimePtr(c.s.Now())
			e.Outcome = XferConsulting
			c.recordTransferEntry(ctx, *e)
		case ev := <-p.sc.Events():
			if ev.Kind == EventHangup && answered {
				p.stop(ctx)
				back()
				done(XferCancelled)
				return false
			}
		case <-op.hangup:
			return operatorGone()
		case ev := <-op.sc.Events():
			if ev.Kind == EventHangup {
				return operatorGone()
			}
		case r := <-s.requests():
			switch r.op {
			case "complete":
				if !answered {
					r.reply <- ErrNotAnsweredYet
					continue
				}
				r.accept()
				return complete()
			case "cancel":
				r.reply <- nil
				p.stop(ctx)
				back()
				done(XferCancelled)
				return false
			case "conference":
				mixing, ok := c.s.Media.(Mixing)
				switch {
				case !answered:
					r.reply <- ErrNotAnsweredYet
					continue
				case !ok:
					r.reply <- ErrModeUnsupported
					continue
				}
				r.reply <- nil
				back() // the citizen and the operator again, then the target joins them
				return c.threeWay(ctx, cctx, s, p, op, mover, mixing, e, log)
			default:
				r.reply <- ErrTransferBusy
			}
		}
	}
}

// conferenceRing: the operator adds the target to the call. Citizen and
// operator go on talking while it rings; once it answers all three hear
// each other. cancel (or no answer) leaves the call as it was.
func (c *callRun) conferenceRing(ctx, cctx context.Context, ch *channel, s *xferState, p *party, op operatorLeg, mover Mover, mixing Mixing, e *ticket.Transfer, done func(string), log *slog.Logger) bool {
	blind := func() bool { // the operator leaves while it rings: a blind transfer
		c.releaseOperator(ctx, s, op, mover)
		return c.blindRing(ctx, cctx, ch, s, p, mover, e, done)
	}
	for {
		select {
		case <-cctx.Done():
			p.stop(ctx)
			done(XferCancelled)
			return true
		case err := <-p.result:
			if err != nil {
				log.Info("conference target did not answer", "error", err)
				p.stop(ctx)
				done(XferNoAnswer)
				return false
			}
			return c.threeWay(ctx, cctx, s, p, op, mover, mixing, e, log)
		case <-op.media.Done():
			return blind()
		case <-op.hangup:
			return blind()
		case ev := <-op.sc.Events():
			switch ev.Kind {
			case EventHangup:
				return blind()
			case EventDigit:
				go func() { _ = c.in.SendDigit(context.WithoutCancel(ctx), ev.Digit) }()
			}
		case r := <-s.requests():
			switch r.op {
			case "cancel":
				r.reply <- nil
				p.stop(ctx)
				done(XferCancelled)
				return false
			case "complete", "conference":
				r.reply <- ErrNotAnsweredYet
			default:
				r.reply <- ErrTransferBusy
			}
		}
	}
}

// threeWay: citizen, operator and target (answered) in one mix, everyone
// hearing everyone; the recording goes on (left the citizen, right the
// other two). The target hanging up, or cancel, returns to citizen and
// operator; the operator hanging up, or complete, leaves citizen and
// target talking.
func (c *callRun) threeWay(ctx, cctx context.Context, s *xferState, p *party, op operatorLeg, mover Mover, mixing Mixing, e *ticket.Transfer, log *slog.Logger) bool {
	x := c.s.Transfer
	e.Mode = ModeConference
	if err := mixing.Join(c.media, p.media); err != nil {
		log.Error("conference: joining the target failed", "error", err)
		p.stop(ctx)
		e.Outcome, e.EndedAt = XferFailed, ticket.TimePtr(c.s.Now())
		c.recordTransferEntry(ctx, *e)
		x.count(e.Mode, e.Kind, XferFailed)
		return false
	}
	parties := []Media{c.media, op.media, p.media}
	if err := mixing.SetHears(c.media, func(l, so Media) bool { return l != so && slices.Contains(parties, so) }); err != nil {
		log.Error("conference: mixing failed", "error", err)
	}
	c.s.Supervision.refresh(c.t.ID) // a manager listening keeps their mode
	e.AnsweredAt = ticket.TimePtr(c.s.Now())
	e.Outcome = XferConnected
	x.count(e.Mode, e.Kind, XferConnected)
	c.recordTransferEntry(ctx, *e)
	log.Info("conference: three parties connected", "to", e.Target)
	targetLeaves := func() {
		mixing.Leave(c.media, p.media)
		p.stop(ctx)
		c.s.Supervision.refresh(c.t.ID)
		e.EndedAt = ticket.TimePtr(c.s.Now())
		c.recordTransferEntry(ctx, *e)
		log.Info("conference: the target left; citizen and operator go on")
	}
	operatorLeaves := func() bool {
		c.releaseOperator(ctx, s, op, mover)
		return c.talkToParty(ctx, cctx, s, p, mover, e, func(string) {})
	}
	for {
		select {
		case <-cctx.Done():
			p.stop(ctx)
			e.EndedAt = ticket.TimePtr(c.s.Now())
			c.recordTransferEntry(ctx, *e)
			return true
		case <-p.media.Done():
			targetLeaves()
			return false
		case ev := <-p.sc.Events():
			if ev.Kind == EventHangup {
				targetLeaves()
				return false
			}
		case <-op.media.Done():
			return operatorLeaves()
		case <-op.hangup:
			return operatorLeaves()
		case ev := <-op.sc.Events():
			switch ev.Kind {
			case EventHangup:
				return operatorLeaves()
			case EventDigit:
				go func() { _ = c.in.SendDigit(context.WithoutCancel(ctx), ev.Digit) }()
			}
		case r := <-s.requests():
			switch r.op {
			case "cancel":
				r.reply <- nil
				targetLeaves()
				return false
			case "complete":
				r.accept()
				return operatorLeaves()
			default:
				r.reply <- ErrTransferBusy
			}
		}
	}
}

// recordTransferEntry rewrites the ticket's entry e (matched by its start).
func (c *callRun) recordTransferEntry(ctx context.Context, e ticket.Transfer) {
	c.update(ctx, func(t *ticket.Ticket) {
		list := slices.Clone(t.Transfers)
		for j := range list {
			if list[j].StartedAt.Equal(e.StartedAt) && list[j].Target == e.Target {
				list[j] = e
			}
		}
		t.Transfers = list
	})
}

// releaseOperator ends the operator's leg: the citizen is left alone (held)
// until moved on, the seat's phone hung up, its wrap-up reported.
func (c *callRun) releaseOperator(ctx context.Context, s *xferState, op operatorLeg, mover Mover) {
	if err := mover.Move(c.media, nil); err != nil {
		c.log.Warn("transfer: unbridging the operator failed", "error", err)
	}
	_ = op.sc.Hangup(context.WithoutCancel(ctx))
	op.media.Close()
	c.reported(c.log.With("seat", op.o.seat), "hangup", c.s.ACD.Hangup(c.t.ID, op.o.seat, op.o.token))
	c.s.Metrics.handled(c.s.Now().Sub(op.answeredAt))
	c.mu.Lock()
	c.seat = nil
	c.mu.Unlock()
	s.released = true
	s.leave()
}

// requeue puts the citizen back in a queue (skill), its place kept by its
// first queueing time (the wait carries), and runs the call from there to
// its end.
func (c *callRun) requeue(ctx, cctx context.Context, ch *channel, skill string) {
	c.queue = skill
	c.stage = vocab.StageQueue
	c.log.Info("back in the queue", "queue", skill)
	c.queueAndConnect(ctx, cctx, ch)
}
