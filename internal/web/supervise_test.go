package web

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/call"
)

type fakeSupervisor struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSupervisor) Monitor(_ context.Context, id, manager, seat, mode string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "NOPE" {
		return "", call.ErrNotLive
	}
	f.calls = append(f.calls, strings.Join([]string{"monitor", id, manager, seat, mode}, " "))
	return call.MonitorRinging, nil
}

func (f *fakeSupervisor) Stop(id, manager string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+id+" "+manager)
	return nil
}

func TestMonitorRoute(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	ctx := context.Background()
	if err := le.users.AddUser(ctx, auth.User{Name: "chief", Role: auth.RoleManager, SeatID: "8009"}, "chief-password", false); err != nil {
		t.Fatal(err)
	}
	op, boss, chief := le.login(t, "op"), le.login(t, "boss"), le.login(t, "chief")
	const path = "/api/calls/T1/monitor"
	if code, b := le.do(t, "POST", path, chief, `{"mode":"listen"}`); code != 503 {
		t.Fatalf("before SetSupervision: %d %s", code, b)
	}
	sup := &fakeSupervisor{}
	le.h.SetSupervision(SupervisionOptions{Supervisor: sup, ManagerSeats: map[string]bool{"8009": true}})
	for _, c := range []struct {
		token, method, path, body string
		code                      int
	}{
		{op, "POST", path, `{"mode":"listen"}`, 403},
		{op, "DELETE", path, ``, 403},
		{boss, "POST", path, `{"mode":"listen"}`, 409}, // no manager phone
		{chief, "POST", path, `{"mode":"spy"}`, 400},
		{chief, "POST", path, `{"mode":"listen","x":1}`, 400},
		{chief, "POST", path, `not json`, 400},
		{chief, "POST", "/api/calls/NOPE/monitor", `{"mode":"listen"}`, 404},
		{chief, "POST", path, `{"mode":"whisper"}`, 200},
		{chief, "POST", path, `{"mode":"off"}`, 200},
		{chief, "DELETE", path, ``, 200},
	} {
		code, b := le.do(t, c.method, c.path, c.token, c.body)
		if code != c.code {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, b, c.code)
		}
	}
	want := []string{"monitor T1 chief 8009 whisper", "stop T1 chief", "stop T1 chief"}
	if strings.Join(sup.calls, "|") != strings.Join(want, "|") {
		t.Errorf("supervisor calls %q, want %q", sup.calls, want)
	}
	for _, action := range []string{"call.monitor.whisper", "call.monitor.off"} {
		objs, err := le.users.AuditObjects(ctx, "chief", action, 10)
		if err != nil || len(objs) == 0 || objs[0] != "T1" {
			t.Errorf("audit %s: %v %v", action, objs, err)
		}
	}
	if objs, _ := le.users.AuditObjects(ctx, "boss", "call.monitor.listen", 10); len(objs) != 0 {
		t.Errorf("a refused request was audited: %v", objs)
	}
}

// The notice goes to managers and to the supervised operator's seat only,
// and not to the operator when notify_operator is off.
func TestMonitorEventToOperatorAndManagers(t *testing.T) {
	le := newLiveEnv(t, HubOptions{})
	op, op2, boss := le.stream(t, le.login(t, "op")), le.stream(t, le.login(t, "op2")), le.stream(t, le.login(t, "boss"))
	n := call.MonitorNotice{TicketID: "T1", Seat: "8001", Manager: "chief", ManagerSeat: "8009", Mode: "listen", State: "active", At: time.Now()}
	le.hub.Monitor(n, true)
	for _, s := range []*sseStream{op, boss} {
		ev := s.next(t, EventMonitor, 2*time.Second)
		if !strings.Contains(ev.Data, `"mode":"listen"`) || !strings.Contains(ev.Data, `"seat":"8001"`) {
			t.Errorf("monitor event %s", ev.Data)
		}
	}
	op2.none(t, EventMonitor, 200*time.Millisecond)
	// A console that connects during the session gets it at once.
	again := le.stream(t, le.login(t, "op"))
	if ev := again.next(t, EventMonitor, 2*time.Second); !strings.Contains(ev.Data, `"state":"active"`) {
		t.Errorf("snapshot %s", ev.Data)
	}
	n.Mode = "whisper"
	le.hub.Monitor(n, false)
	boss.next(t, EventMonitor, 2*time.Second)
	op.none(t, EventMonitor, 200*time.Millisecond)
	n.State, n.Mode = "ended", "off"
	le.hub.Monitor(n, true)
	boss.next(t, EventMonitor, 2*time.Second)
	late := le.stream(t, le.login(t, "boss"))
	late.none(t, EventMonitor, 200*time.Millisecond)
}
