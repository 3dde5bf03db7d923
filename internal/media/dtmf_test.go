package media

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The ten RTP payloads of SIPp's /usr/share/sip-tester/dtmf_2833_1.pcap
// (PT 101, all with timestamp 13280, SSRC 0x0e05384e): the first has
// duration 0, the last three are the retransmitted end packets.
var sippKey1 = []string{
	"010a0000", "010a0140", "010a0280", "010a03c0", "010a0500",
	"010a0640", "010a0780", "018a08c0", "018a08c0", "018a08c0",
}

func TestDTMFDetectorSIPpKey1(t *testing.T) {
	var d DTMFDetector
	var got []rune
	for i, h := range sippKey1 {
		payload, _ := hex.DecodeString(h)
		if r, ok := d.Packet(0x0e05384e, 13280, payload); ok {
			if i != 0 {
				t.Errorf("digit reported on packet %d, want the first (duration 0)", i)
			}
			got = append(got, r)
		}
	}
	if string(got) != "1" {
		t.Fatalf("got %q, want exactly one '1'", string(got))
	}
}

func ev(event byte, end bool, duration uint16) []byte {
	b := []byte{event, 0x0a, byte(duration >> 8), byte(duration)}
	if end {
		b[1] |= 0x80
	}
	return b
}

func TestDTMFDetector(t *testing.T) {
	type pkt struct {
		ssrc, ts uint32
		payload  []byte
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"all keys", func() []pkt {
			var p []pkt
			for e := range byte(16) {
				p = append(p, pkt{1, uint32(e) * 1000, ev(e, false, 0)}, pkt{1, uint32(e) * 1000, ev(e, true, 800)})
			}
			return p
		}(), "0123456789*#ABCD"},
		{"same key twice = two timestamps", []pkt{{1, 100, ev(5, false, 160)}, {1, 100, ev(5, true, 800)}, {1, 100, ev(5, true, 800)}, {1, 2000, ev(5, false, 0)}, {1, 2000, ev(5, true, 800)}}, "55"},
		{"only end packets arrive (start lost)", []pkt{{1, 100, ev(7, true, 800)}, {1, 100, ev(7, true, 800)}, {1, 100, ev(7, true, 800)}}, "7"},
		{"new SSRC, same timestamp", []pkt{{1, 100, ev(3, false, 0)}, {2, 100, ev(3, false, 0)}}, "33"},
		{"late end packet of the previous event", []pkt{{1, 100, ev(1, false, 0)}, {1, 100, ev(1, true, 800)}, {1, 900, ev(2, false, 0)}, {1, 100, ev(1, true, 800)}, {1, 900, ev(2, true, 800)}}, "12"},
		{"events beyond 15 ignored (tones, RFC 4733 §3.2 is 0-15)", []pkt{{1, 100, ev(16, false, 0)}, {1, 200, ev(66, false, 0)}}, ""},
		{"short payloads ignored", []pkt{{1, 100, []byte{1, 2, 3}}, {1, 100, nil}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d DTMFDetector
			var got []rune
			for _, p := range tc.pkts {
				if r, ok := d.Packet(p.ssrc, p.ts, p.payload); ok {
					got = append(got, r)
				}
			}
			if string(got) != tc.want {
				t.Fatalf("got %q want %q", string(got), tc.want)
			}
		})
	}
}

// SIPp replays a pcap with its recorded headers: the same key pressed twice
// is the same SSRC and timestamp. With arrival times the second press counts.
func TestDTMFDetectorReplayedPcap(t *testing.T) {
	var d DTMFDetector
	t0 := time.Unix(1000, 0)
	var got []rune
	play := func(start time.Time) {
		for i, h := range sippKey1 {
			payload, _ := hex.DecodeString(h)
			if r, ok := d.PacketAt(start.Add(time.Duration(i)*20*time.Millisecond), 0x0e05384e, 13280, payload); ok {
				got = append(got, r)
			}
		}
	}
	play(t0)
	play(t0.Add(3 * time.Second))
	if string(got) != "11" {
		t.Fatalf("got %q want \"11\"", string(got))
	}
	// Without times (Packet), the rule is the plain (SSRC, timestamp) one.
	d.Reset()
	got = got[:0]
	for range 2 {
		for _, h := range sippKey1 {
			payload, _ := hex.DecodeString(h)
			if r, ok := d.Packet(0x0e05384e, 13280, payload); ok {
				got = append(got, r)
			}
		}
	}
	if string(got) != "1" {
		t.Fatalf("Packet without time: got %q", string(got))
	}
}

