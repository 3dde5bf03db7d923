package stats_test

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// specMetric is one metric of SPEC §10: its exact name, type and labels,
// and every label value the configuration knows, which must be present
// (at want, 0 unless said) on the very first scrape.
type specMetric struct {
	name   string
	typ    dto.MetricType
	labels []string
	values map[string][]string // label -> values known from the config
}

func cross(values map[string][]string) []map[string]string {
	out := []map[string]string{{}}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var next []map[string]string
		for _, base := range out {
			for _, v := range values[k] {
				m := map[string]string{k: v}
				for bk, bv := range base {
					m[bk] = bv
				}
				next = append(next, m)
			}
		}
		out = next
	}
	return out
}

func checkSpecMetrics(t *testing.T, fams map[string]*dto.MetricFamily, spec []specMetric, want func(name string, labels map[string]string) float64) {
	t.Helper()
	for _, sm := range spec {
		f := fams[sm.name]
		if f == nil {
			t.Errorf("%s: missing from the first /metrics scrape", sm.name)
			continue
		}
		if f.GetType() != sm.typ {
			t.Errorf("%s: type %v, want %v", sm.name, f.GetType(), sm.typ)
		}
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, sm.labels) { // the exposition sorts label names
				t.Errorf("%s: a series with labels %v, want exactly %v", sm.name, names, sm.labels)
				break
			}
		}
		for _, labels := range cross(sm.values) {
			got, ok := value(f, labels)
			if !ok {
				t.Errorf("%s%v: series missing on the first scrape", sm.name, labels)
				continue
			}
			if w := want(sm.name, labels); got != w {
				t.Errorf("%s%v = %v at start, want %v", sm.name, labels, got, w)
			}
		}
	}
}

// Every metric of SPEC §10 (the work-order ones are TestMetricsWorkorderPresent)
// exists with exactly its name, type and labels, and every label value the
// configuration knows is there from the first scrape at 0.
func TestMetricsSpec(t *testing.T) {
	fams := scrapeApp(t)
	stages := []string{"ivr", "queue", "ringing"}
	states := []string{"offline", "ready", "not_ready", "ringing", "busy", "wrap_up"}
	spec := []specMetric{
		{"hotline_calls_offered_total", dto.MetricType_COUNTER, []string{"queue"}, map[string][]string{"queue": categories}},
		{"hotline_calls_answered_total", dto.MetricType_COUNTER, []string{"queue"}, map[string][]string{"queue": categories}},
		{"hotline_calls_abandoned_total", dto.MetricType_COUNTER, []string{"queue", "stage"}, map[string][]string{"queue": categories, "stage": stages}},
		{"hotline_queue_wait_seconds", dto.MetricType_HISTOGRAM, []string{"outcome"}, map[string][]string{"outcome": {"answered", "abandoned", "voicemail"}}},
		{"hotline_queue_waiting", dto.MetricType_GAUGE, []string{"queue"}, map[string][]string{"queue": categories}},
		{"hotline_seats", dto.MetricType_GAUGE, []string{"state"}, map[string][]string{"state": states}},
		{"hotline_handle_seconds", dto.MetricType_HISTOGRAM, nil, nil},
		{"hotline_satisfaction_total", dto.MetricType_COUNTER, []string{"score"}, map[string][]string{"score": {"1", "2", "3"}}},
		{"hotline_active_calls", dto.MetricType_GAUGE, nil, nil},
		{"hotline_sip_requests_total", dto.MetricType_COUNTER, []string{"method"},
			map[string][]string{"method": {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE"}}},
	}
	checkSpecMetrics(t, fams, spec, func(name string, l map[string]string) float64 {
		if name == "hotline_seats" && l["state"] == "offline" {
			return float64(len(appSeats)) // nobody registered yet: every configured seat is offline
		}
		return 0
	})
	// The alert rules read the 5 s (short abandon) and 15 s (service level) buckets.
	le := labelValues(fams["hotline_queue_wait_seconds"])["le"]
	for _, b := range []string{"5", "15", "+Inf"} {
		if !le[b] {
			t.Errorf("hotline_queue_wait_seconds has no le=%q bucket (have %v)", b, le)
		}
	}
	// Caller numbers never in labels: no label named after them, no value
	// that looks like a phone number, on any hotline_ series.
	phone := regexp.MustCompile(`\d{7,}`)
	for name, f := range fams {
		if !strings.HasPrefix(name, "hotline_") {
			continue
		}
		for k, vs := range labelValues(f) {
			if k == "caller" || k == "from" || k == "number" || k == "called" {
				t.Errorf("%s has a %q label", name, k)
			}
			for v := range vs {
				if k != "le" && phone.MatchString(v) {
					t.Errorf("%s{%s=%q}: a phone-number-like label value", name, k, v)
				}
			}
		}
	}
}

// The work-order metrics of SPEC §10, added by the outbox work.
func TestMetricsWorkorderPresent(t *testing.T) {
	fams := scrapeApp(t)
	checkSpecMetrics(t, fams, []specMetric{
		{"hotline_workorder_deliveries_total", dto.MetricType_COUNTER, []string{"result"},
			map[string][]string{"result": {"delivered", "retry", "dead"}}},
		{"hotline_workorder_outbox_pending", dto.MetricType_GAUGE, nil, nil},
	}, func(string, map[string]string) float64 { return 0 })
}
