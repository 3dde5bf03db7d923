package adapt

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/redistest"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/internal/web"
)

func startNode(t *testing.T, url, id, sipAddr string) *cluster.Node {
	t.Helper()
	rdb, err := cluster.NewClient(cluster.RedisConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	n, err := cluster.Start(context.Background(), rdb, cluster.Options{
		NodeID: id, AdvertiseSIP: sipAddr, AdvertiseHTTP: "http://" + id + ".example:8080",
		Heartbeat: 200 * time.Millisecond, NodeTimeout: 2 * time.Second,
		ACD:   acd.Config{RingTimeout: 15 * time.Second, WrapUp: time.Second, MaxWait: time.Minute, SkillFallback: time.Minute, DeclinePause: time.Second},
		Seats: []agent.Seat{agent.New("8001", "1", []string{"consult"})},
		Log:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// The cluster as the SIP guard and the console see it: the live nodes'
// SIP hosts are peers, the console lists every node, and a ticket revision
// reaches the other nodes without the caller's number or the summary.
func TestClusterAdapters(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "km-1", "sip:127.0.0.1:5060")
	b := startNode(t, srv.URL(), "km-2", "sip:127.0.0.2:5060;transport=tcp")
	ctx := context.Background()

	peers := NewClusterPeers(a)
	deadline := time.Now().Add(10 * time.Second)
	for !peers.Has(netip.MustParseAddr("127.0.0.2")) || !peers.Has(netip.MustParseAddr("127.0.0.1")) {
		if time.Now().After(deadline) {
			t.Fatal("the live nodes' SIP hosts never became peers")
		}
		peers.refresh(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	if peers.Has(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("a stranger is a peer")
	}

	wc := WebCluster{Node: a}
	if wc.Self() != "km-1" {
		t.Fatalf("Self %q", wc.Self())
	}
	nodes, err := wc.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]web.NodeStatus{}
	for _, n := range nodes {
		seen[n.ID] = n
	}
	if s := seen["km-2"]; !s.Alive || s.SIP != "sip:127.0.0.2:5060;transport=tcp" || s.HTTP != "http://km-2.example:8080" {
		t.Fatalf("km-2 as the console sees it: %+v (all: %+v)", s, nodes)
	}

	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tickets := ticket.NewStore(db, "km-1", time.UTC, nil)
	hub := web.NewHub(web.HubOptions{Tickets: tickets, Node: "km-1", Log: slog.New(slog.DiscardHandler)})
	defer hub.Close()
	got := make(chan cluster.TicketEvent, 8)
	b.OnRemoteRevision(func(ev cluster.TicketEvent) { got <- ev })
	RelayRevisions(a, tickets, hub, slog.New(slog.DiscardHandler))
	tk := &ticket.Ticket{CallID: "c-1", Caller: "13812345678", Called: "12348", Summary: "欠薪三个月", OpenedAt: time.Now()}
	if err := tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Node != "km-1" || strings.Contains(string(ev.Ticket), "13812345678") || strings.Contains(string(ev.Ticket), "欠薪") {
			t.Fatalf("revision relayed with personal data: %+v %s", ev, ev.Ticket)
		}
		var back ticket.Ticket
		if err := json.Unmarshal(ev.Ticket, &back); err != nil || back.ID != tk.ID {
			t.Fatalf("relayed ticket %s: %v", ev.Ticket, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revision never reached the other node")
	}
}
