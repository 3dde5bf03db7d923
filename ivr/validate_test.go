package ivr

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestValidateShippedShape(t *testing.T) {
	if errs := testMenu().Validate(nil); len(errs) != 0 {
		t.Fatalf("problems in a good menu: %v", errs)
	}
	all := func(string) bool { return true }
	if errs := testMenu().Validate(all); len(errs) != 0 {
		t.Fatalf("problems with every prompt present: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		change    func(m *Menu)
		hasPrompt func(string) bool
		want      []string // the problems' paths, in order
	}{
		{"no welcome", func(m *Menu) { m.Welcome = nil }, nil, []string{"welcome"}},
		{"no menu", func(m *Menu) { m.Prompts = nil }, nil, []string{"menu"}},
		{"prompt with extension", func(m *Menu) { m.Invalid = []string{"invalid.wav"} }, nil, []string{"invalid[0]"}},
		{"prompt escaping the directory", func(m *Menu) { m.Welcome = []string{"../etc/passwd"} }, nil, []string{"welcome[0]"}},
		{"empty prompt name", func(m *Menu) { m.Prompts = []string{""} }, nil, []string{"menu[0]"}},
		{"zero timeout", func(m *Menu) { m.Timeout = 0 }, nil, []string{"timeout"}},
		{"repeat key not DTMF", func(m *Menu) { m.RepeatKey = "**" }, nil, []string{"repeat_key"}},
		{"repeat key is a route", func(m *Menu) { m.RepeatKey = "1" }, nil, []string{"repeat_key"}},
		{"negative limits", func(m *Menu) { m.MaxRepeats, m.MaxInvalid = -1, -1 }, nil, []string{"max_repeats", "max_invalid"}},
		{"general without category", func(m *Menu) { m.General = Route{} }, nil, []string{"general.category"}},
		{"no routes", func(m *Menu) { m.Routes = nil }, nil, []string{"routes"}},
		{"bad route key", func(m *Menu) { m.Routes["12"] = Route{Category: Consult} }, nil, []string{"routes.12"}},
		{"bad category and priority", func(m *Menu) { m.Routes["6"] = Route{Category: "tax", Priority: "vip"} }, nil,
			[]string{"routes.6.category", "routes.6.priority"}},
		{"no announcements", func(m *Menu) { m.Queue.Announcements = nil }, nil, []string{"queue.announcements"}},
		{"no position words", func(m *Menu) { m.Queue.PositionBefore, m.Queue.PositionAfter = nil, nil }, nil,
			[]string{"queue.position_before", "queue.position_after"}},
		{"voicemail", func(m *Menu) { m.Voicemail = Voicemail{EndKey: "x"} }, nil,
			[]string{"voicemail.prompts", "voicemail.max_length", "voicemail.end_key"}},
		{"survey", func(m *Menu) {
			m.Survey.Scores = map[string]int{"1": 1, "4": 4, "x": 2}
			m.Survey.Timeout = -time.Second
			m.Survey.MaxRetries = -1
		}, nil, []string{"survey.scores.4", "survey.scores.x", "survey.timeout", "survey.max_retries"}},
		{"survey without scores", func(m *Menu) { m.Survey.Scores = nil }, nil, []string{"survey.scores"}},
		{"missing prompt file", func(*Menu) {}, func(name string) bool { return name != "legal_info_3" },
			[]string{"queue.announcements[2]"}},
		{"missing number word", func(*Menu) {}, func(name string) bool { return name != "num_7" }, []string{"queue"}},
		{"beep is a tone, never a file", func(*Menu) {}, func(name string) bool { return name != Beep }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMenu()
			tt.change(m)
			var got []string
			for _, err := range m.Validate(tt.hasPrompt) {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("%v is not a *ValidationError", err)
				}
				got = append(got, ve.Path)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems at %q, want %q; all: %v", got, tt.want, m.Validate(tt.hasPrompt))
			}
		})
	}
}
