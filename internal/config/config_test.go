package config

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline12348/hotline/ivr"
)

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// problemPaths returns the key paths of err's problems, failing if err does
// not carry Errors.
func problemPaths(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v does not carry config.Errors", err)
	}
	var out []string
	for _, e := range errs {
		var p *Problem
		if !errors.As(e, &p) {
			t.Fatalf("%v is not a *Problem", e)
		}
		out = append(out, p.Path)
	}
	return out
}

func TestEmbeddedDefaultLoadsWithEmptyEnvironment(t *testing.T) {
	if _, err := Load("", nil); err != nil {
		t.Fatalf("Load embedded with a nil environment: %v", err)
	}
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatalf("Load embedded: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.NodeID != "km-1" || c.Path != "" || len(c.Seats) != 6 || !c.Recordings.Enabled {
		t.Errorf("unexpected shipped values: node %q path %q seats %d recordings %v", c.NodeID, c.Path, len(c.Seats), c.Recordings.Enabled)
	}
	for _, l := range c.SIP.Listen {
		if !strings.Contains(l, "://127.0.0.1:") {
			t.Errorf("shipped sip.listen %q is not loopback", l)
		}
	}
	if c.Seats[0].ID != "8001" || c.Seats[5].ID != "8006" || c.Seats[0].Password != "8001-change-me" || c.Seats[2].Name != "坐席3" {
		t.Errorf("unexpected seats: %+v", c.Seats)
	}
	for i := range 6 {
		if !slices.Contains(c.Defaulted, joinIndex("seats", i)+".password") {
			t.Errorf("Defaulted %q lacks seats[%d].password", c.Defaulted, i)
		}
	}
	// Every skill is held by at least two seats, so one absence never empties a queue.
	for _, cat := range ivr.Categories() {
		n := 0
		for _, s := range c.Seats {
			if slices.Contains(s.Skills, string(cat)) {
				n++
			}
		}
		if n < 2 {
			t.Errorf("skill %s held by %d seats", cat, n)
		}
	}
	// The same file read from disk gives the same configuration.
	disk, err := Load("../../configs/hotline.yaml", noEnv)
	if err != nil {
		t.Fatalf("Load configs/hotline.yaml: %v", err)
	}
	disk.Path = ""
	if !reflect.DeepEqual(c, disk) {
		t.Error("embedded and on-disk hotline.yaml differ")
	}
}

