package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hotline --help (and -h, help) shows every command and every flag each
// takes, from the flag sets the commands parse with; a command's own -h
// shows its part and exits 0.
func TestHelpShowsTheRealUsage(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		code, out, errs := runCmd(t, "", arg)
		if code != 0 || errs != "" {
			t.Fatalf("%s: exit %d, stderr %q", arg, code, errs)
		}
		for _, c := range commands {
			if !strings.Contains(out, "hotline "+c.name) {
				t.Errorf("%s: no command %q in:\n%s", arg, c.name, out)
			}
			if c.flags == nil {
				continue
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.flags(fs)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "-"+f.Name) {
					t.Errorf("%s: command %s: no flag -%s in the usage", arg, c.name, f.Name)
				}
			})
		}
	}
	code, _, errs := runCmd(t, "", "serve", "--help")
	if code != 0 || !strings.Contains(errs, "-ready-file") || strings.Contains(errs, "check-config") {
		t.Fatalf("serve --help: exit %d\n%s", code, errs)
	}
	if code, _, errs := runCmd(t, "", "serve", "stray"); code != 2 || !strings.Contains(errs, `unexpected argument "stray"`) {
		t.Fatalf("serve with a stray argument: exit %d\n%s", code, errs)
	}
}

// writeConfig writes a configuration for one node on 127.0.0.1 (ports the
// kernel picks) with extra appended, its data in a new directory.
func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	y := "node_id: t1\nseats: [{id: \"8001\", password: pass-8001-x, skills: [consult]}]\n" + extra
	for _, d := range []struct{ key, yaml string }{
		{"data_dir:", "data_dir: " + filepath.Join(dir, "data") + "\n"},
		{"sip:", "sip: {listen: [\"udp://127.0.0.1:0\"]}\n"},
		{"http:", "http: {listen: \"127.0.0.1:0\"}\n"},
		{"media:", "media: {rtp_ports: \"41000-41100\"}\n"},
	} {
		if !strings.Contains(extra, d.key) {
			y += d.yaml
		}
	}
	p := filepath.Join(dir, "h.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// check-config and serve are one validation: whatever serve refuses at
// start, check-config refuses with the same words, naming the key.
func TestServeAndCheckConfigRefuseAlike(t *testing.T) {
	scratch := t.TempDir()
	file := filepath.Join(scratch, "a-file")
	badMenu := filepath.Join(scratch, "menu.yaml")
	for p, b := range map[string]string{file: "x", badMenu: "menu: [not, a, menu\n"} {
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, yaml, key string }{
		{"data_dir is a file", "data_dir: " + file + "\n", "data_dir"},
		{"data_dir under a file", "data_dir: " + file + "/data\n", "data_dir"},
		{"http.listen not here", "http: {listen: \"192.0.2.1:0\"}\n", "http.listen"},
		{"sip.listen not here", "sip: {listen: [\"udp://127.0.0.1:0\", \"tcp://192.0.2.1:0\"]}\n", "sip.listen[1]"},
		{"media.bind_ip not here", "media: {rtp_ip: 127.0.0.1, bind_ip: 192.0.2.1, rtp_ports: \"41000-41100\"}\n", "media.bind_ip"},
		{"ivr.menu missing", "ivr: {menu: " + filepath.Join(scratch, "none.yaml") + "}\n", "ivr.menu"},
		{"ivr.menu unreadable", "ivr: {menu: " + badMenu + "}\n", "ivr.menu"},
		{"ivr.prompts not a directory", "ivr: {prompts: " + file + "}\n", "ivr.prompts"},
		{"tls certificate missing", "sip: {listen: [\"tls://127.0.0.1:0\"], tls_cert: " + filepath.Join(scratch, "no.pem") +
			", tls_key: " + filepath.Join(scratch, "no.key") + "}\n", "sip.tls_cert"},
		{"unknown acd.backend", "acd: {backend: mongo}\n", "acd.backend"},
		{"redis without the cluster's keys", "acd: {backend: redis, redis_url: \"redis://127.0.0.1:1/0\"}\n", "cluster.advertise_sip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, c.yaml)
			code, out, checkErr := runCmd(t, "", "check-config", "--config", p)
			if code != 1 || !strings.Contains(checkErr, c.key) || strings.Contains(out, ": ok") || strings.Contains(checkErr, "duplicate key") {
				t.Fatalf("check-config: exit %d, want 1 naming %s\nstdout: %s\nstderr: %s", code, c.key, out, checkErr)
			}
			type result struct {
				code int
				errs string
			}
			done := make(chan result, 1)
			go func() {
				code, _, errs := runCmd(t, "", "serve", "--config", p)
				done <- result{code, errs}
			}()
			select {
			case r := <-done:
				if r.code != 1 || r.errs != checkErr {
					t.Fatalf("serve: exit %d, stderr\n%s\nwant exit 1 and what check-config said:\n%s", r.code, r.errs, checkErr)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("serve started with a configuration check-config refuses")
			}
		})
	}
}

// SIP on every address with RTP on loopback starts, with a warning from
// both check-config and serve's log: callers elsewhere would get no audio.
func TestLoopbackRTPWarning(t *testing.T) {
	p := writeConfig(t, "sip: {listen: [\"udp://0.0.0.0:0\"]}\nmedia: {rtp_ip: 127.0.0.1, rtp_ports: \"41000-41100\"}\n")
	code, out, errs := runCmd(t, "", "check-config", "--config", p)
	if code != 0 || !strings.Contains(out, "warning: sip.listen udp://0.0.0.0:0 takes calls on every address, but media.rtp_ip 127.0.0.1 and media.bind_ip 127.0.0.1 is loopback") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	p = writeConfig(t, "media: {rtp_ip: 127.0.0.1, rtp_ports: \"41000-41100\"}\n") // SIP on 127.0.0.1 too: a lab, no warning
	if code, out, errs := runCmd(t, "", "check-config", "--config", p); code != 0 || strings.Contains(out, "loopback") {
		t.Fatalf("all on loopback: exit %d\n%s%s", code, out, errs)
	}
}

// An operator answers calls at a seat: user add refuses one without
// --seat, before it asks for a password or opens the database.
func TestUserAddOperatorNeedsSeat(t *testing.T) {
	p := writeConfig(t, "")
	code, _, errs := runCmd(t, "operator-pass-1\n", "user", "add", "--config", p, "--name", "li", "--role", "operator")
	if code != 2 || !strings.Contains(errs, "--seat") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "data", "hotline.db")); !os.IsNotExist(err) {
		t.Fatalf("a database was made: %v", err)
	}
	if code, out, errs := runCmd(t, "manager-pass-1\n", "user", "add", "--config", p, "--name", "zhang", "--role", "manager"); code != 0 {
		t.Fatalf("a manager without a seat: exit %d\n%s%s", code, out, errs)
	}
}

