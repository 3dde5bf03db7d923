package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12348/hotline/ivr"
)

// Validate checks every value and returns all problems at once as Errors
// (nil when there are none), each "key.path: problem". Load calls it after
// applying defaults; call it again after changing a Config in code.
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return p
	}
	return nil
}

func (c *Config) problems() Errors {
	var p Errors
	if c.NodeID == "" {
		p.add("node_id", "must not be empty")
	} else if !isName(c.NodeID) {
		p.add("node_id", "%q: use only letters, digits, '.', '_' and '-'", c.NodeID)
	}
	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		p.add("timezone", "%q is not an IANA time zone (e.g. Asia/Shanghai)", c.Timezone)
	}
	oneOf(&p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(&p, "log.format", c.Log.Format, "text", "json")

	// sip
	if len(c.SIP.Listen) == 0 {
		p.add("sip.listen", "must list at least one address (e.g. udp://0.0.0.0:5060)")
	}
	for i, l := range c.SIP.Listen {
		path := joinIndex("sip.listen", i)
		if err := checkListen(l); err != nil {
			p.add(path, "%v", err)
		} else if j := slices.Index(c.SIP.Listen, l); j < i {
			p.add(path, "same as sip.listen[%d]", j)
		}
	}
	if c.SIP.Domain == "" {
		p.add("sip.domain", "must not be empty")
	} else if !isHost(c.SIP.Domain) {
		p.add("sip.domain", "%q is not a domain name or IP address", c.SIP.Domain)
	}
	if len(c.SIP.HotlineNumbers) == 0 {
		p.add("sip.hotline_numbers", "must list at least one number (e.g. \"12348\")")
	}
	for i, n := range c.SIP.HotlineNumbers {
		path := joinIndex("sip.hotline_numbers", i)
		if !isDigits(strings.TrimPrefix(n, "+")) {
			p.add(path, "%q: want digits, optionally after a +", n)
		} else if j := slices.Index(c.SIP.HotlineNumbers, n); j < i {
			p.add(path, "same as sip.hotline_numbers[%d]", j)
		}
	}
	if len(c.SIP.TrustedSources) == 0 {
		p.add("sip.trusted_sources", "must list at least one CIDR (nobody could call the hotline)")
	}
	for i, s := range c.SIP.TrustedSources {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add(joinIndex("sip.trusted_sources", i), "%q is not a CIDR (want e.g. 10.0.0.0/8 or 192.0.2.7/32)", s)
		}
	}
	if c.SIP.HasTLS() {
		if c.SIP.TLSCert == "" {
			p.add("sip.tls_cert", "a tls:// listener needs a certificate (PEM file)")
		}
		if c.SIP.TLSKey == "" {
			p.add("sip.tls_key", "a tls:// listener needs the certificate's key (PEM file)")
		}
	}
	for i, s := range c.SIP.NoBan {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add(joinIndex("sip.no_ban", i), "%q is not a CIDR", s)
		}
	}
	digestAlgorithms(&p, "sip.digest_algorithms", c.SIP.DigestAlgorithms)
	// RFC 4028 §5: Session-Expires below Min-SE (90 s) is refused by peers.
	atLeast(&p, "sip.session_expires", c.SIP.SessionExpires, Duration(90*time.Second), "90s (RFC 4028 Min-SE)")
	if c.SIP.AuthFailLimit < 1 {
		p.add("sip.auth_fail_limit", "must be at least 1")
	}
	positive(&p, "sip.auth_fail_window", c.SIP.AuthFailWindow)
	positive(&p, "sip.auth_fail_ban", c.SIP.AuthFailBan)
	atLeast(&p, "sip.max_register_expires", c.SIP.MaxRegisterExpires, Duration(60*time.Second), "60s")
	// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over
	// TCP, so even a UDP-only seat needs ~1300 bytes; 65535 is the most a
	// UDP datagram carries.
	if n := c.SIP.MaxMessageSize; n < 2048 || n > 65535 {
		p.add("sip.max_message_size", "%d: want bytes between 2048 and 65535", n)
	}
	positive(&p, "sip.tcp_header_timeout", c.SIP.TCPHeaderTimeout)
	positive(&p, "sip.tcp_idle_timeout", c.SIP.TCPIdleTimeout)
	if c.SIP.TCPMaxPerSource < 1 {
		p.add("sip.tcp_max_per_source", "must be at least 1")
	}
	if c.SIP.TCPMaxConnections < 1 {
		p.add("sip.tcp_max_connections", "must be at least 1")
	} else if c.SIP.TCPMaxPerSource > c.SIP.TCPMaxConnections {
		p.add("sip.tcp_max_per_source", "%d is more than sip.tcp_max_connections (%d)", c.SIP.TCPMaxPerSource, c.SIP.TCPMaxConnections)
	}
	if c.SIP.RateLimit.Requests < 1 {
		p.add("sip.rate_limit.requests", "must be at least 1")
	}
	positive(&p, "sip.rate_limit.window", c.SIP.RateLimit.Window)

	// media
	rtpIP, err := netip.ParseAddr(c.Media.RTPIP)
	if err != nil {
		p.add("media.rtp_ip", "%q is not an IP address", c.Media.RTPIP)
	} else if rtpIP.IsUnspecified() {
		p.add("media.rtp_ip", "%s goes into SDP: give an address callers and seats can reach", c.Media.RTPIP)
	}
	// bind_ip defaults to rtp_ip: a bad rtp_ip is reported once, not twice.
	if _, err := netip.ParseAddr(c.Media.BindIP); err != nil && (c.Media.BindIP != c.Media.RTPIP || rtpIP.IsValid()) {
		p.add("media.bind_ip", "%q is not an IP address", c.Media.BindIP)
	}
	if _, _, err := c.Media.PortRange(); err != nil {
		p.add("media.rtp_ports", "%v", err)
	}
	positive(&p, "media.rtp_timeout", c.Media.RTPTimeout)
	if len(c.Media.Codecs) == 0 {
		p.add("media.codecs", "must list at least one codec (PCMU, PCMA)")
	}
	for i, codec := range c.Media.Codecs {
		path := joinIndex("media.codecs", i)
		if codec != "PCMU" && codec != "PCMA" {
			p.add(path, "unknown codec %q (want PCMU or PCMA)", codec)
		} else if j := slices.Index(c.Media.Codecs, codec); j < i {
			p.add(path, "same as media.codecs[%d]", j)
		}
	}
	if c.Media.PacerShards < 0 {
		p.add("media.pacer_shards", "must not be negative (0 = one per CPU)")
	}

	// http
	if err := checkHostPort(c.HTTP.Listen); err != nil {
		p.add("http.listen", "%q: %v", c.HTTP.Listen, err)
	}
	positive(&p, "http.session_ttl", c.HTTP.SessionTTL)
	for i, s := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add(joinIndex("http.trusted_proxies", i), "%q is not a CIDR (want e.g. 10.0.0.5/32 for one proxy)", s)
		}
	}

	// acd
	oneOf(&p, "acd.backend", c.ACD.Backend, "memory", "redis")
	c.clusterProblems(&p)
	c.transferProblems(&p)
	if c.ACD.ServiceLevelSeconds < 1 {
		p.add("acd.service_level_seconds", "must be at least 1")
	}
	if c.ACD.ShortAbandonSeconds < 0 {
		p.add("acd.short_abandon_seconds", "must not be negative")
	}
	if !(c.ACD.TargetServiceLevel > 0 && c.ACD.TargetServiceLevel < 1) {
		p.add("acd.target_service_level", "must be a share between 0 and 1 (exclusive), e.g. 0.8 for 80 percent")
	}
	positive(&p, "acd.ring_timeout", c.ACD.RingTimeout)
	notNegative(&p, "acd.wrap_up", c.ACD.WrapUp)
	positive(&p, "acd.max_wait", c.ACD.MaxWait)
	notNegative(&p, "acd.skill_fallback", c.ACD.SkillFallback)
	positive(&p, "acd.position_every", c.ACD.PositionEvery)
	oneOf(&p, "acd.caller_id", c.ACD.CallerID, "masked", "full")

	// seats
	for i, s := range c.Seats {
		path := joinIndex("seats", i)
		if s.SRTP && !c.SIP.HasTLS() {
			p.add(path+".srtp", "SRTP keys go only over TLS: add a tls:// listener to sip.listen (and sip.tls_cert, sip.tls_key)")
		}
		switch {
		case s.ID == "":
			p.add(path+".id", "must not be empty")
		case !isDigits(s.ID):
			p.add(path+".id", "%q: want digits only (seats register as sip:<id>@domain)", s.ID)
		case slices.IndexFunc(c.Seats[:i], func(o Seat) bool { return o.ID == s.ID }) >= 0:
			p.add(path+".id", "%q is used by an earlier seat", s.ID)
		case slices.Contains(c.SIP.HotlineNumbers, s.ID):
			p.add(path+".id", "%q is also a hotline number", s.ID)
		}
		if s.Password == "" {
			p.add(path+".password", "must not be empty")
		}
		switch {
		case s.Role != SeatOperator && s.Role != SeatManager:
			p.add(path+".role", "%q: want operator or manager", s.Role)
		case s.Role == SeatManager && len(s.Skills) > 0:
			p.add(path+".skills", "a seat of role manager is never offered calls: leave skills out")
		case s.Role == SeatOperator && len(s.Skills) == 0:
			p.add(path+".skills", "must list at least one of %s", skillNames())
		}
		// A seat without its own list took sip.digest_algorithms, which is
		// reported there, once.
		if !slices.Equal(s.DigestAlgorithms, c.SIP.DigestAlgorithms) {
			digestAlgorithms(&p, path+".digest_algorithms", s.DigestAlgorithms)
		}
		for j, sk := range s.Skills {
			kpath := joinIndex(path+".skills", j)
			if !ivr.Category(sk).Valid() {
				p.add(kpath, "unknown skill %q (want one of %s)", sk, skillNames())
			} else if k := slices.Index(s.Skills, sk); k < j {
				p.add(kpath, "same as %s", joinIndex(path+".skills", k))
			}
		}
	}

	// ivr
	if c.IVR.Menu == "" {
		p.add("ivr.menu", "must not be empty")
	}
	if c.IVR.Prompts == "" {
		p.add("ivr.prompts", "must not be empty")
	}

	// workorder
	if c.Workorder.URL != "" {
		u, err := url.Parse(c.Workorder.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("workorder.url", "%q: want an http:// or https:// URL, or empty", redactURL(c.Workorder.URL))
		}
		if c.Workorder.Secret == "" {
			p.add("workorder.secret", "must be set when workorder.url is (pushes are signed with it)")
		}
	}
	if fs := c.Workorder.FeedbackSecret; fs != "" {
		switch {
		case len(fs) < 16:
			p.add("workorder.feedback_secret", "at least 16 characters, or empty (then workorder.secret verifies feedback too)")
		case fs == c.Workorder.Secret:
			p.add("workorder.feedback_secret", "same as workorder.secret: give the feedback its own key, or leave it empty")
		}
	}
	positive(&p, "workorder.timeout", c.Workorder.Timeout)
	if c.Workorder.MaxAttempts < 1 {
		p.add("workorder.max_attempts", "must be at least 1")
	}
	if c.Workorder.Workers < 1 {
		p.add("workorder.workers", "must be at least 1")
	}

	if c.Recordings.RetentionDays < 1 {
		p.add("recordings.retention_days", "must be at least 1")
	}
	if c.Storage.MinFreeMB < 0 {
		p.add("storage.min_free_mb", "must be 0 (off) or more")
	}
	positive(&p, "shutdown.grace", c.Shutdown.Grace)
	c.callbackProblems(&p)
	return p
}

