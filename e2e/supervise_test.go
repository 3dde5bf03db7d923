package e2e

// Issue 11, supervisor: a manager listens to, whispers into and barges in
// on a live call from their own phone (a seat of role manager), on the
// real binary with three SIPp phones. Each party talks at its own
// frequency; what each one hears is captured with tcpdump and measured at
// every party's frequency, per mode.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

const managerHz = 1900.0 // the manager's "voice"

func TestManagerListensWhispersBarges(t *testing.T) {
	t.Parallel()
	h := siptest.StartHotline(t, siptest.Config{ManagerSeats: []string{"8009"}})
	h.Login(t)
	addUser(t, h, "op1", "operator", "8001", "op1-password-1")
	addUser(t, h, "boss", "manager", "8009", "boss-password-1")
	opToken := loginAs(t, h, "op1", "op1-password-1")
	bossToken := loginAs(t, h, "boss", "boss-password-1")
	opEvents := sseEvents(t, h, opToken)
	bossEvents := sseEvents(t, h, bossToken)

	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 40*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "300", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")

	mgr := siptest.RegisterPhone(t, h, "8009")
	mgrPCAP := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xB055).Audio(siptest.Tone(40*time.Second, 0.25, managerHz))
	siptest.WritePCAPFile(t, mgr.Dir, "seat.pcap", mgrPCAP.Packets())
	mgrRun := mgr.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "300", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")

	// The manager's phone is never offered a call: the floor has no 8009.
	if _, on := h.Seats(t)["8009"]; on {
		t.Fatal("the manager's seat is on the ACD floor")
	}

	const number = "13900001111"
	dir := t.TempDir()
	st := siptest.NewStream(sippAddr, farEnd, 0, 101, 0xCA11).
		Audio(siptest.Tone(800*time.Millisecond, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(40*time.Second, 0.25, callerHz1))
	siptest.WritePCAPFile(t, dir, "audio.pcap", st.Packets())
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and (dst port %d or dst port %d or dst port %d)", mp, seat.MediaPort, mgr.MediaPort))
	callerRun := siptest.SIPp{Scenario: "caller_hangs_up.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: number, Dir: dir, MediaPort: mp, PauseMS: 24000}.Start(t, 60*time.Second)

	var ticketID string
	waitUntil(t, "the call connected to 8001", 20*time.Second, func() bool {
		v := h.Seats(t)["8001"]
		ticketID = v.CallID
		return v.State == "busy" && ticketID != ""
	})
	path := "/api/calls/" + ticketID + "/monitor"
	// The ACD marks the seat busy as the seat answers; the call is live for
	// control and supervision once it is bridged, a moment later.
	waitUntil(t, "the call live for control", 5*time.Second, func() bool {
		code, _, _ := asUser(t, h, bossToken, "GET", "/api/calls/"+ticketID, "", "")
		return code == 200
	})

	// Only managers.
	if code, body, _ := asUser(t, h, opToken, "POST", path, `{"mode":"listen"}`, ""); code != 403 {
		t.Fatalf("operator's monitor: %d %s, want 403", code, body)
	}
	if code, body, _ := asUser(t, h, bossToken, "POST", path, `{"mode":"spy"}`, ""); code != 400 {
		t.Fatalf("bad mode: %d %s, want 400", code, body)
	}
	if code, body, _ := asUser(t, h, bossToken, "POST", "/api/calls/NOSUCH/monitor", `{"mode":"listen"}`, ""); code != 404 {
		t.Fatalf("no such call: %d %s, want 404", code, body)
	}

	// phase runs mode for d once it is active and returns what each
	// phone received meanwhile (the first 400 ms after the switch skipped).
	phase := func(mode string, d time.Duration) map[string][]siptest.Packet {
		t.Helper()
		code, body, _ := asUser(t, h, bossToken, "POST", path, `{"mode":"`+mode+`"}`, "")
		if code != 200 {
			t.Fatalf("monitor %s: %d %s", mode, code, body)
		}
		if mode == "listen" {
			if !strings.Contains(string(body), `"state":"ringing"`) {
				t.Fatalf("monitor listen: %s, want ringing first", body)
			}
			bossEvents.wait(t, "monitor", `"mode":"listen","state":"active"`, 10*time.Second)
		} else if !strings.Contains(string(body), `"state":"active"`) {
			t.Fatalf("monitor %s: %s, want active", mode, body)
		}
		time.Sleep(400 * time.Millisecond)
		n0 := len(capture.Packets(t))
		time.Sleep(d)
		pk := capture.Packets(t)[n0:]
		by := map[string][]siptest.Packet{}
		for _, p := range pk {
			switch int(p.Dst.Port()) {
			case mp:
				by["citizen"] = append(by["citizen"], p)
			case seat.MediaPort:
				by["operator"] = append(by["operator"], p)
			case mgr.MediaPort:
				by["manager"] = append(by["manager"], p)
			}
		}
		return by
	}
	type party struct {
		name string
		hz   float64
	}
	parties := []party{{"citizen", callerHz1}, {"operator", seatHz}, {"manager", managerHz}}
	check := func(mode string, by map[string][]siptest.Packet, hears map[string][]string) {
		t.Helper()
		for _, listener := range parties {
			pcm := pcmOf(by[listener.name])
			if len(pcm) < 8000 {
				t.Errorf("%s: the %s received %d samples", mode, listener.name, len(pcm))
				continue
			}
			for _, src := range parties {
				if src == listener {
					continue
				}
				lvl := siptest.ToneLevel(pcm, src.hz)
				want := slices.Contains(hears[listener.name], src.name)
				t.Logf("%s: %s hears %s at %.4f (want heard: %v)", mode, listener.name, src.name, lvl, want)
				switch {
				case want && lvl < 0.02:
					t.Errorf("%s: the %s does not hear the %s (%.0f Hz at %.4f)", mode, listener.name, src.name, src.hz, lvl)
				case !want && lvl > 0.002:
					t.Errorf("%s: the %s hears the %s (%.0f Hz at %.4f)", mode, listener.name, src.name, src.hz, lvl)
				}
			}
		}
	}

	listen := phase("listen", 2500*time.Millisecond)
	check("listen", listen, map[string][]string{"citizen": {"operator"}, "operator": {"citizen"}, "manager": {"citizen", "operator"}})
	notice := opEvents.wait(t, "monitor", `"state":"active"`, 5*time.Second)
	if !strings.Contains(notice, `"mode":"listen"`) || !strings.Contains(notice, `"manager":"boss"`) || !strings.Contains(notice, `"seat":"8001"`) {
		t.Errorf("operator's notice: %s", notice)
	}

	whisper := phase("whisper", 2500*time.Millisecond)
	check("whisper", whisper, map[string][]string{"citizen": {"operator"}, "operator": {"citizen", "manager"}, "manager": {"citizen", "operator"}})
	opEvents.wait(t, "monitor", `"mode":"whisper"`, 5*time.Second)

	barge := phase("barge", 2500*time.Millisecond)
	check("barge", barge, map[string][]string{"citizen": {"operator", "manager"}, "operator": {"citizen", "manager"}, "manager": {"citizen", "operator"}})

	if code, body, _ := asUser(t, h, bossToken, "DELETE", path, "", ""); code != 200 {
		t.Fatalf("DELETE monitor: %d %s", code, body)
	}
	opEvents.wait(t, "monitor", `"state":"ended"`, 5*time.Second)
	expectSIPpOK(t, mgrRun.Wait(t)) // the switch hung the manager's phone up

	// Back to two parties: citizen and operator still hear each other.
	time.Sleep(400 * time.Millisecond)
	n0 := len(capture.Packets(t))
	time.Sleep(1500 * time.Millisecond)
	var toCitizen []siptest.Packet
	for _, p := range capture.Packets(t)[n0:] {
		if int(p.Dst.Port()) == mp {
			toCitizen = append(toCitizen, p)
		}
	}
	if lvl := heardLevel(toCitizen, seatHz); lvl < 0.02 {
		t.Errorf("after the supervision the citizen does not hear the operator (%.4f)", lvl)
	}

	// The citizen hangs up; the switch ends the operator's leg.
	expectSIPpOK(t, callerRun.Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	capture.Stop(t)

	// The recording stays the citizen (left) and what the citizen heard
	// (right): the operator, and the manager only while barging in.
	tk := closedTicket(t, h, number)
	wav := recording(t, h, tk.ID)
	if wav.Channels != 2 {
		t.Fatalf("recording has %d channels", wav.Channels)
	}
	left, right := wav.Samples[0], wav.Samples[1]
	l1, l2, l3 := siptest.ToneLevel(left, callerHz1), siptest.ToneLevel(left, seatHz), siptest.ToneLevel(left, managerHz)
	r1, r2 := siptest.ToneLevel(right, callerHz1), siptest.ToneLevel(right, seatHz)
	t.Logf("recording: left citizen %.4f operator %.4f manager %.4f; right citizen %.4f operator %.4f", l1, l2, l3, r1, r2)
	if l1 < 0.02 || l2 > 0.002 || l3 > 0.002 || r2 < 0.02 || r1 > 0.002 {
		t.Errorf("recording channels mixed up: left citizen %.4f operator %.4f manager %.4f; right citizen %.4f operator %.4f", l1, l2, l3, r1, r2)
	}

	var audit []string
	for _, l := range auditLines(t, h) {
		if strings.Contains(l, "call.monitor") {
			audit = append(audit, l)
		}
	}
	want := []string{"boss|call.monitor.listen|" + ticketID, "boss|call.monitor.whisper|" + ticketID, "boss|call.monitor.barge|" + ticketID, "boss|call.monitor.off|" + ticketID}
	if !slices.Equal(audit, want) {
		t.Errorf("audit rows %q, want %q", audit, want)
	}
	m := scrape(t, h)
	for _, mode := range []string{"listen", "whisper", "barge"} {
		if v := metricValue(t, m, "hotline_monitor_sessions_total", `mode="`+mode+`"`); v != 1 {
			t.Errorf("hotline_monitor_sessions_total{mode=%q} = %v, want 1", mode, v)
		}
	}
}
