// Package redistest runs real redis-server (and redis-sentinel) processes
// for tests, on 127.0.0.1 ports the kernel picked. It never skips: without
// the Debian packages a test fails and says to run scripts/test.sh.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Port int
	Dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

func need(t testing.TB, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found: the tests need a real Redis; run scripts/test.sh (it installs the Debian package %s)", bin, pkg)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a redis-server with no persistence (a restart comes back
// empty) until the test ends. extra are more "--key value" arguments.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	need(t, "redis-server", "redis-server")
	s := &Server{t: t, Port: FreePort(t), Dir: t.TempDir()}
	s.args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--save", "", "--appendonly", "no",
		"--dir", s.Dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}, extra...)
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	if err := WaitPing(s.Addr(), 5*time.Second); err != nil {
		s.Kill()
		s.t.Fatalf("redis-server on %s: %v", s.Addr(), err)
	}
}

// Kill stops the server at once (SIGKILL): what it held is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Restart starts it again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// WaitPing waits until a Redis answers PING at addr.
func WaitPing(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		out, err := Cmd(addr, "PING")
		if err == nil && out == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %v %q", within, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cmd sends one inline command and returns the first line of the reply
// (without the type byte); for tests and their setup only.
func Cmd(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	if len(line) > 0 {
		line = line[1:]
	}
	return line, nil
}

// Sentinels is a master, a replica and three sentinels watching them, as a
// Redis that must survive its own failure is deployed.
type Sentinels struct {
	Master, Replica *Server
	Sentinel        []*Server
	Name            string
}

// SentinelAddrs are the sentinels' host:port.
func (s *Sentinels) SentinelAddrs() []string {
	var out []string
	for _, x := range s.Sentinel {
		out = append(out, x.Addr())
	}
	return out
}

// StartSentinels starts a master, one replica and three sentinels (quorum
// 2, down-after 1 s, failover timeout 5 s).
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	need(t, "redis-sentinel", "redis-sentinel")
	m := Start(t)
	r := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
	ss := &Sentinels{Master: m, Replica: r, Name: "hotline"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := info(r.Addr(), "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never linked to the master: %v %s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 3 {
		port := FreePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nprotected-mode no\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			port, dir, ss.Name, m.Port, ss.Name, ss.Name, ss.Name)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-sentinel", conf)
		if err := cmd.Start(); err != nil {
			t.Fatalf("redis-sentinel: %v", err)
		}
		sv := &Server{t: t, Port: port, Dir: dir, cmd: cmd}
		t.Cleanup(sv.Kill)
		if err := WaitPing(sv.Addr(), 5*time.Second); err != nil {
			t.Fatalf("sentinel %d: %v", i, err)
		}
		ss.Sentinel = append(ss.Sentinel, sv)
	}
	return ss
}

// info returns the text of INFO section from a Redis (bulk reply).
func info(addr, section string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section)
	rd := bufio.NewReader(c)
	head, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return "", fmt.Errorf("INFO reply %q", head)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// MasterAddr asks a sentinel which address is the master now.
func (s *Sentinels) MasterAddr(ctx context.Context) (string, error) {
	for _, x := range s.Sentinel {
		c, err := net.DialTimeout("tcp", x.Addr(), 500*time.Millisecond)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$%d\r\n%s\r\n", len(s.Name), s.Name)
		rd := bufio.NewReader(c)
		var parts []string
		for range 5 {
			l, err := rd.ReadString('\n')
			if err != nil {
				break
			}
			l = strings.TrimRight(l, "\r\n")
			if !strings.HasPrefix(l, "*") && !strings.HasPrefix(l, "$") {
				parts = append(parts, l)
			}
		}
		c.Close()
		if len(parts) == 2 {
			return parts[0] + ":" + parts[1], nil
		}
	}
	return "", fmt.Errorf("no sentinel answered")
}
