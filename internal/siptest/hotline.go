package siptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// RequireTool fails the test loudly when a peer is missing: the README's
// test command installs them, and a missing peer must never pass quietly.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run the README's test command (scripts/test.sh), which installs the test peers", name)
	}
	return p
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BuildHotline builds ./cmd/hotline once per test process (with the race
// detector when the tests have it) and returns the binary's path.
func BuildHotline(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hotline-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "hotline")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/hotline")
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Ready mirrors app.Ready (the ready file).
type Ready struct {
	SIPUDP string `json:"sip_udp"`
	SIPTCP string `json:"sip_tcp"`
	SIPTLS string `json:"sip_tls"`
	HTTP   string `json:"http"`
	PID    int    `json:"pid"`
}

// Hotline is a running hotline binary.
type Hotline struct {
	Bin, Dir, ConfigPath string
	Ready                Ready
	Token                string // an admin's bearer token, after Login

	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Config is the test configuration; Extra is appended YAML (top-level keys
// not written here).
type Config struct {
	Trusted    []string // default 127.0.0.1/32
	RTPTimeout string   // default 30s
	RTPPorts   string   // media.rtp_ports, default RTPRange()
	Grace      string   // shutdown.grace, default 10s
	// ACD lines inside the acd: block, e.g. "ring_timeout: 3s".
	ACD   []string
	Extra string
	// NodeID is node_id (default test-1); SIPPort and HTTPPort fix the
	// listening ports (default 0: any), which a cluster's advertised
	// addresses need known beforehand.
	NodeID            string
	SIPPort, HTTPPort int
	// TLSCert and TLSKey, when set, add a tls:// listener (any free port,
	// Ready.SIPTLS) presenting them.
	TLSCert, TLSKey string
	// SRTPSeats get srtp: true (they need TLSCert).
	SRTPSeats []string
	// ManagerSeats are added as seats of role manager (a manager's phone:
	// registers, never offered calls; password SeatPassword(id)).
	ManagerSeats []string
}

// SeatPassword is the password of seat id in test configurations.
func SeatPassword(id string) string { return "test-" + id + "-pass" }

// RTPRange returns a random 400-port range for one test process's RTP.
func RTPRange() string {
	base := 30000 + 2*rand.IntN(12000)
	return fmt.Sprintf("%d-%d", base, base+400)
}

// WriteConfig writes a hotline.yaml for a test instance into dir.
func WriteConfig(t testing.TB, dir string, c Config) string {
	t.Helper()
	if len(c.Trusted) == 0 {
		c.Trusted = []string{"127.0.0.1/32"}
	}
	if c.RTPTimeout == "" {
		c.RTPTimeout = "30s"
	}
	if c.RTPPorts == "" {
		c.RTPPorts = RTPRange()
	}
	if c.Grace == "" {
		c.Grace = "10s"
	}
	if c.NodeID == "" {
		c.NodeID = "test-1"
	}
	root := RepoRoot()
	y := fmt.Sprintf(`node_id: %s
data_dir: %s
log: { level: debug, format: text }
sip:
  listen: ["udp://127.0.0.1:%d", "tcp://127.0.0.1:%d"%s
  domain: 12348.local
  hotline_numbers: ["12348"]
  trusted_sources: [%s]
  digest_algorithms: [MD5, SHA-256]  # SIPp 3.6 reads only the first challenge
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "%s"
  rtp_timeout: %s
http:
  listen: 127.0.0.1:%d
acd:
%s
seats:
  - { id: "8001", name: "坐席1", password: "test-8001-pass", skills: [consult, legal_aid, mediation, notary, complaint] }
  - { id: "8002", name: "坐席2", password: "test-8002-pass", skills: [consult, legal_aid, mediation, notary, complaint] }
  - { id: "8003", name: "坐席3", password: "test-8003-pass", skills: [consult, legal_aid, mediation, notary, complaint] }
  - { id: "8006", name: "坐席6", password: "test-8006-pass", skills: [mediation, legal_aid] }
ivr:
  menu: %s
  prompts: %s
shutdown:
  grace: %s
%s`, c.NodeID, filepath.Join(dir, "data"), c.SIPPort, c.SIPPort, tlsListen(c), strings.Join(c.Trusted, ", "), c.RTPPorts, c.RTPTimeout, c.HTTPPort, acdLines(c.ACD),
		filepath.Join(root, "configs", "ivr.yaml"), filepath.Join(root, "configs", "prompts", "zh"), c.Grace, c.Extra)
	for _, id := range c.ManagerSeats {
		anchor := "\nivr:\n"
		i := strings.Index(y, anchor)
		y = y[:i] + fmt.Sprintf("\n  - { id: %q, name: \"值班长%s\", password: %q, role: manager }", id, id, SeatPassword(id)) + y[i:]
	}
	for _, id := range c.SRTPSeats {
		line := `  - { id: "` + id + `", name: "坐席`
		i := strings.Index(y, line)
		if i < 0 {
			t.Fatalf("no seat %s in the test config", id)
		}
		end := i + strings.Index(y[i:], " }\n")
		y = y[:end] + ", srtp: true" + y[end:]
	}
	p := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsListen is the tls:// listener of c and its files (the keys follow the
// listen line inside the sip: block).
func tlsListen(c Config) string {
	if c.TLSCert == "" {
		return "]"
	}
	return fmt.Sprintf(", \"tls://127.0.0.1:0\"]\n  tls_cert: %s\n  tls_key: %s", c.TLSCert, c.TLSKey)
}

// StartHotline runs the binary with a fresh data directory and waits until
// it serves. The process is stopped (SIGTERM) at the end of the test; its
// log is printed when the test failed.
func StartHotline(t testing.TB, c Config) *Hotline {
	t.Helper()
	dir := t.TempDir()
	h := &Hotline{Bin: BuildHotline(t), Dir: dir}
	h.ConfigPath = WriteConfig(t, dir, c)
	h.Start(t)
	t.Cleanup(func() {
		h.Stop(t, syscall.SIGTERM, 30*time.Second)
		if t.Failed() {
			t.Logf("hotline log:\n%s", h.Log())
		}
	})
	return h
}

// Start (re)starts the process on the same directory and configuration.
func (h *Hotline) Start(t testing.TB) {
	t.Helper()
	readyFile := filepath.Join(h.Dir, "ready.json")
	_ = os.Remove(readyFile)
	h.log = &syncBuffer{}
	h.cmd = exec.Command(h.Bin, "serve", "--config", h.ConfigPath, "--ready-file", readyFile)
	h.cmd.Dir = h.Dir
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	h.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.exited = make(chan struct{})
	go func() { h.err = h.cmd.Wait(); close(h.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(readyFile)
		if err == nil && json.Unmarshal(b, &h.Ready) == nil {
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("hotline exited before serving: %v\n%s", h.err, h.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("hotline not ready after 60s\n%s", h.Log())
		}
	}
}

// Log returns what the process has logged so far.
func (h *Hotline) Log() string { return h.log.String() }

// Stop signals the process and waits for it; returns its exit error.
func (h *Hotline) Stop(t testing.TB, sig syscall.Signal, wait time.Duration) error {
	if h.cmd == nil || h.cmd.Process == nil {
		return nil
	}
	select {
	case <-h.exited:
		return h.err
	default:
	}
	_ = h.cmd.Process.Signal(sig)
	select {
	case <-h.exited:
	case <-time.After(wait):
		_ = h.cmd.Process.Kill()
		<-h.exited
		t.Errorf("hotline did not exit within %s of %s", wait, sig)
	}
	return h.err
}

// Exited is closed when the process has exited.
func (h *Hotline) Exited() <-chan struct{} { return h.exited }

// ExitErr is the process's exit error once Exited is closed.
func (h *Hotline) ExitErr() error { return h.err }

// Run runs a hotline subcommand on this instance's configuration.
func (h *Hotline) Run(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(h.Bin, args...)
	cmd.Dir = h.Dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Login creates an admin user (first call) and logs in, keeping the token.
func (h *Hotline) Login(t testing.TB) {
	t.Helper()
	if out, err := h.Run(t, "admin-password-1\n", "user", "add", "--config", h.ConfigPath, "--name", "admin", "--role", "admin", "--replace"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	code, body := h.API(t, "POST", "/api/login", `{"username":"admin","password":"admin-password-1"}`)
	if code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	var r struct{ Token string }
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		t.Fatalf("login answer %s", body)
	}
	h.Token = r.Token
}

// API calls the HTTP API with the admin token (if any).
func (h *Hotline) API(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+h.Ready.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// FreePort returns a currently free UDP+TCP port on 127.0.0.1 (even, so it
// can serve as an RTP port too), with the three above it: a caller may use
// p..p+3 (baresip's RTP range, SIPp's audio and video ports). Ports come
// from 20000–29999, below every RTPRange, and no port is handed out twice
// in one test binary: tests run in parallel, and a port picked here stays
// unbound until its peer starts, sometimes seconds later (a seat SIPp is
// started again on the port its REGISTER came from).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 20000 + 4*rand.IntN(2500)
		if !claimPort(p) {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		u2, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+2))
		if err != nil {
			u.Close()
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		u.Close()
		u2.Close()
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free port")
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// claimPort marks the block at p as handed out; false if it already was.
func claimPort(p int) bool {
	portsMu.Lock()
	defer portsMu.Unlock()
	if portsGiven[p] {
		return false
	}
	portsGiven[p] = true
	return true
}

// ErrExit is returned by RunSIPp when SIPp exits non-zero.
var ErrExit = errors.New("sipp failed")

// Signal sends sig to the process.
func (h *Hotline) Signal(sig syscall.Signal) error { return h.cmd.Process.Signal(sig) }

func acdLines(lines []string) string {
	if len(lines) == 0 {
		return "  backend: memory"
	}
	return "  " + strings.Join(lines, "\n  ")
}
