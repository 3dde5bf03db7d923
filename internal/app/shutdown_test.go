package app

import (
	"errors"
	"slices"
	"testing"
)

// The teardown undoes in the reverse order of building, each step once
// (also one run early), joins the errors, and a second run changes nothing.
func TestTeardownOrderedOnceJoined(t *testing.T) {
	var td teardown
	var got []string
	errB := errors.New("b failed")
	mk := func(name string, err error) func() error {
		return func() error { got = append(got, name); return err }
	}
	td.add("a", mk("a", nil))
	b := td.add("b", mk("b", errB))
	td.add("c", mk("c", nil))
	td.add("d", mk("d", errors.New("d failed")))
	if err := b.run(); !errors.Is(err, errB) || err.Error() != "b: b failed" {
		t.Fatalf("early step: %v", err)
	}
	err := td.run()
	if want := []string{"b", "d", "c", "a"}; !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	if !errors.Is(err, errB) || err.Error() != "d: d failed\nb: b failed" {
		t.Fatalf("joined error %q", err)
	}
	err2 := td.run()
	if len(got) != 4 {
		t.Fatalf("second run ran steps again: %q", got)
	}
	if err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second run: %v, want %v", err2, err)
	}
	var empty teardown
	if err := empty.run(); err != nil {
		t.Fatal(err)
	}
}