// PortRange parses rtp_ports ("20000-29999").
func (m Media) PortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(m.RTPPorts, "-")
	lo, errA := strconv.Atoi(strings.TrimSpace(a))
	hi, errB := strconv.Atoi(strings.TrimSpace(b))
	if !ok || errA != nil || errB != nil || lo < 1024 || hi > 65535 || lo >= hi {
		return 0, 0, fmt.Errorf("%q: want \"A-B\" with 1024 <= A < B <= 65535", m.RTPPorts)
	}
	return lo, hi, nil
}

// TrustedPrefixes returns trusted_sources parsed; entries that do not parse
// are skipped (Validate reports them).
func (s SIP) TrustedPrefixes() []netip.Prefix { return prefixes(s.TrustedSources) }

// TrustedProxyPrefixes returns http.trusted_proxies parsed.
func (h HTTP) TrustedProxyPrefixes() []netip.Prefix { return prefixes(h.TrustedProxies) }

// FeedbackKey is the key that verifies the work-order system's feedback:
// feedback_secret, else secret.
func (w Workorder) FeedbackKey() string {
	if w.FeedbackSecret != "" {
		return w.FeedbackSecret
	}
	return w.Secret
}

// HasTLS: one of the listeners is tls://.
func (s SIP) HasTLS() bool {
	for _, l := range s.Listen {
		if strings.HasPrefix(strings.ToLower(l), "tls://") {
			return true
		}
	}
	return false
}

