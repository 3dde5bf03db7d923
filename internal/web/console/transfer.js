// 12348 hotline console: 转接 (transfer) on the operator's desk.
// Loaded after app.js; it needs nothing from it but the DOM: while the
// screen-pop shows a call in progress (#pop-stage "通话中") it offers the
// configured targets (GET /api/transfer/targets) and calls
// POST /api/calls/{ticket id}/transfer, /transfer/complete, /transfer/cancel,
// /transfer/conference. States: idle; consulting (the citizen held, the
// operator talks to the target: 完成转接, 三方通话 or 取消); conference (all
// three hear each other: 退出三方 leaves citizen and target talking, 挂断第三方
// returns to the citizen).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const facts = document.querySelector("#pop .pop-facts");
  if (!facts) return;
  const kindLabel = { number: "外线", queue: "队列", seat: "坐席" };

  const box = document.createElement("div");
  box.id = "xfer";
  box.className = "xfer";
  box.hidden = true;
  box.setAttribute("aria-label", "转接");
  // CSSOM, not a style attribute: the console's CSP allows only its own sheets.
  Object.assign(box.style, { display: "flex", flexWrap: "wrap", gap: "8px", alignItems: "center", margin: "8px 0" });
  const sel = document.createElement("select");
  sel.id = "xfer-target";
  sel.setAttribute("aria-label", "转接目标");
  const mode = document.createElement("select");
  mode.id = "xfer-mode";
  mode.setAttribute("aria-label", "转接方式");
  for (const [v, t] of [["blind", "直接转接"], ["consult", "先咨询再转"], ["conference", "三方通话"]]) {
    const o = document.createElement("option"); o.value = v; o.textContent = t; mode.append(o);
  }
  const mk = (id, text, cls) => { const b = document.createElement("button"); b.id = id; b.type = "button"; b.textContent = text; if (cls) b.className = cls; return b; };
  const go = mk("btn-transfer", "转接", "primary");
  const done = mk("btn-xfer-complete", "完成转接", "primary");
  const conf = mk("btn-xfer-conference", "三方通话");
  const cancel = mk("btn-xfer-cancel", "取消转接（回到来电人）");
  const msg = document.createElement("span");
  msg.id = "xfer-msg"; msg.className = "msg"; msg.setAttribute("role", "status");
  done.hidden = conf.hidden = cancel.hidden = true;
  box.append(sel, mode, go, done, conf, cancel, msg);
  facts.after(box);

  let targets = null, state = "idle"; // idle | consulting | conference
  const ticket = () => ($("pop-ticket") && $("pop-ticket").textContent.trim()) || "";
  const live = () => $("pop-stage") && $("pop-stage").textContent.trim() === "通话中";

  async function call(path, body) {
    const init = { method: "POST", credentials: "same-origin", headers: {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch(`/api/calls/${encodeURIComponent(ticket())}${path}`, init);
    let data = null;
    try { data = await r.json(); } catch (_) { /* empty */ }
    if (!r.ok) throw new Error((data && data.error) || `转接失败（${r.status}）`);
    return data;
  }
  async function loadTargets() {
    if (targets) return;
    try {
      const r = await fetch("/api/transfer/targets", { credentials: "same-origin" });
      if (!r.ok) return;
      targets = (await r.json()).targets || [];
    } catch (_) { return; }
    sel.replaceChildren(...targets.map((t) => {
      const o = document.createElement("option"); o.value = t.name; o.textContent = `${t.name}（${kindLabel[t.kind] || t.kind}）`; return o;
    }));
  }
  function render() {
    const show = live() && !!ticket();
    if (!show) { state = "idle"; }
    box.hidden = !show || !targets || targets.length === 0;
    box.style.display = box.hidden ? "none" : "flex";
    go.hidden = sel.hidden = mode.hidden = state !== "idle";
    done.hidden = cancel.hidden = state === "idle";
    conf.hidden = state !== "consulting";
    done.textContent = state === "conference" ? "退出三方（来电人与对方继续）" : "完成转接";
    cancel.textContent = state === "conference" ? "挂断第三方" : "取消转接（回到来电人）";
  }
  const say = (text, ok) => { msg.textContent = text; msg.className = ok ? "msg ok" : "msg error"; };

  go.addEventListener("click", async () => {
    const target = sel.value, m = mode.value;
    if (!target) return;
    go.disabled = true;
    try {
      await call("/transfer", { target, mode: m });
      if (m === "consult") { state = "consulting"; say(`正在呼叫 ${target}，来电人已保持`, true); }
      else if (m === "conference") { state = "conference"; say(`正在呼叫 ${target}，接听后三方通话`, true); }
      else say(`已转接至 ${target}`, true);
    } catch (e) { say(e.message, false); }
    go.disabled = false;
    render();
  });
  done.addEventListener("click", async () => {
    try { await call("/transfer/complete"); state = "idle"; say("已完成转接", true); } catch (e) { say(e.message, false); }
    render();
  });
  conf.addEventListener("click", async () => {
    try { await call("/transfer/conference"); state = "conference"; say("三方通话中", true); } catch (e) { say(e.message, false); }
    render();
  });
  cancel.addEventListener("click", async () => {
    const was = state;
    try { await call("/transfer/cancel"); state = "idle"; say(was === "conference" ? "已挂断第三方，回到来电人" : "已取消转接，回到来电人", true); } catch (e) { say(e.message, false); }
    render();
  });

  // The call's latest transfer leg, as the switch sees it (ticket events):
  // the target answering, hanging up or not answering changes the buttons.
  if (window.hotline) window.hotline.onEvent("ticket", (d) => {
    const x = d.transfer;
    if (!x || d.id !== ticket() || state === "idle") return;
    if (x.ended_at || ["cancelled", "no_answer", "failed"].includes(x.outcome)) {
      const why = { no_answer: `${x.target} 未接听，回到来电人`, failed: `无法接通 ${x.target}，回到来电人` }[x.outcome]
        || (state === "conference" ? `${x.target} 已离开三方通话，回到来电人` : `${x.target} 已挂断，回到来电人`);
      state = "idle";
      say(why, x.outcome !== "failed");
    } else if (x.outcome === "consulting") {
      say(`正在与 ${x.target} 通话，来电人已保持`, true);
    } else if (x.mode === "conference" && x.outcome === "connected") {
      state = "conference";
      say(`三方通话中：来电人、您与 ${x.target}`, true);
    }
    render();
  });

  const obs = new MutationObserver(() => { if (live()) loadTargets().then(render); else render(); });
  for (const id of ["pop-stage", "pop-ticket"]) if ($(id)) obs.observe($(id), { childList: true, characterData: true, subtree: true });
  // The desk keeps the call while the operator talks; the page may have
  // opened mid-call.
  if (live()) loadTargets().then(render);
})();
