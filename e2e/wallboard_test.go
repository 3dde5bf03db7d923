package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12348/hotline/internal/siptest"
)

// The wallboard as a shift manager reads it (issue 11, "wallboard
// honesty"), in headless Chromium against the real binary, real SIPp
// phones and a real work-order receiver that refuses every push:
//   - one call answered at once and one abandoned in the queue: the
//     service level is 50 %, green because acd.target_service_level is 0.5
//     here (red under the default 0.8), "目标 ≥ 50%" under it;
//   - the abandon rate beside the count: 1 of 2 (none short) = 50.0%;
//   - the refused pushes are dead letters shown in Chinese with the
//     receiver's own reply, and "全部重新推送" queues them again;
//   - no banner while workorder.url is set; on a hotline without it the
//     banner says the push is not configured;
//   - the staffing advice is drawn on a labelled seats axis and the note
//     names its reference day (last week's calls, seeded); without any
//     history the note says why there is no advice;
//   - errors are shown in Chinese.
func TestWallboardHonesty(t *testing.T) {
	t.Parallel()
	br := siptest.StartBrowser(t)
	var pushes atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		pushes.Add(1)
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"error":"字段 category 不被接受"}`))
	}))
	t.Cleanup(receiver.Close)
	h := siptest.StartHotline(t, siptest.Config{
		ACD:   []string{"ring_timeout: 20s", "wrap_up: 2s", "target_service_level: 0.5"},
		Extra: fmt.Sprintf("workorder:\n  url: %s/orders\n  secret: wo-secret\n  timeout: 1s\n", receiver.URL),
	})
	h.Login(t)
	addUser(t, h, "boss", "manager", "", "boss-password-1")

	// A call answered within a second, then a caller who gives up in the
	// queue after 8 s (the operator has gone on a break).
	seat := siptest.RegisterSeat(t, h, "8001")
	seatVoice(t, seat, 20*time.Second)
	seatRun := seat.Run(t, "seat_answer.xml", 60*time.Second, "ring_ms", "300", "talk_ms", "1000", "hangup", "caller", "pt", "0", "codec", "PCMU")
	expectSIPpOK(t, caller(t, h, "13700000001", '1', 12*time.Second).Wait(t))
	expectSIPpOK(t, seatRun.Wait(t))
	answered := closedTicket(t, h, "13700000001")
	if answered.AnsweredAt == nil {
		t.Fatalf("first call not answered: %+v", answered)
	}
	if code, b := h.API(t, "POST", "/api/seats/8001/state", `{"state":"not_ready","reason":"break"}`); code != 200 {
		t.Fatalf("seat not ready: %d %s", code, b)
	}
	expectSIPpOK(t, caller(t, h, "13700000002", '1', 8*time.Second).Wait(t))
	if ab := closedTicket(t, h, "13700000002"); str(ab.Outcome) != "abandoned" {
		t.Fatalf("second call: outcome %s, want abandoned", str(ab.Outcome))
	}

	// Last week's calls, as the database holds them (written with the
	// sqlite3 CLI: a week of real calls would not fit in a test): 60
	// answered calls, one every 8 min around this time of day a week ago,
	// so that the staffing plan has a reference day.
	base := time.Now().AddDate(0, 0, -7).Add(-4 * time.Hour).UnixMilli()
	seed := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 59)
INSERT INTO tickets(id, call_id, caller, called, channel, category, priority, status, outcome, abandon_stage, node_id,
  opened_at, queued_at, answered_at, ended_at, wait_seconds, talk_seconds, revision)
SELECT printf('hist-%%03d', i), printf('hist-call-%%d', i), '13900000000', '12348', 'hotline', 'consult', 'normal', 'closed',
  'answered', '', 'test-1', %[1]d + i*480000, %[1]d + i*480000 + 5000, %[1]d + i*480000 + 10000, %[1]d + i*480000 + 250000, 5, 240, 1 FROM n`, base)
	if out, err := exec.Command(siptest.RequireTool(t, "sqlite3"), filepath.Join(h.Dir, "data", "hotline.db"), seed).CombinedOutput(); err != nil {
		t.Fatalf("seeding last week: %v %s", err, out)
	}

	board := br.NewPage(t, "wallboard", 1366, 900)
	consoleLogin(t, h, board, "boss", "boss-password-1", "board-view")
	board.WaitFor("today's two calls", `document.getElementById("kpi-offered").textContent === "2"`, 20*time.Second)
	if got := board.Text("kpi-abandoned"); got != "1" {
		t.Errorf("abandoned %q, want 1", got)
	}
	if got := board.Text("kpi-abandon-rate"); got != "50.0%" {
		t.Errorf("abandon rate beside the count %q, want 50.0%%", got)
	}
	if got := board.Text("kpi-service-level"); got != "50.0%" {
		t.Errorf("service level %q, want 50.0%%", got)
	}
	if cls := siptest.Eval[string](board, `document.getElementById("kpi-service-level").className`); !strings.Contains(cls, "good") {
		t.Errorf("service level 50%% against a 0.5 target has class %q, want good (green)", cls)
	}
	if got := board.Text("kpi-sl-target"); got != "目标 ≥ 50%" {
		t.Errorf("target under the service level %q", got)
	}
	if got := board.Text("kpi-answered-sub"); got != "" {
		t.Errorf("under 接通 %q with no call in progress, want nothing", got)
	}
	if v := siptest.Eval[bool](board, `!document.getElementById("wo-banner").hidden`); v {
		t.Error("the not-configured banner is shown while workorder.url is set")
	}
	// The staffing advice on its own labelled seats axis, and what it is based on.
	board.WaitFor("the staffing note", `document.getElementById("staffing-note").textContent.length > 0`, 10*time.Second)
	var plan struct {
		ReferenceDays []string `json:"reference_days"`
	}
	if code, b := h.API(t, "GET", "/api/stats/staffing", ""); code != 200 || json.Unmarshal(b, &plan) != nil || len(plan.ReferenceDays) != 1 {
		t.Fatalf("staffing: %d %s", code, b)
	}
	lastWeek := plan.ReferenceDays[0] // the hotline's calendar, not the test machine's
	if got := board.Text("staffing-note"); !strings.HasPrefix(got, "参考日："+lastWeek) || !strings.Contains(got, "只有 1 天可参考") || !strings.Contains(got, "Erlang C") {
		t.Errorf("staffing note %q, want the reference day %s, that it is the only one, and how seats are computed", got, lastWeek)
	}
	if axis := siptest.Eval[string](board, `(document.querySelector("#chart .seat-axis")||{}).textContent || ""`); !strings.Contains(axis, "坐席（席）") || !strings.Contains(axis, "已配置 4 席") {
		t.Errorf("seats axis %q: want its title and the configured seats", axis)
	}
	if !siptest.Eval[bool](board, `!!document.querySelector("#chart polyline.staff-line")`) {
		t.Error("no staffing line on the chart")
	}

	// Dead letters: both tickets' pushes were refused with 422.
	board.Do(chromedp.Click(chromedp.ID("tab-dead")))
	board.WaitFor("two dead letters", `document.querySelectorAll("#dead-table tbody tr").length === 2`, 30*time.Second)
	errText := siptest.Eval[string](board, `document.querySelector("#dead-table tbody td.err").textContent`)
	if errText != `工单系统拒收（HTTP 422），对方答复：{"error":"字段 category 不被接受"}` {
		t.Errorf("dead letter reason %q, want it in Chinese with the receiver's reply", errText)
	}
	board.Screenshot("console-wallboard.png")
	before := pushes.Load()
	board.Do(chromedp.Click(chromedp.ID("dead-all")))
	board.WaitFor("全部重新推送 done", `document.getElementById("dead-msg").textContent.startsWith("已重新排队 2 张工单")`, 10*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for pushes.Load() < before+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pushes.Load() < before+2 {
		t.Errorf("after 全部重新推送 the receiver got %d more pushes, want 2", pushes.Load()-before)
	}
	n := 0
	for _, l := range auditLines(t, h) {
		if strings.HasPrefix(l, "boss|workorder.redeliver_all|tickets=2 revisions=") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("audit lines of redeliver_all: %d, want 1: %q", n, auditLines(t, h))
	}

	// Errors in Chinese: the server's English never reaches the screen.
	for expr, want := range map[string]string{
		`HotlineErrors.zh(403, {error: "for managers"})`:                            "仅值班长可执行此操作",
		`HotlineErrors.zh(409, {error: "agent: seat is busy"})`:                     "坐席当前状态不允许此操作",
		`HotlineErrors.zh(500, {error: "something new"})`:                           "服务器内部错误（错误 500）",
		`HotlineErrors.zh(500, {error: "x", code: "redeliver_failed"})`:             "重新推送失败：读取推送失败列表出错",
		`HotlineErrors.workorderError("timeout")`:                                   "工单系统超时未答复",
		`HotlineErrors.workorderError("receiver answered 503 Service Unavailable")`: "工单系统拒收（HTTP 503），对方未说明原因",
	} {
		if got := siptest.Eval[string](board, expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	// A hotline without workorder.url: the banner.
	h2 := siptest.StartHotline(t, siptest.Config{})
	h2.Login(t)
	addUser(t, h2, "boss", "manager", "", "boss-password-1")
	board2 := br.NewPage(t, "wallboard-no-push", 1366, 768)
	consoleLogin(t, h2, board2, "boss", "boss-password-1", "board-view")
	board2.WaitFor("the not-configured banner", `!document.getElementById("wo-banner").hidden`, 10*time.Second)
	if got := board2.Text("wo-banner"); !strings.Contains(got, "workorder.url") || !strings.Contains(got, "不会推送") {
		t.Errorf("banner %q", got)
	}
	// No history at all: the note says why there is no advice.
	board2.WaitFor("the staffing note", `document.getElementById("staffing-note").textContent.length > 0`, 10*time.Second)
	if got := board2.Text("staffing-note"); !strings.HasPrefix(got, "暂无建议坐席数") || !strings.Contains(got, "还没有可参考的历史") {
		t.Errorf("staffing note without history %q", got)
	}
	if siptest.Eval[bool](board2, `!!document.querySelector("#chart .seat-axis")`) {
		t.Error("a seats axis without any advice")
	}
}
