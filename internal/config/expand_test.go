package config

import (
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := envOf("HOST", "10.0.0.1", "EMPTY", "", "PW", "a: b #c ${X}")
	tests := []struct {
		in          string
		want        string
		wantDefault bool
		wantErr     string
	}{
		{in: "plain", want: "plain"},
		{in: "${HOST}", want: "10.0.0.1"},
		{in: "udp://${HOST}:5060", want: "udp://10.0.0.1:5060"},
		{in: "${PW}", want: "a: b #c ${X}"}, // values are not expanded again
		{in: "${UNSET:-fallback}", want: "fallback", wantDefault: true},
		{in: "${EMPTY:-fallback}", want: "fallback", wantDefault: true},
		{in: "${HOST:-fallback}", want: "10.0.0.1"},
		{in: "${UNSET:-}", want: "", wantDefault: true},
		{in: "${UNSET:-a:b}", want: "a:b", wantDefault: true},
		{in: "${EMPTY}", want: ""},
		{in: "$$", want: "$"},
		{in: "pa$$${HOST}", want: "pa$10.0.0.1"},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${UNSET}", wantErr: "environment variable UNSET is not set"},
		{in: "${HOST", wantErr: "unterminated"},
		{in: "${}", wantErr: "bad variable reference"},
		{in: "${1X}", wantErr: "bad variable reference"},
		{in: "${A-b}", wantErr: "bad variable reference"},
		{in: "${A B}", wantErr: "bad variable reference"},
	}
	for _, tt := range tests {
		got, usedDefault, err := expand(tt.in, env)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || usedDefault != tt.wantDefault {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v", tt.in, got, usedDefault, err, tt.want, tt.wantDefault)
		}
	}
}

func TestEnvExpansionInConfig(t *testing.T) {
	const doc = `
# ${NOT_EXPANDED_IN_COMMENTS}
sip:
  domain: ${DOMAIN}
media:
  rtp_ip: ${RTP_IP:-192.0.2.1}
acd:
  service_level_seconds: ${SL:-20}
seats:
  - id: "8001"
    password: ${PW1}
    skills: [consult]
  - id: "8002"
    password: "${PW2:-two: #2}"
    skills: [consult]
recordings:
  enabled: ${REC:-false}
`
	c, err := Parse([]byte(doc), envOf("DOMAIN", "hotline.example", "PW1", "x: y # z", "SL", "30"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Domain != "hotline.example" {
		t.Errorf("domain %q", c.SIP.Domain)
	}
	if c.Seats[0].Password != "x: y # z" {
		t.Errorf("a value containing ': #' was mangled: %q", c.Seats[0].Password)
	}
	if c.Seats[1].Password != "two: #2" {
		t.Errorf("default containing ': #' was mangled: %q", c.Seats[1].Password)
	}
	if c.Media.RTPIP != "192.0.2.1" || c.Media.BindIP != "192.0.2.1" {
		t.Errorf("rtp_ip %q bind_ip %q", c.Media.RTPIP, c.Media.BindIP)
	}
	if c.ACD.ServiceLevelSeconds != 30 {
		t.Errorf("an expanded plain number is not an integer: %d", c.ACD.ServiceLevelSeconds)
	}
	if c.Recordings.Enabled {
		t.Error("an expanded plain false is not a boolean false")
	}
	if want := []string{"media.rtp_ip", "seats[1].password", "recordings.enabled"}; !slices.Equal(c.Defaulted, want) {
		t.Errorf("Defaulted = %q, want %q", c.Defaulted, want)
	}
}

func TestEnvExpansionErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantPath []string
		wantText []string
	}{
		{
			name:     "unset without default names key and variable",
			yaml:     "seats: [{id: \"8001\", password: \"${SEAT_8001_PASSWORD}\", skills: [consult]}]",
			wantPath: []string{"seats[0].password"},
			wantText: []string{"seats[0].password: environment variable SEAT_8001_PASSWORD is not set"},
		},
		{
			name:     "every unset variable is reported",
			yaml:     "sip:\n  domain: ${A}\nhttp: {listen: \"${B}\"}",
			wantPath: []string{"sip.domain", "http.listen"},
		},
		{
			name:     "an unset rtp_ip is reported once, not again through bind_ip",
			yaml:     "media: {rtp_ip: \"${RTP_IP}\"}",
			wantPath: []string{"media.rtp_ip"},
		},
		{
			name:     "keys are not expanded",
			yaml:     "${KEY}: 1",
			wantPath: []string{"${KEY}"},
			wantText: []string{"${KEY}: unknown key"},
		},
		{
			name:     "expanded value of the wrong type",
			yaml:     "acd:\n  ring_timeout: ${RT:-15}",
			wantPath: []string{"acd.ring_timeout"},
			wantText: []string{"invalid duration \"15\""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if got := problemPaths(t, err); !slices.Equal(got, tt.wantPath) {
				t.Errorf("paths %q, want %q\n%v", got, tt.wantPath, err)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
