package config

import (
	"strings"
	"testing"
)

func TestTransferValidation(t *testing.T) {
	seats := "seats: [{id: \"8001\", password: p, skills: [consult]}, {id: \"8006\", password: p, skills: [mediation]}]\n"
	tests := []struct {
		name, yaml string
		want       []string // "path: text", in order
	}{
		{"ok", `transfer: {trunk: "sip:127.0.0.1:5080", caller_id: "12348", targets: [{name: 法律援助中心, number: "12348001"}, {name: 人民调解, queue: mediation}, {name: 值班律师, seat: "8006"}]}`, nil},
		{"none", `transfer: {}`, nil},
		{"trunk", `transfer: {trunk: "127.0.0.1:5080"}`, []string{`transfer.trunk: "127.0.0.1:5080": want sip:host:port`}},
		{"trunk with user", `transfer: {trunk: "sip:sbc@127.0.0.1:5080"}`, []string{`transfer.trunk: "sip:sbc@127.0.0.1:5080": no user part`}},
		{"caller id", `transfer: {caller_id: "+12348"}`, []string{`transfer.caller_id: "+12348": digits only`}},
		{"number without trunk or caller id", `transfer: {targets: [{name: a, number: "110"}, {name: b, number: "120"}]}`, []string{
			"transfer.targets[0].number: an outside number needs transfer.trunk",
			"transfer.caller_id: must be set when a target is an outside number (transfer.targets[0])",
			"transfer.targets[1].number: an outside number needs transfer.trunk"}},
		{"bad number", `transfer: {trunk: "sip:127.0.0.1:5080", caller_id: "12348", targets: [{name: a, number: "12-34"}]}`, []string{`transfer.targets[0].number: "12-34": digits only`}},
		{"two kinds", `transfer: {targets: [{name: a, queue: mediation, seat: "8001"}]}`, []string{"transfer.targets[0]: give exactly one of number, queue or seat"}},
		{"no kind", `transfer: {targets: [{name: a}]}`, []string{"transfer.targets[0]: give exactly one of number, queue or seat"}},
		{"no name, same name", `transfer: {targets: [{queue: mediation}, {name: b, queue: consult}, {name: b, seat: "8001"}]}`, []string{
			"transfer.targets[0].name: must not be empty", `transfer.targets[2].name: "b": same as transfer.targets[1]`}},
		{"unknown queue and seat", `transfer: {targets: [{name: a, queue: divorce}, {name: b, seat: "9999"}]}`, []string{
			`transfer.targets[0].queue: unknown skill "divorce"`, `transfer.targets[1].seat: "9999" is not a seat in seats`}},
		{"unknown key", `transfer: {targets: [{name: a, phone: "110"}]}`, []string{"transfer.targets[0].phone: unknown key", "transfer.targets[0]: give exactly one of number, queue or seat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("node_id: test\n"+seats+tt.yaml), noEnv)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")[1:]
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				path, text, _ := strings.Cut(w, ": ")
				if !strings.HasPrefix(lines[i], path+": ") || !strings.Contains(lines[i], text) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

// The shipped configuration has transfer targets and passes as is.
func TestShippedTransferTargets(t *testing.T) {
	c, err := Load("../../configs/hotline.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Transfer.Trunk == "" || c.Transfer.CallerID != "12348" || len(c.Transfer.Targets) != 3 {
		t.Fatalf("transfer %+v", c.Transfer)
	}
	kinds := ""
	for _, x := range c.Transfer.Targets {
		kinds += x.Kind() + " "
	}
	if kinds != "number queue seat " {
		t.Errorf("target kinds %q", kinds)
	}
	if x, ok := c.Transfer.Target("值班律师"); !ok || x.Seat != "8006" {
		t.Errorf("值班律师 = %+v %v", x, ok)
	}
}
