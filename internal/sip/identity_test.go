package sip

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func parseReq(t *testing.T, headers string) *sip.Request {
	t.Helper()
	raw := "INVITE sip:12348@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"To: <sip:12348@127.0.0.1>\r\n" +
		"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" + headers +
		"Content-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request)
}

func TestCallerIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, headers string
		want          Identity
	}{
		{"from only", "From: \"Zhang\" <sip:13800000000@sbc>;tag=1\r\n", Identity{"13800000000", "Zhang", "from"}},
		{"pai wins", "From: <sip:0000@sbc>;tag=1\r\nP-Asserted-Identity: <sip:+8613912345678@sbc;user=phone>\r\n", Identity{"13912345678", "", "pai"}},
		{"pai tel and sip", "From: <sip:x@sbc>;tag=1\r\nP-Asserted-Identity: \"Li, Si\" <tel:+86-139-1234-5678>, <sip:13912345678@sbc>\r\n", Identity{"13912345678", "Li, Si", "pai"}},
		{"privacy id", "From: <sip:13800000000@sbc>;tag=1\r\nP-Asserted-Identity: <sip:13800000000@sbc>\r\nPrivacy: id\r\n", Identity{Anonymous, "", "privacy"}},
		{"privacy header;id", "From: <sip:13800000000@sbc>;tag=1\r\nPrivacy: header;id\r\n", Identity{Anonymous, "", "privacy"}},
		{"privacy none", "From: <sip:13800000000@sbc>;tag=1\r\nPrivacy: none\r\n", Identity{"13800000000", "", "from"}},
		{"anonymous from", "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\r\n", Identity{Anonymous, "Anonymous", "from"}},
		{"fixed line +86", "From: <sip:+8687165123456@sbc>;tag=1\r\n", Identity{"087165123456", "", "from"}},
		{"mobile with trunk 0", "From: <sip:013800000000@sbc>;tag=1\r\n", Identity{"13800000000", "", "from"}},
		{"mobile with 86", "From: <sip:8613800000000@sbc>;tag=1\r\n", Identity{"13800000000", "", "from"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CallerIdentity(parseReq(t, tc.headers))
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRedactingLogger(t *testing.T) {
	var buf strings.Builder
	log := RedactingLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Error("failed to parse", "data", "INVITE sip:12348@x SIP/2.0\r\nFrom: <sip:+8613812345678@sbc>;tag=1", "n", 3)
	log.With("req", "From: 13912345678").Debug("x")
	out := buf.String()
	if strings.Contains(out, "13812345678") || strings.Contains(out, "13912345678") {
		t.Fatalf("a caller number reached the log: %s", out)
	}
	if !strings.Contains(out, "+86****5678") || !strings.Contains(out, "139****5678") || !strings.Contains(out, "12348@") {
		t.Fatalf("numbers not masked as expected (or the hotline number was masked): %s", out)
	}
	if !strings.Contains(out, "level=WARN") {
		t.Fatalf("sipgo errors are not capped at WARN: %s", out)
	}
}
