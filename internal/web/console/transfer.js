// 12348 hotline console: 转接 (transfer) on the operator's desk.
// Loaded after app.js; it needs nothing from it but the DOM: while the
// screen-pop shows a call in progress (#pop-stage "通话中") it offers the
// configured targets (GET /api/transfer/targets) and calls
// POST /api/calls/{ticket id}/transfer, /transfer/complete, /transfer/cancel.
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
  for (const [v, t] of [["blind", "直接转接"], ["consult", "先咨询再转"]]) {
    const o = document.createElement("option"); o.value = v; o.textContent = t; mode.append(o);
  }
  const mk = (id, text, cls) => { const b = document.createElement("button"); b.id = id; b.type = "button"; b.textContent = text; if (cls) b.className = cls; return b; };
  const go = mk("btn-transfer", "转接", "primary");
  const done = mk("btn-xfer-complete", "完成转接", "primary");
  const cancel = mk("btn-xfer-cancel", "取消转接（回到来电人）");
  const msg = document.createElement("span");
  msg.id = "xfer-msg"; msg.className = "msg"; msg.setAttribute("role", "status");
  done.hidden = cancel.hidden = true;
  box.append(sel, mode, go, done, cancel, msg);
  facts.after(box);

  let targets = null, consulting = false;
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
    if (!show) { consulting = false; }
    box.hidden = !show || !targets || targets.length === 0;
    box.style.display = box.hidden ? "none" : "flex";
    go.hidden = sel.hidden = mode.hidden = consulting;
    done.hidden = cancel.hidden = !consulting;
  }
  const say = (text, ok) => { msg.textContent = text; msg.className = ok ? "msg ok" : "msg error"; };

  go.addEventListener("click", async () => {
    const target = sel.value, m = mode.value;
    if (!target) return;
    go.disabled = true;
    try {
      await call("/transfer", { target, mode: m });
      if (m === "consult") { consulting = true; say(`正在呼叫 ${target}，来电人已保持`, true); }
      else say(`已转接至 ${target}`, true);
    } catch (e) { say(e.message, false); }
    go.disabled = false;
    render();
  });
  done.addEventListener("click", async () => {
    try { await call("/transfer/complete"); consulting = false; say("已完成转接", true); } catch (e) { say(e.message, false); }
    render();
  });
  cancel.addEventListener("click", async () => {
    try { await call("/transfer/cancel"); consulting = false; say("已取消转接，回到来电人", true); } catch (e) { say(e.message, false); }
    render();
  });

  const obs = new MutationObserver(() => { if (live()) loadTargets().then(render); else render(); });
  for (const id of ["pop-stage", "pop-ticket"]) if ($(id)) obs.observe($(id), { childList: true, characterData: true, subtree: true });
  // The desk keeps the call while the operator talks; the page may have
  // opened mid-call.
  if (live()) loadTargets().then(render);
})();
