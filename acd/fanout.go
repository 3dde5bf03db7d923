package acd

import "sync"

// Fanout hands Changes to subscribers without ever blocking the sender: a
// subscriber that falls behind by more than its buffer (256) loses changes
// and is told so by Change.Missed on the next one it gets. It is the
// Subscribe of every Floor. Safe for concurrent use.
type Fanout struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch     chan Change
	missed int
}

// Subscribe returns every change published from now on, and a function
// that ends the subscription and closes the channel (also closed by Close).
func (f *Fanout) Subscribe() (<-chan Change, func()) {
	s := &subscriber{ch: make(chan Change, changeBuffer)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	if f.subs == nil {
		f.subs = map[*subscriber]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s.ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[s]; ok {
			delete(f.subs, s)
			close(s.ch)
		}
	}
}

// Publish gives c to every subscriber that has room for it.
func (f *Fanout) Publish(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		c.Missed = s.missed
		select {
		case s.ch <- c:
			s.missed = 0
		default:
			s.missed++
		}
	}
}

// Missed tells every subscriber, with its next change, that changes were
// lost upstream (a gap in a shared stream): they re-read the floor.
func (f *Fanout) Missed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.missed++
	}
}

// Close ends every subscription; later ones get a closed channel.
func (f *Fanout) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		close(s.ch)
		delete(f.subs, s)
	}
}
