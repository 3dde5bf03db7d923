package recordings

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

type wavFile struct {
	channels   int
	rate       int
	riffSize   uint32
	dataSize   uint32
	samples    []int16 // interleaved, as much as the file holds
	fileLength int
}

func readWAV(t testing.TB, path string) wavFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := parseWAV(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return w
}

func parseWAV(b []byte) (wavFile, error) {
	if len(b) < headerSize || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		return wavFile{}, fmt.Errorf("not a canonical wav header")
	}
	w := wavFile{
		riffSize:   binary.LittleEndian.Uint32(b[4:]),
		channels:   int(binary.LittleEndian.Uint16(b[22:])),
		rate:       int(binary.LittleEndian.Uint32(b[24:])),
		dataSize:   binary.LittleEndian.Uint32(b[40:]),
		fileLength: len(b),
	}
	if f := binary.LittleEndian.Uint16(b[20:]); f != 1 {
		return w, fmt.Errorf("format %d", f)
	}
	if bits := binary.LittleEndian.Uint16(b[34:]); bits != 16 {
		return w, fmt.Errorf("bits %d", bits)
	}
	if ba := int(binary.LittleEndian.Uint16(b[32:])); ba != 2*w.channels {
		return w, fmt.Errorf("block align %d", ba)
	}
	if br := int(binary.LittleEndian.Uint32(b[28:])); br != w.rate*2*w.channels {
		return w, fmt.Errorf("byte rate %d", br)
	}
	data := b[headerSize:]
	for i := 0; i+1 < len(data); i += 2 {
		w.samples = append(w.samples, int16(binary.LittleEndian.Uint16(data[i:])))
	}
	return w, nil
}

// channel extracts one channel of interleaved samples.
func (w wavFile) channel(c int) []int16 {
	out := make([]int16, 0, len(w.samples)/w.channels)
	for i := c; i < len(w.samples); i += w.channels {
		out = append(out, w.samples[i])
	}
	return out
}
