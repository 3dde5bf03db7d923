package stats_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// promtool parses PromQL for real (Debian package "prometheus"; the test
// command installs it). A missing promtool fails the test: a rules file
// nobody parsed must not pass.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed: it comes with the Debian package \"prometheus\" (scripts/test.sh installs it: apt-get install --no-install-recommends prometheus)")
	}
	return p
}

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Record        string            `yaml:"record"`
			Alert         string            `yaml:"alert"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// exprChecker checks what promtool cannot: that an expression names only
// metrics this hotline exposes (or rules define), with their real labels
// and label values.
type exprChecker struct {
	fams    map[string]*dto.MetricFamily
	records map[string]bool
}

var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selectorRe  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}`)
	matcherRe   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	groupingRe  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	hotlineName = regexp.MustCompile(`\bhotline[a-zA-Z0-9_:]*`)
)

// series resolves a series name: its family and whether "le" is a label.
func (c exprChecker) series(name string) (*dto.MetricFamily, bool, bool) {
	if f := c.fams[name]; f != nil {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			return nil, false, false // a histogram is only queried through _bucket, _sum, _count
		}
		return f, false, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f := c.fams[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
				return f, suf == "_bucket", true
			}
		}
	}
	return nil, false, false
}

func (c exprChecker) check(expr string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	// Labels Prometheus adds to every scraped series.
	known := map[string]bool{"job": true, "instance": true}
	for _, name := range hotlineName.FindAllString(stringLit.ReplaceAllString(expr, `""`), -1) {
		if c.records[name] {
			continue
		}
		f, le, ok := c.series(name)
		if !ok {
			bad("%s: no such series on /metrics (nor a recording rule)", name)
			continue
		}
		for k := range labelValues(f) {
			if k != "le" || le {
				known[k] = true
			}
		}
	}
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		if c.records[name] || !strings.HasPrefix(name, "hotline") {
			continue
		}
		f, le, ok := c.series(name)
		if !ok {
			continue // reported above
		}
		values := labelValues(f)
		for _, mm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			label, op, v := mm[1], mm[2], mm[3]
			if label == "job" || label == "instance" {
				continue
			}
			if label == "le" && !le {
				bad("%s: le on a series that has no buckets", name)
				continue
			}
			vs, has := values[label]
			if !has {
				bad("%s has no label %q", name, label)
				continue
			}
			if strings.Contains(v, "$") {
				continue // a dashboard variable
			}
			switch op {
			case "=", "!=":
				if !vs[v] {
					bad("%s{%s%s%q}: %s never takes that value (values: %v)", name, label, op, v, label, keys(vs))
				}
			default:
				re, err := regexp.Compile("^(?:" + v + ")$")
				if err != nil {
					bad("%s{%s%s%q}: %v", name, label, op, v, err)
					continue
				}
				matched := false
				for x := range vs {
					matched = matched || re.MatchString(x)
				}
				if !matched {
					bad("%s{%s%s%q}: matches no value of %s (%v)", name, label, op, v, label, keys(vs))
				}
			}
		}
	}
	for _, g := range groupingRe.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(g[2], ",") {
			if l = strings.TrimSpace(l); l != "" && !known[l] {
				bad("%s (%s): no series of this expression has label %q", g[1], g[2], l)
			}
		}
	}
	return problems
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func strictYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// configs/prometheus/hotline-rules.yml: promtool parses it and runs its unit
// tests (hotline-rules.test.yml); every rule has the expected shape; every
// expression names series the app exposes, with their real labels.
func TestPrometheusRules(t *testing.T) {
	dir := filepath.Join(repoRoot(), "configs", "prometheus")
	promtool(t, dir, "check", "rules", "hotline-rules.yml")
	promtool(t, dir, "test", "rules", "hotline-rules.test.yml")

	var rf ruleFile
	strictYAML(t, filepath.Join(dir, "hotline-rules.yml"), &rf)
	c := exprChecker{fams: scrapeApp(t), records: map[string]bool{}}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				c.records[r.Record] = true
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			if (r.Record == "") == (r.Alert == "") || r.Expr == "" {
				t.Errorf("group %s: a rule must be a record or an alert, with an expr: %+v", g.Name, r)
			}
			if r.Alert != "" {
				if alerts[r.Alert] {
					t.Errorf("alert %s defined twice", r.Alert)
				}
				alerts[r.Alert] = true
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("alert %s: needs a summary and a description", r.Alert)
				}
			}
			for _, p := range c.check(r.Expr) {
				t.Errorf("%s: %s", name, p)
			}
		}
	}
	for _, a := range []string{"HotlineAnswerRateLow", "HotlineServiceLevelLow", "HotlineOutboxBacklogGrowing",
		"HotlineWorkorderDeadLetter", "HotlineNoSeatLoggedIn", "HotlineRedisDown", "HotlineNodeDead"} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
}

// configs/grafana/hotline-dashboard.json: valid JSON with a Prometheus
// datasource variable; every panel's expression parses (promtool, through
// a generated rules file) and names series the app exposes.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "configs", "grafana", "hotline-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		ID      int                      `json:"id"`
		Type    string                   `json:"type"`
		Title   string                   `json:"title"`
		Targets []target                 `json:"targets"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	}
	var d struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasDS {
		t.Errorf("no Prometheus datasource variable (templating: name datasource, type datasource, query prometheus)")
	}

	// Grafana's variables, as Grafana would expand them.
	expand := strings.NewReplacer("$__rate_interval", "2m", "$__interval", "1m", "$__range", "1h", "$instance", ".*")
	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var recs []rec
	c := exprChecker{fams: scrapeApp(t), records: map[string]bool{}}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q %s: datasource %q, want the ${datasource} variable", p.Title, tg.RefID, tg.Datasource.UID)
			}
			if refs[tg.RefID] || tg.Expr == "" {
				t.Errorf("panel %q: refId %q repeated or empty expr", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			e := expand.Replace(tg.Expr)
			if strings.Contains(e, "$") {
				t.Errorf("panel %q %s: unknown variable in %s", p.Title, tg.RefID, tg.Expr)
			}
			recs = append(recs, rec{Record: fmt.Sprintf("dashboard:panel%d_%s", p.ID, tg.RefID), Expr: e})
			for _, prob := range c.check(e) {
				t.Errorf("panel %q %s: %s", p.Title, tg.RefID, prob)
			}
			for _, n := range hotlineName.FindAllString(e, -1) {
				used[n] = true
			}
		}
	}
	// What the issue asks the dashboard to show.
	for _, m := range []string{"hotline_calls_answered_total", "hotline_queue_wait_seconds_bucket", "hotline_queue_waiting",
		"hotline_seats", "hotline_handle_seconds_bucket", "hotline_satisfaction_total", "hotline_workorder_outbox_pending",
		"hotline_workorder_outbox_dead", "hotline_rtp_packets_total", "hotline_active_calls",
		"hotline_cluster_nodes", "hotline_redis_up", "hotline_acd_claims_total"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	// promtool parses every expression: as recording rules of a scratch file.
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": recs}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboard-rules.yml")
}
