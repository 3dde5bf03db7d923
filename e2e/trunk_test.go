// Package e2e drives the real hotline binary with real peers nobody here
// wrote: SIPp (Debian sip-tester) as the caller, tcpdump to hear what the
// caller hears. Every assertion is made from outside: SIP responses, RTP on
// the wire, the ticket over the HTTP API, the WAV downloaded from it.
package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

type ticketJSON struct {
	ID           string   `json:"id"`
	CallID       string   `json:"call_id"`
	Caller       string   `json:"caller"`
	Called       string   `json:"called"`
	Channel      string   `json:"channel"`
	Category     string   `json:"category"`
	Priority     string   `json:"priority"`
	IVRPath      string   `json:"ivr_path"`
	Status       string   `json:"status"`
	Outcome      *string  `json:"outcome"`
	AbandonStage *string  `json:"abandon_stage"`
	EndReason    *string  `json:"end_reason"`
	SeatID       *string  `json:"seat_id"`
	AnsweredAt   *string  `json:"answered_at"`
	TalkSeconds  *float64 `json:"talk_seconds"`
	Satisfaction *int     `json:"satisfaction"`
	QueuedAt     *string  `json:"queued_at"`
	EndedAt      *string  `json:"ended_at"`
	WaitSeconds  *float64 `json:"wait_seconds"`
	Callback     bool     `json:"callback"`
	Recording    *string  `json:"recording"`
	Revision     int      `json:"revision"`
	Workorder    struct {
		State string `json:"state"`
	} `json:"workorder"`
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// ticketsOf returns the tickets of a caller, newest first.
func ticketsOf(t *testing.T, h *siptest.Hotline, caller string) []ticketJSON {
	t.Helper()
	code, body := h.API(t, "GET", "/api/tickets?caller="+url.QueryEscape(caller), "")
	if code != 200 {
		t.Fatalf("GET /api/tickets: %d %s", code, body)
	}
	var r struct{ Tickets []ticketJSON }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("tickets JSON: %v\n%s", err, body)
	}
	return r.Tickets
}

