package demo

import (
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/pii"
)

// world is what the simulated people know of each other and the switch
// does not tell them: a citizen hears that an operator has picked up, and
// that the operator has hung up (and the survey begins), because they hear
// a voice and then the question. The simulation passes that on directly,
// matching the caller number the seat's phone shows (the From of the
// INVITE: masked 138****5678 by default, whole with acd.caller_id: full)
// to the caller who owns it. Nothing here reaches into the switch.
type world struct {
	mu      sync.Mutex
	callers map[string]chan talkEvent // by masked number and by whole number
}

type talkKind int

const (
	talkAnswered talkKind = iota + 1 // an operator picked up
	talkSeatBye                      // the operator hung up: the survey follows
)

type talkEvent struct {
	kind talkKind
	seat string
	// On talkAnswered: the conversation lasts Talk; when callerEnds the
	// citizen says goodbye and hangs up then (else the operator does).
	talk       time.Duration
	callerEnds bool
}

func newWorld() *world { return &world{callers: map[string]chan talkEvent{}} }

// join registers a caller under its number; it fails when another caller
// in progress shows the same masked number (the phones could not tell
// them apart): pick another number.
func (w *world) join(number string) (chan talkEvent, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := pii.Mask(number)
	if _, taken := w.callers[m]; taken {
		return nil, false
	}
	if _, taken := w.callers[number]; taken {
		return nil, false
	}
	ch := make(chan talkEvent, 4)
	w.callers[m] = ch
	w.callers[number] = ch
	return ch, true
}

func (w *world) leave(number string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.callers, pii.Mask(number))
	delete(w.callers, number)
}

// tell delivers an event to the caller the seat's phone shows as shown;
// false when no such caller is in a call (gone meanwhile).
func (w *world) tell(shown string, ev talkEvent) bool {
	w.mu.Lock()
	ch, ok := w.callers[shown]
	w.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- ev:
		return true
	default:
		return false
	}
}

func (w *world) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.callers) / 2
}
