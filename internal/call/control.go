package call

// Call control from the operator's console (SPEC §9a): hold and resume,
// mute and unmute toward the citizen, keys sent to the citizen, hang-up.
// Media stays anchored in the switch, so this works for any SIP phone.
//
//   - hold: the citizen hears "您的通话已保持" (HoldPrompt) and then the
//     queue's legal-information announcements in a loop; the seat's leg
//     gets silence; neither hears the other. resume: both hear each other
//     again.
//   - mute: the citizen hears silence; the operator still hears the citizen,
//     and the recording keeps both sides (the history marks the interval).
//   - dtmf: keys go to the citizen as RFC 4733 events (SIP INFO when the
//     citizen's side negotiated no telephone-event).
//   - hangup: the operator's leg is hung up as if the seat phone had hung
//     up: the citizen is asked for the satisfaction survey (SPEC §5).
//
// Each action is appended to the ticket's history (a new revision, pushed
// to the work-order system).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/ticket"
)

// HoldPrompt is the prompt a citizen hears when put on hold.
const HoldPrompt = "call_held"

// The actions of call control, as the API and the ticket's history name them.
const (
	ActionHold   = "hold"
	ActionResume = "resume"
	ActionMute   = "mute"
	ActionUnmute = "unmute"
	ActionDTMF   = "dtmf"
	ActionHangup = "hangup"
)

// Errors of Control.
var (
	// ErrNotLive: no connected call of that ticket on this node.
	ErrNotLive = errors.New("call: not a live call on this node")
	// ErrCallState: the action does not fit the call's state (resume a call
	// not on hold, hold twice, a call already ending).
	ErrCallState = errors.New("call: not possible in the call's state")
	// ErrBadDigits: dtmf keys missing, too many, or not 0-9 * # A-D.
	ErrBadDigits = errors.New("call: digits must be 1 to 32 of 0-9 * # A-D")
	// ErrNoTelephoneEvent is wrapped by a Controllable's SendDigits when the
	// peer negotiated no telephone-event: the keys go by SIP INFO instead.
	ErrNoTelephoneEvent = errors.New("call: no telephone-event on the leg")
)

// maxDigits bounds the keys of one dtmf action.
const maxDigits = 32

// Controllable is what call control needs of a Media leg (the media
// adapter implements it): holding back what the bridge relays into the leg,
// and sending keys in the media.
type Controllable interface {
	HoldRelay(held bool)
	SendDigits(digits string) error
}

// LiveCall is a connected call as the console sees it.
type LiveCall struct {
	TicketID   string    `json:"ticket_id"`
	Seat       string    `json:"seat"`
	AnsweredAt time.Time `json:"answered_at"`
	Held       bool      `json:"held"`
	Muted      bool      `json:"muted"`
}

// liveCalls is the Service's registry of connected calls (zero value ready).
type liveCalls struct {
	mu sync.Mutex
	m  map[ticket.ID]*control
}

// control is one connected call's controls.
type control struct {
	c          *callRun
	seat       string
	answeredAt time.Time
	seatMedia  Media
	cctx       context.Context
	hangup     chan struct{} // closed by ActionHangup

	mu     sync.Mutex
	held   bool
	muted  bool
	ended  bool
	music  *announcer
	closed sync.Once
}

func (s *Service) register(k *control) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if s.live.m == nil {
		s.live.m = map[ticket.ID]*control{}
	}
	s.live.m[k.c.t.ID] = k
}

func (s *Service) unregister(k *control) {
	s.live.mu.Lock()
	if s.live.m[k.c.t.ID] == k {
		delete(s.live.m, k.c.t.ID)
	}
	s.live.mu.Unlock()
	k.mu.Lock()
	k.ended = true
	music := k.music
	k.music = nil
	k.mu.Unlock()
	if music != nil {
		music.stop()
	}
	if m, ok := k.c.media.(Controllable); ok {
		m.HoldRelay(false) // the survey, if any, is heard as usual
	}
}

func (s *Service) lookup(id string) *control {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	return s.live.m[id]
}

// Live returns the connected call of ticket id on this node.
func (s *Service) Live(id string) (LiveCall, bool) {
	k := s.lookup(id)
	if k == nil {
		return LiveCall{}, false
	}
	return k.state(), true
}

func (k *control) state() LiveCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return LiveCall{TicketID: k.c.t.ID, Seat: k.seat, AnsweredAt: k.answeredAt, Held: k.held, Muted: k.muted}
}