// hotline healthcheck: 0 when /healthz answers 200, 1 on 503 or nothing;
// without --url it asks http.listen, over loopback for 0.0.0.0.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprintln(w, map[int]string{200: "ok", 503: "draining"}[status])
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p := writeConfig(t, "http: {listen: \"0.0.0.0:"+port+"\"}\n")
	if code, out, errs := runCmd(t, "", "healthcheck", "--config", p); code != 0 || !strings.Contains(out, "200") {
		t.Fatalf("healthy: exit %d\n%s%s", code, out, errs)
	}
	status = http.StatusServiceUnavailable
	if code, _, errs := runCmd(t, "", "healthcheck", "--url", srv.URL+"/healthz"); code != 1 || !strings.Contains(errs, "503") || !strings.Contains(errs, "draining") {
		t.Fatalf("503: exit %d\n%s", code, errs)
	}
	srv.Close()
	if code, _, errs := runCmd(t, "", "healthcheck", "--url", srv.URL+"/healthz", "--timeout", "1s"); code != 1 || errs == "" {
		t.Fatalf("nothing listening: exit %d\n%s", code, errs)
	}
	for in, want := range map[string]string{"0.0.0.0:8080": "http://127.0.0.1:8080/healthz", ":8080": "http://127.0.0.1:8080/healthz",
		"[::]:8080": "http://[::1]:8080/healthz", "10.0.0.5:80": "http://10.0.0.5:80/healthz"} {
		if got := healthzURL(in); got != want {
			t.Errorf("healthzURL(%q) = %q, want %q", in, got, want)
		}
	}
}
