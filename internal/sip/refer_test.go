package sip

import "testing"

func TestReferParts(t *testing.T) {
	for _, c := range []struct {
		in, user string
		replaces bool
	}{
		{"<sip:12348001@12348.local>", "12348001", false},
		{"sip:8006@10.0.0.1;transport=udp", "8006", false},
		{`"Lawyer" <sips:12348001@h:5061;user=phone>`, "12348001", false},
		{"<sip:12348001@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>", "12348001", true},
		{"<tel:12348001>", "12348001", false},
		{"<SIP:%E6%B3%95@h>", "%E6%B3%95", false},
		{"", "", false},
	} {
		u, r := referParts(c.in)
		if u != c.user || r != c.replaces {
			t.Errorf("referParts(%q) = %q %v, want %q %v", c.in, u, r, c.user, c.replaces)
		}
	}
}
