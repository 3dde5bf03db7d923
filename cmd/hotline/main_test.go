package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/testcert"
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
	if strings.Contains(out, "feedback_secret") {
		t.Fatalf("feedback_secret warned about while no work-order secret is set:\n%s", out)
	}
	// One work-order secret for both directions works, and is warned about;
	// the new keys are shown by --print (the secret masked).
	t.Setenv("WORKORDER_SECRET", "push-key-0123456")
	code, out, errs = runCmd(t, "", "check-config", "--print", "--config", "../../configs/hotline.yaml")
	if code != 0 {
		t.Fatalf("check-config: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"warning: workorder.feedback_secret is not set", "trusted_proxies: []", "feedback_secret: \"\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Setenv("WORKORDER_FEEDBACK_SECRET", "feedback-key-0123")
	if code, out, errs = runCmd(t, "", "check-config", "--print", "--config", "../../configs/hotline.yaml"); code != 0 || strings.Contains(out, "feedback_secret is not set") || strings.Contains(out, "feedback-key-0123") {
		t.Errorf("with its own feedback key: exit %d\n%s%s", code, out, errs)
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
http:
  trusted_proxies: ["10.0.0.5"]
workorder:
  secret: "same-key-0123456789"
  feedback_secret: "same-key-0123456789"
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
	for _, key := range []string{"http.trusted_proxies[0]", "workorder.feedback_secret", "sip.lisen", "sip.trusted_sources[0]", "media.rtp_ports", "acd.backend", "seats[0].password", "seats[1].id", "seats[1].skills[0]"} {
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
	if code, _, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", cfg, "--name", "li", "--role", "operator", "--seat", "8001"); code == 0 || !strings.Contains(errs, "exists") {
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

// The cluster example checks clean for two nodes with their own
// environments, and check-config with both files cross-checks them: the
// same node_id on two nodes, or different secrets, are refused.
func TestCheckConfigOfTwoNodes(t *testing.T) {
	for i := 1; i <= 6; i++ {
		t.Setenv(fmt.Sprintf("SEAT_800%d_PASSWORD", i), "pass")
	}
	t.Setenv("CLUSTER_SECRET", "0123456789abcdef-cluster")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:1/0") // nothing there: the online check only notes it
	dir := t.TempDir()
	node := func(name, id, ip, secret string) string {
		b, err := os.ReadFile("../../configs/cluster/node.yaml")
		if err != nil {
			t.Fatal(err)
		}
		y := strings.NewReplacer("${NODE_ID}", id, "${NODE_IP}", ip, "${CLUSTER_SECRET}", secret).Replace(string(b))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := node("a.yaml", "km-1", "10.0.0.11", "${CLUSTER_SECRET}")
	b := node("b.yaml", "km-2", "10.0.0.12", "${CLUSTER_SECRET}")
	if code, out, errs := runCmd(t, "", "check-config", "--config", a, "--config", b); code != 0 {
		t.Fatalf("two good nodes: exit %d\n%s%s", code, out, errs)
	} else if !strings.Contains(out, "Redis did not answer") {
		t.Errorf("no note about the unreachable Redis:\n%s", out)
	}
	twin := node("twin.yaml", "km-1", "10.0.0.13", "another-secret-0123456")
	b2, err := os.ReadFile(twin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(twin, []byte(strings.Replace(string(b2), "${WORKORDER_FEEDBACK_SECRET:-}", "twin-feedback-key-0123", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "", "check-config", "--config", a, "--config", twin)
	if code == 0 {
		t.Fatal("two nodes with one node_id passed")
	}
	for _, want := range []string{`node_id "km-1" is the same`, "cluster.secret differs", "workorder.feedback_secret (else workorder.secret) differs (empty / set)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no %q in:\n%s", want, errs)
		}
	}
}

// check-config loads a tls:// listener's certificate as serve would: a
// missing file is an error naming it, a certificate about to expire a
// warning, a good one passes.
func TestCheckConfigTLS(t *testing.T) {
	dir := t.TempDir()
	shipped, err := os.ReadFile("../../configs/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(cert, key string) string {
		y := regexp.MustCompile(`(?m)^  listen: \[.*\]`).ReplaceAllString(string(shipped),
			`  listen: ["udp://127.0.0.1:5060", "tls://127.0.0.1:5061"]`+"\n  tls_cert: "+cert+"\n  tls_key: "+key)
		if !strings.Contains(y, "tls://") || !strings.Contains(y, "tls_cert") {
			t.Fatal("could not add a tls:// listener to the shipped config")
		}
		p := filepath.Join(dir, "tls.yaml")
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgPath := write(filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing.key"))
	if code, out, errs := runCmd(t, "", "check-config", "--config", cfgPath); code == 0 || !strings.Contains(errs, "missing.pem") {
		t.Fatalf("a missing certificate: exit %d\n%s%s", code, out, errs)
	}
	certDir := t.TempDir()
	cert, key := testcert.Write(t, certDir, 7, 10*24*time.Hour)
	cfgPath = write(cert, key)
	code, out, errs := runCmd(t, "", "check-config", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "warning: sip.tls_cert") || !strings.Contains(out, "expires") {
		t.Fatalf("a certificate that expires in 10 days: exit %d, want 0 and a warning\n%s%s", code, out, errs)
	}
	cert, key = testcert.Write(t, certDir, 8, 365*24*time.Hour)
	cfgPath = write(cert, key)
	if code, out, errs := runCmd(t, "", "check-config", "--config", cfgPath); code != 0 || strings.Contains(out, "tls_cert") {
		t.Fatalf("a good certificate: exit %d\n%s%s", code, out, errs)
	}
}
