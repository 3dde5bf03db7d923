package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// supervisor is the simulated shift manager, who works through the
// console's API like the real one: now and then one operator goes on a
// short break (not_ready "break", 小休 on the wallboard) and comes back,
// and an operator whose phone rang out (not_ready "no_answer") is put back
// to ready after a while.
type supervisor struct {
	base           string // http://127.0.0.1:port
	user, password string
	seats          []string // the simulated seats
	log            *slog.Logger
	rnd            *rand.Rand
	http           *http.Client
	token          string
}

// seatView is a seat as GET /api/seats shows it.
type seatView struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	Registered bool      `json:"registered"`
}

const (
	breakReason    = "break"
	noAnswerReason = "no_answer"
	backAfterRONA  = 20 * time.Second
)

func (s *supervisor) run(ctx context.Context) {
	plan := PickBreak(s.rnd, true)
	nextBreak := time.NewTimer(plan.Wait)
	defer nextBreak.Stop()
	var endBreak <-chan time.Time
	onBreak := ""
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	features := time.NewTicker(featureEvery) // hooks.go: transfer, callback, listen once they exist
	defer features.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			s.comeBack(ctx)
		case <-features.C:
			s.tryFeature(ctx)
		case <-nextBreak.C:
			seats, err := s.list(ctx)
			if err != nil {
				s.log.Warn("simulated shift manager: cannot read the seats", "error", err)
				nextBreak.Reset(time.Minute)
				continue
			}
			var idle []string
			for _, v := range seats {
				if v.Registered && slices.Contains(s.seats, v.ID) && v.State != "not_ready" && v.State != "offline" {
					idle = append(idle, v.ID)
				}
			}
			if len(idle) < 2 { // never send the last operator away
				nextBreak.Reset(30 * time.Second)
				continue
			}
			seat := idle[s.rnd.IntN(len(idle))]
			if err := s.set(ctx, seat, "not_ready", breakReason); err != nil {
				s.log.Warn("simulated shift manager: break not set", "seat", seat, "error", err)
				nextBreak.Reset(time.Minute)
				continue
			}
			s.log.Info("simulated operator goes on a short break (not_ready 小休; after the current call if busy)", "seat", seat, "for", plan.Length.Round(time.Second))
			onBreak = seat
			endBreak = time.After(plan.Length)
		case <-endBreak:
			endBreak = nil
			if err := s.set(ctx, onBreak, "ready", ""); err != nil {
				s.log.Warn("simulated shift manager: could not end the break", "seat", onBreak, "error", err)
			} else {
				s.log.Info("simulated operator is back from the break (ready)", "seat", onBreak)
			}
			onBreak = ""
			plan = PickBreak(s.rnd, false)
			nextBreak.Reset(plan.Wait)
		}
	}
}

// endShift sends every simulated operator on a break (not ready) as the
// demo stops: logged in, so that a caller still waiting stays in the queue
// until the switch ends the call, rather than going to voicemail.
func (s *supervisor) endShift(ctx context.Context) {
	for _, id := range s.seats {
		if err := s.set(ctx, id, "not_ready", breakReason); err != nil {
			s.log.Debug("end of shift: seat not set not ready", "seat", id, "error", err)
		}
	}
	s.log.Info("end of the simulated shift: every simulated operator is not ready", "seats", len(s.seats))
}

// comeBack puts seats that rang out back to ready after a while: the
// operator was away from the desk and has returned.
func (s *supervisor) comeBack(ctx context.Context) {
	seats, err := s.list(ctx)
	if err != nil {
		return
	}
	for _, v := range seats {
		if v.State == "not_ready" && v.Reason == noAnswerReason && slices.Contains(s.seats, v.ID) && time.Since(v.Since) > backAfterRONA {
			if err := s.set(ctx, v.ID, "ready", ""); err == nil {
				s.log.Info("simulated operator is back at the desk after a call rang out (ready)", "seat", v.ID)
			}
		}
	}
}

func (s *supervisor) list(ctx context.Context) ([]seatView, error) {
	var out struct {
		Seats []seatView `json:"seats"`
	}
	if err := s.api(ctx, http.MethodGet, "/api/seats", nil, &out); err != nil {
		return nil, err
	}
	return out.Seats, nil
}

func (s *supervisor) set(ctx context.Context, seat, state, reason string) error {
	body := map[string]string{"state": state}
	if reason != "" {
		body["reason"] = reason
	}
	return s.api(ctx, http.MethodPost, "/api/seats/"+seat+"/state", body, nil)
}

func (s *supervisor) login(ctx context.Context) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := s.do(ctx, http.MethodPost, "/api/login", map[string]string{"username": s.user, "password": s.password}, &out); err != nil {
		return err
	}
	s.token = out.Token
	return nil
}

// api calls the API with the session, logging in first or again on 401.
func (s *supervisor) api(ctx context.Context, method, path string, in, out any) error {
	if s.token == "" {
		if err := s.login(ctx); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	err := s.do(ctx, method, path, in, out)
	if he, ok := err.(httpError); ok && he.code == http.StatusUnauthorized {
		s.token = ""
		if err := s.login(ctx); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		err = s.do(ctx, method, path, in, out)
	}
	return err
}

type httpError struct {
	code int
	body string
}

func (e httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func (s *supervisor) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return httpError{code: res.StatusCode, body: string(bytes.TrimSpace(b))}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}
