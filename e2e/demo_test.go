package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `hotline demo` on the test configuration: its simulated seats register
// (digest, MD5 as this configuration offers it first) and answer, its
// simulated callers are answered by them, the console user it prints works,
// and SIGTERM ends it all with exit 0. Everything is seen from outside,
// through the API, as a newcomer would.
func TestDemoCallsFlowWithoutASoftphone(t *testing.T) {
	t.Parallel()
	bin := siptest.BuildHotline(t)
	dir := t.TempDir()
	cfg := siptest.WriteConfig(t, dir, siptest.Config{})
	readyFile := filepath.Join(dir, "ready.json")
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "demo", "--config", cfg, "--calls-per-minute", "60", "--ready-file", readyFile)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hotline demo log:\n%s", out.String())
		}
	})
	started := time.Now()

	h := &siptest.Hotline{Dir: dir, ConfigPath: cfg}
	for {
		b, err := os.ReadFile(readyFile)
		if err == nil && json.Unmarshal(b, &h.Ready) == nil && h.Ready.HTTP != "" {
			break
		}
		select {
		case <-exited:
			t.Fatalf("hotline demo exited before serving: %v", exitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(started) > 30*time.Second {
			t.Fatal("hotline demo not serving after 30 s")
		}
	}

	// The log tells the newcomer exactly what to type.
	var password string
	for password == "" {
		if m := regexp.MustCompile(`user=demo password=(\S+)`).FindStringSubmatch(out.String()); m != nil {
			password = m[1]
			break
		}
		if time.Since(started) > 30*time.Second {
			t.Fatal("no console login in the log")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := h.API(t, "POST", "/api/login", `{"username":"demo","password":"`+password+`"}`)
	if code != 200 {
		t.Fatalf("login with the printed password: %d %s", code, body)
	}
	var login struct {
		Token string `json:"token"`
		User  struct {
			Role   string `json:"role"`
			SeatID string `json:"seat_id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
		t.Fatalf("login answer %s", body)
	}
	if login.User.Role != "manager" || login.User.SeatID != "8001" {
		t.Errorf("demo user is %+v, want manager of seat 8001", login.User)
	}
	h.Token = login.Token

	// Within ~40 s: seats registered and a call answered by one of them.
	var registered []string
	var answered *ticketJSON
	for answered == nil || len(registered) == 0 {
		if time.Since(started) > 40*time.Second {
			t.Fatalf("after 40 s: registered seats %v, answered ticket %v", registered, answered)
		}
		select {
		case <-exited:
			t.Fatalf("hotline demo exited: %v", exitErr)
		case <-time.After(500 * time.Millisecond):
		}
		registered = registered[:0]
		for id, s := range h.Seats(t) {
			if s.State != "offline" {
				registered = append(registered, id)
			}
		}
		code, body := h.API(t, "GET", "/api/tickets?limit=100", "")
		if code != 200 {
			t.Fatalf("tickets: %d %s", code, body)
		}
		var list struct{ Tickets []ticketJSON }
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		for i, tk := range list.Tickets {
			if tk.SeatID != nil && *tk.SeatID != "" && tk.AnsweredAt != nil {
				answered = &list.Tickets[i]
				break
			}
		}
	}
	t.Logf("after %s: seats %v registered; ticket %s answered by seat %s", time.Since(started).Round(time.Millisecond),
		registered, answered.ID, *answered.SeatID)
	if len(registered) != 4 {
		t.Errorf("registered seats %v: want the 4 of the test configuration", registered)
	}

	log := out.String()
	for _, want := range []string{
		"data_dir from --config",
		`msg="simulated seat phone registered" component=demo seat=8001 digest=MD5`, // MD5 is offered first here
		`user_agent="hotline-demo simulated seat phone"`,
		`msg="simulated caller dials 12348"`,
		`msg="simulated operator picked up and talks"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if regexp.MustCompile(`caller=1\d{10}\b`).MatchString(log) {
		t.Error("a caller number appears unmasked in the log")
	}

	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("hotline demo still running 30 s after SIGTERM")
	}
	if exitErr != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", exitErr)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	// The stop abandons nobody: the simulated operators finish and go not
	// ready, the callers wait, and the switch ends what is left as it stops
	// (interrupted). An abandon ended after the stop began would be one the
	// stop made (300 ms: a caller whose BYE was already on its way).
	db := filepath.Join(dir, "data", "hotline.db")
	since := stopped.Add(300 * time.Millisecond).UnixMilli()
	if n := dbQuery(t, db, fmt.Sprintf("SELECT count(*) FROM tickets WHERE outcome='abandoned' AND ended_at > %d", since)); n != "0" {
		t.Errorf("%s tickets abandoned by the stop:\n%s", n, dbQuery(t, db, fmt.Sprintf("SELECT id, abandon_stage, ended_at FROM tickets WHERE outcome='abandoned' AND ended_at > %d", since)))
	}
	if n := dbQuery(t, db, "SELECT count(*) FROM tickets WHERE status='open'"); n != "0" {
		t.Errorf("%s tickets left open after the stop", n)
	}
	t.Logf("tickets by outcome: %s", strings.ReplaceAll(dbQuery(t, db, "SELECT outcome || '=' || count(*) FROM tickets GROUP BY outcome"), "\n", " "))
	log = out.String()
	for _, want := range []string{`msg="simulation stopped"`, `msg="end of the simulated shift: every simulated operator is not ready"`,
		`msg="simulated seat phone off: the switch has stopped"`, `msg="hotline stopped"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	for _, bad := range []string{"panic:", "DATA RACE", "simulated calls still running"} {
		if strings.Contains(log, bad) {
			t.Errorf("log contains %q", bad)
		}
	}
}
