package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/config"
)

// A node of a cluster whose Redis does not answer at start still starts
// (new callers then go to voicemail) and says so: /healthz 200 degraded.
func TestClusterNodeStartsWithRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	dir := t.TempDir()
	y := fmt.Sprintf(`node_id: t1
data_dir: %s
sip: {listen: ["udp://127.0.0.1:0"]}
http: {listen: "127.0.0.1:0"}
media: {rtp_ports: "41000-41100"}
acd: {backend: redis, redis_url: "redis://127.0.0.1:%d/0"}
cluster: {advertise_sip: "sip:127.0.0.1:5099", advertise_http: "http://127.0.0.1:8099", secret: "0123456789abcdef0"}
seats: [{id: "8001", password: pass-8001-x, skills: [consult]}]
`, dir, deadPort)
	cfg, err := config.Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := filepath.Join(dir, "ready.json")
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), ReadyFile: ready})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var r Ready
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && json.Unmarshal(b, &r) == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("Run ended before serving: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("not serving after 20 s")
		}
	}
	res, err := http.Get("http://" + r.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "degraded") || !strings.Contains(string(body), "redis") {
		t.Fatalf("/healthz with Redis down: %d %s", res.StatusCode, body)
	}
}
