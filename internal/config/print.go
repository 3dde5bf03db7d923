package config

import (
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// masked replaces a secret in printed configuration.
const masked = "********"

// MaskedSecrets returns a copy of c safe to print or log: seat passwords,
// the work-order secrets and passwords inside URLs (acd.redis_url,
// workorder.url) are masked. An empty secret stays empty, so that "not set"
// remains visible.
func (c *Config) MaskedSecrets() *Config {
	m := *c
	m.Seats = slices.Clone(c.Seats)
	for i := range m.Seats {
		m.Seats[i].Password = mask(m.Seats[i].Password)
	}
	m.Workorder.Secret = mask(m.Workorder.Secret)
	m.Workorder.FeedbackSecret = mask(m.Workorder.FeedbackSecret)
	m.Workorder.URL = redactURL(m.Workorder.URL)
	m.ACD.RedisURL = redactURL(m.ACD.RedisURL)
	m.ACD.RedisSentinel.Password = mask(m.ACD.RedisSentinel.Password)
	m.Cluster.Secret = mask(m.Cluster.Secret)
	return &m
}

// String is the effective configuration as YAML with secrets masked
// (hotline check-config --print).
func (c *Config) String() string {
	b, err := yaml.Marshal(c.MaskedSecrets())
	if err != nil {
		return "config: " + err.Error()
	}
	return string(b)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

// redactURL masks the password of a URL; a string that does not parse is
// masked whole, since it may be all secret.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	// URL encoding would turn "*" into %2A: put a placeholder of letters
	// in, and the mask in the printed text.
	const placeholder = "MASKEDSECRET"
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), placeholder)
		changed = true
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", placeholder)
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return s
	}
	return strings.ReplaceAll(u.String(), placeholder, masked)
}

// RedactURL masks the password of a URL (for messages outside this package).
func RedactURL(s string) string { return redactURL(s) }
