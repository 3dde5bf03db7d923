package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

// Storage faults under a running switch (issue 10): a citizen is never
// refused because the database is slow, no ticket is lost, /healthz tells
// the truth, and a voicemail that cannot be recorded still makes a
// callback.

// healthz returns /healthz's status code and body.
func healthz(t *testing.T, h *siptest.Hotline) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + h.Ready.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealth waits until /healthz answers code and returns how long it took.
func waitHealth(t *testing.T, h *siptest.Hotline, code int, within time.Duration) time.Duration {
	t.Helper()
	return waitUntil(t, fmt.Sprintf("/healthz %d", code), within, func() bool {
		c, _ := healthz(t, h)
		return c == code
	})
}

// dbQuery reads the database with the sqlite3 CLI, read only, beside the
// running switch (WAL: never blocked by a writer); the API is not used
// while the database is in trouble, since some of it writes (sessions,
// audit lines).
func dbQuery(t *testing.T, db, query string) string {
	t.Helper()
	out, err := exec.Command(siptest.RequireTool(t, "sqlite3"), "-readonly", db, query).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %q: %v %s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

// immutable makes paths unwritable, even through handles already open,
// the way a file system remounted read-only is: `chattr +i`. The tests
// run as root, for whom chmod stops nothing (CAP_DAC_OVERRIDE); an
// immutable file refuses root's writes too. Undone at the end of the test.
func immutable(t *testing.T, on bool, paths ...string) {
	t.Helper()
	flag := "-i"
	if on {
		flag = "+i"
		t.Cleanup(func() { _ = exec.Command("chattr", append([]string{"-i"}, paths...)...).Run() })
	}
	siptest.RequireTool(t, "chattr")
	if out, err := exec.Command("chattr", append([]string{flag}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %v: %v %s (the test directory's file system must support the immutable flag, as ext4 and xfs do)", flag, paths, err, out)
	}
}

// ticketWithFlag is a ticket as the API shows it, with recording_failed.
type ticketWithFlag struct {
	ticketJSON
	RecordingFailed bool `json:"recording_failed"`
}

// The database write-locked for 20 s by another process (the sqlite3 CLI
// in a transaction) while calls arrive and end: every call is answered,
// /healthz stays 200 (degraded: calls are taken), and afterwards every
// ticket is there, closed, and each revision reached the work-order
// system once, in order.
func TestDatabaseLockedCallsGoOn(t *testing.T) {
	t.Parallel()
	sqlite := siptest.RequireTool(t, "sqlite3")
	wo := newWorkorderSystem(t, "wo-secret")
	wo.up()
	h := siptest.StartHotline(t, siptest.Config{Extra: fmt.Sprintf("workorder:\n  url: %s\n  secret: wo-secret\n  timeout: 1s\n", wo.url())})
	h.Login(t)
	db := filepath.Join(h.Dir, "data", "hotline.db")

	// Another process takes the write lock and keeps it 20 s.
	lock := exec.Command(sqlite, db)
	stdin, err := lock.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := lock.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	lock.Stderr = os.Stderr
	if err := lock.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Process.Kill(); _ = lock.Wait() })
	fmt.Fprintln(stdin, ".timeout 5000")
	fmt.Fprintln(stdin, "BEGIN IMMEDIATE; INSERT INTO storage_probe(id, at) VALUES (2, 0) ON CONFLICT(id) DO UPDATE SET at = at + 1; SELECT 'locked';")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("sqlite3 did not take the lock: %q %v", line, err)
	}
	locked := time.Now()

	// Five citizens call during the lock: each presses 2 (legal aid) and
	// hangs up 3 s after the answer, in the queue (no seat is logged in...
	// until voicemail): the tickets open, change and close under the lock.
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x10c4).Audio(siptest.Tone(time.Second, 0.05, 300)).
		Digit('2', 120*time.Millisecond).Audio(siptest.Tone(10*time.Second, 0.05, 300))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	calls := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13533330000",
		Dir: dir, PauseMS: 3000, Calls: 5, Rate: "1", Limit: 5}.Start(t, 30*time.Second)
	time.Sleep(2 * time.Second)
	code, body := healthz(t, h)
	if code != 200 || !strings.Contains(body, "degraded") {
		t.Errorf("/healthz during the lock: %d %s, want 200 degraded (calls are taken)", code, body)
	}
	expectSIPpOK(t, calls.Wait(t)) // every call answered (200) and ended
	m := scrape(t, h)
	if v := metricValue(t, m, "hotline_ticket_backlog_writes"); v < 10 {
		t.Errorf("backlog holds %v writes under the lock, want the opens and closes of 5 calls", v)
	}
	if v := metricValue(t, m, "hotline_ticket_backlog_oldest_seconds"); v < 3 {
		t.Errorf("oldest backlog write %vs old, want seconds", v)
	}
	if n := dbQuery(t, db, "SELECT count(*) FROM tickets"); n != "0" {
		t.Fatalf("%s tickets written through another process's write lock?", n)
	}

	if d := 20*time.Second - time.Since(locked); d > 0 {
		time.Sleep(d)
	}
	fmt.Fprintln(stdin, "COMMIT;")
	stdin.Close()
	if err := lock.Wait(); err != nil {
		t.Fatalf("sqlite3: %v", err)
	}
	t.Logf("lock held %s", time.Since(locked).Round(time.Millisecond))

	var tickets []ticketJSON
	waitUntil(t, "5 closed tickets, all delivered", 20*time.Second, func() bool {
		tickets = allTickets(t, h)
		if len(tickets) != 5 {
			return false
		}
		for _, tk := range tickets {
			if tk.Status != "closed" || tk.Workorder.State != "delivered" {
				return false
			}
		}
		return true
	})
	if v := metricValue(t, scrape(t, h), "hotline_ticket_backlog_writes"); v != 0 {
		t.Errorf("backlog still holds %v writes", v)
	}
	wo.mu.Lock()
	defer wo.mu.Unlock()
	if len(wo.bad) > 0 {
		t.Fatalf("the receiver refused pushes: %v", wo.bad)
	}
	for _, tk := range tickets {
		if tk.Category != "legal_aid" || tk.Revision < 3 {
			t.Errorf("ticket %s: category %q revision %d", tk.ID, tk.Category, tk.Revision)
		}
		want := make([]int, tk.Revision)
		for i := range want {
			want[i] = i + 1
		}
		if got := wo.accepted[tk.ID]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ticket %s: work-order system got revisions %v, want %v", tk.ID, got, want)
		}
		for r := 1; r <= tk.Revision; r++ {
			if n := wo.times[fmt.Sprintf("%s/%d", tk.ID, r)]; n != 1 {
				t.Errorf("ticket %s revision %d pushed %d times", tk.ID, r, n)
			}
		}
	}
}

