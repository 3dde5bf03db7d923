package agent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now = t0.Add(time.Minute)
)

func TestCanMove(t *testing.T) {
	// The edges of SPEC §6, written out once more by hand; every other pair is illegal.
	legal := map[[2]State]bool{
		{Offline, Ready}: true, {Offline, NotReady}: true,
		{Ready, NotReady}: true, {Ready, Ringing}: true, {Ready, Offline}: true,
		{NotReady, Ready}: true, {NotReady, NotReady}: true, {NotReady, Offline}: true,
		{Ringing, Busy}: true, {Ringing, Ready}: true, {Ringing, NotReady}: true, {Ringing, Offline}: true,
		{Busy, WrapUp}: true, {Busy, Offline}: true,
		{WrapUp, Ready}: true, {WrapUp, NotReady}: true, {WrapUp, Offline}: true,
	}
	for _, from := range append(States(), "", "away") {
		for _, to := range append(States(), "", "away") {
			if got, want := CanMove(from, to), legal[[2]State{from, to}]; got != want {
				t.Errorf("CanMove(%q, %q) = %v, want %v", from, to, got, want)
			}
		}
	}
}

// seat builds a seat in a state as the ACD would have left it.
func seat(state State, mods ...func(*Seat)) Seat {
	s := New("8001", "坐席1", []string{"consult", "legal_aid"})
	s.State, s.Registered, s.Since, s.IdleSince = state, state != Offline, t0, t0
	switch state {
	case NotReady:
		s.Reason = "break"
	case Ringing, Busy:
		s.CallID = "c1"
	case WrapUp:
		s.CallID, s.WrapUpUntil = "c1", now
	}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func operatorNotReady(s *Seat) { s.OperatorNotReady, s.OperatorReason = true, "meeting" }

func TestTransitions(t *testing.T) {
	type want struct {
		state     State
		reason    string
		callID    string
		idleSince time.Time
		since     time.Time
		opNR      bool
	}
	tests := []struct {
		name    string
		from    Seat
		do      func(*Seat) error
		want    want
		wantErr error
	}{
		{"register: offline → ready, idle from now", seat(Offline), func(s *Seat) error { return s.Register(now) },
			want{state: Ready, idleSince: now, since: now}, nil},
		{"register: operator's not_ready survives", seat(Offline, operatorNotReady), func(s *Seat) error { return s.Register(now) },
			want{state: NotReady, reason: "meeting", idleSince: t0, since: now, opNR: true}, nil},
		{"register refresh changes nothing", seat(Busy), func(s *Seat) error { return s.Register(now) },
			want{state: Busy, callID: "c1", idleSince: t0, since: t0}, nil},
		{"unregister while ringing", seat(Ringing), func(s *Seat) error { return s.Unregister(now) },
			want{state: Offline, idleSince: t0, since: now}, nil},
		{"unregister keeps the operator's choice", seat(NotReady, operatorNotReady), func(s *Seat) error { return s.Unregister(now) },
			want{state: Offline, idleSince: t0, since: now, opNR: true}, nil},
		{"unregister when offline: nothing", seat(Offline), func(s *Seat) error { return s.Unregister(now) },
			want{state: Offline, idleSince: t0, since: t0}, nil},
		{"set ready from not_ready: back of the idle order", seat(NotReady, operatorNotReady), func(s *Seat) error { return s.SetReady(now) },
			want{state: Ready, idleSince: now, since: now}, nil},
		{"set ready when ready: nothing", seat(Ready), func(s *Seat) error { return s.SetReady(now) },
			want{state: Ready, idleSince: t0, since: t0}, nil},
		{"set ready while busy withdraws a not_ready request", seat(Busy, operatorNotReady), func(s *Seat) error { return s.SetReady(now) },
			want{state: Busy, callID: "c1", idleSince: t0, since: t0}, nil},
		{"set ready in wrap-up ends it early", seat(WrapUp, operatorNotReady), func(s *Seat) error { return s.SetReady(now) },
			want{state: Ready, idleSince: now, since: now}, nil},
		{"set ready while offline", seat(Offline), func(s *Seat) error { return s.SetReady(now) },
			want{state: Offline, idleSince: t0, since: t0}, ErrOffline},
		{"set not_ready from ready", seat(Ready), func(s *Seat) error { return s.SetNotReady("break", now) },
			want{state: NotReady, reason: "break", idleSince: t0, since: now, opNR: true}, nil},
		{"set not_ready again: new reason, same since", seat(NotReady), func(s *Seat) error { return s.SetNotReady("meeting", now) },
			want{state: NotReady, reason: "meeting", idleSince: t0, since: t0, opNR: true}, nil},
		{"set not_ready while ringing is remembered", seat(Ringing), func(s *Seat) error { return s.SetNotReady("meeting", now) },
			want{state: Ringing, callID: "c1", idleSince: t0, since: t0, opNR: true}, nil},
		{"set not_ready while offline", seat(Offline), func(s *Seat) error { return s.SetNotReady("break", now) },
			want{state: Offline, idleSince: t0, since: t0}, ErrOffline},
		{"set busy by hand", seat(Ready), func(s *Seat) error { return s.Set(Busy, "", now) },
			want{state: Ready, idleSince: t0, since: t0}, ErrBadState},
		{"offer: ready → ringing", seat(Ready), func(s *Seat) error { return s.Offer("c2", 7, now) },
			want{state: Ringing, callID: "c2", idleSince: t0, since: now}, nil},
		{"offer to a not_ready seat", seat(NotReady), func(s *Seat) error { return s.Offer("c2", 7, now) },
			want{state: NotReady, reason: "break", idleSince: t0, since: t0}, ErrIllegalTransition},
		{"offer to a ringing seat (never two calls)", seat(Ringing), func(s *Seat) error { return s.Offer("c2", 7, now) },
			want{state: Ringing, callID: "c1", idleSince: t0, since: t0}, ErrIllegalTransition},
		{"answer: ringing → busy", seat(Ringing), func(s *Seat) error { return s.Answer("c1", now) },
			want{state: Busy, callID: "c1", idleSince: t0, since: now}, nil},
		{"answer another call", seat(Ringing), func(s *Seat) error { return s.Answer("c9", now) },
			want{state: Ringing, callID: "c1", idleSince: t0, since: t0}, ErrWrongCall},
		{"offline → busy is illegal", seat(Offline), func(s *Seat) error { return s.Answer("c1", now) },
			want{state: Offline, idleSince: t0, since: t0}, ErrIllegalTransition},
		{"no answer: ringing → not_ready no_answer", seat(Ringing), func(s *Seat) error { return s.NoAnswer("c1", now) },
			want{state: NotReady, reason: ReasonNoAnswer, idleSince: t0, since: now}, nil},
		{"no answer while busy", seat(Busy), func(s *Seat) error { return s.NoAnswer("c1", now) },
			want{state: Busy, callID: "c1", idleSince: t0, since: t0}, ErrIllegalTransition},
		{"release: ready, idle order kept", seat(Ringing), func(s *Seat) error { return s.Release("c1", now) },
			want{state: Ready, idleSince: t0, since: now}, nil},
		{"release with a not_ready request", seat(Ringing, operatorNotReady), func(s *Seat) error { return s.Release("c1", now) },
			want{state: NotReady, reason: "meeting", idleSince: t0, since: now, opNR: true}, nil},
		{"hangup: busy → wrap_up", seat(Busy), func(s *Seat) error { return s.Hangup("c1", now.Add(30*time.Second), now) },
			want{state: WrapUp, callID: "c1", idleSince: t0, since: now}, nil},
		{"hangup while ringing", seat(Ringing), func(s *Seat) error { return s.Hangup("c1", now, now) },
			want{state: Ringing, callID: "c1", idleSince: t0, since: t0}, ErrIllegalTransition},
		{"hangup of another call", seat(Busy), func(s *Seat) error { return s.Hangup("c9", now, now) },
			want{state: Busy, callID: "c1", idleSince: t0, since: t0}, ErrWrongCall},
		{"end wrap-up: ready, idle from now", seat(WrapUp), func(s *Seat) error { return s.EndWrapUp(now) },
			want{state: Ready, idleSince: now, since: now}, nil},
		{"end wrap-up: the not_ready asked during the call", seat(WrapUp, operatorNotReady), func(s *Seat) error { return s.EndWrapUp(now) },
			want{state: NotReady, reason: "meeting", idleSince: t0, since: now, opNR: true}, nil},
		{"end wrap-up when ready", seat(Ready), func(s *Seat) error { return s.EndWrapUp(now) },
			want{state: Ready, idleSince: t0, since: t0}, ErrIllegalTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.from
			err := tt.do(&s)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "agent: seat 8001: ") {
				t.Errorf("err = %q, want it prefixed with the package and seat", err)
			}
			got := want{s.State, s.Reason, s.CallID, s.IdleSince, s.Since, s.OperatorNotReady}
			if got != tt.want {
				t.Errorf("seat = %+v\nwant   %+v", got, tt.want)
			}
			if s.Registered != (s.State != Offline) {
				t.Errorf("Registered = %v in state %s", s.Registered, s.State)
			}
			if (s.State == WrapUp) != !s.WrapUpUntil.IsZero() {
				t.Errorf("WrapUpUntil = %v in state %s", s.WrapUpUntil, s.State)
			}
		})
	}
}

func TestHasSkillAndAvailable(t *testing.T) {
	s := seat(Ready)
	if !s.HasSkill("legal_aid") || s.HasSkill("notary") || s.HasSkill("") {
		t.Errorf("HasSkill wrong for skills %v", s.Skills)
	}
	for _, st := range States() {
		s := seat(st)
		if got, want := s.Available(), st != Offline && st != NotReady; got != want {
			t.Errorf("Available() in %s = %v", st, got)
		}
	}
}

func TestJSON(t *testing.T) {
	s := seat(NotReady, operatorNotReady)
	b, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"id":"8001"`, `"state":"not_ready"`, `"reason":"break"`, `"idle_since":"2026-03-01T09:00:00Z"`, `"registered":true`, `"operator_not_ready":true`, `"operator_reason":"meeting"`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "call_id") || strings.Contains(got, "wrap_up_until") {
		t.Errorf("JSON %s shows empty call fields", got)
	}
}
