package adapt

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/recordings"
)

// ErrNotBridged: the caller's leg is not in a bridge (the call is not
// connected, or has just ended).
var ErrNotBridged = errors.New("adapt: call not bridged")

// bridgeState is one connected call's media: the plain relay of caller and
// seat while they are alone, a media.Mixer once another party joins
// (supervisor, three-way conference). The recording follows: left what the
// caller says, right what the caller hears.
//
// A transfer moves the caller to another leg (move): b is whoever the
// caller talks to now, and the recording goes on in the same file.
type bridgeState struct {
	f   *MediaFactory
	a   *mediaLeg
	rec *recordings.Stereo
	tap media.BridgeTap

	once sync.Once // finish
	d    time.Duration
	err  error

	mu        sync.Mutex
	b         *mediaLeg // the caller's other party (nil: alone, held)
	stopRelay func()    // while relayed
	mix       *media.Mixer
	parties   []*mediaLeg // joined besides a and b
	hears     func(listener, source call.Media) bool
	stopped   bool
}

// baseHears is the two-party call: caller and seat hear each other.
func (st *bridgeState) baseHears(l, s call.Media) bool {
	return (l == call.Media(st.a) && s == call.Media(st.b)) || (l == call.Media(st.b) && s == call.Media(st.a))
}

func (st *bridgeState) applyLocked() {
	toMedia := map[*media.Leg]call.Media{st.a.leg: st.a, st.b.leg: st.b}
	for _, p := range st.parties {
		toMedia[p.leg] = p
	}
	hears := st.hears
	if hears == nil {
		hears = st.baseHears
	}
	st.mix.Apply(func(l, s *media.Leg) bool { return hears(toMedia[l], toMedia[s]) })
}

func (st *bridgeState) join(p *mediaLeg) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.stopped, st.b == nil: // ended, or the caller is alone (held in a transfer)
		return ErrNotBridged
	case p == st.a || p == st.b || slices.Contains(st.parties, p):
		return fmt.Errorf("adapt: join: leg already in the call")
	}
	if st.mix == nil {
		m, err := st.f.Engine.NewMixer()
		if err != nil {
			return err
		}
		st.stopRelay()
		st.stopRelay = nil
		st.mix = m
		for _, l := range []*mediaLeg{st.a, st.b} {
			if err := m.Add(l.leg); err != nil {
				st.backToRelayLocked()
				return err
			}
		}
		if err := m.SetRecording(st.a.leg, st.tap); err != nil {
			st.backToRelayLocked()
			return err
		}
	}
	if err := st.mix.Add(p.leg); err != nil {
		if len(st.parties) == 0 {
			st.backToRelayLocked()
		}
		return err
	}
	st.parties = append(st.parties, p)
	st.applyLocked()
	return nil
}

// backToRelayLocked closes the mixer and relays caller and seat again.
func (st *bridgeState) backToRelayLocked() {
	if st.mix != nil {
		st.mix.Close()
		st.mix = nil
	}
	st.parties = nil
	st.hears = nil
	stop, err := media.Bridge(st.a.leg, st.b.leg, st.tap)
	if err != nil {
		st.a.log.Error("back to the two-party relay failed", "error", err)
		stop = func() {}
	}
	st.stopRelay = stop
}

func (st *bridgeState) setHears(fn func(listener, source call.Media) bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped || st.mix == nil {
		return ErrNotBridged
	}
	st.hears = fn
	st.applyLocked()
	return nil
}

func (st *bridgeState) leave(p *mediaLeg) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := slices.Index(st.parties, p)
	if st.stopped || i < 0 {
		return
	}
	st.mix.Remove(p.leg)
	st.parties = slices.Delete(st.parties, i, i+1)
	if len(st.parties) == 0 {
		st.backToRelayLocked()
		return
	}
	st.applyLocked()
}

func (st *bridgeState) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return
	}
	st.stopped = true
	if st.mix != nil {
		st.mix.Close()
		st.mix = nil
	}
	if st.stopRelay != nil {
		st.stopRelay()
		st.stopRelay = nil
	}
}

func (f *MediaFactory) bridgeOf(callerM call.Media) (*bridgeState, error) {
	a, ok := callerM.(*mediaLeg)
	if !ok {
		return nil, fmt.Errorf("adapt: foreign media %T", callerM)
	}
	a.mu.Lock()
	st := a.bridged
	a.mu.Unlock()
	if st == nil {
		return nil, ErrNotBridged
	}
	return st, nil
}

// Join adds party (a started leg made by Offer) to the caller's bridge:
// the call becomes a mix in which who hears whom is what the last SetHears
// said (caller and seat hear each other; party hears nobody and nobody
// hears it until then). It implements call.Mixing.
func (f *MediaFactory) Join(callerM, party call.Media) error {
	st, err := f.bridgeOf(callerM)
	if err != nil {
		return err
	}
	p, ok := party.(*mediaLeg)
	if !ok {
		return fmt.Errorf("adapt: join: foreign media %T", party)
	}
	return st.join(p)
}

// SetHears sets the whole who-hears-whom matrix of the caller's mixed call
// (the media it is called with: caller, seat, joined parties).
func (f *MediaFactory) SetHears(callerM call.Media, hears func(listener, source call.Media) bool) error {
	st, err := f.bridgeOf(callerM)
	if err != nil {
		return err
	}
	return st.setHears(hears)
}

// Leave takes party out of the caller's call; the last party leaving makes
// it a plain two-party relay again.
func (f *MediaFactory) Leave(callerM, party call.Media) {
	st, err := f.bridgeOf(callerM)
	if err != nil {
		return
	}
	if p, ok := party.(*mediaLeg); ok {
		st.leave(p)
	}
}

// finish ends the relay or the mix and the recording (once) and returns
// the length recorded: Bridge's stop.
func (st *bridgeState) finish() (time.Duration, error) {
	st.once.Do(func() {
		st.a.mu.Lock()
		if st.a.bridged == st {
			st.a.bridged = nil
		}
		st.a.mu.Unlock()
		st.stop()
		if st.rec != nil {
			st.err = st.rec.Close()
			st.d = st.rec.Duration()
		}
	})
	return st.d, st.err
}

// move relays the caller with other instead of its party now (a transfer;
// nil leaves the caller alone: held, prompts can be played to it). A mix
// ends first: the parties that joined the old conversation leave it.
func (st *bridgeState) move(other *mediaLeg) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return ErrNotBridged
	}
	if st.mix != nil {
		st.mix.Close()
		st.mix = nil
		st.parties = nil
		st.hears = nil
	}
	if st.stopRelay != nil {
		st.stopRelay()
		st.stopRelay = nil
	}
	st.b = other
	if other == nil {
		return nil
	}
	stop, err := media.Bridge(st.a.leg, other.leg, st.tap)
	if err != nil {
		return err
	}
	st.stopRelay = stop
	return nil
}
