package demo

import (
	"context"
	"time"
)

// HOOKS (issue 11): "the demo uses transfers, callbacks and a supervisor
// listen now and then". Those features are built by other parts of issue
// 11 (SPEC §9a: POST /api/calls/{ticket id}/transfer, /monitor,
// /api/callbacks/...). Until they exist in this tree each hook below is nil
// and the demo does none of it: nothing is faked. Whoever adds the feature
// fills the hook in with the real API call (as the shift manager does:
// supervisor.api), and the simulated shift manager calls it on its own
// timer (featureEvery), with a live ticket of a simulated seat when one
// needs it.
type featureHooks struct {
	// transfer: a simulated operator in a call hands it to a configured
	// transfer target (blind, now and then consultative).
	// TODO(issue 11, transfer): POST /api/calls/{ticket}/transfer.
	transfer func(ctx context.Context, s *supervisor, ticketID string) error
	// callback: a ready simulated operator claims an open callback task
	// and dials it. TODO(issue 11, callbacks): /api/callbacks/{id}/claim, /dial, /result.
	callback func(ctx context.Context, s *supervisor) error
	// listen: the simulated shift manager listens to a live call silently.
	// TODO(issue 11, supervisor): POST /api/calls/{ticket}/monitor {"mode":"listen"}.
	listen func(ctx context.Context, s *supervisor, ticketID string) error
}

// hooks are the features the demo uses (all nil: see above).
var hooks featureHooks

// featureEvery is how often the shift manager tries one of the hooks.
const featureEvery = 3 * time.Minute

// tryFeature runs one of the hooks that exist, if any (nil: nothing).
func (s *supervisor) tryFeature(ctx context.Context) {
	var todo []func() error
	if h := hooks.callback; h != nil {
		todo = append(todo, func() error { return h(ctx, s) })
	}
	if hooks.transfer != nil || hooks.listen != nil {
		if id := s.liveTicket(ctx); id != "" {
			if h := hooks.transfer; h != nil {
				todo = append(todo, func() error { return h(ctx, s, id) })
			}
			if h := hooks.listen; h != nil {
				todo = append(todo, func() error { return h(ctx, s, id) })
			}
		}
	}
	if len(todo) == 0 {
		return
	}
	if err := todo[s.rnd.IntN(len(todo))](); err != nil {
		s.log.Warn("simulated shift manager: feature use failed", "error", err)
	}
}

// liveTicket is the ticket of a call a simulated seat is in ("" if none).
func (s *supervisor) liveTicket(ctx context.Context) string {
	var out struct {
		Seats []struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			CallID string `json:"call_id"`
		} `json:"seats"`
	}
	if err := s.api(ctx, "GET", "/api/seats", nil, &out); err != nil {
		return ""
	}
	for _, v := range out.Seats {
		if v.State == "busy" && v.CallID != "" {
			for _, id := range s.seats {
				if id == v.ID {
					return v.CallID
				}
			}
		}
	}
	return ""
}
