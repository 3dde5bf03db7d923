package main

import (
	"os"
	"strings"
	"testing"
)

// A manager's phone (seats[].role: manager) is configured without skills;
// user add binds a manager to it and refuses to bind an operator.
func TestUserAddManagerPhone(t *testing.T) {
	p := writeConfig(t, "")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), `seats: [{id: "8001", password: pass-8001-x, skills: [consult]}]`,
		`seats: [{id: "8001", password: pass-8001-x, skills: [consult]}, {id: "8090", password: pass-8090-x, role: manager}]`, 1)
	if y == string(b) {
		t.Fatal("test config without its seats line")
	}
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd(t, "", "check-config", "--config", p); code != 0 {
		t.Fatalf("check-config with a manager phone: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", p, "--name", "li", "--role", "operator", "--seat", "8090")
	if code == 0 || !strings.Contains(errs, "manager's phone") {
		t.Fatalf("operator on a manager phone: exit %d\n%s", code, errs)
	}
	if code, out, errs := runCmd(t, "manager-pass-1\n", "user", "add", "--config", p, "--name", "zhang", "--role", "manager", "--seat", "8090"); code != 0 {
		t.Fatalf("manager on their phone: exit %d\n%s%s", code, out, errs)
	}
}
