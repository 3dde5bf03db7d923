package configs

import (
	"bytes"
	"testing"
)

func TestEmbeddedFilesAreCopies(t *testing.T) {
	for name, get := range map[string]func() []byte{"hotline.yaml": HotlineYAML, "ivr.yaml": IVRYAML} {
		a := get()
		if len(a) == 0 {
			t.Fatalf("%s: embedded file is empty", name)
		}
		a[0] ^= 0xff
		if b := get(); bytes.Equal(a, b) {
			t.Errorf("%s: a caller's change leaked into the embedded copy", name)
		}
	}
}
