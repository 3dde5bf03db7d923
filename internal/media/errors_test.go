package media

import (
	"fmt"
	"testing"
)

func TestUnacceptable(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("media: negotiate: %w", ErrNoCommonCodec): true,
		fmt.Errorf("x: %w", ErrBadSDP):                       true,
		ErrNoFreePort:                                        false,
		nil:                                                  false,
	} {
		if got := Unacceptable(err); got != want {
			t.Errorf("Unacceptable(%v) = %v", err, got)
		}
	}
}