// NoBanPrefixes returns no_ban parsed.
func (s SIP) NoBanPrefixes() []netip.Prefix { return prefixes(s.NoBan) }

func prefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, t := range list {
		if p, err := netip.ParsePrefix(t); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func checkListen(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not a listen URL (want e.g. udp://0.0.0.0:5060)", s)
	}
	switch u.Scheme {
	case "udp", "tcp", "ws", "tls":
	default:
		return fmt.Errorf("%q: unknown transport %q (want udp, tcp, ws or tls)", s, u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want only transport://host:port", s)
	}
	if err := checkHostPort(u.Host); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}

// checkHostPort accepts host:port with an IP, a host name or nothing (all
// addresses) as host, and port 0-65535 (0: any free port, for tests).
func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("want host:port (e.g. 127.0.0.1:8080)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 0-65535", port)
	}
	if host != "" && !isHost(host) {
		return fmt.Errorf("%q is not a host name or IP address", host)
	}
	return nil
}

// clusterProblems checks acd.redis_url / acd.redis_sentinel and cluster.*
// (SPEC §11): required with acd.backend redis, checked whenever given.
func (c *Config) clusterProblems(p *Errors) {
	redis := c.ACD.Backend == "redis"
	sent := c.ACD.RedisSentinel
	useSentinel := sent.Master != "" || len(sent.Addrs) > 0
	switch {
	case useSentinel && c.ACD.RedisURL != "":
		p.add("acd.redis_url", "give acd.redis_url or acd.redis_sentinel, not both")
	case useSentinel:
		if sent.Master == "" {
			p.add("acd.redis_sentinel.master", "must name the master the sentinels monitor")
		}
		if len(sent.Addrs) == 0 {
			p.add("acd.redis_sentinel.addrs", "must list the sentinels (host:port)")
		}
		for i, a := range sent.Addrs {
			if err := checkHostPort(a); err != nil || strings.HasPrefix(a, ":") {
				p.add(joinIndex("acd.redis_sentinel.addrs", i), "%q: want host:port", a)
			}
		}
		if sent.DB < 0 {
			p.add("acd.redis_sentinel.db", "must not be negative")
		}
	case redis || c.ACD.RedisURL != "":
		if err := checkRedisURL(c.ACD.RedisURL); err != nil {
			p.add("acd.redis_url", "%v", err)
		}
	}
	if !redis {
		return
	}
	cl := c.Cluster
	if cl.AdvertiseSIP == "" {
		p.add("cluster.advertise_sip", "required when acd.backend is redis: this node's SIP URI as the other nodes reach it (e.g. sip:10.0.0.11:5060;transport=tcp)")
	} else if err := checkSIPURI(cl.AdvertiseSIP); err != nil {
		p.add("cluster.advertise_sip", "%q: %v", cl.AdvertiseSIP, err)
	}
	if cl.AdvertiseHTTP == "" {
		p.add("cluster.advertise_http", "required when acd.backend is redis: this node's HTTP base URL for the other nodes (e.g. http://10.0.0.11:8080)")
	} else if u, err := url.Parse(cl.AdvertiseHTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		p.add("cluster.advertise_http", "%q: want http://host:port or https://host:port", cl.AdvertiseHTTP)
	}
	if len(cl.Secret) < 16 {
		p.add("cluster.secret", "required when acd.backend is redis: at least 16 characters, the same on every node")
	}
	positive(p, "cluster.heartbeat", cl.Heartbeat)
	if cl.Heartbeat > 0 && cl.NodeTimeout < 2*cl.Heartbeat {
		p.add("cluster.node_timeout", "%s: must be at least twice cluster.heartbeat (%s)", cl.NodeTimeout.D(), cl.Heartbeat.D())
	}
}

