// Package config loads and validates the hotline's YAML configuration.
//
// Loading is strict: unknown keys and bad values are refused, and Validate
// reports every problem at once, each with its key path (for example
// "seats[2].password: must not be empty"). ${VAR} and ${VAR:-default} in
// values are replaced from the environment before decoding.
//
// This package must not import any other package of this module except the
// domain packages (ivr, agent, acd) whose types it decodes and configs (the
// embedded default files). It does not log: problems are returned.
package config

import "time"

// Config is the whole configuration file (SPEC §3). Field order follows the file.
type Config struct {
	NodeID     string     `yaml:"node_id"`
	DataDir    string     `yaml:"data_dir"`
	Timezone   string     `yaml:"timezone"` // days of tickets and stats are counted here (default Asia/Shanghai)
	Log        Log        `yaml:"log"`
	SIP        SIP        `yaml:"sip"`
	Media      Media      `yaml:"media"`
	HTTP       HTTP       `yaml:"http"`
	ACD        ACD        `yaml:"acd"`
	Cluster    Cluster    `yaml:"cluster"`
	Seats      []Seat     `yaml:"seats"`
	IVR        IVR        `yaml:"ivr"`
	Workorder  Workorder  `yaml:"workorder"`
	Recordings Recordings `yaml:"recordings"`
	Storage    Storage    `yaml:"storage"`
	Shutdown   Shutdown   `yaml:"shutdown"`
	Transfer   Transfer   `yaml:"transfer"`
	// Supervision: managers listening, whispering, barging in (SPEC §9a).
	Supervision Supervision `yaml:"supervision"`
	Callback    Callback    `yaml:"callback"`

	// Path is the file the configuration was read from ("" for the embedded default).
	Path string `yaml:"-"`
	// Defaulted lists the key paths whose value came from a ${VAR:-default}
	// fallback because VAR was unset: the server warns about those at start
	// (a seat password left at its shipped default, for example).
	Defaulted []string `yaml:"-"`
}