// The database made read-only under the running switch: /healthz 503
// within 5 s, a new INVITE 503 (the SBC tries another node), the call in
// progress goes on and its closing revision waits; writable again: 200
// without a restart and the ticket closed, nothing lost.
//
// Read-only is simulated faithfully with `chattr +i` on hotline.db and its
// -wal: writes through the switch's open handles fail (EPERM, "disk I/O
// error"), and a connection opened now gets the file read-only
// (SQLITE_READONLY) — what a file system remounted read-only does. chmod
// 0444 would stop neither as root, nor an open handle as anyone. The -shm
// index is left alone: it is shared memory, and making it immutable makes
// every process that has it mapped die of SIGBUS, which a read-only mount
// does not do.
func TestDatabaseReadOnlyHealthTellsTheTruth(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	if code, body := healthz(t, h); code != 200 {
		t.Fatalf("/healthz before: %d %s", code, body)
	}
	db := filepath.Join(h.Dir, "data", "hotline.db")

	// A call in progress: it chooses legal aid and hangs up 8 s after the answer.
	const inCall = "13544440000"
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x20c4).Audio(siptest.Tone(time.Second, 0.05, 300)).
		Digit('2', 120*time.Millisecond).Audio(siptest.Tone(15*time.Second, 0.05, 300))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	call := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: inCall,
		Dir: dir, PauseMS: 8000}.Start(t, 30*time.Second)
	waitUntil(t, "the call's ticket", 5*time.Second, func() bool {
		return dbQuery(t, db, "SELECT count(*) FROM tickets WHERE caller = '"+inCall+"'") == "1"
	})

	immutable(t, true, db, db+"-wal")
	took := waitHealth(t, h, 503, 5*time.Second)
	code, body := healthz(t, h)
	t.Logf("/healthz %d %s, %s after the database went read-only", code, body, took.Round(time.Millisecond))
	if !strings.Contains(body, "unavailable") || !strings.Contains(body, "database") {
		t.Errorf("/healthz body %s, want unavailable because of the database", body)
	}
	refused := siptest.SIPp{Scenario: "caller_expect_503.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13544449999"}.Run(t, 15*time.Second)
	expectSIPpOK(t, refused)
	m := scrape(t, h)
	if v := metricValue(t, m, "hotline_storage_ok", `part="database"`); v != 0 {
		t.Errorf("hotline_storage_ok{part=database} %v while read-only", v)
	}
	if v := metricValue(t, m, "hotline_sip_rejected_total", `reason="unavailable"`); v < 1 {
		t.Errorf("hotline_sip_rejected_total{reason=unavailable} %v", v)
	}

	// The call in progress goes on and ends; its closing revision waits.
	expectSIPpOK(t, call.Wait(t))
	time.Sleep(time.Second)
	if got := dbQuery(t, db, "SELECT status FROM tickets WHERE caller = '"+inCall+"'"); got != "open" {
		t.Fatalf("while read-only the ticket is %q in the database, want still open (its close waits)", got)
	}
	if v := metricValue(t, scrape(t, h), "hotline_ticket_backlog_writes"); v < 1 {
		t.Errorf("backlog holds %v writes while read-only", v)
	}
	if code, _ := healthz(t, h); code != 503 {
		t.Errorf("/healthz %d while still read-only", code)
	}

	immutable(t, false, db, db+"-wal")
	took = waitHealth(t, h, 200, 5*time.Second)
	t.Logf("/healthz 200 %s after the database became writable", took.Round(time.Millisecond))
	tk := closedTicket(t, h, inCall)
	if tk.Category != "legal_aid" || str(tk.EndReason) != "caller_hangup" {
		t.Errorf("ticket after recovery: category %q end_reason %s", tk.Category, str(tk.EndReason))
	}
	if n := len(allTickets(t, h)); n != 1 {
		t.Errorf("%d tickets, want 1 (the refused call never got one)", n)
	}
	// New calls are taken again.
	again := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: "13544441111",
		Dir: dir, PauseMS: 1000}.Run(t, 20*time.Second)
	expectSIPpOK(t, again)
	closedTicket(t, h, "13544441111")
}

