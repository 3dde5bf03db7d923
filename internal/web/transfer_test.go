package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

type fakeTransfers struct {
	live map[string]string // ticket → seat
	got  []string
	err  error
}

func (f *fakeTransfers) Operator(id string) (string, bool) { s, ok := f.live[id]; return s, ok }
func (f *fakeTransfers) Targets() []TransferTargetView {
	return []TransferTargetView{{Name: "法律援助中心", Kind: "number"}, {Name: "人民调解", Kind: "queue"}}
}
func (f *fakeTransfers) Request(_ context.Context, id, op, target, mode, by string) error {
	f.got = append(f.got, strings.Join([]string{id, op, target, mode, by}, "|"))
	return f.err
}

// Only the operator of the call or a manager may transfer it; the body is
// checked; the call layer's refusal reaches the client with its status.
func TestTransferAPIAuthorization(t *testing.T) {
	e := newEnv(t)
	f := &fakeTransfers{live: map[string]string{"T1": "8001", "T2": "8002"}}
	e.h.opt.Transfers = f
	op, boss := e.login(t, "op"), e.login(t, "boss")
	body := `{"target":"法律援助中心","mode":"blind"}`
	cases := []struct {
		tok, path, body string
		want            int
	}{
		{"", "/api/calls/T1/transfer", body, 401},
		{op, "/api/calls/T1/transfer", body, 202},
		{op, "/api/calls/T2/transfer", body, 403}, // another operator's call
		{boss, "/api/calls/T2/transfer", body, 202},
		{op, "/api/calls/T9/transfer", body, 404}, // no live call
		{op, "/api/calls/T1/transfer", `{"target":"x","mode":"blind","extra":1}`, 400},
		{op, "/api/calls/T1/transfer", `nonsense`, 400},
		{op, "/api/calls/T1/transfer/complete", ``, 202},
		{op, "/api/calls/T2/transfer/cancel", ``, 403},
	}
	for _, c := range cases {
		if code, b := e.do(t, "POST", c.path, c.tok, c.body); code != c.want {
			t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, code, b, c.want)
		}
	}
	want := []string{"T1|transfer|法律援助中心|blind|8001", "T2|transfer|法律援助中心|blind|boss", "T1|complete|||8001"}
	if strings.Join(f.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests reaching the call layer:\n%s\nwant:\n%s", strings.Join(f.got, "\n"), strings.Join(want, "\n"))
	}
	f.err = &TransferError{Code: http.StatusForbidden, Msg: "转接目标不在配置的转接目标（transfer.targets）中"}
	if code, b := e.do(t, "POST", "/api/calls/T1/transfer", op, `{"target":"110","mode":"blind"}`); code != 403 || !strings.Contains(string(b), "transfer.targets") {
		t.Errorf("refused target: %d %s", code, b)
	}
	if code, b := e.do(t, "GET", "/api/transfer/targets", op, ""); code != 200 || !strings.Contains(string(b), `{"name":"人民调解","kind":"queue"}`) {
		t.Errorf("targets: %d %s", code, b)
	}
	e.h.opt.Transfers = nil
	if code, _ := e.do(t, "POST", "/api/calls/T1/transfer", op, body); code != 503 {
		t.Errorf("without transfers: %d, want 503", code)
	}
}
