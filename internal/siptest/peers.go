package siptest

import (
	"bufio"
	"bytes"
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
	LocalPort int    // -p (0: a free port)
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
	return s.Start(t, timeout).Wait(t)
}

// SIPpRun is a SIPp process running in the background.
type SIPpRun struct {
	cmd              *exec.Cmd
	cancel           context.CancelFunc
	out              *syncBuffer
	errFile, msgFile string
	done             chan struct{}
	err              error
}

// Start starts SIPp and returns at once; Wait collects the result.
func (s SIPp) Start(t testing.TB, timeout time.Duration) *SIPpRun {
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
	if s.LocalPort == 0 {
		s.LocalPort = FreePort(t)
	}
	r := &SIPpRun{
		out:     &syncBuffer{},
		errFile: filepath.Join(s.Dir, fmt.Sprintf("sipp-%d-errors.log", s.MediaPort)),
		msgFile: filepath.Join(s.Dir, fmt.Sprintf("sipp-%d-messages.log", s.MediaPort)),
		done:    make(chan struct{}),
	}
	args := []string{
		"-sf", filepath.Join(RepoRoot(), "testdata", "sipp", s.Scenario),
		"-s", s.Service, "-i", s.LocalIP, "-p", strconv.Itoa(s.LocalPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(s.MediaPort),
		"-t", s.Transport, "-m", strconv.Itoa(s.Calls), "-r", s.Rate, "-l", strconv.Itoa(s.Limit),
		"-key", "caller", s.Caller,
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())), "-timeout_error",
		"-trace_err", "-error_file", r.errFile, "-trace_msg", "-message_file", r.msgFile,
	}
	if s.PauseMS > 0 {
		args = append(args, "-d", strconv.Itoa(s.PauseMS))
	}
	args = append(args, s.Extra...)
	args = append(args, s.Target)
	// SIPp ignores its own -timeout when overloaded (PEERS.md): a hard bound.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	r.cancel = cancel
	r.cmd = exec.CommandContext(ctx, bin, args...)
	r.cmd.Dir = s.Dir
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp: %v", err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// Wait waits for SIPp to exit and returns its result.
func (r *SIPpRun) Wait(t testing.TB) SIPpResult {
	t.Helper()
	<-r.done
	r.cancel()
	res := SIPpResult{Output: r.out.String()}
	if r.err != nil {
		if ee, ok := r.err.(*exec.ExitError); ok {
			res.ExitCode = ee.ExitCode()
		} else {
			t.Fatalf("sipp: %v", r.err)
		}
	}
	if b, err := os.ReadFile(r.errFile); err == nil {
		res.Errors = string(b)
	}
	if b, err := os.ReadFile(r.msgFile); err == nil {
		res.Messages = string(b)
	}
	return res
}

// Kill stops SIPp at once.
func (r *SIPpRun) Kill() {
	r.cancel()
	<-r.done
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
	// --immediate-mode: libpcap's TPACKET_V3 ring otherwise hands packets
	// over a block (or a 1 s timeout) at a time, and the packets of the last
	// block are lost when tcpdump is stopped, and late for Packets.
	cmd := exec.Command(bin, "-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0", "-w", path, filter)
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

// Packets returns what has been captured so far, without stopping: tcpdump
// runs with --immediate-mode and -U, so every packet is in the file as soon
// as it is seen (a record cut short at the end waits for the next call).
func (c *Capture) Packets(t testing.TB) []Packet {
	t.Helper()
	b, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		return nil // the file header is not written yet
	}
	pkts, err := ReadPCAP(bytes.NewReader(b))
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
