package ivr

import (
	"context"
	"errors"
	"maps"
	"testing"
	"testing/synctest"
	"time"
)

const s = time.Second

// Welcome 6 s, menu 10 s (ends at 16 s), invalid 2 s.
var menuLengths = map[string]time.Duration{"welcome": 6 * s, "menu": 10 * s, "invalid": 2 * s}

func TestMenuRun(t *testing.T) {
	tests := []struct {
		name    string
		keys    []press
		hangup  time.Duration
		want    Result
		wantErr error
		wantAt  time.Duration // when Run returns
		wantLog []string
	}{
		{
			name: "1 consult during menu", keys: []press{{8 * s, '1'}},
			want:    Result{Consult, Normal, "1", ReasonChoice},
			wantAt:  8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "2 legal aid", keys: []press{{8 * s, '2'}},
			want: Result{LegalAid, Normal, "2", ReasonChoice}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "3 mediation", keys: []press{{8 * s, '3'}},
			want: Result{Mediation, Normal, "3", ReasonChoice}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "4 notary", keys: []press{{8 * s, '4'}},
			want: Result{Notary, Normal, "4", ReasonChoice}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "5 complaint", keys: []press{{8 * s, '5'}},
			want: Result{Complaint, Normal, "5", ReasonChoice}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "9 green channel", keys: []press{{8 * s, '9'}},
			want: Result{LegalAid, Green, "9", ReasonChoice}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "0 general", keys: []press{{8 * s, '0'}},
			want: Result{Consult, Normal, "0", ReasonZero}, wantAt: 8 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop"},
		},
		{
			name: "key after the menu ended, within the timeout", keys: []press{{20 * s, '3'}},
			want: Result{Mediation, Normal, "3", ReasonChoice}, wantAt: 20 * s,
			wantLog: []string{"0s play welcome", "6s play menu"},
		},
		{
			name:    "no key: general 5 s after the menu ends, not after the welcome",
			want:    Result{Consult, Normal, "", ReasonTimeout},
			wantAt:  21 * s,
			wantLog: []string{"0s play welcome", "6s play menu"},
		},
		{
			name: "barge-in during welcome", keys: []press{{3 * s, '2'}},
			want: Result{LegalAid, Normal, "2", ReasonChoice}, wantAt: 3 * s,
			wantLog: []string{"0s play welcome", "3s stop"},
		},
		{
			name: "wrong key during welcome, then silence", keys: []press{{3 * s, '7'}},
			want: Result{Consult, Normal, "7", ReasonTimeout}, wantAt: 20 * s, // invalid+menu end at 15 s
			wantLog: []string{"0s play welcome", "3s stop", "3s play invalid menu"},
		},
		{
			name: "wrong key once, then right", keys: []press{{8 * s, '7'}, {11 * s, '3'}},
			want: Result{Mediation, Normal, "73", ReasonChoice}, wantAt: 11 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop", "8s play invalid menu", "11s stop"},
		},
		{
			name: "wrong key twice: general, never hang up", keys: []press{{8 * s, '7'}, {11 * s, '#'}},
			want: Result{Consult, Normal, "7#", ReasonInvalid}, wantAt: 11 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop", "8s play invalid menu", "11s stop"},
		},
		{
			name: "star repeats the menu", keys: []press{{8 * s, '*'}, {20 * s, '4'}},
			want: Result{Notary, Normal, "*4", ReasonChoice}, wantAt: 20 * s, // replay ends at 18 s
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop", "8s play menu"},
		},
		{
			name: "star then silence: timeout after the replay", keys: []press{{8 * s, '*'}},
			want: Result{Consult, Normal, "*", ReasonTimeout}, wantAt: 23 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop", "8s play menu"},
		},
		{
			name: "star during welcome plays the menu", keys: []press{{1 * s, '*'}},
			want: Result{Consult, Normal, "*", ReasonTimeout}, wantAt: 16 * s,
			wantLog: []string{"0s play welcome", "1s stop", "1s play menu"},
		},
		{
			name: "too many repeats: general",
			keys: []press{{7 * s, '*'}, {8 * s, '*'}, {9 * s, '*'}, {10 * s, '*'}},
			want: Result{Consult, Normal, "****", ReasonRepeatLimit}, wantAt: 10 * s,
			wantLog: []string{
				"0s play welcome", "6s play menu",
				"7s stop", "7s play menu", "8s stop", "8s play menu", "9s stop", "9s play menu", "10s stop",
			},
		},
		{
			name: "hang-up mid-menu returns the partial path", keys: []press{{8 * s, '7'}}, hangup: 9 * s,
			want: Result{Path: "7"}, wantErr: context.Canceled, wantAt: 9 * s,
			wantLog: []string{"0s play welcome", "6s play menu", "8s stop", "8s play invalid menu", "9s stop"},
		},
		{
			name: "hang-up during welcome", hangup: 2 * s,
			want: Result{}, wantErr: context.Canceled, wantAt: 2 * s,
			wantLog: []string{"0s play welcome", "2s stop"},
		},
		{
			name: "hang-up while waiting after the menu", hangup: 18 * s,
			want: Result{}, wantErr: context.Canceled, wantAt: 18 * s,
			wantLog: []string{"0s play welcome", "6s play menu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := hangupAt(t, tt.hangup)
				f := newFake(t, menuLengths, tt.keys)
				got, err := testMenu().Run(ctx, f)
				if at := time.Since(f.t0); at != tt.wantAt {
					t.Errorf("Run returned at %v, want %v", at, tt.wantAt)
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if got != tt.want {
					t.Errorf("result = %+v, want %+v", got, tt.want)
				}
				diffLog(t, f.events(), tt.wantLog)
			})
		})
	}
}

// A leg whose key channel closes (or never delivers) still reaches the queue.
func TestMenuRunClosedDigits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, menuLengths, nil)
		close(f.digits)
		got, err := testMenu().Run(t.Context(), f)
		if err != nil || got.Reason != ReasonTimeout || got.Category != Consult {
			t.Fatalf("got %+v, %v; want general queue by timeout", got, err)
		}
		if at := time.Since(f.t0); at != 21*s {
			t.Errorf("returned at %v, want 21s", at)
		}
	})
}

func TestKeyLabelsFromTheMenu(t *testing.T) {
	m := &Menu{RepeatKey: "*", Routes: map[string]Route{"4": {Category: Notary, Label: "公证与司法鉴定"}, "0": {Category: Consult, Label: "综合咨询"}}}
	got := m.KeyLabels()
	want := map[string]string{"4": "公证与司法鉴定", "0": "综合咨询", "*": "重听"}
	if !maps.Equal(got, want) {
		t.Fatalf("KeyLabels %v, want %v", got, want)
	}
}
