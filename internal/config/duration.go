package config

import (
	"fmt"
	"strings"
	"time"
)

// UnmarshalText reads "15s", "10m", "1h30m" (time.ParseDuration). A bare
// number is refused: "15" could mean seconds or minutes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the shortest form ("12h", "1m30s"), as a person would.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is the duration as written in the file: "30s", "12h", "1m30s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want a number with a unit: 500ms, 15s, 10m, 12h)", s)
	}
	return v, nil
}
