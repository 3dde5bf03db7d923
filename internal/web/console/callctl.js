// 12348 hotline console: call control on the operator's desk (SPEC §9a) —
// hold/resume, mute toward the citizen, keys to the citizen, hang-up, the
// call's timer, keyboard shortcuts, and the actions of this call as the
// ticket's history records them. Loaded after app.js; uses its hook
// (window.hotlineConsole).
//
// Keyboard: F7 hold/resume, F8 mute/unmute, F9 to the keys field (Enter
// sends), F4 twice within 2 s hangs up.
"use strict";
(() => {
  const H = window.hotlineConsole;
  if (!H) return;
  const { $, api, el, dur, now } = H;
  const ACTION = { hold: "保持", resume: "恢复通话", mute: "静音", unmute: "取消静音", dtmf: "发送按键", hangup: "挂断" };
  const C = { id: null, live: false, held: false, muted: false, heldAt: 0, answeredAt: null, busy: false, history: [], hangArmed: 0 };

  const pad = (n) => String(n).padStart(2, "0");
  const hm = (s) => { const m = /T(\d\d):(\d\d):(\d\d)/.exec(s || ""); return m ? `${m[1]}:${m[2]}:${m[3]}` : ""; };
  function msg(text, cls) { const m = $("cc-msg"); m.textContent = text || ""; m.className = `msg ${cls || ""}`; }

  function render() {
    const box = $("cc");
    box.hidden = !C.id;
    if (!C.id) return;
    box.classList.toggle("held", C.held);
    const on = C.live && !C.busy;
    for (const id of ["cc-hold", "cc-mute", "cc-dtmf", "cc-hangup", "cc-digits"]) $(id).disabled = !on;
    const hold = $("cc-hold"), mute = $("cc-mute");
    hold.firstChild.textContent = C.held ? "恢复通话 " : "保持 ";
    hold.setAttribute("aria-pressed", String(C.held));
    mute.firstChild.textContent = C.muted ? "取消静音 " : "静音 ";
    mute.setAttribute("aria-pressed", String(C.muted));
    const flags = [];
    if (!C.live) flags.push(el("span", { class: "badge", text: "通话已结束" }));
    if (C.held) flags.push(el("span", { class: "badge warn", id: "cc-held-flag", text: "保持中" }));
    if (C.muted) flags.push(el("span", { class: "badge warn", id: "cc-muted-flag", text: "已静音（对方听不到您）" }));
    $("cc-flags").replaceChildren(...flags);
    $("cc-history").replaceChildren(...C.history.map((h) =>
      el("li", { "data-action": h.action }, `${hm(h.at)} ${ACTION[h.action] || h.action}${h.detail ? " " + h.detail : ""}${h.by ? "（" + h.by + "）" : ""}`)));
    tick();
  }
  function tick() {
    if (!C.id) return;
    const t = C.answeredAt ? Date.parse(C.answeredAt) : NaN;
    if (isFinite(t) && C.live) $("cc-timer").textContent = dur((now() - t) / 1000);
  }
  setInterval(tick, 1000);

  async function loadHistory() {
    if (!C.id) return;
    try {
      const t = await api("GET", `/api/tickets/${encodeURIComponent(C.id)}`);
      if (t && t.id === C.id) { C.history = t.history || []; render(); }
    } catch (_) { /* shown on the next action */ }
  }
  async function loadState() {
    const id = C.id;
    try {
      const s = await api("GET", `/api/calls/${encodeURIComponent(id)}`);
      if (C.id !== id) return;
      Object.assign(C, { live: true, held: s.held, muted: s.muted, answeredAt: s.answered_at || C.answeredAt });
    } catch (e) {
      if (C.id !== id) return;
      if (e.status === 409 || e.status === 404) C.live = false;
    }
    render();
  }

  // The screen-pop changed: follow the call that is connected on our seat.
  H.onPop((p) => {
    const connected = !!p && p.stage === "answered" && !!p.ticket;
    const id = p && p.ticket ? p.ticket.id : null;
    if (!p || p.stage === "ringing" || p.stage === "gone" || p.stage === "callback") {
      if (C.id) { C.id = null; render(); }
      return;
    }
    if (id !== C.id) {
      Object.assign(C, { id, live: connected, held: false, muted: false, history: [], answeredAt: p.ticket.answered_at, hangArmed: 0 });
      msg("");
      render();
      if (connected) loadState();
      loadHistory();
      return;
    }
    if (p.ticket.answered_at) C.answeredAt = p.ticket.answered_at;
    if (C.live && !connected) {
      C.live = false; C.held = false; C.muted = false;
      loadHistory();
    }
    render();
  });

  async function act(action, body) {
    if (!C.id || !C.live || C.busy) return;
    C.busy = true; render();
    try {
      const s = await api("POST", `/api/calls/${encodeURIComponent(C.id)}/${action}`, body || {});
      Object.assign(C, { held: s.held, muted: s.muted });
      if (action === "hangup") C.live = false;
      msg(`${ACTION[action]}：已完成`, "ok");
      loadHistory();
    } catch (e) {
      msg(`${ACTION[action]}失败：${e.status === 409 ? "通话状态已变化（可能已结束）" : e.status === 403 ? "无权操作这通电话" : e.message}`, "error");
      if (e.status === 409) loadState();
    } finally {
      C.busy = false; render();
    }
  }
  const toggleHold = () => act(C.held ? "resume" : "hold");
  const toggleMute = () => act(C.muted ? "unmute" : "mute");
  function sendDigits() {
    const d = $("cc-digits").value.replace(/\s+/g, "");
    if (!/^[0-9*#A-Da-d]{1,32}$/.test(d)) { msg("按键只能是 0-9、*、#（最多 32 个）", "error"); return; }
    $("cc-digits").value = "";
    act("dtmf", { digits: d.toUpperCase() });
  }
  $("cc-hold").addEventListener("click", toggleHold);
  $("cc-mute").addEventListener("click", toggleMute);
  $("cc-dtmf").addEventListener("click", sendDigits);
  $("cc-hangup").addEventListener("click", () => act("hangup"));
  $("cc-digits").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); sendDigits(); } });

  document.addEventListener("keydown", (e) => {
    if (!C.id || !C.live || e.altKey || e.ctrlKey || e.metaKey) return;
    switch (e.key) {
      case "F7": e.preventDefault(); toggleHold(); break;
      case "F8": e.preventDefault(); toggleMute(); break;
      case "F9": e.preventDefault(); $("cc-digits").focus(); break;
      case "F4":
        e.preventDefault();
        if (Date.now() - C.hangArmed < 2000) { C.hangArmed = 0; act("hangup"); }
        else { C.hangArmed = Date.now(); msg("再按一次 F4 挂断", "warn"); }
        break;
    }
  });
})();
