package pii

import "testing"

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"13800000000", "138****0000"},
		{"+8613812345678", "+86****5678"},
		{"087165123456", "087****3456"},
		{"12345678", "123****5678"},
		{"1234567", "****67"},
		{"110", "****10"},
		{"12", "****"},
		{"", ""},
		{"anonymous", "anonymous"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
