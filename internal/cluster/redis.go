package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig says where the shared state lives: one URL (redis:// or
// rediss://, password allowed) or a Sentinel-managed master.
type RedisConfig struct {
	URL string
	// Sentinel, when Master is set, is used instead of URL.
	Sentinel SentinelConfig
}

// SentinelConfig is acd.redis_sentinel.
type SentinelConfig struct {
	Master   string
	Addrs    []string
	Password string // the master's (and replicas') password
	// SentinelPassword is the sentinels' own password, if they have one.
	SentinelPassword string
	DB               int
}

// Timeouts: a step of the ACD must fail fast when Redis is gone, so that a
// caller is sent to voicemail in about a second, not after go-redis's
// default retries.
const (
	dialTimeout = 500 * time.Millisecond
	ioTimeout   = time.Second
)

// quietRedis silences go-redis's own logger (a package global that prints
// every failed dial to stderr): this package says once, on its own logger,
// when Redis goes away and when it is back.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// NewClient connects to Redis as configured. It does not wait for Redis to
// answer: a node starts (degraded) while Redis is down and connects later.
func NewClient(c RedisConfig) (redis.UniversalClient, error) {
	quietOnce.Do(func() { redis.SetLogger(quietRedis{}) })
	if c.Sentinel.Master != "" {
		if len(c.Sentinel.Addrs) == 0 {
			return nil, errors.New("cluster: acd.redis_sentinel.addrs: empty")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       c.Sentinel.Master,
			SentinelAddrs:    c.Sentinel.Addrs,
			Password:         c.Sentinel.Password,
			SentinelPassword: c.Sentinel.SentinelPassword,
			DB:               c.Sentinel.DB,
			DialTimeout:      dialTimeout,
			ReadTimeout:      ioTimeout,
			WriteTimeout:     ioTimeout,
			MaxRetries:       1,
			PoolSize:         32,
		}), nil
	}
	if c.URL == "" {
		return nil, errors.New("cluster: acd.redis_url is empty (or set acd.redis_sentinel)")
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("cluster: acd.redis_url: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
	opt.MaxRetries = 1
	if opt.PoolSize == 0 {
		opt.PoolSize = 32
	}
	if strings.HasPrefix(c.URL, "rediss://") && opt.TLSConfig == nil {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(opt), nil
}

// unreachable reports whether err means Redis could not be reached or
// did not answer (as opposed to an answer that is an error).
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		// Answers that are errors from a Redis that is there but cannot
		// serve: loading, a replica promoted mid-flight, a master gone.
		msg := re.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "READONLY") ||
			strings.HasPrefix(msg, "MASTERDOWN") || strings.HasPrefix(msg, "TRYAGAIN") ||
			strings.HasPrefix(msg, "CLUSTERDOWN") || strings.HasPrefix(msg, "NOREPLICAS")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "no such host") || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "all sentinels are unreachable") ||
		strings.Contains(err.Error(), "pool timeout")
}
