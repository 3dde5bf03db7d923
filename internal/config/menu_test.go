package config

import (
	"strings"
	"testing"

	"github.com/hotline12348/hotline/configs"
)

func TestLoadMenuProblems(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // an edit of the shipped ivr.yaml
		want     []string
	}{
		{"unknown key", "welcome: [welcome]", "welcom: [welcome]", []string{"welcom: unknown key (did you mean welcome?)", "welcome: must list at least one prompt"}},
		{"unknown route field", "priority: green,", "prio: green,", []string{"routes.9.prio: unknown key"}},
		{"bad timeout", "timeout: 5s", "timeout: 5", []string{"timeout: invalid duration \"5\""}},
		{"bad category", "category: mediation", "category: tax", []string{"routes.3.category: unknown category \"tax\""}},
		{"position_every is not a menu key", "  wait: [queue_wait]", "  wait: [queue_wait]\n  position_every: 30s", []string{"queue.position_every: unknown key"}},
		{"score out of range", `"3": 3 }`, `"3": 5 }`, []string{"survey.scores.3: score 5 out of range"}},
		{"prompt with a path", "[legal_info_1,", "[../legal_info_1,", []string{"queue.announcements[0]: prompt \"../legal_info_1\": use only letters"}},
		{"a type error is reported once", "max_length: 120s", "max_length: [120s]", []string{"voicemail.max_length: want a duration like 15s, got a list"}},
	}
	shipped := string(configs.IVRYAML())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(shipped, tt.old) {
				t.Fatalf("shipped ivr.yaml has no %q", tt.old)
			}
			_, err := LoadMenu([]byte(strings.Replace(shipped, tt.old, tt.new, 1)))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.HasPrefix(err.Error(), "config: ivr menu: ") {
				t.Errorf("message %q lacks the prefix", err)
			}
			lines := strings.Split(err.Error(), "\n")[1:]
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				path, text, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(lines[i], path+": ") || !strings.Contains(lines[i], text) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}
