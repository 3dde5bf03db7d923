package sip

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// testSeat is a seat softphone on sipgo.
type testSeat struct {
	t         *testing.T
	transport string // "UDP", "TCP"
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	dua       *sipgo.DialogUA
	addr      netip.AddrPort // the UDP listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	got   chan *sip.Request // every request received
	count atomic.Int32
	calls chan *seatCall

	mu     sync.Mutex
	byCall map[string]*seatCall

	// crossOnCancel: answer the ringing call when a CANCEL arrives, just
	// before the CANCEL is read (a 200 that crosses the CANCEL).
	crossOnCancel atomic.Bool
	// dropRR: answer without echoing the Record-Route set, as some phones
	// do (RFC 3261 §12.1.1 says they must echo it).
	dropRR atomic.Bool
}

// seatCall is one INVITE the seat received.
type seatCall struct {
	seat      *testSeat
	invite    *sip.Request
	sess      *sipgo.DialogServerSession
	answer    chan string
	acked     chan error // result of answering: nil once the ACK came
	cancelled chan struct{}
}

func startSeat(t *testing.T, transport string) *testSeat {
	t.Helper()
	st := &testSeat{t: t, transport: transport, got: make(chan *sip.Request, 64), calls: make(chan *seatCall, 8), byCall: map[string]*seatCall{}}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("seat"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet), sip.WithTransportLayerReadFilter(st.readFilter)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	st.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.addr = netip.MustParseAddrPort(conn.LocalAddr().String())
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(quiet), sipgo.WithClientHostname("127.0.0.1")}
	if transport == "UDP" {
		// Send from the listener: the registered flow is the seat's socket.
		opts = append(opts, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	}
	st.cli, err = sipgo.NewClient(ua, opts...)
	if err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "8001", Host: "127.0.0.1", Port: int(st.addr.Port()), UriParams: sip.NewParams()}}
	if transport == "TCP" {
		contact.Address.UriParams.Add("transport", "tcp")
	}
	st.dua = &sipgo.DialogUA{Client: st.cli, ContactHDR: contact}
	srv.OnInvite(st.onInvite)
	srv.OnAck(st.onAck)
	srv.OnBye(st.onBye)
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		st.record(req)
		respond(tx, req, 200, "OK")
	})
	srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) {
		st.record(req)
		respond(tx, req, 200, "OK")
	})
	srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		st.record(req)
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	})
	srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		st.record(req)
		respond(tx, req, 405, "Method Not Allowed")
	})
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		_ = srv.ServeUDP(conn)
	}()
	// sipgo pools the listener when it starts serving it; the REGISTER
	// must leave from it.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c := ua.TransportLayer().Pool("udp").Get(st.addr.String()); c != nil {
			_, _ = c.TryClose()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the seat's UDP listener is not served")
		}
	}
	t.Cleanup(func() {
		st.cancel()
		_ = conn.Close()
		_ = ua.Close()
		st.wg.Wait()
	})
	return st
}

func (st *testSeat) record(req *sip.Request) {
	st.count.Add(1)
	select {
	case st.got <- req:
	default:
	}
}

func (st *testSeat) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if bytesHasPrefix(data, "CANCEL ") && st.crossOnCancel.Load() {
		st.mu.Lock()
		var ringing *seatCall
		for _, c := range st.byCall {
			ringing = c
		}
		st.mu.Unlock()
		if ringing != nil {
			select {
			case ringing.answer <- answerSDP:
				time.Sleep(100 * time.Millisecond) // the 200 leaves before the CANCEL is read
			default:
			}
		}
	}
	return data, nil
}

func bytesHasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func (st *testSeat) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	st.record(req)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// A re-INVITE from A: accept it as it is.
		res := sip.NewSDPResponseFromRequest(req, []byte(answerSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.HeaderClone(&st.dua.ContactHDR))
		_ = tx.Respond(res)
		return
	}
	sess, err := st.dua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, 400, "Bad Request")
		return
	}
	c := &seatCall{seat: st, invite: req, sess: sess, answer: make(chan string, 1), acked: make(chan error, 1), cancelled: make(chan struct{})}
	st.mu.Lock()
	st.byCall[callID(req)] = c
	st.mu.Unlock()
	if err := sess.Respond(180, "Ringing", nil); err != nil {
		return
	}
	st.calls <- c
	select {
	case sdp := <-c.answer:
		res := sip.NewSDPResponseFromRequest(sess.InviteRequest, []byte(sdp))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		for st.dropRR.Load() && res.RemoveHeader("Record-Route") {
		}
		c.acked <- sess.WriteResponse(res)
	case <-sess.Context().Done():
		// The 487 is acknowledged hop by hop; wait for that ACK so nothing
		// is in flight to the seat when the test closes it.
		select {
		case <-tx.Acks():
		case <-time.After(2 * time.Second):
		}
		close(c.cancelled)
	case <-st.ctx.Done():
	}
}

func (st *testSeat) call(req *sip.Request) *seatCall {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byCall[callID(req)]
}

func (st *testSeat) onAck(req *sip.Request, tx sip.ServerTransaction) {
	st.record(req)
	if c := st.call(req); c != nil {
		_ = c.sess.ReadAck(req, tx)
	}
}

func (st *testSeat) onBye(req *sip.Request, tx sip.ServerTransaction) {
	st.record(req)
	c := st.call(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	_ = c.sess.ReadBye(req, tx)
}

// register registers seat 8001 at node n with digest authentication and
// returns where the call must go: through n.
func (st *testSeat) register(t *testing.T, n *clusterNode) Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: testRealm})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "8001", Host: testRealm}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "8001", Host: testRealm}, Params: sip.NewParams()})
	req.AppendHeader(sip.HeaderClone(&st.dua.ContactHDR))
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	req.SetTransport(st.transport)
	req.SetDestination(n.srv.Addrs()[strings.ToLower(st.transport)].String())
	res, err := st.cli.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = st.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "8001", Password: seatPasswords["8001"]})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER at B: %v %v", res, err)
	}
	b, ok := n.reg.Lookup("8001")
	if !ok || b.Transport != st.transport {
		t.Fatalf("binding %+v (%v), want seat 8001 over %s", b, ok, st.transport)
	}
	if st.transport == "UDP" && b.Source != st.addr {
		t.Fatalf("binding source %s, want the seat's listener %s", b.Source, st.addr)
	}
	return Target{Contact: b.Contact, Source: b.Source, Transport: b.Transport, Via: n.srv.Advertise()}
}

func (st *testSeat) nextCall(t *testing.T) *seatCall {
	t.Helper()
	select {
	case c := <-st.calls:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("the seat got no INVITE")
		return nil
	}
}

// expect waits for a request of this method at the seat.
func (st *testSeat) expect(t *testing.T, method sip.RequestMethod) *sip.Request {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case r := <-st.got:
			if r.Method == method {
				return r
			}
		case <-deadline:
			t.Fatalf("the seat got no %s", method)
			return nil
		}
	}
}

// reinvite puts the call on hold from the seat (RFC 3264 §8.4) and ACKs.
func (c *seatCall) reinvite(t *testing.T, sdp string) *sip.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	target := c.invite.Contact().Address
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(sdp))
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		t.Fatalf("seat re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		if err := c.sess.WriteRequest(sip.NewRequest(sip.ACK, target)); err != nil {
			t.Fatalf("seat ACK of re-INVITE: %v", err)
		}
	}
	return res
}
