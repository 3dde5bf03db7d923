package sip

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/metrictest"
)

// These tests run two hotline nodes, A and B, in one process on 127.0.0.1
// with ports the kernel picks, and a seat softphone played by sipgo that
// registers at B. A dials the seat through B (Target.Via), as a call on
// one node reaches a seat registered through another (SPEC §11).

var clusterSecret = []byte("cluster-test-secret-0123456789ab")

const (
	offerSDP  = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	answerSDP = "v=0\r\no=seat 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\n"
	holdSDP   = "v=0\r\no=seat 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=sendonly\r\n"
	heldSDP   = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=recvonly\r\n"
)

// leakCheck fails the test if a goroutine started by this package or by
// sipgo is still alive after every other cleanup (no goleak in go.mod).
func leakCheck(t *testing.T) {
	t.Helper()
	// Only goroutines this test started count: another test's stragglers
	// (sipgo keeps a UDP socket it opened to send a BYE past Close) are
	// not this test's leak.
	before := map[string]bool{}
	for _, g := range sipGoroutines() {
		before[goroutineID(g)] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for _, g := range sipGoroutines() {
				if !before[goroutineID(g)] {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) left behind:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// sipGoroutines are the stacks of the goroutines sipgo or this package started.
func sipGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/emiago/sipgo") ||
			strings.Contains(g, "created by github.com/hotline12348/hotline/internal/sip.") {
			out = append(out, g)
		}
	}
	return out
}

// goroutineID is the number in a stack's "goroutine N [state]:" line.
func goroutineID(stack string) string {
	f := strings.Fields(stack)
	if len(f) > 1 {
		return f[1]
	}
	return stack
}

// clusterNode is one hotline node. Nothing is trusted: the forwarding must
// not depend on trusted_sources, and no call may reach the handler.
type clusterNode struct {
	srv   *Server
	reg   *Registrar
	prom  *prometheus.Registry
	calls atomic.Int32
}

// startNode starts a node listening on UDP and TCP; link is the transport
// it advertises to the other nodes (its first listener).
func startNode(t *testing.T, link string, registrar bool) *clusterNode {
	t.Helper()
	n := &clusterNode{prom: prometheus.NewRegistry()}
	listen := []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}
	if link == "tcp" {
		listen[0], listen[1] = listen[1], listen[0]
	}
	cfg := Config{
		Listen: listen, Domain: testRealm, AdvertiseHost: "127.0.0.1",
		Cluster: &ClusterConfig{Secret: clusterSecret},
	}
	if registrar {
		r, err := NewRegistrar(RegistrarConfig{
			Realm:       testRealm,
			Credentials: func(u string) (string, bool) { p, ok := seatPasswords[u]; return p, ok },
		}, slog.New(slog.DiscardHandler), n.prom)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		cfg.Registrar, n.reg = r, r
	}
	s, err := New(cfg, func(ctx context.Context, c *InboundCall) {
		n.calls.Add(1)
		_ = c.Reject(404, "Not Found")
	}, slog.New(slog.DiscardHandler), n.prom)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n.srv = s
	return n
}

func (n *clusterNode) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return metrictest.Value(t, n.prom, name, labels...)
}

func dialVia(t *testing.T, a *clusterNode, target Target, onOffer OfferFunc) *OutboundCall {
	t.Helper()
	oc, err := a.srv.Dial(context.Background(), DialOptions{
		Target: target, FromUser: "13800000000", ToUser: "8001", SDP: []byte(offerSDP), OnOffer: onOffer,
	})
	if err != nil {
		t.Fatalf("Dial via B: %v", err)
	}
	t.Cleanup(oc.Close)
	return oc
}

func waitEvent(t *testing.T, oc *OutboundCall, want EventKind) Event {
	t.Helper()
	select {
	case ev := <-oc.Events():
		if ev.Kind != want {
			t.Fatalf("event %v, want %v", ev.Kind, want)
		}
		return ev
	case <-time.After(3 * time.Second):
		t.Fatalf("no %v event", want)
		return Event{}
	}
}

// waitAsync runs Wait, which also delivers Ringing, as the call layer does.
func waitAsync(oc *OutboundCall, cancel <-chan struct{}) <-chan waitOut {
	ch := make(chan waitOut, 1)
	go func() { r, err := oc.Wait(cancel); ch <- waitOut{r, err} }()
	return ch
}

type waitOut struct {
	r   Result
	err error
}

