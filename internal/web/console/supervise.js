// 12348 hotline console: supervision (SPEC §9a). On the wallboard, every
// live call gets 监听 / 耳语 / 强插 buttons (POST /api/calls/{id}/monitor:
// the manager's own phone rings, then joins the call in that mode; a click
// on another mode changes it, 结束 ends it). At the operator's desk, a banner
// says while a manager listens, whispers or barges in (the law requires
// telling the monitored worker). Loaded after app.js; uses window.hotline.
"use strict";
(() => {
  const H = window.hotline;
  if (!H) return;
  const modes = [
    { mode: "listen", text: "监听", title: "静默监听：您听到双方，双方听不到您" },
    { mode: "whisper", text: "耳语", title: "耳语：只有坐席听到您，来电人听不到" },
    { mode: "barge", text: "强插", title: "强插：三方通话，所有人互相听到" },
  ];
  const stateText = { ringing: "正在呼叫您的话机…", active: "", ended: "" };
  const banner = {
    listen: "值班长正在监听本通话",
    whisper: "值班长正在对您耳语（来电人听不到）",
    barge: "值班长已加入通话（三方通话）",
  };
  const sessions = new Map(); // ticket id -> {mode, state, manager}

  // ---------- wallboard: buttons on each live call ----------
  function decorate() {
    const grid = document.getElementById("seat-grid");
    if (!grid) return;
    for (const li of grid.querySelectorAll("li.seat-card")) {
      const call = li.dataset.call;
      let bar = li.querySelector(".sup-bar");
      if (!call || li.dataset.state !== "busy") { if (bar) bar.remove(); continue; }
      const s = sessions.get(call);
      if (!bar || bar.dataset.call !== call) {
        if (bar) bar.remove();
        bar = document.createElement("div");
        bar.className = "sup-bar";
        bar.dataset.call = call;
        bar.setAttribute("role", "group");
        bar.setAttribute("aria-label", `坐席 ${li.dataset.seat} 的通话：监听`);
        for (const m of modes) {
          const b = document.createElement("button");
          b.type = "button"; b.className = "sup-btn"; b.dataset.mode = m.mode;
          b.textContent = m.text; b.title = m.title;
          b.addEventListener("click", () => monitor(call, m.mode));
          bar.append(b);
        }
        const off = document.createElement("button");
        off.type = "button"; off.className = "sup-btn sup-off"; off.dataset.mode = "off"; off.textContent = "结束";
        off.title = "结束监听，挂断您的话机";
        off.addEventListener("click", () => monitor(call, "off"));
        bar.append(off);
        const st = document.createElement("span");
        st.className = "sup-state muted"; st.setAttribute("aria-live", "polite");
        bar.append(st);
        li.append(bar);
      }
      const on = s && s.state !== "ended";
      for (const b of bar.querySelectorAll("button[data-mode]")) {
        if (b.dataset.mode === "off") { b.hidden = !on; continue; }
        b.setAttribute("aria-pressed", on && s.mode === b.dataset.mode ? "true" : "false");
      }
      bar.querySelector(".sup-state").textContent = on ? (stateText[s.state] || "") + (s.manager && H.me() && s.manager !== H.me().name ? `${s.manager} 正在监听` : "") : "";
    }
  }
  async function monitor(call, mode) {
    const send = () => mode === "off"
      ? H.api("DELETE", `/api/calls/${encodeURIComponent(call)}/monitor`)
      : H.api("POST", `/api/calls/${encodeURIComponent(call)}/monitor`, { mode });
    try {
      let r;
      try {
        r = await send();
      } catch (e) {
        // The seat shows busy as its phone answers; the call is bridged
        // (and can be supervised) a moment later: one more try.
        if (e.status !== 404 || mode === "off") throw e;
        await new Promise((ok) => setTimeout(ok, 700));
        r = await send();
      }
      sessions.set(call, { mode: r.mode, state: r.state, manager: H.me() && H.me().name });
      decorate();
    } catch (e) {
      H.toast(`监听失败：${e.message}`);
    }
  }
  let decorating = false;
  const grid = document.getElementById("seat-grid");
  if (grid) new MutationObserver(() => { if (!decorating) { decorating = true; requestAnimationFrame(() => { decorating = false; decorate(); }); } }).observe(grid, { childList: true });

  // ---------- operator's desk: the banner ----------
  function showBanner(d) {
    let b = document.getElementById("sup-banner");
    if (!b) {
      b = document.createElement("div");
      b.id = "sup-banner"; b.className = "sup-banner"; b.setAttribute("role", "status"); b.hidden = true;
      const main = document.getElementById("main");
      main.insertBefore(b, main.firstChild);
    }
    const on = d.state === "active" && banner[d.mode];
    b.hidden = !on;
    b.dataset.mode = on ? d.mode : "";
    b.textContent = on ? `${banner[d.mode]}（${d.manager}）` : "";
  }

  H.onEvent("monitor", (d) => {
    if (d.state === "ended") sessions.delete(d.ticket_id);
    else sessions.set(d.ticket_id, { mode: d.mode, state: d.state, manager: d.manager });
    decorate();
    const me = H.me();
    if (me && me.seat_id && d.seat === me.seat_id) showBanner(d);
  });
})();
