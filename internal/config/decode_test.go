package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "path: text", in order; path "" = the whole file
	}{
		{"unknown top-level key", "lisen: x", []string{"lisen: unknown key"}},
		{"unknown nested key with a guess", "sip:\n  lisen: [\"udp://0.0.0.0:5060\"]", []string{"sip.lisen: unknown key (did you mean listen?)"}},
		{"unknown key in a list item", `seats: [{id: "8001", pasword: p, skills: [consult]}]`, []string{"seats[0].pasword: unknown key (did you mean password?)", "seats[0].password: must not be empty"}},
		{"unknown key without a close match", "http: {colour: red}", []string{"http.colour: unknown key"}},
		{"every unknown key", "a: 1\nb: 2\nsip: {c: 3}", []string{"a: unknown key", "b: unknown key", "sip.c: unknown key"}},
		{"integer wanted", "acd: {service_level_seconds: fast}", []string{"acd.service_level_seconds: want an integer, got \"fast\""}},
		{"integer wanted, got a float", "workorder: {max_attempts: 2.5}", []string{"workorder.max_attempts: want an integer, got \"2.5\""}},
		{"integer wanted, got a quoted number", `workorder: {max_attempts: "3"}`, []string{"workorder.max_attempts: want an integer, got \"3\""}},
		{"integer too large", "workorder: {max_attempts: 99999999999999999999}", []string{"workorder.max_attempts: want an integer"}},
		{"bool wanted", "recordings: {enabled: yes}", []string{"recordings.enabled: want true or false, got \"yes\""}},
		{"bool wanted, got a number", "http: {secure_cookie: 1}", []string{"http.secure_cookie: want true or false, got \"1\""}},
		{"list wanted", "sip: {listen: \"udp://0.0.0.0:5060\"}", []string{"sip.listen: want a list, got \"udp://0.0.0.0:5060\""}},
		{"mapping wanted", "sip: [udp]", []string{"sip: want a mapping (key: value), got a list"}},
		{"top level not a mapping", "- a\n- b", []string{": want a mapping"}},
		{"string wanted, got a mapping", "data_dir: {a: b}", []string{"data_dir: want a string, got a mapping"}},
		{"duration without a unit", "acd: {ring_timeout: 15}", []string{"acd.ring_timeout: invalid duration \"15\" (want a number with a unit"}},
		{"duration nonsense", "shutdown: {grace: soon}", []string{"shutdown.grace: invalid duration \"soon\""}},
		{"duration as a list", "shutdown: {grace: [1s]}", []string{"shutdown.grace: want a value, got a list"}},
		{"duplicate key", "node_id: a\nnode_id: b", []string{"node_id: duplicate key"}},
		{"syntax error", "sip: [", []string{": yaml:"}},
		{"two documents", "node_id: a\n---\nnode_id: b\n", []string{": more than one YAML document"}},
		{"tab indentation", "sip:\n\tdomain: x", []string{": yaml:"}},
		{"merge of itself", "sip: &s {<<: *s}", []string{"sip: << merges an alias that is missing or contains itself"}},
		{"bad type stops validation of that key only", "media: {rtp_ports: [1, 2], rtp_timeout: 0s}", []string{"media.rtp_ports: want a string, got a list", "media.rtp_timeout: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), noEnv)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")[1:]
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				path, text, _ := strings.Cut(w, ": ")
				prefix := path + ": "
				if path == "" {
					prefix = ""
				}
				if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], text) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	const doc = `
seats:
  - &seat {id: "8001", name: A, password: p, skills: [consult, legal_aid]}
  - <<: *seat
    id: "8002"
    name: B
sip:
  hotline_numbers: &nums ["12348"]
`
	c, err := Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Seats[1]
	if s.ID != "8002" || s.Name != "B" || s.Password != "p" || !slices.Equal(s.Skills, []string{"consult", "legal_aid"}) {
		t.Errorf("merged seat = %+v", s)
	}
}

// Aliases expanding exponentially must not hang or exhaust memory.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("x")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	doc := "sip:\n  listen: *a9\n" + strings.ReplaceAll(b.String(), "x", "  x")
	doc = "ivr:\n" + doc[len("sip:\n"):] // keep it under one mapping with unknown keys
	start := time.Now()
	_, err := Parse([]byte(doc), noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if n := strings.Count(err.Error(), "\n"); n > maxProblems+1 {
		t.Errorf("%d problems listed, want at most %d", n, maxProblems+1)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"15s", 15 * time.Second, "15s"},
		{"10m", 10 * time.Minute, "10m"},
		{"1800s", 30 * time.Minute, "30m"},
		{"12h", 12 * time.Hour, "12h"},
		{"90s", 90 * time.Second, "1m30s"},
		{"1h0m30s", time.Hour + 30*time.Second, "1h0m30s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{" 2m ", 2 * time.Minute, "2m"},
		{"0", 0, "0s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil || d.D() != tt.want || d.String() != tt.str {
			t.Errorf("%q -> %v (%q), %v; want %v (%q)", tt.in, d.D(), d.String(), err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"", "15", "fast", "1x"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