func waitResult(t *testing.T, ch <-chan waitOut) Result {
	t.Helper()
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("Wait: %v", o.err)
		}
		return o.r
	case <-time.After(8 * time.Second):
		t.Fatal("Wait did not return")
		return Result{}
	}
}

func waitRinging(t *testing.T, oc *OutboundCall) {
	t.Helper()
	select {
	case <-oc.Ringing():
	case <-time.After(3 * time.Second):
		t.Fatal("180 not relayed to A")
	}
}

// A call on A to a seat registered at B, the node link over UDP and TCP,
// the seat over UDP and TCP: ringing, answer, ACK, a digit by INFO from A,
// hold by re-INVITE from the seat, BYE from the seat; then a second call
// that A hangs up.
func TestForwardCallThroughNode(t *testing.T) {
	for _, link := range []string{"udp", "tcp"} {
		for _, seatTransport := range []string{"UDP", "TCP"} {
			t.Run(link+"_link_"+strings.ToLower(seatTransport)+"_seat", func(t *testing.T) {
				leakCheck(t)
				a, b := startNode(t, link, false), startNode(t, link, true)
				seat := startSeat(t, seatTransport)
				target := seat.register(t, b)
				if !strings.Contains(target.Via, b.srv.Addrs()[link].String()) {
					t.Fatalf("B advertises %q, want its %s listener", target.Via, link)
				}

				offers := make(chan string, 1)
				oc := dialVia(t, a, target, func(o []byte) ([]byte, error) { offers <- string(o); return []byte(heldSDP), nil })
				answered := waitAsync(oc, nil)
				sc := seat.nextCall(t)
				inv := sc.invite
				if rr := inv.GetHeaders("Record-Route"); len(rr) == 0 || !strings.Contains(rr[0].Value(), "hlflow=") || !strings.Contains(rr[0].Value(), ";lr") {
					t.Fatalf("the INVITE reached the seat without our Record-Route: %v", rr)
				}
				if len(inv.GetHeaders("Route")) != 0 || len(inv.GetHeaders("Via")) != 2 || inv.MaxForwards().Val() != 69 {
					t.Fatalf("forwarded INVITE: Route %v, Via %v, Max-Forwards %v", inv.GetHeaders("Route"), inv.GetHeaders("Via"), inv.MaxForwards())
				}
				waitRinging(t, oc)
				sc.answer <- answerSDP
				res := waitResult(t, answered)
				if res.Code != 200 || string(res.Answer) != answerSDP || res.LateAnswer {
					t.Fatalf("Wait: %+v", res)
				}
				select {
				case err := <-sc.acked:
					if err != nil {
						t.Fatalf("the seat's 200 was not ACKed: %v", err)
					}
				case <-time.After(3 * time.Second):
					t.Fatal("the seat got no ACK")
				}

				if err := oc.SendDigit(context.Background(), '5', 160*time.Millisecond); err != nil {
					t.Fatalf("SendDigit through B: %v", err)
				}
				if info := seat.expect(t, sip.INFO); !strings.Contains(string(info.Body()), "Signal=5") {
					t.Fatalf("INFO body %q", info.Body())
				}

				if r := sc.reinvite(t, holdSDP); r.StatusCode != 200 || string(r.Body()) != heldSDP {
					t.Fatalf("hold re-INVITE answered %d %q", r.StatusCode, r.Body())
				}
				select {
				case o := <-offers:
					if o != holdSDP {
						t.Fatalf("A's OnOffer got %q", o)
					}
				case <-time.After(time.Second):
					t.Fatal("A's OnOffer was not called")
				}

				// In-dialog requests A's call layer does not send today, which
				// B forwards all the same: re-INVITE with its ACK, and UPDATE.
				ctx, cancelReq := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancelReq()
				seatURI := oc.sess.InviteResponse.Contact().Address
				reinv := sip.NewRequest(sip.INVITE, seatURI)
				reinv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				reinv.SetBody([]byte(offerSDP))
				if r, err := oc.sess.Do(ctx, reinv); err != nil || r.StatusCode != 200 {
					t.Fatalf("A's re-INVITE through B: %v %v", r, err)
				}
				if err := oc.sess.WriteRequest(sip.NewRequest(sip.ACK, seatURI)); err != nil {
					t.Fatalf("A's ACK of its re-INVITE: %v", err)
				}
				for ack := seat.expect(t, sip.ACK); ack.CSeq().SeqNo != reinv.CSeq().SeqNo; ack = seat.expect(t, sip.ACK) {
				}
				if r, err := oc.sess.Do(ctx, sip.NewRequest(sip.UPDATE, seatURI)); err != nil || r.StatusCode != 200 {
					t.Fatalf("A's UPDATE through B: %v %v", r, err)
				}

				byeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := sc.sess.Bye(byeCtx); err != nil {
					t.Fatalf("seat BYE through B: %v", err)
				}
				waitEvent(t, oc, EventBye)

				// A second call, which A hangs up.
				oc2 := dialVia(t, a, target, nil)
				answered2 := waitAsync(oc2, nil)
				sc2 := seat.nextCall(t)
				sc2.answer <- answerSDP
				if res := waitResult(t, answered2); res.Code != 200 {
					t.Fatalf("second call: %+v", res)
				}
				if err := <-sc2.acked; err != nil {
					t.Fatalf("second call not ACKed: %v", err)
				}
				if err := oc2.Hangup(context.Background()); err != nil {
					t.Fatalf("A's BYE through B: %v", err)
				}
				if bye := seat.expect(t, sip.BYE); callID(bye) != callID(sc2.invite) {
					t.Fatal("BYE for the wrong call")
				}

				for m, want := range map[string]float64{"INVITE": 4, "ACK": 4, "INFO": 1, "BYE": 2, "UPDATE": 1} {
					if got := b.metric(t, "hotline_sip_forwarded_total", "method", m); got < want {
						t.Errorf("B forwarded %v %s, want ≥ %v", got, m, want)
					}
				}
				if a.calls.Load() != 0 || b.calls.Load() != 0 {
					t.Fatal("a forwarded request reached a node's call handler")
				}
			})
		}
	}
}

