package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/ticket"
)

// The operator's phone shows the choice the caller made, not whichever
// route of the same category a map iteration met first.
func TestSeatDisplayLabelFollowsTheKey(t *testing.T) {
	menu, err := config.LoadMenu(configs.IVRYAML())
	if err != nil {
		t.Fatal(err)
	}
	d := &seatDialer{menu: menu}
	for _, tc := range []struct{ path, want string }{
		{"1", "法律咨询"},
		{"0", "综合咨询"},
		{"", "综合咨询"},
		{"2", "法律援助"},
		{"9", "农民工欠薪绿色通道"},
		{"7*2", "法律援助"},
		{"77", "综合咨询"}, // two wrong keys: the general queue
	} {
		for range 20 { // map order would show itself within a few tries
			if got := d.label(&ticket.Ticket{IVRPath: tc.path}); got != tc.want {
				t.Fatalf("path %q: label %q, want %q", tc.path, got, tc.want)
			}
		}
	}
}

// A multi-node backend this version does not have is refused at start,
// naming the key, rather than quietly replaced by a one-node ACD.
func TestRedisBackendRefused(t *testing.T) {
	cfg, err := config.Parse([]byte("data_dir: "+t.TempDir()+"\nacd: { backend: redis, redis_url: \"redis://127.0.0.1:6379/0\" }\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "acd.backend") {
		t.Fatalf("Run with acd.backend redis: %v", err)
	}
}
