package siptest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SIPp describes one run of SIPp (Debian sip-tester) as a UAC.
type SIPp struct {
	Scenario  string // file under testdata/sipp
	Target    string // host:port of the hotline
	Service   string // number dialled (-s)
	Caller    string // -key caller
	LocalIP   string // -i (default 127.0.0.1)
	Dir       string // working directory: the pcaps the scenario plays
	MediaPort int    // -mp (0: a free port)
	PauseMS   int    // -d: the bare <pause/> of the scenario
	Transport string // u1 (default) or t1
	Calls     int    // -m (default 1)
	Rate      string // -r (default 10)
	Limit     int    // -l (default Calls)
	Extra     []string
}

// Result of a SIPp run.
type SIPpResult struct {
	ExitCode int
	Output   string
	Errors   string // SIPp's error log (unexpected messages)
	Messages string // SIPp's message trace
}

// Run runs SIPp to completion (bounded by timeout) and returns its result.
// SIPp's exit code: 0 all calls succeeded, 1 some failed, other: fatal.
func (s SIPp) Run(t testing.TB, timeout time.Duration) SIPpResult {
	t.Helper()
	bin := RequireTool(t, "sipp")
	if s.LocalIP == "" {
		s.LocalIP = "127.0.0.1"
	}
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	if s.MediaPort == 0 {
		s.MediaPort = FreePort(t)
	}
	if s.Transport == "" {
		s.Transport = "u1"
	}
	if s.Calls == 0 {
		s.Calls = 1
	}
	if s.Rate == "" {
		s.Rate = "10"
	}
	if s.Limit == 0 {
		s.Limit = s.Calls
	}
	if s.Caller == "" {
		s.Caller = "13800000000"
	}
	errFile := filepath.Join(s.Dir, fmt.Sprintf("sipp-%d-errors.log", s.MediaPort))
	msgFile := filepath.Join(s.Dir, fmt.Sprintf("sipp-%d-messages.log", s.MediaPort))
	args := []string{
		"-sf", filepath.Join(RepoRoot(), "testdata", "sipp", s.Scenario),
		"-s", s.Service, "-i", s.LocalIP, "-p", strconv.Itoa(FreePort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(s.MediaPort),
		"-t", s.Transport, "-m", strconv.Itoa(s.Calls), "-r", s.Rate, "-l", strconv.Itoa(s.Limit),
		"-key", "caller", s.Caller,
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())), "-timeout_error",
		"-trace_err", "-error_file", errFile, "-trace_msg", "-message_file", msgFile,
	}
	if s.PauseMS > 0 {
		args = append(args, "-d", strconv.Itoa(s.PauseMS))
	}
	args = append(args, s.Extra...)
	args = append(args, s.Target)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	res := SIPpResult{Output: string(out)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			res.ExitCode = ee.ExitCode()
		} else {
			t.Fatalf("sipp: %v", err)
		}
	}
	if b, err := os.ReadFile(errFile); err == nil {
		res.Errors = string(b)
	}
	if b, err := os.ReadFile(msgFile); err == nil {
		res.Messages = string(b)
	}
	return res
}

// Capture is a running tcpdump on the loopback interface.
type Capture struct {
	cmd  *exec.Cmd
	path string
}

// StartCapture captures UDP to or from port on lo into a file until Stop.
// It fails the test loudly when tcpdump is missing or cannot capture.
func StartCapture(t testing.TB, filter string) *Capture {
	t.Helper()
	bin := RequireTool(t, "tcpdump")
	path := filepath.Join(t.TempDir(), "capture.pcap")
	cmd := exec.Command(bin, "-i", "lo", "-U", "-n", "-s", "0", "-w", path, filter)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	// Wait for "listening on lo" so no packet is missed.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- nil
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("tcpdump exited: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("tcpdump could not capture on lo (it needs root or CAP_NET_RAW): %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tcpdump did not start within 10s")
	}
	c := &Capture{cmd: cmd, path: path}
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *Capture) stop() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	}
}

// Stop ends the capture and returns the UDP packets captured.
func (c *Capture) Stop(t testing.TB) []Packet {
	t.Helper()
	c.stop()
	f, err := os.Open(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkts, err := ReadPCAP(f)
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

// WritePCAPFile writes packets to dir/name.
func WritePCAPFile(t testing.TB, dir, name string, pkts []Packet) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WritePCAP(f, pkts); err != nil {
		t.Fatal(err)
	}
}
