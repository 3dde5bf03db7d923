package config

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// applyDefaults fills every key that was absent from the file (or null).
// present holds the key paths that were given: an explicit value, even
// false, 0 or "", is kept and left for Validate to judge.
func applyDefaults(c *Config, present map[string]bool) Errors {
	var problems Errors
	absent := func(path string) bool { return !present[path] }
	str := func(path string, field *string, def string) {
		if absent(path) {
			*field = def
		}
	}
	list := func(path string, field *[]string, def ...string) {
		if absent(path) {
			*field = def
		}
	}
	num := func(path string, field *int, def int) {
		if absent(path) {
			*field = def
		}
	}
	dur := func(path string, field *Duration, def time.Duration) {
		if absent(path) {
			*field = Duration(def)
		}
	}

	if absent("node_id") {
		host, err := os.Hostname()
		if err != nil {
			problems.add("node_id", "not set, and the hostname is unknown: %v", err)
		}
		c.NodeID = host
	}
	str("data_dir", &c.DataDir, "./data")
	str("timezone", &c.Timezone, "Asia/Shanghai")
	str("log.level", &c.Log.Level, "info")
	str("log.format", &c.Log.Format, "text")

	list("sip.listen", &c.SIP.Listen, "udp://0.0.0.0:5060", "tcp://0.0.0.0:5060")
	str("sip.domain", &c.SIP.Domain, "12348.local")
	list("sip.hotline_numbers", &c.SIP.HotlineNumbers, "12348")
	list("sip.trusted_sources", &c.SIP.TrustedSources, "127.0.0.0/8")
	dur("sip.session_expires", &c.SIP.SessionExpires, 1800*time.Second)
	num("sip.auth_fail_limit", &c.SIP.AuthFailLimit, 10)
	dur("sip.auth_fail_window", &c.SIP.AuthFailWindow, time.Minute)
	dur("sip.auth_fail_ban", &c.SIP.AuthFailBan, 10*time.Minute)
	dur("sip.max_register_expires", &c.SIP.MaxRegisterExpires, 3600*time.Second)
	list("sip.digest_algorithms", &c.SIP.DigestAlgorithms, "MD5")
	num("sip.max_message_size", &c.SIP.MaxMessageSize, 16384)
	dur("sip.tcp_header_timeout", &c.SIP.TCPHeaderTimeout, 10*time.Second)
	dur("sip.tcp_idle_timeout", &c.SIP.TCPIdleTimeout, 30*time.Second)
	num("sip.tcp_max_per_source", &c.SIP.TCPMaxPerSource, 32)
	num("sip.tcp_max_connections", &c.SIP.TCPMaxConnections, 256)
	num("sip.rate_limit.requests", &c.SIP.RateLimit.Requests, 16)
	dur("sip.rate_limit.window", &c.SIP.RateLimit.Window, 2*time.Second)

	str("media.rtp_ip", &c.Media.RTPIP, "127.0.0.1")
	str("media.bind_ip", &c.Media.BindIP, c.Media.RTPIP)
	str("media.rtp_ports", &c.Media.RTPPorts, "20000-29999")
	dur("media.rtp_timeout", &c.Media.RTPTimeout, 30*time.Second)
	list("media.codecs", &c.Media.Codecs, "PCMU", "PCMA")

	str("http.listen", &c.HTTP.Listen, "127.0.0.1:8080")
	dur("http.session_ttl", &c.HTTP.SessionTTL, 12*time.Hour)

	str("acd.backend", &c.ACD.Backend, "memory")
	num("acd.service_level_seconds", &c.ACD.ServiceLevelSeconds, 15)
	num("acd.short_abandon_seconds", &c.ACD.ShortAbandonSeconds, 5)
	if absent("acd.target_service_level") {
		c.ACD.TargetServiceLevel = 0.8
	}
	dur("acd.ring_timeout", &c.ACD.RingTimeout, 15*time.Second)
	dur("acd.wrap_up", &c.ACD.WrapUp, 30*time.Second)
	dur("acd.max_wait", &c.ACD.MaxWait, 10*time.Minute)
	dur("acd.skill_fallback", &c.ACD.SkillFallback, 60*time.Second)
	dur("acd.position_every", &c.ACD.PositionEvery, 30*time.Second)
	str("acd.caller_id", &c.ACD.CallerID, "masked")
	dur("cluster.heartbeat", &c.Cluster.Heartbeat, time.Second)
	dur("cluster.node_timeout", &c.Cluster.NodeTimeout, 5*time.Second)

	for i := range c.Seats {
		s := &c.Seats[i]
		str(fmt.Sprintf("seats[%d].name", i), &s.Name, s.ID)
		str(fmt.Sprintf("seats[%d].role", i), &s.Role, SeatOperator)
		list(fmt.Sprintf("seats[%d].digest_algorithms", i), &s.DigestAlgorithms, slices.Clone(c.SIP.DigestAlgorithms)...)
	}

	str("ivr.menu", &c.IVR.Menu, "configs/ivr.yaml")
	str("ivr.prompts", &c.IVR.Prompts, "configs/prompts/zh")

	dur("workorder.timeout", &c.Workorder.Timeout, 5*time.Second)
	num("workorder.max_attempts", &c.Workorder.MaxAttempts, 20)
	num("workorder.workers", &c.Workorder.Workers, 4)

	// A bool whose default is true: absent means true, an explicit false stays.
	if absent("recordings.enabled") {
		c.Recordings.Enabled = true
	}
	if absent("supervision.notify_operator") {
		c.Supervision.NotifyOperator = true
	}
	num("recordings.retention_days", &c.Recordings.RetentionDays, 180)
	num("storage.min_free_mb", &c.Storage.MinFreeMB, 1024)

	dur("shutdown.grace", &c.Shutdown.Grace, 60*time.Second)
	callbackDefaults(c, absent)
	return problems
}