// Control does action on the connected call of ticket id for user by (a
// console user's name, written in the history); digits are dtmf's keys.
// Errors: ErrNotLive, ErrCallState, ErrBadDigits, or the media's.
func (s *Service) Control(ctx context.Context, id, action, by, digits string) (LiveCall, error) {
	k := s.lookup(id)
	if k == nil {
		return LiveCall{}, ErrNotLive
	}
	if action == ActionDTMF {
		if err := checkDigits(digits); err != nil {
			return k.state(), err
		}
	} else {
		digits = ""
	}
	k.mu.Lock()
	if k.ended {
		k.mu.Unlock()
		return LiveCall{}, ErrNotLive
	}
	if action == ActionHangup {
		// Written before the call ends, so that the history is in the
		// revisions before the closing one.
		k.mu.Unlock()
		k.record(ctx, action, by, "")
		k.mu.Lock()
	}
	err := k.applyLocked(action, digits)
	k.mu.Unlock()
	if err != nil {
		return k.state(), err
	}
	k.c.log.Info("call control", "action", action, "by", by, "digits", len(digits))
	if action != ActionHangup {
		k.record(ctx, action, by, digits)
	}
	return k.state(), nil
}

func checkDigits(d string) error {
	if d == "" || len(d) > maxDigits {
		return ErrBadDigits
	}
	for _, r := range d {
		if !('0' <= r && r <= '9' || r == '*' || r == '#' || 'A' <= r && r <= 'D') {
			return ErrBadDigits
		}
	}
	return nil
}

// applyLocked does the action; k.mu is held.
func (k *control) applyLocked(action, digits string) error {
	callerLeg, _ := k.c.media.(Controllable)
	seatLeg, _ := k.seatMedia.(Controllable)
	switch action {
	case ActionHold, ActionResume, ActionMute, ActionUnmute:
		if callerLeg == nil || seatLeg == nil {
			return fmt.Errorf("%w: the media cannot hold", ErrCallState)
		}
	}
	switch action {
	case ActionHold:
		if k.held {
			return fmt.Errorf("%w: already on hold", ErrCallState)
		}
		k.held = true
		callerLeg.HoldRelay(true)
		seatLeg.HoldRelay(true)
		k.music = k.c.holdMusic(k.cctx)
	case ActionResume:
		if !k.held {
			return fmt.Errorf("%w: not on hold", ErrCallState)
		}
		k.held = false
		if k.music != nil {
			k.music.stop()
			k.music = nil
		}
		callerLeg.HoldRelay(k.muted)
		seatLeg.HoldRelay(false)
	case ActionMute:
		if k.muted {
			return fmt.Errorf("%w: already muted", ErrCallState)
		}
		k.muted = true
		callerLeg.HoldRelay(true)
	case ActionUnmute:
		if !k.muted {
			return fmt.Errorf("%w: not muted", ErrCallState)
		}
		k.muted = false
		callerLeg.HoldRelay(k.held)
	case ActionDTMF:
		if callerLeg != nil {
			err := callerLeg.SendDigits(digits)
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrNoTelephoneEvent) {
				return err
			}
		}
		// No telephone-event toward the citizen: SIP INFO, in order.
		in := k.c.in
		go func() {
			for _, d := range digits {
				if err := in.SendDigit(context.WithoutCancel(k.cctx), d); err != nil {
					k.c.log.Info("dtmf by SIP INFO failed", "error", err)
					return
				}
			}
		}()
	case ActionHangup:
		if k.ended {
			return ErrNotLive
		}
		k.ended = true
		k.closed.Do(func() { close(k.hangup) })
	default:
		return fmt.Errorf("%w: unknown action %q", ErrCallState, action)
	}
	return nil
}

// record appends the action to the ticket's history (a new revision).
// It does not touch the call's own copy of the ticket (another goroutine's).
func (k *control) record(ctx context.Context, action, by, detail string) {
	at := k.c.s.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ticketTimeout)
	defer cancel()
	_, err := k.c.s.Tickets.Update(wctx, k.c.t.ID, func(t *ticket.Ticket) error {
		t.History = append(t.History, ticket.HistoryEntry{At: at, Action: action, By: by, Detail: detail})
		return nil
	})
	if err != nil {
		k.c.log.Error("ticket history not written", "action", action, "error", err)
	}
}

// holdMusic plays HoldPrompt, then the queue's announcements (legal
// information) in a loop, until stopped.
func (c *callRun) holdMusic(cctx context.Context) *announcer {
	actx, cancel := context.WithCancel(cctx)
	a := &announcer{cancel: cancel}
	loop := append([]string{HoldPrompt}, c.s.Menu.Queue.Announcements...)
	a.wg.Go(func() {
		defer c.media.StopPlay()
		for {
			started := time.Now()
			select {
			case <-c.media.Play(loop...):
			case <-actx.Done():
				return
			}
			if time.Since(started) < time.Second {
				select { // prompts missing: do not spin
				case <-time.After(time.Second):
				case <-actx.Done():
					return
				}
			}
		}
	})
	return a
}
