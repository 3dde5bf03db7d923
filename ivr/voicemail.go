package ivr

import (
	"context"
	"fmt"
	"time"
)

// Voicemail invites the caller to leave a message (SPEC §5: after max_wait,
// or at once when no seat is logged in).
type Voicemail struct {
	Prompts   []string      `yaml:"prompts"`    // the invitation; any key skips to the beep
	Beep      string        `yaml:"beep"`       // tone before recording (Beep; "" = none)
	MaxLength time.Duration `yaml:"max_length"` // recording stops here (SPEC: 120 s)
	EndKey    string        `yaml:"end_key"`    // "#" ends the recording
	Saved     []string      `yaml:"saved"`      // after a recording that was not cut by a hang-up
	// Failed is played when the message cannot be recorded (recordings
	// not writable): an apology and the promise of a callback, never
	// silence.
	Failed []string `yaml:"failed"`
}

// EndedBy says what ended a voicemail recording.
type EndedBy string

// The ways a recording ends.
const (
	EndedByKey       EndedBy = "key"
	EndedByMaxLength EndedBy = "max_length"
	EndedByHangup    EndedBy = "hangup"
)

// VoicemailResult is what Voicemail.Run recorded.
type VoicemailResult struct {
	Duration time.Duration // as reported by StopRecording; 0 if recording never started
	EndedBy  EndedBy
}

// defaultVoicemailMax is used when MaxLength is not positive (SPEC §5: 120 s).
const defaultVoicemailMax = 120 * time.Second

// Run plays the invitation and the beep, records until EndKey, MaxLength or
// hang-up, then (unless the caller hung up) plays Saved. A hang-up is a normal
// end: the result says EndedByHangup and err is nil. err is set only when
// recording could not start; the caller has then heard Failed.
func (v *Voicemail) Run(ctx context.Context, ch RecordingChannel) (VoicemailResult, error) {
	res := VoicemailResult{EndedBy: EndedByHangup}
	digits := ch.Digits()
	drain(digits)

	// Any key during the invitation skips to the beep; the key itself is used up.
	if _, _, err := collect(ctx, ch, digits, v.Prompts, 0); err != nil {
		return res, nil
	}
	if v.Beep != "" && !play(ctx, ch, v.Beep) {
		return res, nil
	}
	drain(digits) // keys pressed during the beep must not end an empty recording

	if err := ch.StartRecording(); err != nil {
		play(ctx, ch, v.Failed...)
		return res, fmt.Errorf("ivr: voicemail: start recording: %w", err)
	}
	maxLen := v.MaxLength
	if maxLen <= 0 {
		maxLen = defaultVoicemailMax
	}
	limit := time.NewTimer(maxLen)
	defer limit.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			res.Duration = ch.StopRecording()
			return res, nil
		case <-limit.C:
			res.EndedBy = EndedByMaxLength
			break wait
		case r, ok := <-digits:
			if !ok {
				digits = nil
				continue
			}
			if v.EndKey != "" && string(r) == v.EndKey {
				res.EndedBy = EndedByKey
				break wait
			}
		}
	}
	res.Duration = ch.StopRecording()
	play(ctx, ch, v.Saved...)
	return res, nil
}
