package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/redistest"
	"github.com/hotline12348/hotline/internal/siptest"
)

// Several nodes, one call centre (SPEC §11): real hotline processes sharing
// a real redis-server, SIPp callers and seats.

const clusterSecret = "e2e-cluster-secret-0123456789"

// clusterNode starts one node of a cluster on Redis at redisURL, with the
// given ACD overrides ("ring_timeout: 5s").
func clusterNode(t *testing.T, id, redisURL string, acd ...string) *siptest.Hotline {
	t.Helper()
	sipPort, httpPort := siptest.FreePort(t), siptest.FreePort(t)
	lines := append([]string{"backend: redis", "redis_url: " + redisURL, "ring_timeout: 5s", "wrap_up: 2s"}, acd...)
	h := siptest.StartHotline(t, siptest.Config{
		NodeID: id, SIPPort: sipPort, HTTPPort: httpPort, ACD: dedupe(lines),
		Extra: fmt.Sprintf("cluster:\n  advertise_sip: \"sip:127.0.0.1:%d;transport=tcp\"\n  advertise_http: \"http://127.0.0.1:%d\"\n  secret: %q\n  heartbeat: 500ms\n  node_timeout: 3s\n",
			sipPort, httpPort, clusterSecret),
	})
	h.Login(t)
	return h
}

// dedupe keeps the last of repeated "key: value" lines.
func dedupe(lines []string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range lines {
		k, _, _ := strings.Cut(l, ":")
		if i, ok := idx[k]; ok {
			out[i] = l
			continue
		}
		idx[k] = len(out)
		out = append(out, l)
	}
	return out
}

// A citizen calls node A; the only seat registered through node B answers:
// the INVITE goes to the seat through B, the media stays on A (recorded
// there, stereo, both voices), and B's API finds the ticket and plays the
// recording; both nodes show the same seat, and the cluster lists both.
func TestClusterSeatOnOtherNodeAnswers(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	a := clusterNode(t, "node-a", redis.URL())
	b := clusterNode(t, "node-b", redis.URL())
	seat := siptest.RegisterSeat(t, b, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "1000", "talk_ms", "6000", "hangup", "seat", "pt", "0", "codec", "PCMU")
	if v := a.Seats(t)["8001"]; v.State != "ready" {
		t.Fatalf("node A sees seat 8001 %s, want ready (registered through B)", v.State)
	}

	const caller = "13822223333"
	dir := t.TempDir()
	callerPress(t, dir, '1', '1', 25*time.Second)
	mp := siptest.FreePort(t)
	capture := siptest.StartCapture(t, fmt.Sprintf("udp and dst port %d", mp))
	r := siptest.SIPp{
		Scenario: "caller_rates.xml", Target: a.Ready.SIPUDP, Service: "12348", Caller: caller,
		Dir: dir, MediaPort: mp, PauseMS: 11000,
	}.Run(t, 60*time.Second)
	expectSIPpOK(t, r)
	expectSIPpOK(t, seatRun.Wait(t))
	pkts := capture.Stop(t)
	var heard []int16
	for _, p := range pkts {
		if rtp, ok := siptest.ParseRTP(p.Payload); ok && rtp.PT == 0 {
			heard = append(heard, siptest.DecodeG711(0, rtp.Payload)...)
		}
	}
	if lvl := siptest.ToneLevel(heard, seatHz); lvl < 0.02 {
		t.Errorf("the caller on A did not hear the seat on B (1400 Hz level %.4f)", lvl)
	}

	// The ticket lives on A; B's API finds it, and plays its recording.
	tk := closedTicket(t, b, caller)
	if !strings.Contains(tk.ID, "-node-a-") {
		t.Errorf("ticket %s: want one of node-a", tk.ID)
	}
	if str(tk.Outcome) != "answered" || tk.SeatID == nil || *tk.SeatID != "8001" || tk.Satisfaction == nil || *tk.Satisfaction != 1 {
		t.Fatalf("ticket outcome %s seat %v satisfaction %v", str(tk.Outcome), tk.SeatID, tk.Satisfaction)
	}
	checkStereo(t, b, tk.ID, 6*time.Second)
	if code, body := b.API(t, "GET", "/api/tickets/"+url.PathEscape(tk.ID), ""); code != 200 || !strings.Contains(string(body), `"answered"`) {
		t.Errorf("B: GET ticket of A: %d %s", code, body)
	}
	seat.WaitState(t, "ready", 6*time.Second)
	if v := a.Seats(t)["8001"]; v.State != "ready" {
		t.Errorf("A sees 8001 %s after the wrap-up", v.State)
	}

	// GET /api/cluster on either node: both alive, the seat via B.
	code, body := a.API(t, "GET", "/api/cluster", "")
	if code != 200 {
		t.Fatalf("/api/cluster: %d %s", code, body)
	}
	var cl struct {
		Self  string
		Nodes []struct {
			ID       string `json:"id"`
			Alive    bool   `json:"alive"`
			SeatsVia int    `json:"seats_via"`
		}
	}
	if err := json.Unmarshal(body, &cl); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range cl.Nodes {
		got[n.ID] = fmt.Sprintf("alive=%v via=%d", n.Alive, n.SeatsVia)
	}
	if cl.Self != "node-a" || got["node-a"] != "alive=true via=0" || got["node-b"] != "alive=true via=1" {
		t.Errorf("/api/cluster on A: self %s nodes %v", cl.Self, got)
	}
	// Stats count A's call once, from either node.
	for _, h := range []*siptest.Hotline{a, b} {
		code, body := h.API(t, "GET", "/api/stats/today", "")
		var st struct {
			Offered  int `json:"offered"`
			Answered int `json:"answered"`
		}
		if code != 200 || json.Unmarshal(body, &st) != nil || st.Offered != 1 || st.Answered != 1 {
			t.Errorf("stats on %s: %d %s", h.Ready.HTTP, code, body)
		}
	}
}