// closedTicket waits (bounded) for the caller's only ticket to be closed.
func closedTicket(t *testing.T, h *siptest.Hotline, caller string) ticketJSON {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts := ticketsOf(t, h, caller)
		if len(ts) > 1 {
			t.Fatalf("caller %s has %d tickets, want 1: %+v", caller, len(ts), ts)
		}
		if len(ts) == 1 && ts[0].Status == "closed" {
			return ts[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed ticket for %s after 10s: %+v", caller, ts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func promptLength(t *testing.T, names ...string) time.Duration {
	t.Helper()
	var total time.Duration
	for _, n := range names {
		d, err := siptest.WAVDuration(filepath.Join(siptest.RepoRoot(), "configs", "prompts", "zh", n+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		total += d
	}
	return total
}

var (
	sippAddr = netip.MustParseAddrPort("127.0.0.1:6000") // rewritten by SIPp on replay
	farEnd   = netip.MustParseAddrPort("127.0.0.1:9")
)

// quietCaller returns a directory holding audio.pcap: d of a caller's quiet
// line noise (phones keep sending RTP while the caller listens), for the
// scenarios that play it.
func quietCaller(t *testing.T, d time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	noise := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x4444).Audio(siptest.Tone(d, 0.02, 200))
	siptest.WritePCAPFile(t, dir, "audio.pcap", noise.Packets())
	return dir
}

func expectSIPpOK(t *testing.T, r siptest.SIPpResult) {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("sipp exit %d\n%s\nerrors:\n%s\nmessages:\n%s", r.ExitCode, r.Output, r.Errors, r.Messages)
	}
}

// The whole front door: PCMA-only offer, a key by RFC 4733 during the
// welcome (barge-in), no seat logged in so voicemail, a message ended by #,
// the switch hangs up. Checked from outside: the SDP answer (in the
// scenario), what the caller heard (tcpdump), the ticket and its WAV.
func TestVoicemailAfterDigitPCMA(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13912345678"

	dir := t.TempDir()
	mp := siptest.FreePort(t)
	// press.pcap: 1 s of sound, then "1" (first event packet with duration 0), 0.5 s more.
	press := siptest.NewStream(sippAddr, farEnd, 8, 101, 0x1111).
		Audio(siptest.Tone(time.Second, 0.05, 300, 500)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(500*time.Millisecond, 0.05, 300, 500))
	siptest.WritePCAPFile(t, dir, "press.pcap", press.Packets())
	// message.pcap: the citizen speaks 3 s, then presses #. A new SSRC, as SIPp replays it.
	msg := siptest.NewStream(sippAddr, farEnd, 8, 101, 0x2222).
		Audio(siptest.Tone(3*time.Second, 0.3, 250, 440, 700)).
		Digit('#', 120*time.Millisecond)
	siptest.WritePCAPFile(t, dir, "message.pcap", msg.Packets())

	// Wait from the ACK until after the beep: the key comes at 1 s, then the
	// voicemail invitation and the beep play; 2 s margin.
	pause := time.Second + promptLength(t, "voicemail") + 400*time.Millisecond + 2*time.Second

	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	r := siptest.SIPp{
		Scenario: "caller_voicemail.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: int(pause.Milliseconds()),
	}.Run(t, 90*time.Second)
	expectSIPpOK(t, r)
	pkts := capture.Stop(t)

	// What the caller heard: PCMA from one SSRC, speech not silence.
	var pcm []int16
	ssrcs := map[uint32]bool{}
	for _, p := range pkts {
		rtp, ok := siptest.ParseRTP(p.Payload)
		if !ok {
			continue
		}
		if rtp.PT != 8 {
			t.Fatalf("caller got RTP payload type %d, want 8 (PCMA)", rtp.PT)
		}
		ssrcs[rtp.SSRC] = true
		pcm = append(pcm, siptest.DecodeG711(8, rtp.Payload)...)
	}
	if len(ssrcs) != 1 {
		t.Errorf("caller got %d SSRCs from the switch, want 1", len(ssrcs))
	}
	if secs := float64(len(pcm)) / 8000; secs < 15 {
		t.Fatalf("caller heard %.1f s of audio, want the welcome, the voicemail prompt and goodbye", secs)
	}
	if rms := siptest.RMS(pcm); rms < 0.01 {
		t.Fatalf("caller heard silence (RMS %.4f of full scale)", rms)
	}
	t.Logf("caller heard %.1f s of PCMA, RMS %.3f of full scale", float64(len(pcm))/8000, siptest.RMS(pcm))

	tk := closedTicket(t, h, caller)
	if tk.Caller != caller || tk.Called != "12348" || tk.Channel != "hotline" {
		t.Errorf("ticket identity: %+v", tk)
	}
	if tk.IVRPath != "1" || tk.Category != "consult" || tk.Priority != "normal" {
		t.Errorf("ticket IVR result: ivr_path %q category %q priority %q", tk.IVRPath, tk.Category, tk.Priority)
	}
	// Nobody logged in: the caller never queued, so no queued_at and no
	// wait (the callback view says 未排队, not a wait).
	if str(tk.Outcome) != "voicemail" || !tk.Callback || tk.QueuedAt != nil || tk.WaitSeconds != nil || tk.EndedAt == nil {
		t.Errorf("ticket outcome: outcome %s callback %v queued_at %v wait %v ended_at %v", str(tk.Outcome), tk.Callback, tk.QueuedAt, tk.WaitSeconds, tk.EndedAt)
	}
	if str(tk.EndReason) != "completed" {
		t.Errorf("end_reason %s, want completed (the switch hung up after goodbye)", str(tk.EndReason))
	}
	if tk.Revision < 3 || tk.Workorder.State != "pending" {
		t.Errorf("revision %d workorder %q", tk.Revision, tk.Workorder.State)
	}
	want := "/api/tickets/" + tk.ID + "/recording"
	if str(tk.Recording) != want {
		t.Fatalf("recording %s, want %s", str(tk.Recording), want)
	}
	code, wavBytes := h.API(t, "GET", want, "")
	if code != 200 {
		t.Fatalf("download recording: %d %s", code, wavBytes)
	}
	wav, err := siptest.ParseWAV(wavBytes)
	if err != nil {
		t.Fatal(err)
	}
	if wav.Channels != 1 || wav.SampleRate != 8000 {
		t.Fatalf("voicemail WAV: %d channels at %d Hz, want mono 8 kHz", wav.Channels, wav.SampleRate)
	}
	if d := wav.Duration(); d < 2500*time.Millisecond || d > 6*time.Second {
		t.Errorf("voicemail is %s long, want about the 3 s spoken", d)
	}
	if rms := siptest.RMS(wav.Samples[0]); rms < 0.05 {
		t.Errorf("voicemail WAV is silent (RMS %.4f)", rms)
	}
	t.Logf("ticket %s revision %d; voicemail %s long, RMS %.3f", tk.ID, tk.Revision, wav.Duration(), siptest.RMS(wav.Samples[0]))
}

// A caller who presses nothing lands in the general queue (consult) after
// the 5 s no-input timeout; with no seat logged in, voicemail.
func TestNoKeyGoesToGeneralQueue(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13700001111"
	dir := t.TempDir()
	// The caller's phone keeps sending (quiet) audio all along, as phones do.
	noise := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x3333).
		Audio(siptest.Tone(75*time.Second, 0.02, 180, 330))
	siptest.WritePCAPFile(t, dir, "audio.pcap", noise.Packets())
	// welcome + menu + 5 s timeout + voicemail invitation + beep, then 3 s of message.
	pause := promptLength(t, "welcome", "menu", "voicemail") + 5*time.Second + 400*time.Millisecond + 3*time.Second
	r := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, PauseMS: int(pause.Milliseconds()),
	}.Run(t, 120*time.Second)
	expectSIPpOK(t, r)
	tk := closedTicket(t, h, caller)
	// The general queue's category; nobody logged in, so never queued.
	if tk.Category != "consult" || tk.IVRPath != "" || tk.Priority != "normal" || tk.QueuedAt != nil {
		t.Errorf("general queue: category %q ivr_path %q priority %q queued_at %v", tk.Category, tk.IVRPath, tk.Priority, tk.QueuedAt)
	}
	if str(tk.Outcome) != "voicemail" || str(tk.EndReason) != "caller_hangup" {
		t.Errorf("outcome %s end_reason %s, want voicemail / caller_hangup", str(tk.Outcome), str(tk.EndReason))
	}
}

