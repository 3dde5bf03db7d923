package main

import (
	"bytes"
	"strings"
	"testing"
)

// --busy and --calls-per-minute both set the traffic: one or the other.
func TestDemoBusyAndRateConflict(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--busy", "--calls-per-minute", "3"}, "--busy and --calls-per-minute: choose one"},
		{[]string{"--calls-per-minute", "-1"}, "--calls-per-minute: want 0 to 600"},
	} {
		var stderr bytes.Buffer
		if code := runDemo(c.args, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("demo %v: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}
