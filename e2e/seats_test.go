package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

const (
	callerHz1, callerHz2 = 600.0, 900.0 // the citizen's "voice"
	seatHz               = 1400.0       // the operator's "voice"
)

// seatVoice writes seat.pcap: the operator talking (PCMU) for d.
func seatVoice(t *testing.T, s *siptest.Seat, d time.Duration) {
	t.Helper()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x5eA7).Audio(siptest.Tone(d, 0.25, seatHz))
	siptest.WritePCAPFile(t, s.Dir, "seat.pcap", st.Packets())
}

// heardLevel is how loud the tone hz is in the PCMU packets captured.
func heardLevel(pkts []siptest.Packet, hz float64) float64 {
	var pcm []int16
	for _, p := range pkts {
		if rtp, ok := siptest.ParseRTP(p.Payload); ok && rtp.PT == 0 {
			pcm = append(pcm, siptest.DecodeG711(0, rtp.Payload)...)
		}
	}
	return siptest.ToneLevel(pcm, hz)
}

// callerPress writes press.pcap (a key during the welcome, then the caller
// talking) and survey.pcap (the rating key) into dir.
func callerPress(t *testing.T, dir string, key, rating rune, talk time.Duration) {
	t.Helper()
	press := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit(key, 120*time.Millisecond).
		Audio(siptest.Tone(talk, 0.25, callerHz1, callerHz2))
	siptest.WritePCAPFile(t, dir, "press.pcap", press.Packets())
	if rating != 0 {
		survey := siptest.NewStream(sippAddr, farEnd, 0, 101, 0x5eeb).Digit(rating, 120*time.Millisecond).
			Audio(siptest.Tone(2*time.Second, 0.02, 300))
		siptest.WritePCAPFile(t, dir, "survey.pcap", survey.Packets())
	}
}

// A citizen is queued, a SIPp seat (digest-registered) answers, both talk,
// the seat hangs up first and the caller rates the service 1. Checked from
// outside: what the caller heard (the seat's voice), the ticket, the stereo
// WAV (caller left, seat right), the seat's state, the metrics.
func TestAnsweredCallIsRecordedAndRated(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{ACD: []string{"wrap_up: 2s"}})
	h.Login(t)
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "6000", "hangup", "seat", "pt", "0", "codec", "PCMU")

	const caller = "13811112222"
	dir := t.TempDir()
	callerPress(t, dir, '1', '1', 25*time.Second)
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	// key at 0.8 s, ring 1 s, talk 6 s: the survey starts at ~8 s; press at 11 s.
	r := siptest.SIPp{
		Scenario: "caller_rates.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: 11000,
	}.Run(t, 60*time.Second)
	expectSIPpOK(t, r)
	expectSIPpOK(t, seatRun.Wait(t))
	pkts := capture.Stop(t)

	if lvl := heardLevel(pkts, seatHz); lvl < 0.02 {
		t.Errorf("the caller did not hear the seat (1400 Hz level %.4f)", lvl)
	}

	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" {
		t.Fatalf("ticket outcome %s seat %v", str(tk.Outcome), tk.SeatID)
	}
	if tk.WaitSeconds == nil || *tk.WaitSeconds > 5 || tk.TalkSeconds == nil || *tk.TalkSeconds < 5 || *tk.TalkSeconds > 9 {
		t.Errorf("wait %v talk %v, want about 1 s and 6 s", tk.WaitSeconds, tk.TalkSeconds)
	}
	if tk.Satisfaction == nil || *tk.Satisfaction != 1 {
		t.Errorf("satisfaction %v, want 1 from the survey key", tk.Satisfaction)
	}
	if tk.AnsweredAt == nil || str(tk.EndReason) != "seat_hangup" {
		t.Errorf("answered_at %v end_reason %s", tk.AnsweredAt, str(tk.EndReason))
	}
	checkStereo(t, h, tk.ID, 6*time.Second)

	seat.WaitState(t, "ready", 5*time.Second) // after the 2 s wrap-up
	m := scrape(t, h)
	for _, want := range []string{
		`hotline_calls_answered_total{queue="consult"} 1`,
		`hotline_satisfaction_total{score="1"} 1`,
		`hotline_seats{state="ready"} 1`,
		`hotline_queue_waiting{queue="consult"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// recording downloads a call's recording.
func recording(t *testing.T, h *siptest.Hotline, ticketID string) siptest.WAV {
	t.Helper()
	code, wavBytes := h.API(t, "GET", "/api/tickets/"+ticketID+"/recording", "")
	if code != 200 {
		t.Fatalf("recording: %d", code)
	}
	wav, err := siptest.ParseWAV(wavBytes)
	if err != nil {
		t.Fatal(err)
	}
	return wav
}

// checkStereo downloads a call's recording and checks it is what SPEC §8
// says: stereo 8 kHz, the caller's voice (callerHz1) on the left, the seat's
// (seatHz) on the right, not mixed, about talk long.
func checkStereo(t *testing.T, h *siptest.Hotline, ticketID string, talk time.Duration) {
	t.Helper()
	wav := recording(t, h, ticketID)
	if wav.Channels != 2 || wav.SampleRate != 8000 {
		t.Fatalf("recording is %d channels at %d Hz, want stereo 8 kHz", wav.Channels, wav.SampleRate)
	}
	left, right := wav.Samples[0], wav.Samples[1]
	cl, cr := siptest.ToneLevel(left, callerHz1), siptest.ToneLevel(right, seatHz)
	xl, xr := siptest.ToneLevel(left, seatHz), siptest.ToneLevel(right, callerHz1)
	t.Logf("recording %s: caller tone left %.3f right %.3f; seat tone right %.3f left %.3f", wav.Duration(), cl, xr, cr, xl)
	if cl < 0.02 || cr < 0.02 {
		t.Errorf("a channel lacks its speaker: caller-left %.4f seat-right %.4f", cl, cr)
	}
	if xl > cl/4 || xr > cr/4 {
		t.Errorf("channels mixed up: seat tone on the left %.4f, caller tone on the right %.4f", xl, xr)
	}
	if d := wav.Duration(); d < talk-time.Second || d > talk+3*time.Second {
		t.Errorf("recording is %s, want about the %s of talk", d, talk)
	}
}
