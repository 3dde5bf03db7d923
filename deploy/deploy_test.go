// Package deploy holds the files to run the hotline as a cluster with a
// container engine (compose.yaml, Prometheus and Grafana provisioning).
// This machine has no Docker engine, so the test checks what can be checked
// without one: the files parse, and they agree with each other and with
// the repository (mounted files exist, addresses line up, the nodes differ).
package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Networks    map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"networks"`
	} `yaml:"services"`
}

func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil { // anchors and merge keys resolved
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range []string{"redis", "node-a", "node-b", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	ids, ips := map[string]bool{}, map[string]bool{}
	var targets []string
	for _, name := range []string{"node-a", "node-b"} {
		s := c.Services[name]
		env := s.Environment
		if env["NODE_ID"] == "" || ids[env["NODE_ID"]] {
			t.Errorf("%s: NODE_ID %q empty or repeated", name, env["NODE_ID"])
		}
		ids[env["NODE_ID"]] = true
		if env["NODE_IP"] != s.Networks["hotline"].IPv4 || ips[env["NODE_IP"]] {
			t.Errorf("%s: NODE_IP %q is not its own network address %q", name, env["NODE_IP"], s.Networks["hotline"].IPv4)
		}
		ips[env["NODE_IP"]] = true
		targets = append(targets, env["NODE_IP"]+":8080")
		if !strings.Contains(env["REDIS_URL"], c.Services["redis"].Networks["hotline"].IPv4) {
			t.Errorf("%s: REDIS_URL %q is not the redis service", name, env["REDIS_URL"])
		}
		if env["CLUSTER_SECRET"] == "" || !slices.Contains(s.Command, "/etc/hotline/node.yaml") {
			t.Errorf("%s: secret %q, command %v", name, env["CLUSTER_SECRET"], s.Command)
		}
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.FromSlash(src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	prom, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if !strings.Contains(string(prom), tg) {
			t.Errorf("prometheus.yml does not scrape %s", tg)
		}
	}
	ds, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), c.Services["prometheus"].Networks["hotline"].IPv4+":9090") {
		t.Errorf("the Grafana datasource is not the prometheus service")
	}
}
