package ivr

import (
	"slices"
	"strings"
	"testing"
)

func TestNumberPrompts(t *testing.T) {
	tests := []struct {
		n    int
		want string // prompt names without the "num_" prefix; "" = nil
	}{
		{-1, ""},
		{0, "0"},
		{1, "1"},
		{7, "7"},
		{10, "10"},                    // 十
		{12, "10 2"},                  // 十二
		{19, "10 9"},                  // 十九
		{20, "2 10"},                  // 二十
		{23, "2 10 3"},                // 二十三
		{99, "9 10 9"},                // 九十九
		{100, "1 100"},                // 一百
		{101, "1 100 0 1"},            // 一百零一
		{105, "1 100 0 5"},            // 一百零五
		{110, "1 100 1 10"},           // 一百一十
		{115, "1 100 1 10 5"},         // 一百一十五
		{999, "9 100 9 10 9"},         // 九百九十九
		{1000, "1 1000"},              // 一千
		{1001, "1 1000 0 1"},          // 一千零一
		{1010, "1 1000 0 1 10"},       // 一千零一十
		{1100, "1 1000 1 100"},        // 一千一百
		{2000, "2 1000"},              // 二千
		{2020, "2 1000 0 2 10"},       // 二千零二十
		{2301, "2 1000 3 100 0 1"},    // 二千三百零一
		{9999, "9 1000 9 100 9 10 9"}, // 九千九百九十九
		{10000, "1 10000"},            // 一万
		{10001, "1 10000 0 1"},        // 一万零一
		{10010, "1 10000 0 1 10"},     // 一万零一十
		{10100, "1 10000 0 1 100"},    // 一万零一百
		{11000, "1 10000 1 1000"},     // 一万一千
		{12345, "1 10000 2 1000 3 100 4 10 5"},
		{20200, "2 10000 0 2 100"}, // 二万零二百
		{99999, "9 10000 9 1000 9 100 9 10 9"},
		{100000, "10 10000"},              // 十万
		{110000, "10 1 10000"},            // 十一万
		{1000001, "1 100 10000 0 1"},      // 一百万零一
		{10010000, "1 1000 0 1 10000"},    // 一千零一万
		{10100000, "1 1000 0 1 10 10000"}, // 一千零一十万
		{99999999, "9 1000 9 100 9 10 9 10000 9 1000 9 100 9 10 9"},
		{100000000, ""},
	}
	for _, tt := range tests {
		var want []string
		if tt.want != "" {
			for _, w := range strings.Fields(tt.want) {
				want = append(want, "num_"+w)
			}
		}
		if got := NumberPrompts(tt.n); !slices.Equal(got, want) {
			t.Errorf("NumberPrompts(%d) = %q, want %q", tt.n, got, want)
		}
	}
}

// Every reading uses only the names NumberPromptNames announces.
func TestNumberPromptsUseKnownNames(t *testing.T) {
	known := NumberPromptNames()
	for n := range 100_000 {
		for _, p := range NumberPrompts(n) {
			if !slices.Contains(known, p) {
				t.Fatalf("NumberPrompts(%d) uses %q, not in NumberPromptNames", n, p)
			}
		}
	}
}