// A phone that answers without echoing the Record-Route set: B puts it back
// into the answer it relays, so A's ACK and BYE still reach the phone
// through B (its NAT flow), not past it.
func TestForwardPhoneThatDropsRecordRoute(t *testing.T) {
	leakCheck(t)
	a, b := startNode(t, "tcp", false), startNode(t, "tcp", true)
	seat := startSeat(t, "UDP")
	seat.dropRR.Store(true)
	target := seat.register(t, b)
	oc := dialVia(t, a, target, nil)
	answered := waitAsync(oc, nil)
	sc := seat.nextCall(t)
	sc.answer <- answerSDP
	if res := waitResult(t, answered); res.Code != 200 {
		t.Fatalf("Wait: %+v", res)
	}
	if rr := oc.sess.InviteResponse.GetHeaders("Record-Route"); len(rr) == 0 || !strings.Contains(rr[0].Value(), "hlflow=") {
		t.Fatalf("A's dialog has no route through B: %v", rr)
	}
	select {
	case err := <-sc.acked:
		if err != nil {
			t.Fatalf("the seat's 200 was not ACKed: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the seat got no ACK")
	}
	if err := oc.Hangup(context.Background()); err != nil {
		t.Fatalf("A's BYE: %v", err)
	}
	seat.expect(t, sip.BYE)
	if got := b.metric(t, "hotline_sip_forwarded_total", "method", "BYE"); got < 1 {
		t.Errorf("the BYE did not pass through B (forwarded %v)", got)
	}
}

// A cancels while the seat rings: the seat gets the CANCEL, A gets 487.
func TestForwardCancelWhileRinging(t *testing.T) {
	for _, link := range []string{"udp", "tcp"} {
		t.Run(link, func(t *testing.T) {
			leakCheck(t)
			a, b := startNode(t, link, false), startNode(t, link, true)
			seat := startSeat(t, "UDP")
			oc := dialVia(t, a, seat.register(t, b), nil)
			giveUp := make(chan struct{})
			answered := waitAsync(oc, giveUp)
			sc := seat.nextCall(t)
			waitRinging(t, oc)
			close(giveUp)
			res := waitResult(t, answered)
			if res.Code != 487 || res.LateAnswer {
				t.Fatalf("Wait after CANCEL: %+v, want 487", res)
			}
			// A's ACK of B's 487 is in flight: sipgo opens a new socket for
			// a request it handles after its user agent closed (its shutdown
			// race, not ours), which the leak check would find.
			time.Sleep(100 * time.Millisecond)
			select {
			case <-sc.cancelled:
				if !errors.Is(context.Cause(sc.sess.Context()), sip.ErrTransactionCanceled) {
					t.Fatalf("the seat's call ended by %v, not a CANCEL", context.Cause(sc.sess.Context()))
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the seat never saw the CANCEL")
			}
			if b.metric(t, "hotline_sip_forwarded_total", "method", "CANCEL") != 1 {
				t.Fatal("CANCEL not counted as forwarded")
			}
		})
	}
}

// The seat's 200 crosses A's CANCEL: B forwards the 200 all the same, A
// sees a late answer, ACKs it through B and hangs it up.
func TestForwardAnswerCrossingCancel(t *testing.T) {
	for _, link := range []string{"udp", "tcp"} {
		t.Run(link, func(t *testing.T) {
			leakCheck(t)
			a, b := startNode(t, link, false), startNode(t, link, true)
			seat := startSeat(t, "UDP")
			seat.crossOnCancel.Store(true)
			oc := dialVia(t, a, seat.register(t, b), nil)
			giveUp := make(chan struct{})
			answered := waitAsync(oc, giveUp)
			sc := seat.nextCall(t)
			waitRinging(t, oc)
			close(giveUp)
			res := waitResult(t, answered)
			if res.Code != 200 || !res.LateAnswer {
				t.Fatalf("Wait: %+v, want a late 200", res)
			}
			select {
			case err := <-sc.acked:
				if err != nil {
					t.Fatalf("late 200 not ACKed: %v", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the seat got no ACK for its late 200")
			}
			if err := oc.Hangup(context.Background()); err != nil {
				t.Fatalf("BYE of the late answer: %v", err)
			}
			seat.expect(t, sip.BYE)
		})
	}
}

// rawRequest is a request to B written by hand from peer p.
func rawRequest(p *udpPeer, method, ruri, route, callID, toTag string, maxForwards int) string {
	to := "<sip:8001@12348.local>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	routeHdr := ""
	if route != "" {
		routeHdr = "Route: " + route + "\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s%d;rport\r\n%s"+
		"From: <sip:a@127.0.0.1>;tag=x1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: %d\r\n"+
		"Contact: <sip:a@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n",
		method, ruri, p.port(), callID, branchSeq.Add(1), routeHdr, to, callID, method, maxForwards, p.port())
}

// Requests routed through B that it must not forward: each is answered,
// counted, and nothing reaches the seat.
func TestForwardRefusals(t *testing.T) {
	leakCheck(t)
	b := startNode(t, "udp", true)
	seat := startSeat(t, "UDP")
	target := seat.register(t, b)
	p := newUDPPeer(t, b.srv)
	self := b.srv.Addrs()["udp"].String()
	seatFlow := flow{transport: "UDP", addr: target.Source}
	now := time.Now()
	mint := func(f flow, cid string, at time.Time) string {
		tok, err := mintFlowToken(clusterSecret, f, cid, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	route := func(tok string) string { return fmt.Sprintf("<sip:%s;lr;hlflow=%s>", self, tok) }
	good := mint(seatFlow, "refuse-forged", now)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	raw[len(raw)-1] ^= 1 // inside the MAC
	forged := base64.RawURLEncoding.EncodeToString(raw)
	ownFlow := flow{transport: "UDP", addr: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", p.port()))}

	for _, tc := range []struct {
		name, msg, status, reason string
	}{
		{"forged", rawRequest(p, "INVITE", target.Contact, route(forged), "refuse-forged", "", 70), "403", refuseForged},
		{"no_token", rawRequest(p, "INVITE", target.Contact, fmt.Sprintf("<sip:%s;lr>", self), "refuse-none", "", 70), "403", refuseNoToken},
		{"other_call", rawRequest(p, "BYE", target.Contact, route(mint(seatFlow, "call-x", now)), "call-y", "t1", 70), "403", refuseForged},
		{"garbage", rawRequest(p, "INFO", target.Contact, route("!!notbase64"), "refuse-garbage", "t1", 70), "403", refuseForged},
		{"expired", rawRequest(p, "INVITE", target.Contact, route(mint(seatFlow, "refuse-old", now.Add(-10*time.Minute))), "refuse-old", "", 70), "403", refuseExpired},
		{"future", rawRequest(p, "BYE", target.Contact, route(mint(seatFlow, "refuse-future", now.Add(time.Hour))), "refuse-future", "t1", 70), "403", refuseExpired},
		{"max_forwards", rawRequest(p, "INVITE", target.Contact, route(mint(seatFlow, "refuse-hops", now)), "refuse-hops", "", 0), "483", refuseMaxForwards},
		{"from_the_flow", rawRequest(p, "INVITE", "sip:victim@127.0.0.1:9", route(mint(ownFlow, "refuse-dir", now)), "refuse-dir", "", 70), "403", refuseDirection},
		{"flow_gone", rawRequest(p, "INFO", target.Contact, route(mint(flow{transport: "TCP", addr: netip.MustParseAddrPort("127.0.0.1:9")}, "refuse-gone", now)), "refuse-gone", "t1", 70), "430", refuseFlowFailed},
	} {
		before := b.metric(t, "hotline_sip_forward_refused_total", "reason", tc.reason)
		p.send(t, tc.msg)
		if got := p.recvStatus(3 * time.Second); !strings.HasPrefix(got, "SIP/2.0 "+tc.status) {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.status)
		}
		if after := b.metric(t, "hotline_sip_forward_refused_total", "reason", tc.reason); after != before+1 {
			t.Errorf("%s: refused{reason=%s} went %v -> %v", tc.name, tc.reason, before, after)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := seat.count.Load(); n != 0 {
		t.Fatalf("%d refused request(s) reached the seat", n)
	}
	if b.calls.Load() != 0 {
		t.Fatal("a refused request became a call")
	}
	if got := b.metric(t, "hotline_sip_forwarded_total", "method", "INVITE"); got != 0 {
		t.Fatalf("forwarded INVITEs: %v", got)
	}
}

// A node that is down, reached over TCP: Dial fails at once, clearly.
func TestForwardDialDeadNodeFailsFast(t *testing.T) {
	leakCheck(t)
	a := startNode(t, "tcp", false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	start := time.Now()
	_, err = a.srv.Dial(context.Background(), DialOptions{ToUser: "8001", SDP: []byte(offerSDP), Target: Target{
		Contact: "sip:8001@127.0.0.1:5999", Source: netip.MustParseAddrPort("127.0.0.1:5999"), Transport: "UDP",
		Via: "sip:" + dead + ";transport=tcp",
	}})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Dial through a dead node: %v, want a clear error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial through a dead node took %v", d)
	}

	solo := startServer(t, nil) // no cluster configuration
	if _, err := solo.Dial(context.Background(), DialOptions{ToUser: "8001", Target: Target{
		Contact: "sip:8001@127.0.0.1:5999", Source: netip.MustParseAddrPort("127.0.0.1:5999"), Transport: "UDP", Via: "sip:" + dead,
	}}); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("Dial via without a cluster: %v", err)
	}
}

func TestNewClusterConfigErrors(t *testing.T) {
	for _, c := range []*ClusterConfig{
		{},
		{Secret: clusterSecret, Advertise: "http://10.0.0.1"},
		{Secret: clusterSecret, Advertise: "sip:10.0.0.1;transport=sctp"},
		{Secret: clusterSecret, Advertise: "sip:8001@10.0.0.1"},
	} {
		if _, err := New(Config{Cluster: c}, nil, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("cluster %+v accepted", c)
		}
	}
	s, err := New(Config{Cluster: &ClusterConfig{Secret: clusterSecret, Advertise: "sip:10.0.0.11;transport=TCP"}}, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Advertise(); got != "sip:10.0.0.11:5060;transport=tcp" {
		t.Fatalf("Advertise() = %q", got)
	}
}

// Requests another node routes through this one carry a flow token: the
// token is the authorisation, and they are not rate-limited like a
// stranger's (a busy node forwards many calls' requests); the same requests
// with a forged token are.
func TestForwardedRequestsNotRateLimited(t *testing.T) {
	b := startNode(t, "udp", true)
	p := peerAt(t, b.srv, "127.0.0.31")
	self := b.srv.Addrs()["udp"].String()
	gone := flow{transport: "TCP", addr: netip.MustParseAddrPort("127.0.0.1:9")}
	send := func(forge bool) int {
		for i := range 40 {
			cid := fmt.Sprintf("pike-%v-%d", forge, i)
			tok, err := mintFlowToken(clusterSecret, gone, cid, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if forge {
				tok, err = mintFlowToken([]byte("another cluster's secret"), gone, cid, time.Now())
				if err != nil {
					t.Fatal(err)
				}
			}
			p.send(t, rawRequest(p, "INFO", "sip:8001@127.0.0.1:9", fmt.Sprintf("<sip:%s;lr;hlflow=%s>", self, tok), cid, "t1", 70))
		}
		n := 0
		for p.recvStatus(300*time.Millisecond) != "" {
			n++
		}
		return n
	}
	if n := send(false); n != 40 {
		t.Fatalf("%d of 40 requests with a valid flow token answered, want all", n)
	}
	if n := send(true); n > 16 {
		t.Fatalf("%d of 40 requests with a forged token answered, want at most 16 (sip.rate_limit)", n)
	}
}