func TestShippedSecretsComeFromTheEnvironment(t *testing.T) {
	c, err := Load("", envOf("SEAT_8003_PASSWORD", "s3cret: #x", "WORKORDER_SECRET", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Seats[2].Password != "s3cret: #x" || c.Workorder.Secret != "k" {
		t.Errorf("password %q, secret %q", c.Seats[2].Password, c.Workorder.Secret)
	}
	if slices.Contains(c.Defaulted, "seats[2].password") || slices.Contains(c.Defaulted, "workorder.secret") {
		t.Errorf("Defaulted %q lists keys that were set", c.Defaulted)
	}
}

func TestShippedMenu(t *testing.T) {
	m, err := LoadMenuFile("")
	if err != nil {
		t.Fatalf("LoadMenuFile embedded: %v", err)
	}
	disk, err := LoadMenuFile("../../configs/ivr.yaml")
	if err != nil {
		t.Fatalf("LoadMenuFile configs/ivr.yaml: %v", err)
	}
	if !reflect.DeepEqual(m, disk) {
		t.Error("embedded and on-disk ivr.yaml differ")
	}
	want := map[string]ivr.Route{
		"1": {Category: ivr.Consult}, "2": {Category: ivr.LegalAid}, "3": {Category: ivr.Mediation},
		"4": {Category: ivr.Notary}, "5": {Category: ivr.Complaint},
		"9": {Category: ivr.LegalAid, Priority: ivr.Green}, "0": {Category: ivr.Consult},
	}
	if len(m.Routes) != len(want) {
		t.Errorf("routes %v, want keys of %v", m.Routes, want)
	}
	for k, w := range want {
		got := m.Routes[k]
		if got.Category != w.Category || got.EffectivePriority() != w.EffectivePriority() {
			t.Errorf("routes.%s = %+v, want %+v", k, got, w)
		}
	}
	if m.Timeout != 5*time.Second || m.RepeatKey != "*" || m.MaxInvalid != 1 || m.General.Category != ivr.Consult {
		t.Errorf("menu timing/keys: %+v", m)
	}
	if m.Voicemail.MaxLength != 120*time.Second || m.Voicemail.EndKey != "#" || m.Voicemail.Beep != ivr.Beep {
		t.Errorf("voicemail: %+v", m.Voicemail)
	}
	if !reflect.DeepEqual(m.Survey.Scores, map[string]int{"1": 1, "2": 2, "3": 3}) || m.Survey.MaxRetries != 1 {
		t.Errorf("survey: %+v", m.Survey)
	}
	// The prompt names match the WAV files shipped in configs/prompts/zh.
	dir := "../../configs/prompts/zh"
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("prompt directory: %v", err)
	}
	if errs := m.Validate(PromptFiles(dir)); len(errs) > 0 {
		t.Errorf("prompts missing from %s:\n%v", dir, errors.Join(errs...))
	}
}

func TestDefaultsWhenKeysAreAbsent(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatalf("no hostname on this machine: %v", err)
	}
	c, err := Parse([]byte("# nothing but a comment\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(n int) Duration { return Duration(time.Duration(n) * time.Second) }
	want := &Config{
		NodeID:  host,
		DataDir: "./data", Timezone: "Asia/Shanghai",
		Log: Log{Level: "info", Format: "text"},
		SIP: SIP{
			Listen: []string{"udp://0.0.0.0:5060", "tcp://0.0.0.0:5060"}, Domain: "12348.local",
			HotlineNumbers: []string{"12348"}, TrustedSources: []string{"127.0.0.0/8"},
			SessionExpires: sec(1800), AuthFailLimit: 10, AuthFailWindow: sec(60), AuthFailBan: sec(600),
			MaxRegisterExpires: sec(3600), DigestAlgorithms: []string{"MD5"},
			MaxMessageSize: 16384, TCPHeaderTimeout: sec(10), TCPIdleTimeout: sec(30),
			TCPMaxPerSource: 32, TCPMaxConnections: 256, RateLimit: RateLimit{Requests: 16, Window: sec(2)},
		},
		Media: Media{RTPIP: "127.0.0.1", BindIP: "127.0.0.1", RTPPorts: "20000-29999", RTPTimeout: sec(30), Codecs: []string{"PCMU", "PCMA"}},
		HTTP:  HTTP{Listen: "127.0.0.1:8080", SessionTTL: sec(12 * 3600)},
		ACD: ACD{
			Backend: "memory", ServiceLevelSeconds: 15, ShortAbandonSeconds: 5, RingTimeout: sec(15), WrapUp: sec(30),
			MaxWait: sec(600), SkillFallback: sec(60), PositionEvery: sec(30), CallerID: "masked", TargetServiceLevel: 0.8,
		},
		Cluster:     Cluster{Heartbeat: sec(1), NodeTimeout: sec(5)},
		IVR:         IVR{Menu: "configs/ivr.yaml", Prompts: "configs/prompts/zh"},
		Workorder:   Workorder{Timeout: sec(5), MaxAttempts: 20, Workers: 4},
		Recordings:  Recordings{Enabled: true, RetentionDays: 180},
		Storage:     Storage{MinFreeMB: 1024},
		Shutdown:    Shutdown{Grace: sec(60)},
		Supervision: Supervision{NotifyOperator: true},
		Callback:    Callback{Due: CallbackDue{Voicemail: sec(86400), Abandoned: sec(86400), Dissatisfied: sec(86400)}, MaxAttempts: 3, AssignEvery: sec(5)},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestDefaultsOnlyForAbsentKeys(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(c *Config) bool
	}{
		{"recordings absent: enabled", "", func(c *Config) bool { return c.Recordings.Enabled }},
		{"recordings.enabled absent: enabled", "recordings: {retention_days: 7}", func(c *Config) bool { return c.Recordings.Enabled }},
		{"recordings.enabled null: enabled", "recordings: {enabled: }", func(c *Config) bool { return c.Recordings.Enabled }},
		{"recordings.enabled false stays false", "recordings: {enabled: false}", func(c *Config) bool { return !c.Recordings.Enabled }},
		{"recordings.enabled true", "recordings: {enabled: true}", func(c *Config) bool { return c.Recordings.Enabled }},
		{"bind_ip follows rtp_ip", "media: {rtp_ip: 192.0.2.10}", func(c *Config) bool { return c.Media.BindIP == "192.0.2.10" }},
		{"bind_ip explicit", "media: {rtp_ip: 192.0.2.10, bind_ip: 0.0.0.0}", func(c *Config) bool { return c.Media.BindIP == "0.0.0.0" }},
		{"seat name defaults to its id", `seats: [{id: "8001", password: p, skills: [consult]}]`, func(c *Config) bool { return c.Seats[0].Name == "8001" }},
		{"seat digest algorithms default to sip.digest_algorithms", "sip: {digest_algorithms: [SHA-256, MD5]}\nseats: [{id: \"8001\", password: p, skills: [consult]}]",
			func(c *Config) bool { return slices.Equal(c.Seats[0].DigestAlgorithms, []string{"SHA-256", "MD5"}) }},
		{"seat digest algorithms its own", "seats: [{id: \"8001\", password: p, skills: [consult], digest_algorithms: [SHA-256]}]",
			func(c *Config) bool {
				return slices.Equal(c.Seats[0].DigestAlgorithms, []string{"SHA-256"}) && slices.Equal(c.SIP.DigestAlgorithms, []string{"MD5"})
			}},
		{"rate limit half given", "sip: {rate_limit: {requests: 40}}", func(c *Config) bool {
			return c.SIP.RateLimit == RateLimit{Requests: 40, Window: Duration(2 * time.Second)}
		}},
		{"wrap_up 0 is kept", "acd: {wrap_up: 0s}", func(c *Config) bool { return c.ACD.WrapUp == 0 }},
		{"node_id given", "node_id: gz-2", func(c *Config) bool { return c.NodeID == "gz-2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml", noEnv)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadErrorNamesFileAndListsEachProblemOnALine(t *testing.T) {
	path := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(path, []byte("sip:\n  lisen: x\nseats:\n  - {id: \"1\", skills: [consult]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	want := "config: " + path + ": 2 problems:\nsip.lisen: unknown key (did you mean listen?)\nseats[0].password: must not be empty"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
}

func TestCallbackKeys(t *testing.T) {
	c, err := Parse([]byte("transfer:\n  trunk: \"sip:127.0.0.1:5080\"\n  caller_id: \"12348\"\ncallback:\n  due: { voicemail: 2h, abandoned: 30m, dissatisfied: 4h }\n  max_attempts: 2\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Transfer.Trunk != "sip:127.0.0.1:5080" || c.Callback.MaxAttempts != 2 || time.Duration(c.Callback.Due.Abandoned) != 30*time.Minute {
		t.Errorf("parsed %+v %+v", c.Transfer, c.Callback)
	}
	for _, bad := range []struct{ yaml, key string }{
		{"transfer:\n  trunk: \"127.0.0.1:5080\"\n", "transfer.trunk"},
		{"transfer:\n  caller_id: \"12348;x\"\n", "transfer.caller_id"},
		{"callback:\n  max_attempts: 0\n", "callback.max_attempts"},
		{"callback:\n  due: { voicemail: 0s }\n", "callback.due.voicemail"},
	} {
		_, err := Parse([]byte(bad.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: error %v, want one naming %s", bad.yaml, err, bad.key)
		}
	}
}
