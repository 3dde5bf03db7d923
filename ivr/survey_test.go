package ivr

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// Question 6 s, invalid 2 s, thanks 2 s; timeout 8 s after the question.
var surveyLengths = map[string]time.Duration{"survey": 6 * s, "survey_invalid": 2 * s, "survey_thanks": 2 * s}

func TestSurveyRun(t *testing.T) {
	tests := []struct {
		name    string
		keys    []press
		hangup  time.Duration
		want    int
		wantErr error
		wantAt  time.Duration
		wantLog []string
	}{
		{
			name: "1 satisfied", keys: []press{{7 * s, '1'}}, want: 1, wantAt: 9 * s,
			wantLog: []string{"0s play survey", "7s play survey_thanks"},
		},
		{
			name: "2 during the question (barge-in)", keys: []press{{3 * s, '2'}}, want: 2, wantAt: 5 * s,
			wantLog: []string{"0s play survey", "3s stop", "3s play survey_thanks"},
		},
		{
			name: "3 dissatisfied", keys: []press{{10 * s, '3'}}, want: 3, wantAt: 12 * s,
			wantLog: []string{"0s play survey", "10s play survey_thanks"},
		},
		{
			name: "wrong key, then right", keys: []press{{7 * s, '7'}, {16 * s, '2'}}, want: 2, wantAt: 18 * s,
			wantLog: []string{"0s play survey", "7s play survey_invalid survey", "16s play survey_thanks"},
		},
		{
			name: "wrong key twice: no rating", keys: []press{{7 * s, '7'}, {9 * s, '8'}}, want: 0, wantAt: 9 * s,
			wantLog: []string{"0s play survey", "7s play survey_invalid survey", "9s stop"},
		},
		{
			name: "no key: no rating 8 s after the question", want: 0, wantAt: 14 * s,
			wantLog: []string{"0s play survey"},
		},
		{
			name: "hang-up before answering", hangup: 3 * s, want: 0, wantErr: context.Canceled, wantAt: 3 * s,
			wantLog: []string{"0s play survey", "3s stop"},
		},
		{
			name: "hang-up during the thanks keeps the score", keys: []press{{7 * s, '1'}}, hangup: 8 * s, want: 1, wantAt: 8 * s,
			wantLog: []string{"0s play survey", "7s play survey_thanks", "8s stop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := hangupAt(t, tt.hangup)
				f := newFake(t, surveyLengths, tt.keys)
				sv := testMenu().Survey
				got, err := sv.Run(ctx, f)
				if got != tt.want {
					t.Errorf("score = %d, want %d", got, tt.want)
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if at := time.Since(f.t0); at != tt.wantAt {
					t.Errorf("Run returned at %v, want %v", at, tt.wantAt)
				}
				diffLog(t, f.events(), tt.wantLog)
			})
		})
	}
}

// A key pressed during the conversation, before the survey began, must not
// answer it.
func TestSurveyIgnoresEarlierKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, surveyLengths, nil)
		f.digits <- '1'
		sv := testMenu().Survey
		got, err := sv.Run(t.Context(), f)
		if got != 0 || err != nil {
			t.Fatalf("got %d, %v; want 0 (timeout)", got, err)
		}
	})
}
