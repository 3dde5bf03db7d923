package app

import (
	"errors"
	"fmt"
	"sync"
)

// teardown is the ordered shutdown: build adds a step as it makes each
// part, and run undoes them in the reverse order, each once. A step can be
// run early (the graceful stop closes SIP before the rest); run skips it
// then. Calling run twice is safe: the second call returns the same errors.
type teardown struct {
	mu    sync.Mutex
	steps []*step
}

// step is one part's undoing.
type step struct {
	name string
	fn   func() error
	once sync.Once
	err  error
}

// add registers the undoing of the part just made and returns it.
func (t *teardown) add(name string, fn func() error) *step {
	s := &step{name: name, fn: fn}
	t.mu.Lock()
	t.steps = append(t.steps, s)
	t.mu.Unlock()
	return s
}

// run undoes the step, once; later calls return the first call's error.
func (s *step) run() error {
	s.once.Do(func() {
		if err := s.fn(); err != nil {
			s.err = fmt.Errorf("%s: %w", s.name, err)
		}
	})
	return s.err
}

// run undoes every step, last made first, and joins their errors.
func (t *teardown) run() error {
	t.mu.Lock()
	steps := append([]*step(nil), t.steps...)
	t.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		errs = append(errs, steps[i].run())
	}
	return errors.Join(errs...)
}
