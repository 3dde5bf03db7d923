package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
//   - the staffing note explains why there is no advice yet (no history);
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
	board.WaitFor("the staffing note", `document.getElementById("staffing-note").textContent.length > 0`, 10*time.Second)
	if got := board.Text("staffing-note"); !strings.HasPrefix(got, "暂无建议坐席数") || !strings.Contains(got, "Erlang C") {
		t.Errorf("staffing note %q, want why it is empty and how it is computed", got)
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
}
