package stats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotline12348/hotline/internal/app"
	"github.com/hotline12348/hotline/internal/config"
)

// The whole app is started once per test process, on free loopback ports
// and a temporary data directory, and /metrics is scraped once: the first
// scrape, the one "present from the first scrape" is about.
var (
	appOnce    sync.Once
	appScrape  map[string]*dto.MetricFamily
	appErr     error
	appStop    func()
	appLog     syncBuffer
	appSeats   = []string{"8001", "8002", "8003", "8004", "8005", "8006"}
	categories = []string{"consult", "legal_aid", "mediation", "notary", "complaint"}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if appStop != nil {
		appStop()
	}
	os.Exit(code)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// repoRoot is the module root, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// scrapeApp returns the metric families of the app's first /metrics scrape.
func scrapeApp(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	appOnce.Do(func() { appScrape, appErr = startAndScrape() })
	if appErr != nil {
		t.Fatalf("%v\napp log:\n%s", appErr, appLog.String())
	}
	return appScrape
}

func startAndScrape() (map[string]*dto.MetricFamily, error) {
	dir, err := os.MkdirTemp("", "hotline-stats-")
	if err != nil {
		return nil, err
	}
	seats := ""
	for _, id := range appSeats {
		seats += fmt.Sprintf("  - { id: %q, name: \"坐席%s\", password: \"test-%s-pass\", skills: [consult, legal_aid, mediation, notary, complaint] }\n", id, id[3:], id)
	}
	rtp := 30000 + 2*rand.IntN(12000)
	root := repoRoot()
	// The app runs as a node of a cluster (acd.backend redis), so that the
	// cluster's series are on /metrics too; everything else is the same.
	redisPort, sipPort := freePort(), freePort()
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redis-server is not installed: run scripts/test.sh (it installs the Debian package redis-server)")
	}
	redis := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(redisPort), "--save", "", "--appendonly", "no", "--dir", dir)
	if err := redis.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	stopRedis := func() { _ = redis.Process.Kill(); _ = redis.Wait() }
	y := fmt.Sprintf(`node_id: stats-test
data_dir: %s
timezone: Asia/Shanghai
log: { level: debug, format: text }
sip:
  listen: ["udp://127.0.0.1:%d", "tcp://127.0.0.1:%d"]
  domain: 12348.local
  hotline_numbers: ["12348"]
  trusted_sources: ["127.0.0.1/32"]
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "%d-%d"
http:
  listen: 127.0.0.1:0
acd:
  backend: redis
  redis_url: redis://127.0.0.1:%d/0
cluster:
  advertise_sip: "sip:127.0.0.1:%d;transport=tcp"
  advertise_http: http://127.0.0.1:1
  secret: stats-test-cluster-secret
seats:
%sivr:
  menu: %s
  prompts: %s
shutdown:
  grace: 5s
`, filepath.Join(dir, "data"), sipPort, sipPort, rtp, rtp+200, redisPort, sipPort, seats,
		filepath.Join(root, "configs", "ivr.yaml"), filepath.Join(root, "configs", "prompts", "zh"))
	cfg, err := config.Parse([]byte(y), nil)
	if err != nil {
		stopRedis()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	readyFile := filepath.Join(dir, "ready.json")
	logger := slog.New(slog.NewTextHandler(&appLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- app.Run(ctx, app.Options{Config: cfg, Logger: logger, ReadyFile: readyFile}) }()
	appStop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "stats tests: the app did not stop within 30 s")
		}
		stopRedis()
		_ = os.RemoveAll(dir)
	}

	var ready app.Ready
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(readyFile)
		if err == nil && json.Unmarshal(b, &ready) == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			return nil, fmt.Errorf("app exited before serving: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("app not ready after 60 s")
		}
	}
	res, err := http.Get("http://" + ready.HTTP + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %d %v", res.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w\n%s", err, body)
	}
	return fams, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 20000 + 2*rand.IntN(10000)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// labelValues lists, per label name, the values a family's series carry
// (for a histogram, "le" holds its bucket bounds).
func labelValues(f *dto.MetricFamily) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	add := func(k, v string) {
		if out[k] == nil {
			out[k] = map[string]bool{}
		}
		out[k][v] = true
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			add(l.GetName(), l.GetValue())
		}
		if h := m.GetHistogram(); h != nil {
			for _, b := range h.GetBucket() {
				add("le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
			}
			add("le", "+Inf")
		}
	}
	return out
}

// value is the value of the series of f with exactly these labels.
func value(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}