// checkSIPURI accepts sip:host:port with an optional ;transport=udp|tcp.
func checkSIPURI(s string) error {
	rest, ok := strings.CutPrefix(s, "sip:")
	if !ok {
		return fmt.Errorf("want sip:host:port[;transport=udp|tcp]")
	}
	hp, params, _ := strings.Cut(rest, ";")
	if strings.Contains(hp, "@") {
		return fmt.Errorf("no user part: want sip:host:port")
	}
	if err := checkHostPort(hp); err != nil {
		return err
	}
	if host, port, _ := net.SplitHostPort(hp); host == "" || port == "0" {
		return fmt.Errorf("want a host and a port other nodes can reach")
	}
	if params != "" {
		if params != "transport=udp" && params != "transport=tcp" {
			return fmt.Errorf("only ;transport=udp or ;transport=tcp may follow")
		}
	}
	return nil
}

func checkRedisURL(s string) error {
	if s == "" {
		return fmt.Errorf("required when acd.backend is redis (e.g. redis://127.0.0.1:6379/0)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return fmt.Errorf("%q: want redis://[:password@]host:port[/db] or rediss://…", redactURL(s))
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("%q: database %q is not a number", redactURL(s), db)
		}
	}
	if h := u.Hostname(); h == "" || !isHost(h) {
		return fmt.Errorf("%q: bad host", redactURL(s))
	}
	return nil
}

