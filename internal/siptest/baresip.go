package siptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Baresip is an operator seat played by baresip (Debian baresip-core), a
// softphone people really use, run headless: its config and accounts are
// rendered from testdata/baresip/, its "voice" is a WAV it plays as the
// microphone, what it hears is dumped by sndfile, and it is driven over
// ctrl_tcp (JSON in netstrings: commands in, responses and events out).
type Baresip struct {
	Seat     string
	Dir      string // the config directory (-f): config, accounts, voice.wav
	RecDir   string // sndfile's dump-<time>-enc.wav (said) and -dec.wav (heard)
	SIPPort  int
	CtrlPort int
	RTPMin   int // its RTP ports are RTPMin to RTPMin+3

	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error

	h     *Hotline
	conn  net.Conn
	wmu   sync.Mutex // one command written at a time
	token int

	mu      sync.Mutex
	events  []BaresipEvent
	replies map[string]chan BaresipReply
	changed chan struct{} // closed and replaced whenever events grow or the connection ends
	readErr error
}

// BaresipEvent is one event baresip sent over ctrl_tcp (REGISTER_OK,
// CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED …).
type BaresipEvent struct {
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	PeerName   string `json:"peerdisplayname"`
	ID         string `json:"id"`
	Param      string `json:"param"`
	At         time.Time
}

// BaresipReply is the response to a command.
type BaresipReply struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// BaresipOptions configure one seat.
type BaresipOptions struct {
	Seat     string // seat id, e.g. "8002"
	Password string // default SeatPassword(Seat)
	// Voice is what the operator "says": 8 kHz samples played as the
	// microphone (default 60 s of silence). When it runs out baresip 1.0.0
	// hangs up ("end of file"): make it outlast the call.
	Voice []int16
	// Registrar is where it registers and sends everything (the outbound
	// proxy): host:port, default the hotline's UDP address.
	Registrar string
	RegInt    int // regint, seconds (default 600)
	// Transport is how it reaches the registrar: "" (UDP) or "tls" (then
	// Registrar defaults to the hotline's tls:// listener).
	Transport string
	// MediaEnc is baresip's media encryption: "" (none) or "srtp-mand"
	// (SDES SRTP or no call; loads srtp.so).
	MediaEnc string
}

// BaresipBin returns the baresip binary's path and fails the test loudly
// when baresip is missing (never a skip).
func BaresipBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip is not installed: run the README's test command (scripts/test.sh), which installs the test peers (Debian package baresip-core)")
	}
	return p
}

// BaresipModulePath is where Debian installs baresip's modules.
const BaresipModulePath = "/usr/lib/baresip/modules"

// StartBaresip renders the config, starts baresip, connects to its
// ctrl_tcp and waits until the hotline has its registration (the seat is
// no longer offline over the API) — failing at once on REGISTER_FAIL.
// Start it after the hotline: its cleanup quits baresip while the
// registrar still answers the un-REGISTER (else baresip waits ~30 s).
func StartBaresip(t testing.TB, h *Hotline, o BaresipOptions) *Baresip {
	t.Helper()
	b, err := startBaresip(t, h, o)
	if err != nil {
		t.Fatal(err) // the cleanup prints baresip's log
	}
	return b
}

// TryBaresip starts baresip like StartBaresip and returns why it could not
// register, nil when it did. It stays running until the test ends.
func TryBaresip(t testing.TB, h *Hotline, o BaresipOptions) error {
	t.Helper()
	_, err := startBaresip(t, h, o)
	return err
}

