package ivr

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// Invitation 4 s, beep 1 s: recording starts at 5 s. Saved + goodbye 4 s.
var voicemailLengths = map[string]time.Duration{
	"voicemail": 4 * s, Beep: 1 * s, "voicemail_saved": 2 * s, "goodbye": 2 * s, "voicemail_failed": 3 * s,
}

func TestVoicemailRun(t *testing.T) {
	tests := []struct {
		name    string
		keys    []press
		hangup  time.Duration
		want    VoicemailResult
		wantAt  time.Duration
		wantLog []string
	}{
		{
			name: "# ends the recording", keys: []press{{30 * s, '#'}},
			want: VoicemailResult{25 * s, EndedByKey}, wantAt: 34 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "30s rec stop", "30s play voicemail_saved goodbye"},
		},
		{
			name: "max length", want: VoicemailResult{120 * s, EndedByMaxLength}, wantAt: 129 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "2m5s rec stop", "2m5s play voicemail_saved goodbye"},
		},
		{
			name: "hang-up while recording keeps the message", hangup: 40 * s,
			want: VoicemailResult{35 * s, EndedByHangup}, wantAt: 40 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "40s rec stop"},
		},
		{
			name: "a key during the invitation skips to the beep", keys: []press{{2 * s, '1'}, {10 * s, '#'}},
			want: VoicemailResult{7 * s, EndedByKey}, wantAt: 14 * s,
			wantLog: []string{"0s play voicemail", "2s stop", "2s play beep", "3s rec start", "10s rec stop", "10s play voicemail_saved goodbye"},
		},
		{
			name: "other keys do not end the recording", keys: []press{{10 * s, '5'}, {20 * s, '#'}},
			want: VoicemailResult{15 * s, EndedByKey}, wantAt: 24 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "20s rec stop", "20s play voicemail_saved goodbye"},
		},
		{
			name: "# during the beep does not end an empty recording", keys: []press{{4*s + s/2, '#'}}, hangup: 20 * s,
			want: VoicemailResult{15 * s, EndedByHangup}, wantAt: 20 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "20s rec stop"},
		},
		{
			name: "hang-up during the invitation records nothing", hangup: 2 * s,
			want: VoicemailResult{0, EndedByHangup}, wantAt: 2 * s,
			wantLog: []string{"0s play voicemail", "2s stop"},
		},
		{
			name: "hang-up during the goodbye", keys: []press{{30 * s, '#'}}, hangup: 31 * s,
			want: VoicemailResult{25 * s, EndedByKey}, wantAt: 31 * s,
			wantLog: []string{"0s play voicemail", "4s play beep", "5s rec start", "30s rec stop", "30s play voicemail_saved goodbye", "31s stop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := hangupAt(t, tt.hangup)
				f := newFake(t, voicemailLengths, tt.keys)
				vm := testMenu().Voicemail
				got, err := vm.Run(ctx, f)
				if err != nil {
					t.Errorf("err = %v", err)
				}
				if got != tt.want {
					t.Errorf("result = %+v, want %+v", got, tt.want)
				}
				if at := time.Since(f.t0); at != tt.wantAt {
					t.Errorf("Run returned at %v, want %v", at, tt.wantAt)
				}
				diffLog(t, f.events(), tt.wantLog)
			})
		})
	}
}

func TestVoicemailStartRecordingFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, voicemailLengths, nil)
		f.startErr = errNoDisk
		vm := testMenu().Voicemail
		_, err := vm.Run(t.Context(), f)
		if !errors.Is(err, errNoDisk) {
			t.Fatalf("err = %v, want %v", err, errNoDisk)
		}
		// The caller hears the apology to its end, never silence.
		if at := time.Since(f.t0); at != 10*s {
			t.Errorf("Run returned at %v, want 10s (after the apology)", at)
		}
		diffLog(t, f.events(), []string{"0s play voicemail", "4s play beep", "5s play voicemail_failed goodbye"})
	})
}