// sippDTMFPcaps are the files SIPp ships; the test fails (never skips) when
// they are missing, because the end-to-end tests depend on them too.
var sippDTMFPcaps = []struct {
	file  string
	digit rune
}{
	{"dtmf_2833_0.pcap", '0'}, {"dtmf_2833_1.pcap", '1'}, {"dtmf_2833_2.pcap", '2'}, {"dtmf_2833_3.pcap", '3'},
	{"dtmf_2833_4.pcap", '4'}, {"dtmf_2833_5.pcap", '5'}, {"dtmf_2833_6.pcap", '6'}, {"dtmf_2833_7.pcap", '7'},
	{"dtmf_2833_8.pcap", '8'}, {"dtmf_2833_9.pcap", '9'}, {"dtmf_2833_star.pcap", '*'}, {"dtmf_2833_pound.pcap", '#'},
}

const sippDir = "/usr/share/sip-tester"

func loadSIPpPcap(t testing.TB, name string) []pcapPacket {
	t.Helper()
	path := filepath.Join(sippDir, name)
	pkts, err := readPcap(path)
	if err != nil {
		if os.IsNotExist(err) {
			t.Fatalf("%s missing: install sip-tester (apt-get install -y sip-tester)", path)
		}
		t.Fatalf("%s: %v", path, err)
	}
	return pkts
}

func TestDTMFDetectorSIPpPcaps(t *testing.T) {
	for _, tc := range sippDTMFPcaps {
		t.Run(tc.file, func(t *testing.T) {
			pkts := loadSIPpPcap(t, tc.file)
			if len(pkts) != 10 {
				t.Fatalf("%d packets, want 10", len(pkts))
			}
			var d DTMFDetector
			var got []rune
			var h rtp.Header
			for _, p := range pkts {
				n, err := h.Unmarshal(p.payload)
				if err != nil {
					t.Fatal(err)
				}
				if h.PayloadType != 101 {
					t.Fatalf("PT %d, want 101", h.PayloadType)
				}
				if r, ok := d.Packet(h.SSRC, h.Timestamp, p.payload[n:]); ok {
					got = append(got, r)
				}
			}
			if string(got) != string(tc.digit) {
				t.Fatalf("got %q, want exactly one %q", string(got), tc.digit)
			}
		})
	}
}

func TestDTMFDetectorAllocs(t *testing.T) {
	var d DTMFDetector
	p := ev(5, false, 100)
	ts := uint32(0)
	if a := testing.AllocsPerRun(1000, func() {
		ts += 1000
		d.PacketAt(time.Now(), 1, ts, p)
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func FuzzRFC4733(f *testing.F) {
	for _, h := range sippKey1 {
		b, _ := hex.DecodeString(h)
		f.Add(uint32(0x0e05384e), uint32(13280), b, int64(0))
	}
	f.Add(uint32(1), uint32(2), []byte{0xff, 0xff}, int64(1e9))
	f.Fuzz(func(t *testing.T, ssrc, ts uint32, payload []byte, atNS int64) {
		var d DTMFDetector
		var at time.Time
		if atNS != 0 {
			at = time.Unix(0, atNS)
		}
		r, ok := d.PacketAt(at, ssrc, ts, payload)
		if ok {
			if len(payload) < 4 || payload[0] > 15 || r != rune(eventDigits[payload[0]]) {
				t.Fatalf("reported %q for %x", r, payload)
			}
			// The same packet again is never a new press.
			if _, again := d.PacketAt(at, ssrc, ts, payload); again {
				t.Fatalf("same packet reported twice: %x", payload)
			}
		}
	})
}
