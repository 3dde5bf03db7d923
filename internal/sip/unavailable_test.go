package sip

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// While Config.Unavailable gives a reason (no ticket could be kept for a new
// call), OPTIONS and new INVITEs get 503 so the SBC fails over; once it is
// "" again, both are served, without a restart.
func TestUnavailableRefusesNewCalls(t *testing.T) {
	var why atomic.Value
	why.Store("database read-only")
	var calls atomic.Int32
	s := startServerWith(t, func(ctx context.Context, c *InboundCall) {
		calls.Add(1)
		_ = c.Reject(404, "Not Found")
	}, Config{Listen: []string{"udp://127.0.0.1:0"}, Unavailable: func() string { return why.Load().(string) }}, prometheus.NewRegistry())
	p := newUDPPeer(t, s)
	p.send(t, options(p.port(), "u1"))
	if got := p.recvStatus(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 503") {
		t.Fatalf("OPTIONS while unavailable: %q, want 503", got)
	}
	p.send(t, invite(p.port(), "u2", ""))
	if got := p.recvStatus(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 503") {
		t.Fatalf("INVITE while unavailable: %q, want 503", got)
	}
	if calls.Load() != 0 {
		t.Fatal("the refused INVITE reached the call handler")
	}
	why.Store("")
	p.send(t, options(p.port(), "u3"))
	if got := p.recvStatus(2 * time.Second); got != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS once available: %q", got)
	}
	p.send(t, invite(p.port(), "u4", ""))
	if got := p.recvStatus(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 404") {
		t.Fatalf("INVITE once available: %q, want the handler's 404", got)
	}
}
