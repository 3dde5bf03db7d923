package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/config"
)

// CheckCluster checks the configurations of the nodes of one cluster
// against each other (hotline check-config --config a.yaml --config b.yaml):
// what must differ (node_id, advertised addresses) and what must be the same
// (Redis, secret, domain, seats, the ACD's rules, the time zone). Each
// problem names the files and the key.
func CheckCluster(cfgs []*config.Config, paths []string) []string {
	if len(cfgs) < 2 {
		return nil
	}
	var out []string
	name := func(i int) string {
		if paths[i] == "" {
			return "built-in"
		}
		return paths[i]
	}
	differ := func(key string, get func(*config.Config) string) {
		seen := map[string]int{}
		for i, c := range cfgs {
			v := get(c)
			if j, ok := seen[v]; ok && v != "" {
				out = append(out, fmt.Sprintf("%s and %s: %s %q is the same: it must differ on every node", name(j), name(i), key, v))
			}
			seen[v] = i
		}
	}
	same := func(key string, get func(*config.Config) string) {
		for i := 1; i < len(cfgs); i++ {
			if a, b := get(cfgs[0]), get(cfgs[i]); a != b {
				out = append(out, fmt.Sprintf("%s and %s: %s differs (%s / %s): it must be the same on every node", name(0), name(i), key, a, b))
			}
		}
	}
	masked := func(s string) string {
		if s == "" {
			return "empty"
		}
		return "set"
	}
	same("acd.backend", func(c *config.Config) string { return c.ACD.Backend })
	for i, c := range cfgs {
		if c.ACD.Backend != "redis" {
			out = append(out, fmt.Sprintf("%s: acd.backend %q: several nodes need redis (memory is one node alone)", name(i), c.ACD.Backend))
		}
	}
	differ("node_id", func(c *config.Config) string { return c.NodeID })
	differ("cluster.advertise_sip", func(c *config.Config) string { return c.Cluster.AdvertiseSIP })
	differ("cluster.advertise_http", func(c *config.Config) string { return c.Cluster.AdvertiseHTTP })
	same("acd.redis_url / acd.redis_sentinel", func(c *config.Config) string {
		s := c.ACD.RedisSentinel
		return config.RedactURL(c.ACD.RedisURL) + "|" + s.Master + "|" + strings.Join(s.Addrs, ",")
	})
	for i := 1; i < len(cfgs); i++ {
		if cfgs[i].Cluster.Secret != cfgs[0].Cluster.Secret {
			out = append(out, fmt.Sprintf("%s and %s: cluster.secret differs (%s / %s): it must be the same on every node",
				name(0), name(i), masked(cfgs[0].Cluster.Secret), masked(cfgs[i].Cluster.Secret)))
		}
	}
	for i := 1; i < len(cfgs); i++ {
		// Feedback reaches any node and is relayed, as it came, to the node
		// that keeps the ticket, which verifies it with its own key.
		if a, b := cfgs[0].Workorder.FeedbackKey(), cfgs[i].Workorder.FeedbackKey(); a != b {
			out = append(out, fmt.Sprintf("%s and %s: workorder.feedback_secret (else workorder.secret) differs (%s / %s): it must be the same on every node (feedback is verified by the node that keeps the ticket)",
				name(0), name(i), masked(a), masked(b)))
		}
	}
	same("sip.domain", func(c *config.Config) string { return c.SIP.Domain })
	same("timezone", func(c *config.Config) string { return c.Timezone })
	same("seats (ids and skills)", func(c *config.Config) string {
		var ids []string
		for _, s := range c.Seats {
			ids = append(ids, s.ID+":"+strings.Join(s.Skills, ","))
		}
		slices.Sort(ids)
		return strings.Join(ids, " ")
	})
	same("acd (ring_timeout, wrap_up, max_wait, skill_fallback, service_level_seconds, short_abandon_seconds)", func(c *config.Config) string {
		a := c.ACD
		return fmt.Sprint(a.RingTimeout.D(), a.WrapUp.D(), a.MaxWait.D(), a.SkillFallback.D(), a.ServiceLevelSeconds, a.ShortAbandonSeconds)
	})
	same("cluster.heartbeat / node_timeout", func(c *config.Config) string {
		return fmt.Sprint(c.Cluster.Heartbeat.D(), c.Cluster.NodeTimeout.D())
	})
	return out
}

// ProbeCluster asks Redis, when it answers within a second, whether each
// node's node_id is already used by a live node at another address (a
// mistake serve would refuse at start). It returns notes to print; Redis
// not answering is a note, not a failure (it may not be up yet).
func ProbeCluster(ctx context.Context, cfgs []*config.Config) []string {
	var notes []string
	for _, c := range cfgs {
		if c.ACD.Backend != "redis" {
			continue
		}
		rdb, err := RedisClient(c)
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		v, err := rdb.HMGet(pctx, "{hotline}:node:"+c.NodeID, "state", "sip", "http").Result()
		cancel()
		rdb.Close()
		if err != nil {
			notes = append(notes, fmt.Sprintf("note: %s: Redis did not answer (%v): node_id not checked against the running nodes", c.NodeID, err))
			continue
		}
		st, _ := v[0].(string)
		sip, _ := v[1].(string)
		http, _ := v[2].(string)
		switch {
		case st == "":
			notes = append(notes, fmt.Sprintf("note: node_id %s: not in the shared state yet (a new node)", c.NodeID))
		case st == "alive" && (sip != c.Cluster.AdvertiseSIP || http != c.Cluster.AdvertiseHTTP):
			notes = append(notes, fmt.Sprintf("warning: node_id %s is used by a live node at %s / %s: this node would be refused at start", c.NodeID, sip, http))
		default:
			notes = append(notes, fmt.Sprintf("note: node_id %s: known to the shared state (%s), same addresses: this node takes its place", c.NodeID, st))
		}
	}
	return notes
}