// digestAlgorithms checks a list of RFC 8760 digest algorithms.
func digestAlgorithms(p *Errors, path string, algs []string) {
	if len(algs) == 0 {
		p.add(path, "must list SHA-256, MD5 or both")
	}
	for i, a := range algs {
		ipath := joinIndex(path, i)
		if a != "SHA-256" && a != "MD5" {
			p.add(ipath, "%q: want SHA-256 or MD5", a)
		} else if j := slices.Index(algs, a); j < i {
			p.add(ipath, "same as %s", joinIndex(path, j))
		}
	}
}

func oneOf(p *Errors, path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func positive(p *Errors, path string, d Duration) {
	if d <= 0 {
		p.add(path, "must be positive, got %s", d)
	}
}

func notNegative(p *Errors, path string, d Duration) {
	if d < 0 {
		p.add(path, "must not be negative, got %s", d)
	}
}

func atLeast(p *Errors, path string, d, lowest Duration, say string) {
	if d < lowest {
		p.add(path, "must be at least %s, got %s", say, d)
	}
}

func skillNames() string {
	var names []string
	for _, c := range ivr.Categories() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isName: letters, digits, '.', '_', '-' (node ids end up in Redis keys and
// ticket ids).
func isName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}

// isHost: an IP address or an RFC 1123 host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if len(s) > 253 || s == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
