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

func TestMaskText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"From: <sip:13812345678@10.0.0.1>", "From: <sip:138****5678@10.0.0.1>"},
		{"caller 138-1234-5678 hung up", "caller 138****5678 hung up"},
		{"caller 138 1234 5678.", "caller 138****5678."},
		{"P-Asserted-Identity: \"+86 138 1234 5678\" <tel:+86-138-1234-5678>", "P-Asserted-Identity: \"+86****5678\" <tel:+86****5678>"},
		{"office (0871) 6512-3456", "office (087****3456"},
		{"0871-65123456 or 087165123456", "087****3456 or 087****3456"},
		{"+8613812345678", "+86****5678"},
		// Not numbers: too few digits, or grouped with dots (addresses, versions).
		{"Via: SIP/2.0/UDP 192.168.100.200:5060;rport", "Via: SIP/2.0/UDP 192.168.100.200:5060;rport"},
		{"CSeq: 102 INVITE, port 5060, 12 34", "CSeq: 102 INVITE, port 5060, 12 34"},
		{"seat 8001 and 8002", "seat 8001 and 8002"},
		{"ends with a separator 138-1234-5678-", "ends with a separator 138****5678-"},
		{"a dash - and 1234567", "a dash - and ****67"},
		{"", ""},
		{"no digits at all", "no digits at all"},
	} {
		if got := MaskText(tc.in); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzMaskText(f *testing.F) {
	f.Add("138-1234-5678")
	f.Add("+86 (871) 6512 3456")
	f.Fuzz(func(t *testing.T, s string) {
		out := MaskText(s)
		// No run of 7 digits survives, with or without separators.
		start, end, digits := 0, 0, 0
		for i := 0; i < len(out); i = max(end, i+1) {
			start, end, digits = numberRun(out, i)
			if end > start && digits >= minTextDigits {
				t.Fatalf("MaskText(%q) = %q still holds %q", s, out, out[start:end])
			}
		}
	})
}
