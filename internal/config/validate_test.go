package config

import (
	"slices"
	"strings"
	"testing"
)

// A seat that passes validation, for cases that need one.
const okSeat = `{id: "8001", password: p, skills: [consult]}`

// okCluster completes a cluster configuration (appended to a flow mapping
// of acd: turned into a document of two keys).
const okCluster = "\ncluster: {advertise_sip: \"sip:10.0.0.11:5060;transport=tcp\", advertise_http: \"http://10.0.0.11:8080\", secret: \"0123456789abcdef\"}"

func TestValidationProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "path: text the message contains", in order
	}{
		{"node_id chars", `node_id: "km 1"`, []string{"node_id: use only letters"}},
		{"node_id empty", `node_id: ""`, []string{"node_id: must not be empty"}},
		{"data_dir empty", `data_dir: ""`, []string{"data_dir: must not be empty"}},
		{"log", `log: {level: loud, format: xml}`, []string{`log.level: "loud" is not one of debug, info, warn, error`, `log.format: "xml" is not one of text, json`}},

		{"listen empty", `sip: {listen: []}`, []string{"sip.listen: must list at least one"}},
		{"listen scheme", `sip: {listen: ["sctp://0.0.0.0:5060"]}`, []string{`sip.listen[0]: "sctp://0.0.0.0:5060": unknown transport "sctp"`}},
		{"listen no port", `sip: {listen: ["udp://0.0.0.0"]}`, []string{"sip.listen[0]: \"udp://0.0.0.0\": want host:port"}},
		{"listen port range", `sip: {listen: ["udp://0.0.0.0:70000"]}`, []string{"sip.listen[0]: \"udp://0.0.0.0:70000\": port \"70000\""}},
		{"listen not a URL", `sip: {listen: ["0.0.0.0:5060"]}`, []string{"sip.listen[0]: \"0.0.0.0:5060\" is not a listen URL"}},
		{"listen with path", `sip: {listen: ["ws://0.0.0.0:8088/sip"]}`, []string{"sip.listen[0]: \"ws://0.0.0.0:8088/sip\": want only transport://host:port"}},
		{"listen duplicate", `sip: {listen: ["udp://[::]:5060", "tcp://[::]:5060", "udp://[::]:5060"]}`, []string{"sip.listen[2]: same as sip.listen[0]"}},
		{"listen every transport and port 0", `sip: {listen: ["udp://127.0.0.1:0", "tcp://:5060", "ws://localhost:8088", "tls://sip.example.org:5061"], tls_cert: c.pem, tls_key: k.pem}`, nil},
		{"srtp seat without tls", `sip: {listen: ["udp://127.0.0.1:0"]}
seats: [{id: "8001", password: p, skills: [consult], srtp: true}]`, []string{"seats[0].srtp: SRTP keys go only over TLS"}},
		{"tls without its files", `sip: {listen: ["udp://127.0.0.1:0", "tls://127.0.0.1:5061"]}`, []string{"sip.tls_cert: a tls:// listener needs a certificate", "sip.tls_key: a tls:// listener needs the certificate's key"}},
		{"domain", `sip: {domain: "12348 local"}`, []string{"sip.domain: \"12348 local\" is not a domain name"}},
		{"domain empty", `sip: {domain: ""}`, []string{"sip.domain: must not be empty"}},
		{"hotline numbers", `sip: {hotline_numbers: ["12348", "1234x", "12348", "+8687112348"]}`, []string{"sip.hotline_numbers[1]: \"1234x\": want digits", "sip.hotline_numbers[2]: same as sip.hotline_numbers[0]"}},
		{"hotline numbers empty", `sip: {hotline_numbers: []}`, []string{"sip.hotline_numbers: must list"}},
		{"trusted sources", `sip: {trusted_sources: ["10.0.0.1", "300.0.0.0/8", "10.0.0.0/8", "2001:db8::/32"]}`, []string{"sip.trusted_sources[0]: \"10.0.0.1\" is not a CIDR", "sip.trusted_sources[1]: \"300.0.0.0/8\" is not a CIDR"}},
		{"trusted sources empty", `sip: {trusted_sources: []}`, []string{"sip.trusted_sources: must list"}},
		{"session expires below Min-SE", `sip: {session_expires: 30s}`, []string{"sip.session_expires: must be at least 90s"}},
		{"auth fail", `sip: {auth_fail_limit: 0, auth_fail_window: 0s, auth_fail_ban: -1m}`, []string{"sip.auth_fail_limit: must be at least 1", "sip.auth_fail_window: must be positive, got 0s", "sip.auth_fail_ban: must be positive, got -1m"}},
		{"max register expires", `sip: {max_register_expires: 10s}`, []string{"sip.max_register_expires: must be at least 60s"}},
		{"digest algorithms", `sip: {digest_algorithms: [MD5, SHA-512, MD5]}`, []string{`sip.digest_algorithms[1]: "SHA-512": want SHA-256 or MD5`, "sip.digest_algorithms[2]: same as sip.digest_algorithms[0]"}},
		{"digest algorithms empty", `sip: {digest_algorithms: []}`, []string{"sip.digest_algorithms: must list SHA-256, MD5 or both"}},
		{"seat digest algorithms", `seats: [{id: "8001", password: p, skills: [consult], digest_algorithms: [sha-256]}, {id: "8002", password: p, skills: [consult], digest_algorithms: []}]`,
			[]string{`seats[0].digest_algorithms[0]: "sha-256": want SHA-256 or MD5`, "seats[1].digest_algorithms: must list SHA-256, MD5 or both"}},
		{"bad global digest reported once, not per seat", "sip: {digest_algorithms: [SHA1]}\nseats: [" + okSeat + "]", []string{`sip.digest_algorithms[0]: "SHA1": want SHA-256 or MD5`}},
		{"message size", `sip: {max_message_size: 1000}`, []string{"sip.max_message_size: 1000: want bytes between 2048 and 65535"}},
		{"message size too big", `sip: {max_message_size: 70000}`, []string{"sip.max_message_size: 70000: want bytes"}},
		{"tcp limits", `sip: {tcp_header_timeout: 0s, tcp_idle_timeout: -1s, tcp_max_per_source: 0, tcp_max_connections: 0}`, []string{
			"sip.tcp_header_timeout: must be positive", "sip.tcp_idle_timeout: must be positive", "sip.tcp_max_per_source: must be at least 1", "sip.tcp_max_connections: must be at least 1"}},
		{"tcp per source above total", `sip: {tcp_max_per_source: 64, tcp_max_connections: 32}`, []string{"sip.tcp_max_per_source: 64 is more than sip.tcp_max_connections (32)"}},
		{"rate limit", `sip: {rate_limit: {requests: 0, window: 0s}}`, []string{"sip.rate_limit.requests: must be at least 1", "sip.rate_limit.window: must be positive"}},
		{"rate limit unknown key", `sip: {rate_limit: {per_second: 5}}`, []string{"sip.rate_limit.per_second: unknown key"}},

		{"rtp_ip not an IP", `media: {rtp_ip: localhost}`, []string{"media.rtp_ip: \"localhost\" is not an IP address"}},
		{"rtp_ip unspecified", `media: {rtp_ip: 0.0.0.0}`, []string{"media.rtp_ip: 0.0.0.0 goes into SDP"}},
		{"bind_ip", `media: {bind_ip: eth0}`, []string{"media.bind_ip: \"eth0\" is not an IP address"}},
		{"rtp_ports below 1024", `media: {rtp_ports: "1000-2000"}`, []string{"media.rtp_ports: \"1000-2000\": want \"A-B\""}},
		{"rtp_ports one port", `media: {rtp_ports: "30000-30000"}`, []string{"media.rtp_ports: want \"A-B\" with 1024 <= A < B <= 65535"}},
		{"rtp_ports reversed", `media: {rtp_ports: "30000-20000"}`, []string{"media.rtp_ports: want \"A-B\" with 1024 <= A < B <= 65535"}},
		{"rtp_ports above 65535", `media: {rtp_ports: "60000-70000"}`, []string{"media.rtp_ports: want \"A-B\" with 1024 <= A < B <= 65535"}},
		{"rtp_ports no range", `media: {rtp_ports: "20000"}`, []string{"media.rtp_ports: want \"A-B\" with 1024 <= A < B <= 65535"}},
		{"rtp_ports words", `media: {rtp_ports: "a-b"}`, []string{"media.rtp_ports: want \"A-B\" with 1024 <= A < B <= 65535"}},
		{"rtp_ports two ports", `media: {rtp_ports: "1024-1025"}`, nil},
		{"rtp_timeout", `media: {rtp_timeout: 0s}`, []string{"media.rtp_timeout: must be positive"}},
		{"codecs", `media: {codecs: [PCMA, G729, PCMA]}`, []string{"media.codecs[1]: unknown codec \"G729\"", "media.codecs[2]: same as media.codecs[0]"}},
		{"codecs empty", `media: {codecs: []}`, []string{"media.codecs: must list"}},
		{"pacer shards", `media: {pacer_shards: -1}`, []string{"media.pacer_shards: must not be negative"}},

		{"http listen no port", `http: {listen: "8080"}`, []string{"http.listen: \"8080\": want host:port"}},
		{"trusted proxies", `http: {trusted_proxies: ["10.0.0.5/32", "10.0.0.5", "fd00::/8", "proxy"]}`, []string{"http.trusted_proxies[1]: \"10.0.0.5\" is not a CIDR", "http.trusted_proxies[3]: \"proxy\" is not a CIDR"}},
		{"feedback secret short", `workorder: {secret: "push-key-0123456", feedback_secret: "short"}`, []string{"workorder.feedback_secret: at least 16 characters"}},
		{"feedback secret same as secret", `workorder: {secret: "push-key-0123456", feedback_secret: "push-key-0123456"}`, []string{"workorder.feedback_secret: same as workorder.secret"}},
		{"feedback secret of its own", `workorder: {secret: "push-key-0123456", feedback_secret: "feedback-key-0123"}`, nil},
		{"http listen named port", `http: {listen: "127.0.0.1:http"}`, []string{"http.listen: \"127.0.0.1:http\": port \"http\""}},
		{"http listen all addresses", `http: {listen: ":8080"}`, nil},
		{"session ttl", `http: {session_ttl: 0s}`, []string{"http.session_ttl: must be positive"}},

		{"acd backend", `acd: {backend: mongo}`, []string{"acd.backend: \"mongo\" is not one of memory, redis"}},
		{"redis without url", `acd: {backend: redis}` + okCluster, []string{"acd.redis_url: required when acd.backend is redis"}},
		{"redis bad scheme", `acd: {backend: redis, redis_url: "http://127.0.0.1:6379"}` + okCluster, []string{"acd.redis_url: \"http://127.0.0.1:6379\": want redis://"}},
		{"redis bad db, password not echoed", `acd: {backend: redis, redis_url: "redis://:hunter2@127.0.0.1:6379/x"}` + okCluster, []string{"acd.redis_url: \"redis://:********@127.0.0.1:6379/x\": database \"x\""}},
		{"redis ok", `acd: {backend: redis, redis_url: "rediss://user:pw@redis.example:6380/2"}` + okCluster, nil},
		{"redis url unchecked for memory", `acd: {backend: memory}`, nil},
		{"sentinel ok", `acd: {backend: redis, redis_sentinel: {master: hotline, addrs: ["10.0.0.5:26379", "10.0.0.6:26379"], password: pw}}` + okCluster, nil},
		{"sentinel and url", `acd: {backend: redis, redis_url: "redis://127.0.0.1:6379", redis_sentinel: {master: m, addrs: ["127.0.0.1:26379"]}}` + okCluster, []string{"acd.redis_url: give acd.redis_url or acd.redis_sentinel, not both"}},
		{"sentinel incomplete", `acd: {backend: redis, redis_sentinel: {addrs: ["127.0.0.1", ":26379"]}}` + okCluster, []string{"acd.redis_sentinel.master: must name", "acd.redis_sentinel.addrs[0]: \"127.0.0.1\": want host:port", "acd.redis_sentinel.addrs[1]: \":26379\": want host:port"}},
		{"cluster keys required with redis", `acd: {backend: redis, redis_url: "redis://127.0.0.1:6379"}`, []string{"cluster.advertise_sip: required", "cluster.advertise_http: required", "cluster.secret: required"}},
		{"cluster keys checked", "acd: {backend: redis, redis_url: \"redis://127.0.0.1:6379\"}\ncluster: {advertise_sip: \"sip:8001@10.0.0.1:5060\", advertise_http: \"ftp://10.0.0.1\", secret: short, heartbeat: 2s, node_timeout: 3s}",
			[]string{"cluster.advertise_sip: \"sip:8001@10.0.0.1:5060\": no user part", "cluster.advertise_http: \"ftp://10.0.0.1\": want http://", "cluster.secret: required", "cluster.node_timeout: 3s: must be at least twice cluster.heartbeat (2s)"}},
		{"cluster sip transport", "acd: {backend: redis, redis_url: \"redis://127.0.0.1:6379\"}\ncluster: {advertise_sip: \"sip:10.0.0.1:5060;transport=sctp\", advertise_http: \"http://10.0.0.1:8080\", secret: \"0123456789abcdef\"}",
			[]string{"cluster.advertise_sip: \"sip:10.0.0.1:5060;transport=sctp\": only ;transport=udp or ;transport=tcp"}},
		{"acd numbers", `acd: {service_level_seconds: 0, short_abandon_seconds: -1}`, []string{"acd.service_level_seconds: must be at least 1", "acd.short_abandon_seconds: must not be negative"}},
		{"acd target service level", `acd: {target_service_level: 80}`, []string{"acd.target_service_level: must be a share between 0 and 1 (exclusive), e.g. 0.8 for 80 percent"}},
		{"acd durations", `acd: {ring_timeout: 0s, wrap_up: -1s, max_wait: 0s, skill_fallback: -1s, position_every: 0s}`, []string{
			"acd.ring_timeout: must be positive", "acd.wrap_up: must not be negative", "acd.max_wait: must be positive",
			"acd.skill_fallback: must not be negative", "acd.position_every: must be positive",
		}},
		{"caller id", `acd: {caller_id: partial}`, []string{"acd.caller_id: \"partial\" is not one of masked, full"}},

		{"seat id empty", `seats: [{id: "", password: p, skills: [consult]}]`, []string{"seats[0].id: must not be empty"}},
		{"seat id not digits", `seats: [{id: "80a1", password: p, skills: [consult]}]`, []string{"seats[0].id: \"80a1\": want digits only"}},
		{"seat id duplicate", "seats: [" + okSeat + ", " + okSeat + "]", []string{"seats[1].id: \"8001\" is used by an earlier seat"}},
		{"seat id is a hotline number", `seats: [{id: "12348", password: p, skills: [consult]}]`, []string{"seats[0].id: \"12348\" is also a hotline number"}},
		{"seat password empty", `seats: [` + okSeat + `, {id: "8002", password: "", skills: [consult]}, {id: "8003", skills: [consult]}]`, []string{"seats[1].password: must not be empty", "seats[2].password: must not be empty"}},
		{"seat role unknown", `seats: [{id: "8001", password: p, skills: [consult], role: boss}]`, []string{"seats[0].role: \"boss\": want operator or manager"}},
		{"manager seat with skills", `seats: [{id: "8001", password: p, skills: [consult], role: manager}]`, []string{"seats[0].skills: a seat of role manager is never offered calls: leave skills out"}},
		{"seat skills empty", `seats: [{id: "8001", password: p, skills: []}]`, []string{"seats[0].skills: must list at least one of consult, legal_aid, mediation, notary, complaint"}},
		{"seat skills unknown and duplicate", `seats: [{id: "8001", password: p, skills: [consult, tax, consult]}]`, []string{"seats[0].skills[1]: unknown skill \"tax\"", "seats[0].skills[2]: same as seats[0].skills[0]"}},
		{"seven seats are fine", "seats: [" + strings.Repeat(okSeat+", ", 0) + sevenSeats() + "]", nil},

		{"ivr paths", `ivr: {menu: "", prompts: ""}`, []string{"ivr.menu: must not be empty", "ivr.prompts: must not be empty"}},

		{"workorder url scheme", `workorder: {url: "ftp://wo.example/api", secret: k}`, []string{"workorder.url: \"ftp://wo.example/api\": want an http:// or https:// URL"}},
		{"workorder url no host", `workorder: {url: "http://", secret: k}`, []string{"workorder.url: want an http:// or https:// URL"}},
		{"workorder url without secret", `workorder: {url: "https://wo.example/api/tickets"}`, []string{"workorder.secret: must be set when workorder.url is"}},
		{"workorder numbers", `workorder: {timeout: 0s, max_attempts: 0, workers: 0}`, []string{"workorder.timeout: must be positive", "workorder.max_attempts: must be at least 1", "workorder.workers: must be at least 1"}},
		{"workorder ok", `workorder: {url: "https://wo.example/api/tickets", secret: k}`, nil},

		{"retention", `recordings: {retention_days: 0}`, []string{"recordings.retention_days: must be at least 1"}},
		{"grace", `shutdown: {grace: 0s}`, []string{"shutdown.grace: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.yaml
			if !strings.HasPrefix(doc, "node_id:") {
				doc = "node_id: test\n" + doc // no dependence on the hostname
			}
			_, err := Parse([]byte(doc), noEnv)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")[1:]
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				path, text, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(lines[i], path+": ") || !strings.Contains(lines[i], text) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

func sevenSeats() string {
	var seats []string
	for _, id := range []string{"8001", "8002", "8003", "8004", "8005", "8006", "8007"} {
		seats = append(seats, `{id: "`+id+`", password: p, skills: [consult]}`)
	}
	return strings.Join(seats, ", ")
}

// Validate on a Config built in code reports the same problems.
func TestValidateInCode(t *testing.T) {
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Seats[2].Password = ""
	c.Media.RTPPorts = "5"
	err = c.Validate()
	if got, want := problemPaths(t, err), []string{"media.rtp_ports", "seats[2].password"}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
}

func TestPortRangeAndPrefixes(t *testing.T) {
	lo, hi, err := Media{RTPPorts: " 20000 - 29999 "}.PortRange()
	if err != nil || lo != 20000 || hi != 29999 {
		t.Errorf("PortRange = %d, %d, %v", lo, hi, err)
	}
	p := SIP{TrustedSources: []string{"10.1.2.3/8", "bad", "::1/128"}}.TrustedPrefixes()
	if len(p) != 2 || p[0].String() != "10.0.0.0/8" || p[1].String() != "::1/128" {
		t.Errorf("TrustedPrefixes = %v", p)
	}
	if p := (HTTP{TrustedProxies: []string{"10.0.0.5/32", "x"}}).TrustedProxyPrefixes(); len(p) != 1 || p[0].String() != "10.0.0.5/32" {
		t.Errorf("TrustedProxyPrefixes = %v", p)
	}
	if k := (Workorder{Secret: "push"}).FeedbackKey(); k != "push" {
		t.Errorf("FeedbackKey without feedback_secret = %q, want the push secret", k)
	}
	if k := (Workorder{Secret: "push", FeedbackSecret: "back"}).FeedbackKey(); k != "back" {
		t.Errorf("FeedbackKey = %q, want feedback_secret", k)
	}
}