func startBaresip(t testing.TB, h *Hotline, o BaresipOptions) (*Baresip, error) {
	t.Helper()
	bin := BaresipBin(t)
	for _, m := range []string{"g711", "aufile", "aubridge", "sndfile", "menu", "ctrl_tcp", "account", "uuid"} {
		if _, err := os.Stat(filepath.Join(BaresipModulePath, m+".so")); err != nil {
			t.Fatalf("baresip module %s.so is missing under %s: run scripts/test.sh (Debian package baresip-core)", m, BaresipModulePath)
		}
	}
	if o.Password == "" {
		o.Password = SeatPassword(o.Seat)
	}
	if o.Registrar == "" {
		o.Registrar = h.Ready.SIPUDP
		if o.Transport == "tls" {
			o.Registrar = h.Ready.SIPTLS
		}
	}
	outbound := o.Registrar
	if o.Transport != "" {
		outbound += ";transport=" + o.Transport
	}
	if o.RegInt == 0 {
		o.RegInt = 600
	}
	if o.Voice == nil {
		o.Voice = make([]int16, 60*8000)
	}
	b := &Baresip{
		Seat: o.Seat, Dir: t.TempDir(), SIPPort: FreePort(t), CtrlPort: FreePort(t),
		h: h, log: &syncBuffer{}, exited: make(chan struct{}), replies: map[string]chan BaresipReply{},
		changed: make(chan struct{}),
	}
	b.RecDir = filepath.Join(b.Dir, "rec")
	if err := os.Mkdir(b.RecDir, 0o755); err != nil {
		t.Fatal(err)
	}
	voice := filepath.Join(b.Dir, "voice.wav")
	if err := os.WriteFile(voice, MonoWAV(8000, o.Voice), 0o644); err != nil {
		t.Fatal(err)
	}
	rtp := FreePort(t)
	b.RTPMin = rtp
	data := map[string]any{
		"IP": "127.0.0.1", "SIPPort": b.SIPPort, "CtrlPort": b.CtrlPort, "RTPMin": rtp, "RTPMax": rtp + 3,
		"Device": "seat" + o.Seat, "Voice": voice, "RecDir": b.RecDir, "ModulePath": BaresipModulePath,
		"Seat": o.Seat, "Domain": "12348.local", "MediaEnc": o.MediaEnc, "Registrar": outbound, "Password": o.Password, "RegInt": o.RegInt,
	}
	for _, name := range []string{"config", "accounts"} {
		if err := os.WriteFile(filepath.Join(b.Dir, name), RenderBaresip(t, name+".tmpl", data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// -f: this directory only (not ~/.baresip); -s: SIP trace in the log
	// printed when the test fails.
	b.cmd = exec.Command(bin, "-f", b.Dir, "-s")
	b.cmd.Dir = b.Dir
	b.cmd.Stdin = nil // no terminal: no console UI is loaded anyway
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("baresip: %v", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.exited) }()
	// Cleanups run last-in first-out: this one runs before the hotline's,
	// while its registrar still answers the un-REGISTER.
	t.Cleanup(func() {
		b.Stop(t)
		if t.Failed() {
			t.Logf("baresip %s log:\n%s", b.Seat, b.Log())
		}
	})

	if err := b.connect(10 * time.Second); err != nil {
		return b, fmt.Errorf("baresip ctrl_tcp: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// REGISTER_FAIL may come before ctrl_tcp is connected: the log has it too.
		if ev, ok := b.find("REGISTER_FAIL"); ok {
			return b, fmt.Errorf("baresip %s could not register: REGISTER_FAIL %s", o.Seat, ev.Param)
		}
		if m := regFailLine.FindString(b.Log()); m != "" {
			return b, fmt.Errorf("baresip %s could not register: %s", o.Seat, m)
		}
		if v := h.Seats(t)[o.Seat]; v.State != "" && v.State != "offline" {
			return b, nil
		}
		select {
		case <-b.exited:
			return b, fmt.Errorf("baresip exited before registering: %v", b.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return b, fmt.Errorf("baresip %s not registered after 10s", o.Seat)
		}
	}
}

// StartHotlineDigest is StartHotline with sip.digest_algorithms set to
// algs (a YAML flow list, e.g. "[MD5]") instead of the test default
// [MD5, SHA-256]: baresip 1.0.0 (libre 1.x) gives up on a 401 that carries
// any challenge but MD5, whatever the order.
func StartHotlineDigest(t testing.TB, c Config, algs string) *Hotline {
	t.Helper()
	dir := t.TempDir()
	h := &Hotline{Bin: BuildHotline(t), Dir: dir}
	h.ConfigPath = WriteConfig(t, dir, c)
	y, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(  digest_algorithms: )\[[^\]]*\]`)
	if !re.Match(y) {
		t.Fatalf("%s has no sip.digest_algorithms line to replace", h.ConfigPath)
	}
	y = re.ReplaceAll(y, []byte("${1}"+algs))
	if err := os.WriteFile(h.ConfigPath, y, 0o644); err != nil {
		t.Fatal(err)
	}
	h.Start(t)
	t.Cleanup(func() {
		h.Stop(t, syscall.SIGTERM, 30*time.Second)
		if t.Failed() {
			t.Logf("hotline log:\n%s", h.Log())
		}
	})
	return h
}

// WaitState waits (bounded) until the hotline shows this seat in state.
func (b *Baresip) WaitState(t testing.TB, state string, within time.Duration) SeatView {
	t.Helper()
	return (&Seat{ID: b.Seat, h: b.h}).WaitState(t, state, within)
}

// RenderBaresip renders a template of testdata/baresip/ with data.
func RenderBaresip(t testing.TB, name string, data any) []byte {
	t.Helper()
	tpl, err := template.ParseFiles(filepath.Join(RepoRoot(), "testdata", "baresip", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// connect dials ctrl_tcp (retrying until baresip listens) and starts the reader.
func (b *Baresip) connect(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.CtrlPort), time.Second)
		if err == nil {
			b.conn = c
			go b.read(bufio.NewReader(c))
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("baresip exited: %v", b.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// read decodes netstrings ("<len>:<json>,") until the connection ends.
func (b *Baresip) read(r *bufio.Reader) {
	var err error
	for {
		var msg []byte
		if msg, err = readNetstring(r); err != nil {
			break
		}
		var m struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		switch {
		case m.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) == nil {
				ev.At = time.Now()
				b.mu.Lock()
				b.events = append(b.events, ev)
				close(b.changed)
				b.changed = make(chan struct{})
				b.mu.Unlock()
			}
		case m.Response:
			var rep BaresipReply
			if json.Unmarshal(msg, &rep) == nil {
				b.mu.Lock()
				ch := b.replies[rep.Token]
				delete(b.replies, rep.Token)
				b.mu.Unlock()
				if ch != nil {
					ch <- rep
				}
			}
		}
	}
	b.mu.Lock()
	b.readErr = err
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("ctrl_tcp: bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("ctrl_tcp: netstring not ended by ','")
	}
	return buf[:n], nil
}

// Command sends a command (hangup, accept, reginfo, quit …) over ctrl_tcp
// and waits for its response.
func (b *Baresip) Command(t testing.TB, command, params string) BaresipReply {
	t.Helper()
	rep, err := b.command(command, params, 5*time.Second)
	if err != nil {
		t.Fatalf("baresip %s: %v", command, err)
	}
	return rep
}

func (b *Baresip) command(command, params string, within time.Duration) (BaresipReply, error) {
	if b.conn == nil {
		return BaresipReply{}, errors.New("ctrl_tcp not connected")
	}
	b.wmu.Lock()
	b.token++
	tok := strconv.Itoa(b.token)
	ch := make(chan BaresipReply, 1)
	b.mu.Lock()
	b.replies[tok] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": tok})
	_ = b.conn.SetWriteDeadline(time.Now().Add(within))
	_, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg)
	b.wmu.Unlock()
	if err != nil {
		return BaresipReply{}, err
	}
	select {
	case rep := <-ch:
		return rep, nil
	case <-b.exited:
		return BaresipReply{}, fmt.Errorf("baresip exited: %v", b.err)
	case <-time.After(within):
		return BaresipReply{}, fmt.Errorf("no response to %q within %s", command, within)
	}
}

// Events returns every event received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BaresipEvent(nil), b.events...)
}

// find returns the first event of type typ.
func (b *Baresip) find(typ string) (BaresipEvent, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range b.events {
		if ev.Type == typ {
			return ev, true
		}
	}
	return BaresipEvent{}, false
}

// WaitEvent waits (bounded) for the first event of type typ, including
// one that has already arrived.
func (b *Baresip) WaitEvent(t testing.TB, typ string, within time.Duration) BaresipEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		b.mu.Lock()
		changed, readErr := b.changed, b.readErr
		b.mu.Unlock()
		if ev, ok := b.find(typ); ok {
			return ev
		}
		if readErr != nil {
			t.Fatalf("baresip %s: ctrl_tcp closed (%v) before %s; events %s", b.Seat, readErr, typ, b.eventTypes())
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("baresip %s: no %s within %s; events %s", b.Seat, typ, within, b.eventTypes())
		}
	}
}

func (b *Baresip) eventTypes() string {
	var s []string
	for _, ev := range b.Events() {
		s = append(s, ev.Type)
	}
	return "[" + strings.Join(s, " ") + "]"
}

var (
	ansiEscape  = regexp.MustCompile("\x1b\\[[0-9;]*m")
	regFailLine = regexp.MustCompile(`(?m)^reg: .*$`) // reg.c prints its warnings so; success is not one
)

// Log returns what baresip printed so far (with -s, its SIP trace),
// without its colour codes.
func (b *Baresip) Log() string { return ansiEscape.ReplaceAllString(b.log.String(), "") }

// Stop quits baresip (the "quit" command, else SIGTERM): it un-REGISTERs
// and exits. Safe to repeat.
func (b *Baresip) Stop(t testing.TB) {
	select {
	case <-b.exited:
		return
	default:
	}
	if _, err := b.command("quit", "", 2*time.Second); err != nil {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		t.Errorf("baresip %s did not exit within 10s of quit (was the registrar already gone?)", b.Seat)
	}
	if b.conn != nil {
		_ = b.conn.Close()
	}
}

var dumpName = regexp.MustCompile(`^dump-.*-(enc|dec)\.wav$`)

// Recordings returns sndfile's dumps of the last call: what the seat said
// (-enc.wav) and what it heard (-dec.wav). Read them after CALL_CLOSED.
func (b *Baresip) Recordings(t testing.TB) (said, heard WAV) {
	t.Helper()
	ents, err := os.ReadDir(b.RecDir)
	if err != nil {
		t.Fatal(err)
	}
	var enc, dec string
	for _, e := range ents { // names sort by time: keep the last of each
		if m := dumpName.FindStringSubmatch(e.Name()); m != nil {
			if m[1] == "enc" {
				enc = e.Name()
			} else {
				dec = e.Name()
			}
		}
	}
	if enc == "" || dec == "" {
		t.Fatalf("baresip %s: no sndfile dumps in %s (%d files)", b.Seat, b.RecDir, len(ents))
	}
	read := func(name string) WAV {
		raw, err := os.ReadFile(filepath.Join(b.RecDir, name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := ParseWAV(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return w
	}
	return read(enc), read(dec)
}

// MonoWAV encodes 16-bit mono PCM as a WAV file.
func MonoWAV(rate int, pcm []int16) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*len(pcm)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(rate * 2))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * len(pcm)))
	le(pcm)
	return b.Bytes()
}
