package media

import (
	"testing"

	"github.com/zaf/g711"
)

func TestCodecByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Codec
		ok   bool
	}{
		{"PCMU", CodecPCMU, true},
		{"pcmu", CodecPCMU, true},
		{"PCMA", CodecPCMA, true},
		{"Pcma", CodecPCMA, true},
		{"G729", Codec{}, false},
		{"", Codec{}, false},
	} {
		got, ok := CodecByName(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CodecByName(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if CodecPCMU.PayloadType != 0 || CodecPCMA.PayloadType != 8 || CodecPCMU.ClockRate != 8000 {
		t.Fatal("static payload types / clock rate wrong")
	}
}

// The tables must agree with zaf/g711 for every code, and a decode/encode
// round trip must give back the same code (G.711 is idempotent on its codes).
func TestG711Tables(t *testing.T) {
	for _, c := range []Codec{CodecPCMU, CodecPCMA} {
		var codes [256]byte
		for i := range codes {
			codes[i] = byte(i)
		}
		pcm := make([]int16, 256)
		if n := c.Decode(pcm, codes[:]); n != 256 {
			t.Fatalf("%s decode n=%d", c.Name, n)
		}
		for i, s := range pcm {
			want := g711.DecodeUlawFrame(byte(i))
			if c.Name == "PCMA" {
				want = g711.DecodeAlawFrame(byte(i))
			}
			if s != want {
				t.Fatalf("%s decode %#x = %d, want %d", c.Name, i, s, want)
			}
		}
		back := make([]byte, 256)
		if n := c.Encode(back, pcm); n != 256 {
			t.Fatalf("%s encode n=%d", c.Name, n)
		}
		for i := range back {
			// µ-law has two codes for zero (0x7F and 0xFF); both decode to 0.
			if back[i] != byte(i) && pcm[i] != 0 {
				t.Errorf("%s round trip %#x -> %d -> %#x", c.Name, i, pcm[i], back[i])
			}
		}
	}
	if ulawSilence != 0xFF || alawSilence != 0xD5 {
		t.Fatalf("silence codes %#x %#x", ulawSilence, alawSilence)
	}
}

func TestCodecShortBuffersAndUnknown(t *testing.T) {
	pcm := make([]int16, 3)
	if n := CodecPCMU.Decode(pcm, []byte{1, 2, 3, 4, 5}); n != 3 {
		t.Fatalf("n=%d", n)
	}
	if n := CodecPCMA.Encode(make([]byte, 2), []int16{1, 2, 3}); n != 2 {
		t.Fatalf("n=%d", n)
	}
	if n := (Codec{Name: "G722"}).Decode(pcm, []byte{1}); n != 0 {
		t.Fatalf("unknown codec decoded %d", n)
	}
	if n := (Codec{Name: "pcma"}).Encode(make([]byte, 1), []int16{0}); n != 1 {
		t.Fatalf("lower-case name not coded")
	}
}

func TestTranscode(t *testing.T) {
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]byte, 256)
	transcode(lawU, lawA, dst, src)
	for i := range src {
		if dst[i] != g711.Ulaw2AlawFrame(src[i]) {
			t.Fatalf("u->a %#x", i)
		}
	}
}

func TestCodecAllocs(t *testing.T) {
	payload := make([]byte, 160)
	pcm := make([]int16, 160)
	if a := testing.AllocsPerRun(100, func() {
		CodecPCMU.Decode(pcm, payload)
		CodecPCMA.Encode(payload, pcm)
	}); a != 0 {
		t.Fatalf("codec allocates %v per run", a)
	}
}

func BenchmarkDecodePCMU(b *testing.B) {
	payload := make([]byte, 160)
	pcm := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		CodecPCMU.Decode(pcm, payload)
	}
}
