package ivr

import (
	"fmt"
	"slices"
	"strings"
)

// ValidationError is one problem in a Menu, at its key path in ivr.yaml
// ("routes.1.category", "survey.scores.4").
type ValidationError struct {
	Path    string
	Problem string
}

func (e *ValidationError) Error() string { return e.Path + ": " + e.Problem }

type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &ValidationError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

// Validate returns every problem of the menu, each a *ValidationError, in
// file order; nil means the menu is usable. hasPrompt, when not nil, says
// whether a prompt name exists (a WAV file in the prompt directory); tones
// (Beep) are not looked up.
func (m *Menu) Validate(hasPrompt func(name string) bool) []error {
	var p problems
	prompts := func(path string, names []string, required bool) {
		if required && len(names) == 0 {
			p.add(path, "must list at least one prompt")
		}
		for i, name := range names {
			checkPrompt(&p, fmt.Sprintf("%s[%d]", path, i), name, hasPrompt)
		}
	}
	prompts("welcome", m.Welcome, true)
	prompts("menu", m.Prompts, true)
	prompts("invalid", m.Invalid, false)
	if m.Timeout <= 0 {
		p.add("timeout", "must be positive (e.g. 5s)")
	}
	if m.RepeatKey != "" {
		if !isKey(m.RepeatKey) {
			p.add("repeat_key", "%q is not a DTMF key (want one of 0-9 * # A-D)", m.RepeatKey)
		} else if _, ok := m.Routes[m.RepeatKey]; ok {
			p.add("repeat_key", "%q is also a key in routes", m.RepeatKey)
		}
	}
	if m.MaxRepeats < 0 {
		p.add("max_repeats", "must not be negative")
	}
	if m.MaxInvalid < 0 {
		p.add("max_invalid", "must not be negative")
	}
	checkRoute(&p, "general", m.General)
	if len(m.Routes) == 0 {
		p.add("routes", "must map at least one key to a queue")
	}
	for _, key := range sortedKeys(m.Routes) {
		path := "routes." + key
		if !isKey(key) {
			p.add(path, "%q is not a DTMF key (want one of 0-9 * # A-D)", key)
		}
		checkRoute(&p, path, m.Routes[key])
	}

	q := &m.Queue
	prompts("queue.wait", q.Wait, false)
	prompts("queue.announcements", q.Announcements, true)
	prompts("queue.position_before", q.PositionBefore, true)
	prompts("queue.position_after", q.PositionAfter, true)
	prompts("queue.all_busy", q.AllBusy, false)
	prompts("queue.connecting", q.Connecting, false)
	if q.PositionEvery < 0 {
		p.add("queue.position_every", "must not be negative")
	}
	if hasPrompt != nil {
		for _, name := range NumberPromptNames() {
			if !hasPrompt(name) {
				p.add("queue", "prompt %q not found (needed to read out queue positions)", name)
			}
		}
	}

	v := &m.Voicemail
	prompts("voicemail.prompts", v.Prompts, true)
	if v.Beep != "" {
		checkPrompt(&p, "voicemail.beep", v.Beep, hasPrompt)
	}
	if v.MaxLength <= 0 {
		p.add("voicemail.max_length", "must be positive (e.g. 120s)")
	}
	if !isKey(v.EndKey) {
		p.add("voicemail.end_key", "%q is not a DTMF key (want one of 0-9 * # A-D)", v.EndKey)
	}
	prompts("voicemail.saved", v.Saved, false)
	prompts("voicemail.failed", v.Failed, false)

	s := &m.Survey
	prompts("survey.prompts", s.Prompts, true)
	if len(s.Scores) == 0 {
		p.add("survey.scores", "must map at least one key to a score")
	}
	for _, key := range sortedKeys(s.Scores) {
		path := "survey.scores." + key
		if !isKey(key) {
			p.add(path, "%q is not a DTMF key (want one of 0-9 * # A-D)", key)
		}
		if score := s.Scores[key]; score < 1 || score > 3 {
			p.add(path, "score %d out of range (want 1, 2 or 3)", score)
		}
	}
	if s.Timeout <= 0 {
		p.add("survey.timeout", "must be positive (e.g. 8s)")
	}
	prompts("survey.invalid", s.Invalid, false)
	if s.MaxRetries < 0 {
		p.add("survey.max_retries", "must not be negative")
	}
	prompts("survey.thanks", s.Thanks, false)
	return p
}

func checkRoute(p *problems, path string, r Route) {
	if !r.Category.Valid() {
		p.add(path+".category", "%s", categoryProblem(r.Category))
	}
	if r.Priority != "" && !r.Priority.Valid() {
		p.add(path+".priority", "unknown priority %q (want normal or green)", r.Priority)
	}
}

func categoryProblem(c Category) string {
	names := make([]string, 0, 5)
	for _, k := range Categories() {
		names = append(names, string(k))
	}
	if c == "" {
		return "must be set (one of " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf("unknown category %q (want one of %s)", c, strings.Join(names, ", "))
}

// checkPrompt refuses names that are not plain file stems: they are joined to
// a directory by the player, so "../x" or "a/b" must never get through.
func checkPrompt(p *problems, path, name string, hasPrompt func(string) bool) {
	switch {
	case name == "":
		p.add(path, "empty prompt name")
		return
	case strings.HasSuffix(strings.ToLower(name), ".wav"):
		p.add(path, "prompt %q: write the name without .wav", name)
		return
	case !validPromptName(name):
		p.add(path, "prompt %q: use only letters, digits, '_' and '-'", name)
		return
	}
	if hasPrompt != nil && !IsTone(name) && !hasPrompt(name) {
		p.add(path, "prompt %q not found", name)
	}
}

func validPromptName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// isKey reports whether s is exactly one DTMF key.
func isKey(s string) bool {
	r := []rune(s)
	return len(r) == 1 && Digit(r[0]).Valid()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