// Hanging up during the IVR (over TCP this time) leaves an abandoned ticket.
func TestHangupInIVRIsAbandoned(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13600002222"
	dir := quietCaller(t, 5*time.Second)
	r := siptest.SIPp{
		Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPTCP, Transport: "t1", Service: "12348", Caller: caller,
		Dir: dir, PauseMS: 3000,
	}.Run(t, 30*time.Second)
	expectSIPpOK(t, r)
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "abandoned" || str(tk.AbandonStage) != "ivr" || str(tk.EndReason) != "caller_hangup" {
		t.Errorf("outcome %s abandon_stage %s end_reason %s, want abandoned / ivr / caller_hangup", str(tk.Outcome), str(tk.AbandonStage), str(tk.EndReason))
	}
	if tk.QueuedAt != nil || tk.Category != "" {
		t.Errorf("an IVR abandon was queued: %+v", tk)
	}
	metrics := scrape(t, h)
	for _, want := range []string{
		`hotline_calls_abandoned_total{queue="consult",stage="ivr"} 1`,
		`hotline_calls_offered_total{queue="consult"} 1`,
		`hotline_active_calls 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, caller) {
		t.Error("the caller's number appears in /metrics")
	}
	if strings.Contains(h.Log(), caller) {
		t.Error("the caller's number appears unmasked in the log")
	}
	if !strings.Contains(h.Log(), "136****2222") {
		t.Error("the log does not show the masked caller number")
	}
}

func scrape(t *testing.T, h *siptest.Hotline) string {
	t.Helper()
	code, body := h.API(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return string(body)
}

// An INVITE from outside trusted_sources gets 403 and leaves no ticket.
func TestUntrustedSourceGets403(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13500003333"
	r := siptest.SIPp{
		Scenario: "caller_expect_403.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		LocalIP: "127.0.0.2",
	}.Run(t, 20*time.Second)
	expectSIPpOK(t, r)
	if ts := ticketsOf(t, h, caller); len(ts) != 0 {
		t.Fatalf("an untrusted call left a ticket: %+v", ts)
	}
	if m := scrape(t, h); !strings.Contains(m, `hotline_sip_rejected_total{reason="untrusted"} 1`) {
		t.Errorf("untrusted rejection not counted")
	}
}

// A trusted trunk calling a number that is not ours gets 404; a call with
// no codec in common gets 488. Both leave a rejected ticket.
func TestRejectedCallsLeaveTickets(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	for _, tc := range []struct {
		scenario, service, caller, reason string
	}{
		{"caller_expect_404.xml", "99999", "13400004444", "unknown_number"},
		{"caller_expect_488.xml", "12348", "13400005555", "no_common_codec"},
	} {
		r := siptest.SIPp{Scenario: tc.scenario, Target: h.Ready.SIPUDP, Service: tc.service, Caller: tc.caller}.Run(t, 20*time.Second)
		expectSIPpOK(t, r)
		tk := closedTicket(t, h, tc.caller)
		if str(tk.Outcome) != "rejected" || str(tk.EndReason) != tc.reason || tk.Called != tc.service {
			t.Errorf("%s: outcome %s end_reason %s called %s", tc.scenario, str(tk.Outcome), str(tk.EndReason), tk.Called)
		}
	}
}

// Hold and resume by re-INVITE keep the call and its media stream (same
// SSRC, sequence continuous, nothing sent while held: RFC 3264 §8.4), and a
// key sent by SIP INFO routes the caller.
func TestHoldResumeAndINFODigit(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{})
	h.Login(t)
	const caller = "13300006666"
	dir := t.TempDir()
	mp := siptest.FreePort(t)
	noise := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x5555).Audio(siptest.Tone(40*time.Second, 0.02, 200, 310))
	siptest.WritePCAPFile(t, dir, "audio.pcap", noise.Packets())
	pause := promptLength(t, "voicemail") + 400*time.Millisecond + 3*time.Second
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	r := siptest.SIPp{
		Scenario: "caller_hold_info.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: int(pause.Milliseconds()),
	}.Run(t, 90*time.Second)
	expectSIPpOK(t, r)
	pkts := capture.Stop(t)

	tk := closedTicket(t, h, caller)
	if tk.IVRPath != "3" || tk.Category != "mediation" {
		t.Errorf("INFO digit: ivr_path %q category %q, want 3 / mediation", tk.IVRPath, tk.Category)
	}
	if str(tk.Outcome) != "voicemail" {
		t.Errorf("outcome %s, want voicemail (the call survived hold and resume)", str(tk.Outcome))
	}

	// The stream the caller got: one SSRC, sequence numbers continuous, and
	// a gap of about the 2 s hold in arrival times.
	var (
		ssrcs   = map[uint32]bool{}
		lastSeq uint16
		lastAt  time.Duration
		maxGap  time.Duration
		n       int
	)
	for _, p := range pkts {
		rtp, ok := siptest.ParseRTP(p.Payload)
		if !ok {
			continue
		}
		ssrcs[rtp.SSRC] = true
		if n > 0 {
			if rtp.Seq != lastSeq+1 {
				t.Errorf("sequence jumps from %d to %d at %s", lastSeq, rtp.Seq, p.At)
			}
			maxGap = max(maxGap, p.At-lastAt)
		}
		lastSeq, lastAt = rtp.Seq, p.At
		n++
	}
	if len(ssrcs) != 1 {
		t.Errorf("%d SSRCs: the stream was restarted by the re-INVITEs", len(ssrcs))
	}
	if maxGap < 1500*time.Millisecond || maxGap > 3*time.Second {
		t.Errorf("largest gap in our RTP is %s: want ~2 s of silence while the caller held", maxGap)
	}
	t.Logf("%d RTP packets to the caller, one SSRC, largest gap %s (the hold)", n, maxGap)
}
