package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// The shipped configuration checks clean with no environment, and says
// which secrets fall back to the defaults written in the file.
func TestCheckShippedConfig(t *testing.T) {
	for _, k := range []string{"SEAT_8001_PASSWORD", "WORKORDER_SECRET"} {
		t.Setenv(k, "")
	}
	code, out, errs := runCmd(t, "", "check-config", "--config", "../../configs/hotline.yaml")
	if code != 0 {
		t.Fatalf("check-config of the shipped file: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "ok") || !strings.Contains(out, "seats[0].password") {
		t.Fatalf("output:\n%s", out)
	}
}

// A bad file lists every problem with its key path and exits non-zero.
func TestCheckConfigListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
sip:
  lisen: ["udp://0.0.0.0:5060"]
  trusted_sources: ["10.0.0.0/33"]
media:
  rtp_ports: "30000-20000"
acd:
  backend: mongo
seats:
  - { id: "8001", name: a, password: "", skills: [consult] }
  - { id: "8001", name: b, password: x, skills: [cooking] }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "", "check-config", "--config", bad)
	if code == 0 {
		t.Fatal("a bad config passed")
	}
	for _, key := range []string{"sip.lisen", "sip.trusted_sources[0]", "media.rtp_ports", "acd.backend", "seats[0].password", "seats[1].id", "seats[1].skills[0]"} {
		if !strings.Contains(errs, key) {
			t.Errorf("no problem reported for %s in:\n%s", key, errs)
		}
	}
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "h.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\nseats:\n  - { id: \"8001\", name: a, password: pass-8001-x, skills: [consult] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", cfg, "--name", "li", "--role", "operator", "--seat", "8001"); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", cfg, "--name", "li", "--role", "operator"); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("duplicate user: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", cfg, "--name", "wang", "--role", "operator", "--seat", "9999"); code == 0 || !strings.Contains(errs, "--seat 9999") {
		t.Fatalf("unknown seat: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "short\n", "user", "add", "--config", cfg, "--name", "zhao", "--role", "admin"); code == 0 || !strings.Contains(errs, "8 characters") {
		t.Fatalf("short password: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "hotline.db")); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, _ := runCmd(t, "", "frobnicate"); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
