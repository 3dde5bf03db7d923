// 12348 console: the callback worklist (回访). Loaded after app.js, which
// hands over what it shares through window.hotlineConsole; app.js calls
// window.hotlineCallbacks.load() for the desk's list, .stats() with the
// wallboard's numbers and .onTicket(d) on every ticket revision.
// The number is never typed: "回拨" asks the switch to ring the operator's
// phone and then the task's own number.
"use strict";
(() => {
  const H = window.hotlineConsole;
  if (!H) return;
  const { $, el, api, dt, toast } = H;
  const label = H.labelMap;
  const L = () => H.L;
  const reasonText = { voicemail: "留言", abandoned: "放弃来电", dissatisfied: "不满意" };
  const resultButtons = [["reached", "已联系"], ["no_answer", "无人接听"], ["wrong_number", "号码错误"], ["retry", "约定再拨"]];

  // The list on the desk: open tasks (the shared ones and mine), due first;
  // overdue ones marked.
  // A task's id is its node's own: the ticket id goes along, so that any
  // node of a cluster hands the request to the node that keeps the task.
  const task = (c, what) => `/api/callbacks/${c.id}/${what}?ticket=${encodeURIComponent(c.ticket_id)}`;
  async function load() {
    const ul = $("callbacks");
    if (!ul || !H.me()) return;
    try {
      const r = await api("GET", "/api/callbacks?state=open");
      render(ul, r.callbacks || []);
    } catch (e) { ul.replaceChildren(el("li", { class: "msg error", text: `读取失败：${e.message}` })); }
  }
  let dueTimer = 0;
  function render(ul, list) {
    ul.replaceChildren();
    const me = H.me();
    const nowMs = Date.now();
    // Marked overdue the moment a task falls due.
    const next = Math.min(...list.map((c) => Date.parse(c.due_at)).filter((d) => d > nowMs));
    clearTimeout(dueTimer);
    if (isFinite(next) && next - nowMs < 3600e3) dueTimer = setTimeout(load, Math.max(1000, next - nowMs + 300));
    const overdue = list.filter((c) => Date.parse(c.due_at) < nowMs).length;
    $("cb-count").textContent = list.length ? `${list.length} 项${overdue ? ` · 超时 ${overdue}` : ""}` : "";
    if (!list.length) { ul.append(el("li", { class: "muted", text: "没有待回访的任务" })); return; }
    for (const c of list.slice(0, 50)) {
      const late = Date.parse(c.due_at) < nowMs;
      const mine = c.assigned_to === me.name;
      const reason = label(L().cb_reason, c.reason) || reasonText[c.reason];
      const acts = el("span", { class: "cb-act" });
      const msg = el("span", { class: "cb-msg msg", role: "status" });
      const act = (text, aria, fn, cls) => {
        const b = el("button", { class: `small ${cls || ""}`, type: "button", "aria-label": aria }, text);
        b.addEventListener("click", async () => {
          b.disabled = true;
          try { await fn(); } catch (e) { msg.className = "cb-msg msg error"; msg.textContent = errText(e); }
          finally { b.disabled = false; }
        });
        return b;
      };
      acts.append(act("查看", `查看回访 ${c.id} 的工单`, () => openTicket(c)));
      if (!c.assigned_to) acts.append(act("认领", `认领回访 ${c.id}`, async () => { await api("POST", task(c, "claim")); load(); }));
      if (!c.assigned_to || mine) acts.append(act("回拨", `回拨 ${c.caller}`, () => dial(c, msg), "primary"));
      const results = el("span", { class: "cb-results" });
      if (mine) {
        for (const [v, text] of resultButtons) results.append(act(label(L().cb_result, v) || text, `回访结果：${text}`, () => result(c, v)));
      }
      ul.append(el("li", { class: `cb-item${late ? " overdue" : ""}${mine ? " mine" : ""}`, "data-callback": c.id },
        el("span", {}, el("span", { class: "badge warn", text: reason }), " ", el("span", { class: "mono", text: c.caller })),
        el("span", { class: "cb-meta", text: `${late ? "已超时 · " : ""}应回访 ${dt(c.due_at)} · 已尝试 ${c.attempts} 次${c.assigned_to ? ` · ${mine ? "我负责" : c.assigned_to}` : ""}` }),
        acts, results, msg));
    }
  }
  function errText(e) {
    switch (e.status) {
      case 409: return `无法操作：${/phone is not registered|no seat/.test(e.message) ? "话机未注册" : /on a call|being dialled/.test(e.message) ? "坐席正在通话或正在拨打" : /closed/.test(e.message) ? "任务已结束" : "任务已由他人负责"}`;
      case 503: return "未配置外呼中继，无法回拨";
      case 422: return "该号码无法回拨";
      case 400: return "请求有误";
      default: return `操作失败：${e.message}`;
    }
  }
  async function openTicket(c) {
    const t = await api("GET", `/api/tickets/${encodeURIComponent(c.ticket_id)}`);
    H.openCallback(t); // the pop: the ticket form, the voicemail to hear, the caller's history
  }
  async function dial(c, msg) {
    await api("POST", task(c, "dial"));
    msg.className = "cb-msg msg ok";
    msg.textContent = "正在呼叫您的话机，接听后将接通来电人";
    load();
  }
  async function result(c, v) {
    const body = { result: v };
    if (v === "retry") {
      const s = prompt("约定再拨时间（如 2026-12-04 09:30）");
      if (!s) return;
      const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)$/.exec(s.trim());
      if (!m) { toast("时间格式应为 YYYY-MM-DD HH:MM"); return; }
      const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
      body.retry_at = d.toISOString();
    }
    const r = await api("POST", task(c, "result"), body);
    toast(r.state === "unreachable" ? "已达最大尝试次数，任务关闭为“无法联系”" : r.state === "done" ? "回访完成" : "已记录，任务回到待回访列表");
    load();
  }

  // The wallboard tile: backlog, overdue, today's completion rate.
  async function stats() {
    const v = $("kpi-callbacks"), sub = $("kpi-callbacks-sub");
    if (!v) return;
    try {
      const c = await api("GET", "/api/stats/callbacks");
      v.textContent = c.completion_rate == null ? "—" : `${(c.completion_rate * 100).toFixed(1)}%`;
      v.classList.toggle("bad", c.overdue > 0);
      sub.textContent = `待回访 ${c.open} · 超时 ${c.overdue}`;
      sub.title = `今日完成 ${c.done_today + c.unreachable_today}（已联系 ${c.done_today}，无法联系 ${c.unreachable_today}）；完成率 = 今日完成 ÷（今日完成 + 待回访）`;
    } catch (e) { sub.textContent = "回访统计不可用"; }
  }

  let timer = 0;
  function onTicket() {
    clearTimeout(timer);
    timer = setTimeout(() => { if (H.view() === "desk") load(); else if (H.view() === "board") stats(); }, 800);
  }
  // Due times pass and tasks are handed out (or taken) by others without
  // an event on this operator's stream: the list is read again every 30 s.
  setInterval(() => { if (H.me() && H.view() === "desk") load(); }, 30000);
  window.hotlineCallbacks = { load, stats, onTicket };
})();