// Log selects the log format and level.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// SIP is the signalling side.
type SIP struct {
	Listen         []string `yaml:"listen"`          // "udp://0.0.0.0:5060", "tcp://0.0.0.0:5060"
	Domain         string   `yaml:"domain"`          // digest realm; seats register as sip:<seat id>@domain
	HotlineNumbers []string `yaml:"hotline_numbers"` // e.g. ["12348"]
	TrustedSources []string `yaml:"trusted_sources"` // CIDRs allowed to call the hotline numbers
	// SessionExpires is the RFC 4028 session interval we ask for when the
	// caller supports session timers (default 1800s, at least 90s).
	SessionExpires Duration `yaml:"session_expires"`
	// AuthFailBan: after AuthFailLimit failed digest attempts from one
	// address within AuthFailWindow, that address is refused for AuthFailBan.
	AuthFailLimit  int      `yaml:"auth_fail_limit"`  // default 10
	AuthFailWindow Duration `yaml:"auth_fail_window"` // default 1m
	AuthFailBan    Duration `yaml:"auth_fail_ban"`    // default 10m
	// MaxRegisterExpires caps the Expires a seat may ask for (default 3600s).
	MaxRegisterExpires Duration `yaml:"max_register_expires"`
	// DigestAlgorithms are the digest challenges offered to a seat whose
	// seats[].digest_algorithms is not set, in order of preference (RFC
	// 8760 §2.4). Default [MD5]: the phones in use (SIPp 3.6, baresip 1.x)
	// know only MD5 and some give up on any other challenge; a phone that
	// does SHA-256 gets [SHA-256] on its own seat and is never offered MD5.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// NoBan lists CIDRs never banned for failed logins: the call centre's
	// own office address, behind which all six seats share one NAT address.
	NoBan []string `yaml:"no_ban"`
	// TLSCert and TLSKey are the PEM certificate chain and key a tls://
	// listener presents; SIGHUP reads them again (renewal drops no call).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`

	// What an untrusted peer may cost us (RFC 3261 §18; SPEC §4 "a bad
	// packet may lose no ticket"). Trusted sources are exempt from the TCP
	// limits and from RateLimit.

	// MaxMessageSize bounds one SIP message in bytes, headers and body,
	// over UDP and TCP (default 16384).
	MaxMessageSize int `yaml:"max_message_size"`
	// TCPHeaderTimeout: a message begun on a TCP connection must have
	// arrived whole within this time (default 10s).
	TCPHeaderTimeout Duration `yaml:"tcp_header_timeout"`
	// TCPIdleTimeout closes a TCP connection that carried nothing for this
	// long, unless it is a registered seat's flow (default 30s).
	TCPIdleTimeout Duration `yaml:"tcp_idle_timeout"`
	// TCPMaxPerSource and TCPMaxConnections cap the open TCP connections of
	// one untrusted address and of all of them (defaults 32 and 256).
	TCPMaxPerSource   int `yaml:"tcp_max_per_source"`
	TCPMaxConnections int `yaml:"tcp_max_connections"`
	// RateLimit caps the requests (and TCP connection attempts) of one
	// untrusted address, as Kamailio's pike module does.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit is sip.rate_limit: at most Requests requests from one address
// (an IPv4 address, an IPv6 /64) per Window; more are dropped (UDP) or get
// 503 and the connection closed (TCP). Default 16 per 2s (Kamailio pike's
// example).
type RateLimit struct {
	Requests int      `yaml:"requests"`
	Window   Duration `yaml:"window"`
}

// Media is the RTP side.
type Media struct {
	RTPIP       string   `yaml:"rtp_ip"`       // address written into SDP
	BindIP      string   `yaml:"bind_ip"`      // address RTP sockets bind to (default: rtp_ip)
	RTPPorts    string   `yaml:"rtp_ports"`    // "20000-29999"
	RTPTimeout  Duration `yaml:"rtp_timeout"`  // no RTP received for this long ends the call (default 30s)
	Codecs      []string `yaml:"codecs"`       // preference order, subset of PCMU, PCMA (default both)
	PacerShards int      `yaml:"pacer_shards"` // goroutines pacing outgoing RTP (0 = GOMAXPROCS)
}

// HTTP is the console, API and metrics listener.
type HTTP struct {
	Listen     string   `yaml:"listen"`      // 127.0.0.1:8080
	SessionTTL Duration `yaml:"session_ttl"` // login session lifetime (default 12h)
	// SecureCookie forces the Secure flag on the session cookie. Without it
	// (the default) the cookie is Secure whenever the console is reached
	// over https: TLS on this listener, or X-Forwarded-Proto: https from a
	// trusted proxy.
	SecureCookie bool `yaml:"secure_cookie"`
	// TrustedProxies are the CIDRs of reverse proxies in front of the
	// console (default none). Only from these is X-Forwarded-For believed
	// (the client address that logins are throttled by and audit lines
	// record), and X-Forwarded-Proto / X-Forwarded-Host (https, and the
	// origin that state-changing requests must come from).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// ACD is the automatic call distributor (SPEC §6).
type ACD struct {
	Backend  string `yaml:"backend"`   // memory | redis
	RedisURL string `yaml:"redis_url"` // redis://host:6379/0 when backend is redis
	// RedisSentinel is the alternative to RedisURL for a Redis that must
	// survive its own failure: the master's name and the sentinels.
	RedisSentinel       RedisSentinel `yaml:"redis_sentinel"`
	ServiceLevelSeconds int           `yaml:"service_level_seconds"`
	ShortAbandonSeconds int           `yaml:"short_abandon_seconds"`
	RingTimeout         Duration      `yaml:"ring_timeout"`
	WrapUp              Duration      `yaml:"wrap_up"`
	MaxWait             Duration      `yaml:"max_wait"`
	SkillFallback       Duration      `yaml:"skill_fallback"`
	PositionEvery       Duration      `yaml:"position_every"` // announce the queue position this often (default 30s)
	// CallerID is what a ringing seat sees of the caller: "masked" (138****0000) or "full".
	CallerID string `yaml:"caller_id"`

	// TargetServiceLevel is the share of calls the centre aims to answer
	// within ServiceLevelSeconds (acd.target_service_level, default 0.8):
	// the wallboard's service level turns red below it, and staffing plans
	// the seats that reach it.
	TargetServiceLevel float64 `yaml:"target_service_level"`
}

// RedisSentinel is acd.redis_sentinel (SPEC §11).
type RedisSentinel struct {
	Master   string   `yaml:"master"`   // the name the sentinels monitor
	Addrs    []string `yaml:"addrs"`    // host:port of the sentinels
	Password string   `yaml:"password"` // the Redis servers' password, if any
	DB       int      `yaml:"db"`
}

// Cluster is how the nodes of one call centre find and trust each other
// (SPEC §11, acd.backend: redis).
type Cluster struct {
	// AdvertiseSIP is this node's SIP URI as the other nodes reach it: a
	// call on another node reaches the seats registered here through it
	// (sip:10.0.0.11:5060;transport=tcp).
	AdvertiseSIP string `yaml:"advertise_sip"`
	// AdvertiseHTTP is this node's HTTP base URL for the other nodes
	// (ticket search, recordings): http://10.0.0.11:8080.
	AdvertiseHTTP string `yaml:"advertise_http"`
	// Secret is the HMAC key of node-to-node requests (HTTP, and the SIP
	// flow tokens); the same on every node, at least 16 characters.
	Secret      string   `yaml:"secret"`
	Heartbeat   Duration `yaml:"heartbeat"`    // default 1s
	NodeTimeout Duration `yaml:"node_timeout"` // silent this long: dead (default 5s)
}

// Seat is one operator position (SPEC §3 seats[]).
type Seat struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	Skills   []string `yaml:"skills"`
	// SRTP: this seat's calls are SRTP with SDES keys (RFC 4568). The
	// keys travel in the SDP, so the seat is rung only while it is
	// registered over TLS (a tls:// listener), never in clear.
	SRTP bool `yaml:"srtp"`
	// DigestAlgorithms are the digest challenges this seat's phone is
	// offered and the only ones accepted from it (RFC 8760): [SHA-256] for
	// a phone that does it, so it is never offered MD5. Default:
	// sip.digest_algorithms.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// Role is "operator" (default) or "manager" (SPEC §9a): a manager's
	// phone registers like any seat but is never offered ACD calls; it is
	// rung for supervision (POST /api/calls/{id}/monitor).
	Role string `yaml:"role"`
}

// Supervision configures POST /api/calls/{id}/monitor.
type Supervision struct {
	// NotifyOperator shows the operator a banner ("值班长正在监听") while a
	// manager listens, whispers or barges in on their call (default true:
	// workplace monitoring is disclosed to the monitored worker).
	NotifyOperator bool `yaml:"notify_operator"`
}

// Seat roles (seats[].role).
const (
	SeatOperator = "operator"
	SeatManager  = "manager"
)

// IsManager reports whether the seat is a manager's phone.
func (s Seat) IsManager() bool { return s.Role == SeatManager }

// IVR names the menu file and the prompt directory.
type IVR struct {
	Menu    string `yaml:"menu"`    // configs/ivr.yaml
	Prompts string `yaml:"prompts"` // configs/prompts/zh
}

// Workorder is the push to the shared work-order system (SPEC §7).
type Workorder struct {
	URL string `yaml:"url"`
	// Secret signs our pushes (and, while FeedbackSecret is empty, verifies
	// the work-order system's feedback too).
	Secret string `yaml:"secret"`
	// FeedbackSecret verifies POST /api/workorder/feedback, so that each
	// direction has its own key; empty: Secret, with a warning at start.
	FeedbackSecret string   `yaml:"feedback_secret"`
	Timeout        Duration `yaml:"timeout"`
	MaxAttempts    int      `yaml:"max_attempts"`
	Workers        int      `yaml:"workers"` // parallel deliveries (default 4)
}

// Recordings controls call recording (SPEC §8).
type Recordings struct {
	Enabled       bool `yaml:"enabled"`
	RetentionDays int  `yaml:"retention_days"`
}

// Storage sets when data_dir's disk counts as short of space.
type Storage struct {
	// MinFreeMB: below this many MiB free on data_dir's file system the
	// node says so (healthz degraded, hotline_storage_ok{part="disk_space"}
	// 0) before the database or a recording fails (default 1024; 0: off).
	MinFreeMB int `yaml:"min_free_mb"`
}

// Shutdown bounds a graceful stop (SIGTERM).
type Shutdown struct {
	// Grace is how long calls in progress may go on after SIGTERM before
	// they are ended by the switch (default 60s).
	Grace Duration `yaml:"grace"`
}

// Duration is a time.Duration written as "15s", "10m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
