package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
	"github.com/hotline12348/hotline/internal/testcert"
)

// A seat over SIP/TLS: baresip registers through the hotline's tls://
// listener (digest over the encrypted flow) and is rung over that same TLS
// connection — it listens on no TLS port of its own, so a call that
// reaches it can only have come back through its flow. The certificate is
// renewed while the seat is registered: SIGHUP gives new connections the
// new certificate, the seat's connection stays up and the call still
// reaches it. Audio is checked both ways.
func TestBaresipSeatOverTLS(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	certFile, keyFile := testcert.Write(t, certDir, 1, 24*time.Hour)
	h := siptest.StartHotlineDigest(t, siptest.Config{ACD: []string{"wrap_up: 2s"}, TLSCert: certFile, TLSKey: keyFile}, "[MD5]")
	if h.Ready.SIPTLS == "" {
		t.Fatal("the ready file names no sip_tls address")
	}
	if got := serialAt(t, h.Ready.SIPTLS); got != 1 {
		t.Fatalf("certificate serial %d, want 1", got)
	}
	h.Login(t)
	b := siptest.StartBaresip(t, h, siptest.BaresipOptions{Seat: "8002", Transport: "tls", Voice: siptest.Tone(40*time.Second, 0.25, seatHz)})
	b.WaitState(t, "ready", 5*time.Second)
	if !strings.Contains(b.Log(), "SIP/2.0/TLS") {
		t.Fatalf("baresip's SIP trace shows no SIP/2.0/TLS Via: it did not register over TLS")
	}

	// Renewal: new files, SIGHUP.
	testcert.Write(t, certDir, 2, 90*24*time.Hour)
	if err := h.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(h.Log(), "TLS certificate reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no \"TLS certificate reloaded\" in the hotline's log 5 s after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := serialAt(t, h.Ready.SIPTLS); got != 2 {
		t.Fatalf("after SIGHUP a new connection got serial %d, want 2", got)
	}
	if v := h.Seats(t)["8002"]; v.State != "ready" {
		t.Fatalf("seat 8002 is %q after the reload, want ready still", v.State)
	}

	const caller = "13822224444"
	dir := t.TempDir()
	callerPress(t, dir, '1', '2', 10*time.Second)
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	run := siptest.SIPp{
		Scenario: "caller_rates.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: 10000,
	}.Start(t, 60*time.Second)
	b.WaitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	// The INVITE baresip got came over TLS: the hotline's own Via in it
	// says so (baresip -s prints every message it receives).
	if inv := receivedInvite(b.Log()); !strings.Contains(inv, "Via: SIP/2.0/TLS") {
		t.Fatalf("the INVITE to the seat did not come over TLS:\n%s", inv)
	}
	time.Sleep(4 * time.Second)
	if rep := b.Command(t, "hangup", ""); !rep.OK {
		t.Fatalf("hangup: %+v", rep)
	}
	b.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	expectSIPpOK(t, run.Wait(t))
	pkts := capture.Stop(t)
	if lvl := heardLevel(pkts, seatHz); lvl < 0.02 {
		t.Errorf("the caller did not hear the TLS seat (1400 Hz level %.4f)", lvl)
	}
	_, heard := b.Recordings(t)
	if len(heard.Samples) == 0 || siptest.ToneLevel(heard.Samples[0], callerHz1) < 0.02 {
		t.Errorf("the TLS seat did not hear the caller")
	}
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8002" {
		t.Fatalf("ticket outcome %s seat %v, want answered by 8002", str(tk.Outcome), tk.SeatID)
	}
}

// receivedInvite is the first INVITE in baresip's SIP trace, with its
// SDP (the trace ends lines with \n only).
func receivedInvite(log string) string {
	i := strings.Index(log, "INVITE sip:")
	if i < 0 {
		return ""
	}
	inv := log[i:]
	if j := strings.Index(inv, "a=sendrecv"); j > 0 {
		return inv[:j]
	}
	return inv[:min(len(inv), 2500)]
}

// serialAt opens a TLS connection and returns the certificate's serial.
func serialAt(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// A seat with srtp: true: baresip (srtp.so, mediaenc=srtp-mand) over TLS
// gets an RTP/SAVP offer with an SDES key and answers with its own; the
// audio is heard both ways and recorded in clear, while on the wire to the
// seat neither side's voice can be read (the caller's 600 Hz is not in
// the packets' payloads, decoded as PCMU).
func TestBaresipSeatWithSRTP(t *testing.T) {
	t.Parallel()
	certFile, keyFile := testcert.Write(t, t.TempDir(), 1, 24*time.Hour)
	h := siptest.StartHotlineDigest(t, siptest.Config{ACD: []string{"wrap_up: 2s"}, TLSCert: certFile, TLSKey: keyFile, SRTPSeats: []string{"8002"}}, "[MD5]")
	h.Login(t)
	b := siptest.StartBaresip(t, h, siptest.BaresipOptions{Seat: "8002", Transport: "tls", MediaEnc: "srtp-mand", Voice: siptest.Tone(40*time.Second, 0.25, seatHz)})
	b.WaitState(t, "ready", 5*time.Second)

	const caller = "13822225555"
	const talk = 5 * time.Second
	dir := t.TempDir()
	callerPress(t, dir, '1', '2', 10*time.Second)
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and (dst port %d or dst portrange %d-%d)", mp, b.RTPMin, b.RTPMin+3))
	run := siptest.SIPp{
		Scenario: "caller_rates.xml", Target: h.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: 11000,
	}.Start(t, 60*time.Second)
	b.WaitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	inv := receivedInvite(b.Log())
	if !strings.Contains(inv, "RTP/SAVP") || !strings.Contains(inv, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("the seat's INVITE offers no SDES SRTP:\n%s", inv)
	}
	time.Sleep(talk)
	if rep := b.Command(t, "hangup", ""); !rep.OK {
		t.Fatalf("hangup: %+v", rep)
	}
	b.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	expectSIPpOK(t, run.Wait(t))
	pkts := capture.Stop(t)

	var toCaller, toSeat []siptest.Packet
	for _, p := range pkts {
		if int(p.Dst.Port()) == mp {
			toCaller = append(toCaller, p)
		} else {
			toSeat = append(toSeat, p)
		}
	}
	if len(toSeat) < 100 {
		t.Fatalf("only %d packets to the seat's RTP ports captured", len(toSeat))
	}
	if lvl := heardLevel(toCaller, seatHz); lvl < 0.02 {
		t.Errorf("the caller did not hear the SRTP seat (1400 Hz level %.4f)", lvl)
	}
	_, heard := b.Recordings(t)
	if len(heard.Samples) == 0 || siptest.ToneLevel(heard.Samples[0], callerHz1) < 0.02 {
		t.Errorf("the SRTP seat did not hear the caller")
	}
	if lvl := heardLevel(toSeat, callerHz1); lvl > 0.005 {
		t.Errorf("the caller's voice is readable on the wire to the seat (600 Hz level %.4f in the raw payloads): not encrypted", lvl)
	}
	tk := closedTicket(t, h, caller)
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8002" {
		t.Fatalf("ticket outcome %s seat %v, want answered by 8002", str(tk.Outcome), tk.SeatID)
	}
	checkStereo(t, h, tk.ID, talk)
}
