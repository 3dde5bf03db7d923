package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotline12348/hotline/internal/config"
)

// The loopback-media warning: SIP on every address (0.0.0.0, ::, no host)
// with media.rtp_ip or media.bind_ip on loopback; not when SIP itself is
// on one address, nor when the media addresses are reachable.
func TestNetworkWarnings(t *testing.T) {
	for _, c := range []struct {
		listen      []string
		rtp, bind   string
		warn, names string
	}{
		{[]string{"udp://0.0.0.0:5060"}, "127.0.0.1", "127.0.0.1", "udp://0.0.0.0:5060", "media.rtp_ip 127.0.0.1 and media.bind_ip 127.0.0.1"},
		{[]string{"udp://10.0.0.5:5060", "tcp://[::]:5060"}, "127.0.0.1", "0.0.0.0", "tcp://[::]:5060", "media.rtp_ip 127.0.0.1 is"},
		{[]string{"udp://:5060"}, "10.0.0.5", "::1", "udp://:5060", "media.bind_ip ::1"},
		{[]string{"udp://127.0.0.1:5060"}, "127.0.0.1", "127.0.0.1", "", ""},
		{[]string{"udp://0.0.0.0:5060"}, "10.0.0.5", "0.0.0.0", "", ""},
	} {
		cfg := &config.Config{SIP: config.SIP{Listen: c.listen}, Media: config.Media{RTPIP: c.rtp, BindIP: c.bind}}
		got := NetworkWarnings(cfg)
		switch {
		case c.warn == "" && len(got) != 0:
			t.Errorf("%v %s/%s: warned %q", c.listen, c.rtp, c.bind, got)
		case c.warn != "" && (len(got) != 1 || !strings.Contains(got[0], c.warn) || !strings.Contains(got[0], c.names)):
			t.Errorf("%v %s/%s: %q, want one warning naming %s and %s", c.listen, c.rtp, c.bind, got, c.warn, c.names)
		}
	}
}

// data_dir: an existing directory, or one that can be made under the
// nearest existing one; never a file, nor under one. The check leaves
// nothing behind.
func TestCheckDataDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, ok := range map[string]bool{dir: true, filepath.Join(dir, "new", "deeper"): true, file: false, filepath.Join(file, "sub"): false} {
		err := checkDataDir(p)
		if (err == nil) != ok || err != nil && !strings.HasPrefix(err.Error(), "data_dir: ") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the check left files: %v", entries)
	}
}
