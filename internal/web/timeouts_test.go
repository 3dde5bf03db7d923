package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/internal/ticket"
)

// serveShort serves h as Serve does, but with a write timeout of d, on
// 127.0.0.1; it returns the base URL.
func serveShort(t *testing.T, h http.Handler, d time.Duration) string {
	t.Helper()
	srv := NewHTTPServer(context.Background(), h, slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout != ReadHeaderTimeout || srv.ReadTimeout != ReadTimeout || srv.WriteTimeout != WriteTimeout ||
		srv.IdleTimeout != IdleTimeout || srv.MaxHeaderBytes != MaxHeaderBytes || ReadHeaderTimeout == 0 || IdleTimeout == 0 {
		t.Fatalf("server bounds %+v", srv)
	}
	srv.WriteTimeout = d
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// The write timeout bounds ordinary answers, but the live event stream and
// a recording read slowly outlive it: they extend their deadline as they
// make progress.
func TestLongAnswersOutliveTheWriteTimeout(t *testing.T) {
	const short = 300 * time.Millisecond

	// The event stream: heartbeats for three times the write timeout.
	le := newLiveEnv(t, HubOptions{Heartbeat: 50 * time.Millisecond})
	h := New(Options{Floor: le.floor, Events: le.hub}, le.users, le.tickets, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	base := serveShort(t, h, short)
	tok := le.login(t, "op")
	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got int
	for end := time.Now().Add(3 * short); time.Now().Before(end); {
		n, err := res.Body.Read(buf)
		if err != nil {
			t.Fatalf("the event stream ended after %d bytes: %v", got, err)
		}
		got += n
	}
	res.Body.Close()

	// A recording of 24 MB, more than the socket buffers hold, read at
	// 2 MB per 100 ms: the download takes about four write timeouts.
	e := newEnv(t)
	ctx := context.Background()
	tk := &ticket.Ticket{CallID: "c", Caller: "13800000000", Called: "12348"}
	if err := e.tickets.Open(ctx, tk); err != nil {
		t.Fatal(err)
	}
	url := "/api/tickets/" + tk.ID + "/recording"
	if _, err := e.tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error { t.Recording = &url; return nil }); err != nil {
		t.Fatal(err)
	}
	const size = 24 << 20
	if err := os.WriteFile(filepath.Join(e.recDir, tk.ID+".wav"), make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	base = serveShort(t, e.h, short)
	req, _ = http.NewRequest("GET", base+url, nil)
	req.Header.Set("Authorization", "Bearer "+e.login(t, "boss"))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	began := time.Now()
	var read int64
	for {
		n, err := io.CopyN(io.Discard, res.Body, 2<<20)
		read += n
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if read != size {
		t.Fatalf("read %d of %d bytes in %s: the download was cut", read, size, time.Since(began).Round(time.Millisecond))
	}
	if took := time.Since(began); took < 2*short {
		t.Fatalf("the download took %s: too fast to show anything", took)
	}
}