// The recordings directory not writable: /healthz says degraded (calls are
// still taken), and a caller sent to voicemail hears an apology instead of
// being hung up on, and gets a callback ticket marked recording_failed.
//
// As root (the tests are) chmod 0555 stops nothing; the directory is made
// immutable (`chattr +i`): nothing can be created in it, by anyone.
func TestRecordingsUnwritableVoicemailApologises(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	recDir := filepath.Join(h.Dir, "data", "recordings")
	waitUntil(t, "the recordings directory", 5*time.Second, func() bool { _, err := os.Stat(recDir); return err == nil })
	immutable(t, true, recDir)
	waitUntil(t, "hotline_storage_ok{part=recordings} 0", 5*time.Second, func() bool {
		return metricValue(t, scrape(t, h), "hotline_storage_ok", `part="recordings"`) == 0
	})
	if code, body := healthz(t, h); code != 200 || !strings.Contains(body, "recordings") {
		t.Errorf("/healthz %d %s, want 200 degraded naming the recordings", code, body)
	}

	const caller = "13955556666"
	dir := t.TempDir()
	mp := siptest.FreePort(t)
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x30c4).Audio(siptest.Tone(time.Second, 0.05, 300)).
		Digit('1', 120*time.Millisecond).Audio(siptest.Tone(40*time.Second, 0.02, 300))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	r := siptest.SIPp{Scenario: "caller_waits_for_bye.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp}.Run(t, 60*time.Second)
	expectSIPpOK(t, r) // the switch said goodbye and hung up
	pkts := capture.Stop(t)
	var heard []int16
	for _, p := range pkts {
		if rtp, ok := siptest.ParseRTP(p.Payload); ok && (rtp.PT == 0 || rtp.PT == 8) {
			heard = append(heard, siptest.DecodeG711(rtp.PT, rtp.Payload)...)
		}
	}
	apology, saved := bestMatch(t, heard, "voicemail_failed"), bestMatch(t, heard, "voicemail_saved")
	t.Logf("caller heard %.1f s; correlation with the apology %.3f, with \"message saved\" %.3f", float64(len(heard))/8000, apology, saved)
	if apology < 0.9 {
		t.Errorf("the caller did not hear the apology (best correlation with voicemail_failed %.2f)", apology)
	}
	if saved > 0.5 {
		t.Errorf("the caller heard \"message saved\" (correlation %.2f) for a message never recorded", saved)
	}

	tk := closedTicket(t, h, caller)
	code, body := h.API(t, "GET", "/api/tickets/"+tk.ID, "")
	if code != 200 {
		t.Fatalf("ticket: %d %s", code, body)
	}
	var full ticketWithFlag
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	if str(full.Outcome) != "voicemail" || !full.Callback || !full.RecordingFailed || full.Recording != nil {
		t.Errorf("ticket: outcome %s callback %v recording_failed %v recording %s, want a voicemail callback marked recording_failed",
			str(full.Outcome), full.Callback, full.RecordingFailed, str(full.Recording))
	}
	if v := metricValue(t, scrape(t, h), "hotline_voicemail_recording_failed_total"); v != 1 {
		t.Errorf("hotline_voicemail_recording_failed_total %v", v)
	}
}

// bestMatch is the highest normalised correlation between one second from
// the middle of prompt and the audio heard, at every 20 ms frame start
// (the switch starts a prompt on a frame boundary; G.711 keeps the shape).
func bestMatch(t *testing.T, heard []int16, prompt string) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(siptest.RepoRoot(), "configs", "prompts", "zh", prompt+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := siptest.ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	p := w.Samples[0]
	const n = 8000
	from := (len(p) / 2 / 160) * 160
	if from+n > len(p) {
		t.Fatalf("prompt %s too short", prompt)
	}
	ref := p[from : from+n]
	var rr float64
	for _, v := range ref {
		rr += float64(v) * float64(v)
	}
	best := 0.0
	for off := 0; off+n <= len(heard); off += 160 {
		var hh, rh float64
		for i := range n {
			x := float64(heard[off+i])
			hh += x * x
			rh += x * float64(ref[i])
		}
		if hh == 0 {
			continue
		}
		if c := rh / math.Sqrt(hh*rr); c > best {
			best = c
		}
	}
	return best
}
