package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestStringMasksSecrets(t *testing.T) {
	const doc = `
acd: {backend: redis, redis_url: "redis://:redispw@127.0.0.1:6379/0"}
cluster: {advertise_sip: "sip:10.0.0.11:5060", advertise_http: "http://10.0.0.11:8080", secret: "clustersecret-0123"}
seats: [{id: "8001", password: "seatpw", skills: [consult]}]
workorder: {url: "https://bot:urlpw@wo.example/api", secret: "hmacpw", feedback_secret: "feedback-key-0123"}
`
	c, err := Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	out := c.String()
	for _, secret := range []string{"redispw", "seatpw", "urlpw", "hmacpw", "feedback-key-0123", "clustersecret-0123"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed config contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"password: '********'", "secret: '********'", "redis://:********@127.0.0.1:6379/0", "https://bot:********@wo.example/api", "ring_timeout: 15s", "session_ttl: 12h"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed config lacks %q:\n%s", want, out)
		}
	}
	if c.Seats[0].Password != "seatpw" || c.Workorder.Secret != "hmacpw" {
		t.Error("MaskedSecrets changed the original")
	}
}

// What String prints loads back to the same configuration (secrets masked).
func TestStringRoundTrips(t *testing.T) {
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]byte(c.String()), noEnv)
	if err != nil {
		t.Fatalf("printed config does not load:\n%v\n%s", err, c.String())
	}
	want := c.MaskedSecrets()
	want.Defaulted = nil
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
	}
}
