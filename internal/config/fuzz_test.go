package config

import (
	"strings"
	"testing"

	"github.com/hotline12348/hotline/configs"
)

func fuzzEnv(name string) (string, bool) {
	switch name {
	case "SET":
		return "a: b # c", true
	case "EMPTY":
		return "", true
	}
	return "", false
}

// FuzzLoad: arbitrary bytes never panic; what loads is valid and printable.
func FuzzLoad(f *testing.F) {
	f.Add(configs.HotlineYAML())
	f.Add([]byte(""))
	f.Add([]byte("sip:\n  lisen: x\n"))
	f.Add([]byte("seats: [{id: \"1\", password: ${SET}, skills: [consult]}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("sip: &s {<<: *s}\n"))
	f.Add([]byte("x: !!binary ==\n"))
	f.Add([]byte("media: {rtp_ports: \"1024-1025\", rtp_ip: \"${EMPTY:-::1}\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, fuzzEnv)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error without the package prefix: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a config Validate refuses: %v", err)
		}
		_ = c.String()
	})
}

func FuzzLoadMenu(f *testing.F) {
	f.Add(configs.IVRYAML())
	f.Add([]byte("routes: {\"1\": {category: consult}}"))
	f.Add([]byte("survey: {scores: {\"1\": 9}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadMenu(data)
		if err == nil && len(m.Validate(nil)) > 0 {
			t.Errorf("LoadMenu accepted a menu Validate refuses")
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "${SET}", "${UNSET:-x}", "${", "a${EMPTY}b", "${SET:-}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, _, err := expand(s, fuzzEnv)
		if err == nil && !strings.Contains(s, "$") && out != s {
			t.Errorf("expand(%q) = %q: text without $ changed", s, out)
		}
	})
}
