// 12348 hotline console: login, operator desk, manager wallboard.
// Plain browser JavaScript, no build step, no library. Live updates come from
// GET /api/events (SSE); the REST API is called on user actions only (and a
// debounced stats refresh when calls end, if the server sends no stats events).
"use strict";
(() => {
  // ---------- labels ----------
  // The words of tickets, seats and stats (status, outcome, stage, priority,
  // category, end_reason, wo, state, reason, legal_domain, disposition,
  // satisfaction, role) come with their labels from the server
  // (GET /api/console/options "labels", internal/vocab), and the IVR keys'
  // from ivr.yaml ("ivr_keys"): the console keeps no list of its own. What
  // stays here are the console's own phrases for live events.
  const L = {
    offer: { ringing: "振铃中", answered: "通话中", wrap_up: "话后整理", gone: "未接通", ended: "通话已结束", callback: "回访处理" },
    gone: { call_no_answer: "超时未接，来电已转给其他坐席", call_declined: "已拒接", call_withdrawn: "坐席离线，来电已转走", call_abandoned: "来电人已挂断" },
    entry: { waiting: "等待", offered: "振铃" },
  };
  let ivrKeys = {};
  const takeLabels = (opts) => {
    for (const [kind, list] of Object.entries(opts.labels || {})) L[kind] = Object.fromEntries(list.map((w) => [w.value, w.label]));
    ivrKeys = opts.ivr_keys || {};
  };

  // ---------- tiny helpers ----------
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k.nodeType ? k : document.createTextNode(String(k)));
    return e;
  };
  const label = (map, v, dflt = "—") => (v === null || v === undefined || v === "" ? dflt : (map && map[v]) || v);
  const pad = (n) => String(n).padStart(2, "0");
  const dur = (sec) => {
    if (sec === null || sec === undefined || !isFinite(sec)) return "—";
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  };
  const secs = (v) => (v === null || v === undefined || !isFinite(v) ? "—" : v < 60 ? `${Math.round(v)} 秒` : `${Math.floor(v / 60)}分${pad(Math.round(v % 60))}秒`);
  const pct = (v) => (v === null || v === undefined || !isFinite(v) ? "—" : `${(v <= 1 ? v * 100 : v).toFixed(1)}%`);
  const num = (v) => (v === null || v === undefined ? "—" : String(v));
  // Times are shown on the hotline's clock (the time zone of its tickets and
  // of its daily numbers), whatever the browser's zone: a ticket's time
  // carries its offset, and the wall-clock part is what we show.
  const tzRe = /([+-])(\d\d):(\d\d)$|Z$/;
  const dt = (s) => {
    if (!s) return "—";
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(s);
    if (!m) return s;
    noteTZ(s);
    return `${+m[2]}-${m[3]} ${m[4]}:${m[5]}`;
  };
  // The hotline's wall clock now, as a Date read with getUTC*.
  const hotlineNow = (ms) => new Date((ms ?? Date.now() + S.skew) + (S.tzMin ?? -new Date().getTimezoneOffset()) * 60000);
  const hms = () => { const d = hotlineNow(); return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`; };
  const isoDay = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const hotlineDay = (daysBack = 0) => isoDay(hotlineNow(Date.now() + S.skew - daysBack * 86400e3));
  // Masks a caller number as 138****0000 (already-masked numbers stay as they are).
  const mask = (n) => {
    if (!n || !/\d/.test(n)) return n || "—";
    const r = Array.from(n);
    if (r.length >= 8) return r.slice(0, 3).join("") + "****" + r.slice(-4).join("");
    if (r.length > 2) return "****" + r.slice(-2).join("");
    return "****";
  };

  // ---------- state ----------
  const S = {
    me: null,
    opts: null,
    view: null,          // "desk" | "board"
    seats: new Map(),    // id -> seat
    queue: [],
    skew: 0,             // server clock minus ours, ms
    es: null,
    pop: null,           // {ticket, history, stage, wait, reason}
    formTicket: null,    // id of the ticket the form edits
    formDirty: false,
    lastStatsEvent: 0,
    tzMin: null,         // the hotline's UTC offset in minutes, once seen
    staffing: null,
    chartDay: null,
  };
  const now = () => Date.now() + S.skew;
  // Add-ons of the desk (callctl.js …) hear each screen-pop render here.
  const popHooks = [];
  function noteTZ(s) {
    if (S.tzMin !== null || typeof s !== "string") return;
    const m = tzRe.exec(s);
    if (m) S.tzMin = m[0] === "Z" ? 0 : (m[1] === "-" ? -1 : 1) * (+m[2] * 60 + +m[3]);
  }
  const noteAt = (at) => { if (at) { const t = Date.parse(at); if (isFinite(t)) S.skew = t - Date.now(); } };
  const canManage = () => S.me && (S.me.role === "manager" || S.me.role === "admin");

  // ---------- API ----------
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let r;
    try { r = await fetch(path, init); }
    catch (_) { const e = new Error(HotlineErrors.zh(0, null)); e.status = 0; throw e; }
    let data = null;
    try { data = await r.json(); } catch (_) { /* empty body */ }
    if (r.status === 401 && path !== "/api/login" && S.me) { showLogin("登录已过期，请重新登录"); }
    if (!r.ok) {
      // Shown to people: always Chinese (errors.js); the server's own text stays on the Error.
      const e = new Error(HotlineErrors.zh(r.status, data)); e.status = r.status;
      e.serverMessage = data && data.error; e.code = data && data.code;
      throw e;
    }
    return data;
  }
  let toastTimer = 0;
  function toast(msg) {
    const t = $("toast"); t.textContent = msg; t.hidden = false;
    clearTimeout(toastTimer); toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  // ---------- login ----------
  function showLogin(msg) {
    if (S.es) { S.es.close(); S.es = null; }
    S.me = null;
    for (const v of ["desk-view", "board-view"]) $(v).hidden = true;
    $("login-view").hidden = false;
    $("logout").hidden = true; $("switch-view").hidden = true;
    $("whoami").textContent = ""; $("view-title").textContent = "";
    setConn("off", "未连接");
    $("login-msg").textContent = msg || "";
    $("login-user").focus();
  }
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = $("login-user").value.trim(), password = $("login-pass").value;
    if (!username || !password) { $("login-msg").textContent = "请输入用户名和密码"; return; }
    $("login-submit").disabled = true; $("login-msg").textContent = "";
    try {
      const r = await api("POST", "/api/login", { username, password });
      $("login-pass").value = "";
      await start(r.user);
    } catch (e) {
      $("login-msg").textContent = e.status === 401 ? "用户名或密码错误" : e.status === 429 ? "失败次数过多，请 5 分钟后再试" : `登录失败：${e.message}`;
    } finally { $("login-submit").disabled = false; }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (_) { /* gone anyway */ }
    showLogin("已退出登录");
  });

  async function start(me) {
    S.me = me;
    $("login-view").hidden = true;
    $("logout").hidden = false;
    try { S.opts = await api("GET", "/api/console/options"); } catch (e) { toast(`读取选项失败：${e.message}`); S.opts = { categories: [], legal_domains: [], dispositions: [], not_ready_reasons: [] }; }
    takeLabels(S.opts);
    $("whoami").textContent = `${me.name}（${label(L.role, me.role)}${me.seat_id ? " · 坐席 " + me.seat_id : ""}）`;
    fillSelects();
    const sw = $("switch-view");
    sw.hidden = !(canManage() && me.seat_id);
    show(canManage() ? "board" : "desk");
    connect();
  }
  $("switch-view").addEventListener("click", () => show(S.view === "board" ? "desk" : "board"));

  function show(view) {
    S.view = view;
    $("desk-view").hidden = view !== "desk";
    $("board-view").hidden = view !== "board";
    $("view-title").textContent = view === "desk" ? "坐席工作台" : "值班长看板";
    $("switch-view").textContent = view === "desk" ? "值班长看板" : "坐席工作台";
    if (view === "desk") { renderMySeat(); renderQueueMini(); loadCallbacks(); }
    else {
      renderSeatGrid(); renderQueueTable(); loadDead(); loadCluster(); loadWorkorderStatus();
      // The numbers first: they tell the hotline's time zone, and so its "today".
      loadStats().finally(() => { searchDefaults(); loadChart(); });
    }
  }

  function fillSelects() {
    const fill = (sel, list, empty) => {
      const s = $(sel); s.replaceChildren();
      if (empty !== undefined) s.append(el("option", { value: "", text: empty }));
      for (const c of list || []) s.append(el("option", { value: c.value, text: c.label }));
    };
    fill("nr-reason", S.opts.not_ready_reasons);
    fill("f-category", S.opts.categories);
    fill("f-domain", S.opts.legal_domains, "（未选择）");
    fill("f-disposition", S.opts.dispositions, "（未选择）");
  }
  const choiceLabel = (list, v) => { for (const c of list || []) if (c.value === v) return c.label; return v; };

  // ---------- live events ----------
  function setConn(cls, text) { const c = $("conn"); c.className = `conn ${cls}`; c.textContent = text; }
  let reconnectTimer = 0;
  function connect() {
    if (S.es) S.es.close();
    clearTimeout(reconnectTimer);
    setConn("", "连接中…");
    const es = new EventSource("/api/events");
    S.es = es;
    es.onopen = () => setConn("on", "实时");
    es.onerror = async () => {
      if (S.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Not a dropped connection (EventSource retries those) but a refusal:
        // find out whether the session is gone.
        setConn("off", "已断开");
        try { await api("GET", "/api/me"); } catch (_) { return; }
        reconnectTimer = setTimeout(connect, 3000);
      } else setConn("", "重连中…");
    };
    const on = (name, fn) => es.addEventListener(name, (e) => {
      let d; try { d = JSON.parse(e.data); } catch (_) { return; }
      noteAt(d.at);
      fn(d);
    });
    on("seat", onSeat);
    on("queue", onQueue);
    on("offer", onOffer);
    on("ticket", onTicket);
    on("stats", (d) => { S.lastStatsEvent = Date.now(); renderStats(d); });
    for (const [name, fn] of extraEvents) on(name, fn);
  }
  // Hook for the console's other scripts (supervise.js …): live events
  // they handle, the API, the signed-in user, the toast, the view.
  const extraEvents = [];
  window.hotline = {
    onEvent(name, fn) { extraEvents.push([name, fn]); },
    api: (m, p, b) => api(m, p, b),
    me: () => S.me,
    view: () => S.view,
    toast: (m) => toast(m),
  };

  let seatsRender = 0;
  function onSeat(d) {
    const s = d.seat;
    S.seats.set(s.id, s);
    if (S.me && s.id === S.me.seat_id) renderMySeat();
    if (!seatsRender) seatsRender = requestAnimationFrame(() => { seatsRender = 0; if (S.view === "board") renderSeatGrid(); });
  }
  function onQueue(d) {
    S.queue = d.queue || [];
    if (S.view === "desk") renderQueueMini(); else renderQueueTable();
  }

  // ---------- ticking clocks (one timer for every "time in state") ----------
  setInterval(() => {
    if (!S.me) return;
    if (S.view === "desk") { tickMySeat(); renderQueueMini(); tickPop(); }
    else { for (const li of document.querySelectorAll("#seat-grid [data-since]")) li.textContent = dur((now() - Date.parse(li.dataset.since)) / 1000); tickQueueTable(); }
  }, 1000);

  // ---------- operator desk: my seat ----------
  function mySeat() { return S.me && S.me.seat_id ? S.seats.get(S.me.seat_id) : null; }
  function renderMySeat() {
    if (!S.me) return;
    const s = mySeat();
    $("my-seat-name").textContent = S.me.seat_id ? `${S.me.seat_id}${s && s.name ? " · " + s.name : ""}` : "（账号未绑定坐席）";
    const st = s ? s.state : "offline";
    const b = $("my-state");
    b.className = `badge st-${st}`; b.textContent = label(L.state, st);
    const reason = s && (s.reason || (s.operator_not_ready && s.operator_reason));
    $("my-reason").textContent = st === "not_ready" && s.reason ? label(L.reason, s.reason) :
      s && s.operator_not_ready && st !== "not_ready" ? `（结束后转未就绪：${label(L.reason, s.operator_reason)}）` : reason && st === "not_ready" ? label(L.reason, reason) : "";
    const noSeat = !S.me.seat_id || !s;
    $("btn-ready").disabled = noSeat || st === "offline" || (st === "ready" && !s.operator_not_ready) ||
      ((st === "ringing" || st === "busy") && !s.operator_not_ready);
    $("btn-ready").textContent = st === "wrap_up" ? "完成整理，就绪" : s && s.operator_not_ready && st !== "not_ready" ? "取消未就绪" : "就绪";
    $("btn-notready").disabled = noSeat || st === "offline" || (st === "not_ready" && s.reason === $("nr-reason").value);
    if (st === "offline") $("seat-msg").textContent = S.me.seat_id ? "话机未注册：请先登录软电话" : "";
    else if ($("seat-msg").dataset.kind !== "error") $("seat-msg").textContent = "";
    tickMySeat();
    // The screen-pop follows the seat: wrap-up and the end of a call.
    if (S.pop && s && S.pop.ticket && s.call_id === S.pop.ticket.id) {
      if (st === "wrap_up" && S.pop.stage !== "wrap_up") { S.pop.stage = "wrap_up"; renderPop(); }
    } else if (S.pop && (S.pop.stage === "answered" || S.pop.stage === "wrap_up") && s && s.call_id !== (S.pop.ticket && S.pop.ticket.id)) {
      S.pop.stage = "ended"; renderPop();
    }
  }
  function tickMySeat() {
    const s = mySeat();
    $("my-since").textContent = s && s.since ? dur((now() - Date.parse(s.since)) / 1000) : "--:--";
    const w = $("wrapup");
    if (s && s.state === "wrap_up" && s.wrap_up_until) {
      const until = Date.parse(s.wrap_up_until), from = Date.parse(s.since);
      const left = Math.max(0, (until - now()) / 1000);
      w.hidden = false;
      $("wrapup-left").textContent = String(Math.ceil(left));
      const total = Math.max(1, (until - from) / 1000);
      $("wrapup-bar").style.width = `${Math.min(100, 100 * (1 - left / total))}%`;
    } else w.hidden = true;
  }
  async function setState(state) {
    if (!S.me || !S.me.seat_id) return;
    const reason = state === "not_ready" ? $("nr-reason").value : "";
    const msg = $("seat-msg");
    try {
      const seat = await api("POST", `/api/seats/${encodeURIComponent(S.me.seat_id)}/state`, { state, reason });
      if (seat && seat.id) S.seats.set(seat.id, seat);
      msg.dataset.kind = ""; msg.className = "msg ok";
      msg.textContent = state === "ready" ? "已置为就绪" : `已置为未就绪（${label(L.reason, reason)}）`;
      renderMySeat();
    } catch (e) {
      msg.dataset.kind = "error"; msg.className = "msg error";
      msg.textContent = e.status === 409 ? `无法切换：${e.message}` : `切换失败：${e.message}`;
    }
  }
  $("btn-ready").addEventListener("click", () => setState("ready"));
  $("btn-notready").addEventListener("click", () => setState("not_ready"));
  $("nr-reason").addEventListener("change", renderMySeat);

  function renderQueueMini() {
    const waiting = S.queue.filter((q) => q.state === "waiting");
    $("q-waiting").textContent = String(waiting.length);
    $("q-green").textContent = String(waiting.filter((q) => q.priority === "green").length);
    let longest = 0;
    for (const q of waiting) longest = Math.max(longest, (now() - Date.parse(q.enqueued_at)) / 1000);
    $("q-longest").textContent = dur(longest);
  }

  // ---------- operator desk: screen-pop ----------
  function onOffer(d) {
    if (d.stage === "gone") {
      if (S.pop && S.pop.ticket && S.pop.ticket.id === d.ticket_id && S.pop.stage === "ringing") {
        S.pop.stage = "gone"; S.pop.reason = d.reason; renderPop();
      }
      return;
    }
    if (!d.ticket) return;
    noteTZ(d.ticket.opened_at);
    const same = S.pop && S.pop.ticket && S.pop.ticket.id === d.ticket.id;
    S.pop = { ticket: d.ticket, history: d.history || (same ? S.pop.history : []), stage: d.stage, wait: d.wait_seconds ?? (same ? S.pop.wait : null) };
    if (!same || !S.formDirty) loadForm(d.ticket);
    if (S.view !== "desk" && S.me.seat_id && d.stage === "ringing") toast(`坐席 ${S.me.seat_id} 有来电`);
    renderPop();
    if (d.stage === "ringing") { document.title = "【来电】12348 热线控制台"; }
  }
  function onTicket(d) {
    // Operators: revisions of their own calls; managers: every ticket.
    if (S.pop && S.pop.ticket && S.pop.ticket.id === d.id) {
      Object.assign(S.pop.ticket, {
        status: d.status, outcome: d.outcome, abandon_stage: d.abandon_stage, seat_id: d.seat_id, revision: d.revision,
        answered_at: d.answered_at, ended_at: d.ended_at, wait_seconds: d.wait_seconds, talk_seconds: d.talk_seconds,
        category: d.category, priority: d.priority, ivr_path: d.ivr_path, workorder: d.workorder,
      });
      renderPop();
    }
    if (window.hotlineCallbacks) window.hotlineCallbacks.onTicket(d);
    if (canManage() && d.event === "closed") { scheduleStats(); scheduleChart(); }
    if (canManage() && d.workorder && d.workorder.state === "dead") scheduleDead();
  }
  function loadForm(t) {
    S.formTicket = t.id; S.formDirty = false;
    $("f-summary").value = t.summary || "";
    $("f-category").value = t.category || (S.opts.categories[0] && S.opts.categories[0].value) || "";
    $("f-domain").value = t.legal_domain || "";
    $("f-disposition").value = t.disposition || "";
    $("f-msg").textContent = ""; $("f-msg").className = "msg";
  }
  for (const id of ["f-summary", "f-category", "f-domain", "f-disposition"]) {
    $(id).addEventListener("input", () => { S.formDirty = true; $("f-msg").className = "msg"; $("f-msg").textContent = "有未保存的修改"; });
  }
  function renderPop() {
    const p = S.pop, pop = $("pop");
    pop.classList.toggle("ringing", !!p && p.stage === "ringing");
    $("pop-empty").hidden = !!p; $("pop-body").hidden = !p; $("pop-close").hidden = !p || p.stage === "ringing" || p.stage === "answered";
    const badge = $("pop-stage");
    if (!p) { badge.className = "badge"; badge.textContent = "等待来电"; document.title = "12348 热线控制台"; for (const fn of popHooks) fn(null); return; }
    const t = p.ticket;
    const stCls = { ringing: "st-ringing", answered: "st-busy", wrap_up: "st-wrap_up", gone: "bad", ended: "", callback: "warn" }[p.stage] || "";
    badge.className = `badge ${stCls}`;
    badge.textContent = p.stage === "gone" ? `${L.offer.gone}：${label(L.gone, p.reason, "")}` : label(L.offer, p.stage);
    if (p.stage !== "ringing") document.title = "12348 热线控制台";
    // Operators see the number masked; a callback shows it whole (they dial it).
    const full = p.stage === "callback" || canManage();
    $("pop-caller").textContent = full ? t.caller || "—" : mask(t.caller);
    $("pop-green").hidden = t.priority !== "green";
    $("pop-category").textContent = label(L.category, t.category, "（未选择）");
    $("pop-ivr").textContent = ivrText(t.ivr_path);
    $("pop-ticket").textContent = t.id;
    renderVoicemail(p);
    tickPop();
    renderHistory(p.history || []);
    for (const fn of popHooks) fn(p);
  }
  // A callback's voicemail: the operator hears it before calling back (the
  // API serves it to them, audited like every playback).
  function renderVoicemail(p) {
    const row = $("pop-vm-row"), box = $("pop-vm"), t = p.ticket;
    const show = p.stage === "callback" && t.outcome === "voicemail" && !t.recording_failed;
    if (!show) { row.hidden = true; box.replaceChildren(); return; }
    if (row.hidden || box.dataset.ticket !== t.id) {
      box.dataset.ticket = t.id;
      box.replaceChildren(el("audio", { controls: true, preload: "none", src: `/api/tickets/${encodeURIComponent(t.id)}/voicemail`, "aria-label": `工单 ${t.id} 留言录音` }));
    }
    row.hidden = false;
  }
  function tickPop() {
    const p = S.pop;
    if (!p) return;
    const t = p.ticket;
    // Queue wait only for a call that queued (a voicemail left with
    // nobody logged in never did).
    if (!t.queued_at) { $("pop-wait").textContent = "未排队"; return; }
    let w = t.wait_seconds;
    if (w === null || w === undefined) {
      w = t.queued_at && (p.stage === "ringing") ? (now() - Date.parse(t.queued_at)) / 1000 : p.wait;
    }
    $("pop-wait").textContent = w === null || w === undefined ? (t.queued_at ? "—" : "未排队") : secs(w);
  }
  function ivrText(path) {
    if (!path) return "未按键（进入总台）";
    return Array.from(path).map((k) => `${k}${ivrKeys[k] ? " " + ivrKeys[k] : ""}`).join(" → ");
  }
  function renderHistory(list) {
    const ol = $("history");
    ol.replaceChildren();
    $("hist-count").textContent = list.length ? `（${list.length} 条）` : "";
    if (!list.length) { ol.append(el("li", { class: "hist-empty", text: "该号码近 90 天没有其他来电" })); return; }
    for (const h of list) {
      const wo = h.workorder || {};
      const woCls = wo.state === "dead" ? "badge bad" : wo.state === "delivered" ? "badge st-ready" : "badge";
      const li = el("li", { "data-ticket": h.id },
        el("div", { class: "hist-head" },
          el("time", { datetime: h.opened_at, text: dt(h.opened_at) }),
          el("span", { text: label(L.category, h.category, "未分类") }),
          el("span", { class: h.outcome === "answered" ? "badge st-ready" : "badge warn", text: label(L.outcome, h.outcome, label(L.status, h.status)) }),
          h.abandon_stage ? el("span", { class: "muted", text: `（${label(L.stage, h.abandon_stage)}）` }) : null,
          h.priority === "green" ? el("span", { class: "badge green", text: label(L.priority, h.priority) }) : null,
          el("span", { class: woCls, title: HotlineErrors.workorderError(wo.last_error), text: `工单${label(L.wo, wo.state)}` }),
        ),
        h.disposition || h.legal_domain ? el("div", { class: "muted", text: [h.legal_domain && choiceLabel(S.opts.legal_domains, h.legal_domain), h.disposition && choiceLabel(S.opts.dispositions, h.disposition)].filter(Boolean).join(" · ") }) : null,
        h.summary ? el("p", { class: "hist-sum", text: h.summary }) : null,
        (h.feedback || []).map((f) => el("div", { class: "fb" }, `工单系统 ${dt(f.at)}：${f.status}${f.note ? " — " + f.note : ""}${f.external_id ? `（${f.external_id}）` : ""}`)),
      );
      ol.append(li);
    }
  }
  $("pop-close").addEventListener("click", () => {
    if (S.formDirty && !confirm("工单有未保存的修改，确定关闭？")) return;
    S.pop = null; S.formTicket = null; S.formDirty = false; renderPop();
  });

  async function saveForm(ev) {
    if (ev) ev.preventDefault();
    if (!S.formTicket) return;
    const body = {
      summary: $("f-summary").value,
      category: $("f-category").value,
      legal_domain: $("f-domain").value,
      disposition: $("f-disposition").value,
    };
    const msg = $("f-msg"), btn = $("f-save");
    btn.disabled = true; msg.className = "msg"; msg.textContent = "保存中…";
    try {
      const t = await api("PATCH", `/api/tickets/${encodeURIComponent(S.formTicket)}`, body);
      S.formDirty = false;
      if (S.pop && S.pop.ticket && S.pop.ticket.id === t.id) {
        S.pop.ticket.revision = t.revision; S.pop.ticket.summary = t.summary; S.pop.ticket.category = t.category;
        $("pop-category").textContent = label(L.category, t.category);
      }
      msg.className = "msg ok";
      msg.textContent = `已保存 · 第 ${t.revision} 版 · ${hms()}`;
      if (S.pop && S.pop.stage === "callback") loadCallbacks();
    } catch (e) {
      msg.className = "msg error";
      msg.textContent = e.status === 403 ? "无权修改该工单" : e.status === 400 ? `内容有误：${e.message}` : `保存失败：${e.message}`;
    } finally { btn.disabled = false; }
  }
  $("ticket-form").addEventListener("submit", saveForm);
  $("ticket-form").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) saveForm(e); });

  // Voicemail callbacks: closed unanswered tickets of the last 7 days marked
  // for callback and not yet written up. The number is shown whole here: the
  // operator dials it.
  async function loadCallbacks() {
    if (window.hotlineCallbacks) return window.hotlineCallbacks.load(); // the task list (callbacks.js)
    if (!S.me) return;
    const ul = $("callbacks");
    const from = hotlineDay(6);
    try {
      const r = await api("GET", `/api/tickets?status=closed&from=${from}&limit=300`);
      const list = (r.tickets || []).filter((t) => t.callback && !t.seat_id && !t.disposition).slice(0, 30);
      ul.replaceChildren();
      if (r.partial && r.partial.length) ul.append(el("li", { class: "msg error", text: `不完整：节点 ${r.partial.join("、")} 未响应` }));
      if (!list.length) { ul.append(el("li", { class: "muted", text: "没有待回访的留言" })); return; }
      for (const t of list) {
        ul.append(el("li", {},
          el("span", { class: "mono", text: mask(t.caller) }),
          el("span", { class: "cb-meta", text: `${dt(t.opened_at)} · ${label(L.category, t.category, "未分类")}` }),
          el("span", { class: "cb-act" },
            el("button", { class: "small", type: "button", "aria-label": `处理 ${mask(t.caller)} 的留言`, onclick: () => openCallback(t) }, "处理")),
        ));
      }
    } catch (e) { ul.replaceChildren(el("li", { class: "msg error", text: `读取失败：${e.message}` })); }
  }
  $("cb-refresh").addEventListener("click", loadCallbacks);
  async function openCallback(t) {
    if (S.pop && (S.pop.stage === "ringing" || S.pop.stage === "answered")) { toast("通话中，不能打开回访"); return; }
    if (S.formDirty && !confirm("工单有未保存的修改，确定切换？")) return;
    S.pop = { ticket: t, history: [], stage: "callback", wait: t.wait_seconds };
    loadForm(t); renderPop();
    try {
      const from = hotlineDay(90);
      const r = await api("GET", `/api/tickets?caller=${encodeURIComponent(t.caller)}&from=${from}&limit=21`);
      if (S.pop && S.pop.ticket.id === t.id) { S.pop.history = (r.tickets || []).filter((x) => x.id !== t.id).slice(0, 20); renderHistory(S.pop.history); }
    } catch (_) { /* history is a help, not a must */ }
  }

  // ---------- manager wallboard ----------
  function renderSeatGrid() {
    const ul = $("seat-grid");
    const seats = [...S.seats.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    ul.replaceChildren();
    for (const s of seats) {
      const reason = s.state === "not_ready" && s.reason ? label(L.reason, s.reason) : "";
      ul.append(el("li", { class: `seat-card st-${s.state}`, "data-seat": s.id, "data-state": s.state, "data-call": s.call_id || null },
        el("div", { class: "sc-top" }, el("span", { class: "sc-name", text: s.name || s.id }), el("span", { class: "muted mono", text: s.id })),
        el("div", { class: "sc-state" },
          el("span", { class: `badge st-${s.state}`, text: label(L.state, s.state) + (reason ? ` · ${reason}` : "") }),
          s.since ? el("span", { class: "mono muted", "data-since": s.since, text: dur((now() - Date.parse(s.since)) / 1000) }) : null),
        s.via ? el("div", { class: "muted small-text", title: "注册所经节点", text: `经 ${s.via}` }) : null,
      ));
    }
    renderStaffingNow();
  }
  // Several nodes, one call centre (SPEC §11): the nodes and their state,
  // refreshed every 10 s while the wallboard is shown; hidden on one node.
  const nodeState = { alive: "正常", suspect: "失联中", leaving: "停止中", away: "已离开（升级）", dead: "故障" };
  let clusterTimer = 0;
  async function loadCluster() {
    clearTimeout(clusterTimer);
    if (S.view !== "board") return;
    try {
      const r = await api("GET", "/api/cluster");
      const line = $("cluster-line");
      const nodes = r.nodes || [];
      line.hidden = nodes.length === 0;
      line.replaceChildren(el("span", { class: "muted", text: "节点 " }), ...nodes.map((n) =>
        el("span", { class: `node node-${n.state}`, "data-node": n.id, title: n.http || "" },
          `${n.id}${n.id === r.self ? "（本机）" : ""} ${nodeState[n.state] || n.state} · 通话 ${n.calls} · 坐席 ${n.seats_via}`)));
    } catch (_) { /* one node, or not allowed: nothing to show */ }
    clusterTimer = setTimeout(loadCluster, 10000);
  }

  function tickQueueTable() {
    for (const td of document.querySelectorAll("#queue-table [data-enq]")) td.textContent = dur((now() - Date.parse(td.dataset.enq)) / 1000);
  }
  function renderQueueTable() {
    const tb = $("queue-table").tBodies[0];
    tb.replaceChildren();
    for (const q of S.queue) {
      tb.append(el("tr", { class: q.priority === "green" ? "green-row" : null },
        el("td", { text: q.state === "waiting" ? String(q.position) : "—" }),
        el("td", { class: "mono", "data-enq": q.enqueued_at, text: dur((now() - Date.parse(q.enqueued_at)) / 1000) }),
        el("td", { text: label(L.category, q.skill) }),
        el("td", {}, q.priority === "green" ? el("span", { class: "badge green", text: label(L.priority, q.priority) }) : label(L.priority, q.priority || "normal")),
        el("td", { text: q.state === "offered" ? `振铃 ${q.seat || ""}` : label(L.entry, q.state) }),
      ));
    }
    const waiting = S.queue.filter((q) => q.state === "waiting").length;
    $("queue-count").textContent = `等待 ${waiting} · 振铃 ${S.queue.length - waiting}`;
    $("queue-empty").hidden = S.queue.length > 0;
  }

  async function loadStats() {
    try { renderStats(await api("GET", "/api/stats/today")); }
    catch (e) { if (e.status === 404) $("kpi-offered-sub").textContent = "统计接口不可用"; }
  }
  let statsTimer = 0;
  function scheduleStats() {
    // The server pushes "stats" events when it can; without them, refresh
    // once after a burst of calls ends (never a polling loop).
    if (Date.now() - S.lastStatsEvent < 5000) return;
    clearTimeout(statsTimer); statsTimer = setTimeout(loadStats, 1500);
  }
  function renderStats(d) {
    if (window.hotlineCallbacks) window.hotlineCallbacks.stats();
    if (!d) return;
    noteTZ(d.generated_at || d.from);
    const set = (id, v, cls) => { const e = $(id); e.textContent = v; e.classList.remove("bad", "good"); if (cls) e.classList.add(cls); };
    set("kpi-offered", num(d.offered));
    set("kpi-answered", num(d.answered));
    set("kpi-abandoned", num(d.abandoned));
    // The abandon rate beside the count: (abandoned − short) / (offered − short),
    // the answer rate's denominator (internal/stats).
    const abr = d.abandon_rate;
    const rateEl = $("kpi-abandon-rate");
    rateEl.textContent = abr == null ? "" : pct(abr);
    rateEl.classList.toggle("bad", abr != null && abr > 0.05); // above 5 %, the 95 % answer rate is out of reach
    const ar = d.answer_rate, sl = d.service_level;
    // The service level is green at or above acd.target_service_level (sent with the numbers).
    const slTarget = d.target_service_level > 0 && d.target_service_level < 1 ? d.target_service_level : 0.8;
    S.slTarget = slTarget;
    set("kpi-answer-rate", pct(ar), ar == null ? "" : (ar <= 1 ? ar : ar / 100) >= 0.95 ? "good" : "bad");
    set("kpi-service-level", pct(sl), sl == null ? "" : (sl <= 1 ? sl : sl / 100) >= slTarget ? "good" : "bad");
    $("kpi-service-level").dataset.target = String(slTarget);
    $("kpi-sl-target").textContent = `目标 ≥ ${Math.round(slTarget * 1000) / 10}%`;
    set("kpi-asa", secs(d.asa_seconds));
    set("kpi-aht", secs(d.aht_seconds));
    set("kpi-satisfaction", pct(d.satisfaction_rate));
    // 进行中 = every call not over yet (menu, queue, ringing, talking), beside 呼入;
    // 通话中 = of the answered, those still talking, beside 接通 (internal/stats).
    $("kpi-offered-sub").textContent = [d.in_progress ? `进行中 ${d.in_progress}` : "", d.voicemail != null ? `留言 ${d.voicemail}` : ""].filter(Boolean).join(" · ");
    $("kpi-offered-sub").title = "进行中：尚未结束的来电（语音导航、排队、振铃、通话中）";
    $("kpi-answered-sub").textContent = d.talking ? `通话中 ${d.talking}` : "";
    $("kpi-abandoned-sub").textContent = d.short_abandoned != null ? `其中短时放弃 ${d.short_abandoned}（不计入放弃率）` : "";
    $("kpi-rated").textContent = d.rated != null ? `评价 ${d.rated} 次` : "";
    if (d.service_level_seconds) $("kpi-sl-sub").textContent = `${d.service_level_seconds} 秒内接通`;
    const g = d.green, gl = $("kpi-green");
    if (g && g.offered) { gl.hidden = false; gl.textContent = `农民工欠薪绿色通道：呼入 ${g.offered} · 接通 ${num(g.answered)} · 放弃 ${num(g.abandoned)} · 接通率 ${pct(g.answer_rate)} · 服务水平 ${pct(g.service_level)}`; }
    else gl.hidden = true;
  }

  // Hourly chart of any day (inline SVG), with the staffing advice.
  const dateIn = $("chart-date");
  dateIn.addEventListener("change", () => loadChart(dateIn.value));
  let chartTimer = 0;
  function scheduleChart() { if (S.chartDay === hotlineDay()) { clearTimeout(chartTimer); chartTimer = setTimeout(() => loadChart(S.chartDay), 3000); } }
  async function loadChart(day) {
    day = day || hotlineDay();
    S.chartDay = day; dateIn.value = day;
    const [hourly, staffing] = await Promise.all([
      api("GET", `/api/stats/hourly?date=${day}`).catch(() => null),
      api("GET", `/api/stats/staffing?date=${day}`).catch(() => null),
    ]);
    if (day === hotlineDay()) { S.staffing = staffing; renderStaffingNow(); }
    drawChart(hourly, staffing);
    $("staffing-note").textContent = staffingNote(staffing);
  }
  // What the staffing advice is based on, and why it is empty when it is
  // (internal/stats/staffing.go).
  const weekdayZh = { Sunday: "星期日", Monday: "星期一", Tuesday: "星期二", Wednesday: "星期三", Thursday: "星期四", Friday: "星期五", Saturday: "星期六" };
  function staffingNote(st) {
    if (!st) return "建议坐席数暂不可用（统计接口未响应）。";
    const wd = weekdayZh[st.weekday] || st.weekday || "";
    const target = st.target_service_level ? `${Math.round(st.target_service_level * 1000) / 10}%` : "目标比例";
    const how = `建议坐席数按 Erlang C 公式计算：每小时至少需要多少名在线坐席，才能在 ${st.service_level_seconds ?? 15} 秒内接通 ${target} 的来电。`;
    const refs = st.reference_days || [];
    if (!refs.length) return `暂无建议坐席数：需参考此前最近 4 个${wd}（已结束的日子）的来电，但热线最早的工单晚于这些日子，还没有可参考的历史。` + how;
    const partial = refs.length < 4 ? `热线开通不足 4 周，只有 ${refs.length} 天可参考；` : "";
    const any = (st.hours || []).some((h) => h.offered > 0);
    const base = `参考日：${refs.join("、")}（此前最近 ${refs.length} 个${wd}）；${partial}每小时话务量取这些日子该小时的平均呼入，处理时长取其平均通话时长加话后整理 ${Math.round(st.wrap_up_seconds ?? 0)} 秒。`;
    const peak = st.peak_seats_required != null ? `全天高峰需 ${st.peak_seats_required} 席，已配置 ${st.seats_configured} 席。` : "";
    return (any ? "" : "参考日没有来电，因此各时段建议 0 席。") + base + how + peak;
  }
  function renderStaffingNow() {
    const logged = [...S.seats.values()].filter((s) => s.state !== "offline").length;
    let need = null;
    const h = S.staffing && (S.staffing.hours || []).find((x) => x.hour === hotlineNow().getUTCHours());
    if (h) need = h.seats_needed ?? h.seats_required ?? null;
    $("staffing-now").textContent = `在线 ${logged} / ${S.seats.size}` + (need !== null ? ` · 本时段建议 ${need}` : "");
    $("staffing-now").className = need !== null && logged < need ? "badge bad" : "muted";
  }
  const SVG = "http://www.w3.org/2000/svg";
  const sv = (tag, attrs, text) => { const e = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  function drawChart(hourly, staffing) {
    const box = $("chart");
    box.replaceChildren();
    if (!hourly || !hourly.hours) { box.append(el("p", { class: "empty small", text: "没有分时数据（统计接口不可用）" })); return; }
    const W = Math.max(300, box.clientWidth || 600), H = Math.max(140, box.clientHeight || 200);
    const m = { l: 34, r: 40, t: 16, b: 20 };
    const hours = new Map(hourly.hours.map((h) => [h.hour, h]));
    const staff = new Map(((staffing && staffing.hours) || []).map((h) => [h.hour, h.seats_needed ?? h.seats_required]));
    let max = 1, total = 0;
    for (const h of hourly.hours) { max = Math.max(max, h.offered || 0); total += h.offered || 0; }
    // The seats axis (right): 0 to the larger of the advice and the configured seats.
    let smax = Math.max(1, (staffing && staffing.seats_configured) || 0);
    for (const v of staff.values()) if (v != null) smax = Math.max(smax, v);
    const sStep = smax <= 8 ? 1 : smax <= 20 ? 2 : Math.ceil(smax / 8);
    smax = sStep * Math.ceil(smax / sStep);
    const yStep = max <= 5 ? 1 : Math.ceil(max / 4);
    const yMax = yStep * Math.ceil(max / yStep);
    const cw = (W - m.l - m.r) / 24, ih = H - m.t - m.b;
    const y = (v) => m.t + ih - (v / yMax) * ih;
    const svg = sv("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title", "data-offered": total });
    svg.append(sv("title", { id: "chart-title" }, `${hourly.date || ""} 分时话务：每小时呼入、接通、放弃与建议坐席数`));
    for (let v = 0; v <= yMax; v += yStep) {
      svg.append(sv("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), stroke: "#e3e7ed" }));
      svg.append(sv("text", { x: m.l - 4, y: y(v) + 4, "text-anchor": "end" }, String(v)));
    }
    const ys = (v) => m.t + ih - (v / smax) * ih;
    svg.append(sv("text", { x: 2, y: m.t - 5, class: "axis-title" }, "来电（次）"));
    if ([...staff.values()].some((v) => v != null)) {
      const axis = sv("g", { class: "seat-axis", "data-max": smax });
      axis.append(sv("line", { x1: W - m.r, x2: W - m.r, y1: m.t, y2: m.t + ih, stroke: "#e08a00" }));
      for (let v = 0; v <= smax; v += sStep) {
        axis.append(sv("line", { x1: W - m.r, x2: W - m.r + 3, y1: ys(v), y2: ys(v), stroke: "#e08a00" }));
        axis.append(sv("text", { x: W - m.r + 5, y: ys(v) + 4, class: "seat-tick" }, String(v)));
      }
      axis.append(sv("text", { x: W - 2, y: m.t - 5, "text-anchor": "end", class: "axis-title" }, "坐席（席）"));
      if (staffing.seats_configured) {
        axis.append(sv("line", { x1: m.l, x2: W - m.r, y1: ys(staffing.seats_configured), y2: ys(staffing.seats_configured), stroke: "#e08a00", "stroke-dasharray": "2 4", opacity: 0.6 }));
        axis.append(sv("text", { x: W - m.r - 4, y: ys(staffing.seats_configured) + 12, "text-anchor": "end", class: "seat-tick" }, `已配置 ${staffing.seats_configured} 席`));
      }
      svg.append(axis);
    }
    const pts = [];
    for (let hr = 0; hr < 24; hr++) {
      const h = hours.get(hr) || {};
      const x = m.l + hr * cw;
      const g = sv("g", {});
      g.append(sv("title", {}, `${hr}时：呼入 ${h.offered || 0}，接通 ${h.answered || 0}，放弃 ${h.abandoned || 0}` + (staff.get(hr) != null ? `，建议坐席 ${staff.get(hr)}` : "")));
      const bw = cw * 0.7, bx = x + (cw - bw) / 2;
      if (h.offered) g.append(sv("rect", { x: bx, y: y(h.offered), width: bw, height: y(0) - y(h.offered), fill: "#b9cde3", rx: 2 }));
      if (h.answered) g.append(sv("rect", { x: bx + bw * 0.15, y: y(h.answered), width: bw * 0.45, height: y(0) - y(h.answered), fill: "#0b4f8a" }));
      if (h.abandoned) g.append(sv("rect", { x: bx + bw * 0.62, y: y(h.abandoned), width: bw * 0.3, height: y(0) - y(h.abandoned), fill: "#d9534f" }));
      svg.append(g);
      if (hr % 3 === 0) svg.append(sv("text", { x: x + cw / 2, y: H - 5, "text-anchor": "middle" }, `${hr}`));
      const need = staff.get(hr);
      if (need != null) pts.push([x + cw / 2, ys(need)]);
    }
    if (pts.length) {
      svg.append(sv("polyline", { class: "staff-line", points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#e08a00", "stroke-width": 2 }));
    }
    if (hourly.date === hotlineDay()) {
      const hn = hotlineNow();
      const x = m.l + (hn.getUTCHours() + hn.getUTCMinutes() / 60) * cw;
      svg.append(sv("line", { x1: x, x2: x, y1: m.t, y2: m.t + ih, stroke: "#0b4f8a", "stroke-dasharray": "3 3" }));
    }
    box.append(svg);
  }

  // Ticket search and recording playback (managers).
  function searchDefaults() {
    if ($("s-from").dataset.touched) return;
    $("s-from").value = hotlineDay(); $("s-to").value = hotlineDay();
  }
  for (const id of ["s-from", "s-to"]) $(id).addEventListener("change", () => { $("s-from").dataset.touched = "1"; });
  $("search-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const caller = $("s-caller").value.trim();
    if (caller) q.set("caller", caller);
    if ($("s-status").value) q.set("status", $("s-status").value);
    if ($("s-from").value) q.set("from", $("s-from").value);
    if ($("s-to").value) q.set("to", $("s-to").value);
    q.set("limit", "200");
    const msg = $("s-msg");
    msg.className = "msg"; msg.textContent = "查询中…";
    try {
      const r = await api("GET", `/api/tickets?${q}`);
      renderSearch(r.tickets || []);
      msg.textContent = `共 ${(r.tickets || []).length} 条`;
      // In a cluster, a node that did not answer in time: its tickets are missing.
      if (r.partial && r.partial.length) {
        msg.className = "msg error";
        msg.textContent += `（不完整：节点 ${r.partial.join("、")} 未响应，其工单未列出）`;
      }
    } catch (e) { msg.className = "msg error"; msg.textContent = `查询失败：${e.message}`; }
  });
  function renderSearch(list) {
    const tb = $("search-table").tBodies[0];
    tb.replaceChildren();
    for (const t of list) {
      const wo = t.workorder || {};
      tb.append(el("tr", { "data-ticket": t.id, class: t.priority === "green" ? "green-row" : null },
        el("td", { class: "mono", title: t.id, text: dt(t.opened_at) }),
        el("td", { class: "mono", text: t.caller }),
        el("td", { text: label(L.category, t.category) }),
        el("td", { text: t.status === "open" ? label(L.status, t.status) : label(L.outcome, t.outcome) + (t.abandon_stage ? `·${label(L.stage, t.abandon_stage)}` : "") }),
        el("td", { text: t.seat_id || "—" }),
        el("td", { class: "mono", text: t.wait_seconds == null ? "—" : dur(t.wait_seconds) }),
        el("td", { class: "mono", text: t.talk_seconds == null ? "—" : dur(t.talk_seconds) }),
        el("td", { text: label(L.satisfaction, t.satisfaction) }),
        el("td", {}, el("span", { class: wo.state === "dead" ? "badge bad" : wo.state === "delivered" ? "badge st-ready" : "badge", title: wo.last_error || "", text: label(L.wo, wo.state) })),
        el("td", { class: "sum", title: t.summary || "", text: t.summary || "" }),
        el("td", {}, t.recording ? el("button", { class: "small", type: "button", "aria-label": `播放工单 ${t.id} 的录音`, onclick: () => play(t) }, "播放")
          : t.recording_deleted_at ? el("span", { class: "muted", text: "已过期删除" }) : "—"),
      ));
    }
  }
  function play(t) {
    const p = $("player");
    p.hidden = false;
    // preload=none: nothing is downloaded (nor audited) until played.
    const audio = el("audio", { controls: true, preload: "none", src: `/api/tickets/${encodeURIComponent(t.id)}/recording`, "aria-label": `工单 ${t.id} 录音` });
    p.replaceChildren(el("span", { class: "mono", text: `${t.id}` }), audio,
      el("button", { class: "small ghost", type: "button", onclick: () => { audio.pause(); p.hidden = true; p.replaceChildren(); } }, "关闭"));
    audio.play().catch(() => { /* the controls are there */ });
  }

  // Dead letters and redeliver.
  let deadTimer = 0;
  function scheduleDead() { clearTimeout(deadTimer); deadTimer = setTimeout(loadDead, 3000); }
  async function loadDead() {
    if (!canManage()) return;
    const msg = $("dead-msg");
    try {
      const r = await api("GET", "/api/workorder/dead");
      renderDead(r.tickets || []);
      msg.textContent = r.partial && r.partial.length ? `不完整：节点 ${r.partial.join("、")} 未响应` : "";
    } catch (e) { msg.className = "msg error"; msg.textContent = e.status === 404 ? "推送失败列表不可用" : `读取失败：${e.message}`; }
  }
  // The banner when the work-order push is not configured (workorder.url empty).
  async function loadWorkorderStatus() {
    if (!canManage()) return;
    try { const r = await api("GET", "/api/workorder/status"); $("wo-banner").hidden = !!r.configured; }
    catch (_) { $("wo-banner").hidden = true; }
  }
  $("dead-all").addEventListener("click", async () => {
    const b = $("dead-all"), msg = $("dead-msg");
    b.disabled = true;
    try {
      const r = await api("POST", "/api/workorder/redeliver-all");
      msg.className = "msg ok";
      msg.textContent = `已重新排队 ${r.tickets} 张工单（${r.revisions} 个版本），稍后自动推送` +
        (r.failed && r.failed.length ? `；${r.failed.length} 张失败` : "") + (r.partial && r.partial.length ? `；节点 ${r.partial.join("、")} 未响应` : "");
      scheduleDead();
    } catch (e) { msg.className = "msg error"; msg.textContent = `全部重新推送失败：${e.message}`; }
    finally { b.disabled = false; }
  });
  function renderDead(list) {
    const tb = $("dead-table").tBodies[0];
    tb.replaceChildren();
    $("dead-count").textContent = list.length ? String(list.length) : "";
    $("dead-empty").hidden = list.length > 0;
    $("dead-all").hidden = list.length === 0;
    for (const t of list) {
      const wo = t.workorder || {};
      const btn = el("button", { class: "small", type: "button", "aria-label": `重新推送工单 ${t.id}` }, "重新推送");
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        try {
          const r = await api("POST", `/api/tickets/${encodeURIComponent(t.id)}/redeliver`);
          $("dead-msg").className = "msg ok"; $("dead-msg").textContent = `已重新排队 ${r && r.requeued != null ? r.requeued + " 个版本" : ""}`;
          scheduleDead();
        } catch (e) { btn.disabled = false; $("dead-msg").className = "msg error"; $("dead-msg").textContent = `重新推送失败：${e.message}`; }
      });
      tb.append(el("tr", { "data-ticket": t.id },
        el("td", { class: "mono", text: t.id }),
        el("td", { class: "mono", text: dt(t.opened_at) }),
        el("td", { text: label(L.outcome, t.outcome, label(L.status, t.status)) }),
        el("td", { text: String(wo.attempts ?? "—") }),
        el("td", { class: "err", title: wo.last_error || "", text: HotlineErrors.workorderError(wo.last_error) }),
        el("td", {}, btn)));
    }
  }
  $("dead-refresh").addEventListener("click", loadDead);

  // Tabs (keyboard: arrows move between them).
  const tabs = [$("tab-search"), $("tab-dead")];
  function selectTab(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on)); t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (tab.id === "tab-dead") loadDead();
  }
  for (const t of tabs) {
    t.addEventListener("click", () => selectTab(t));
    t.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const n = tabs[(tabs.indexOf(t) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      selectTab(n); n.focus();
    });
  }
  let resizeTimer = 0;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { if (S.view === "board") loadChart(S.chartDay); }, 300); });

  // ---------- hooks for the desk's add-ons ----------
  window.hotlineConsole = { api, state: S, el, $, toast, dur, now, label: (kind, v) => label(L[kind], v), onPop: (fn) => popHooks.push(fn) };
  // What callbacks.js uses besides (label with a map, not a kind).
  Object.assign(window.hotlineConsole, { dt, openCallback, L, labelMap: label, me: () => S.me, view: () => S.view });

  // ---------- boot ----------
  (async () => {
    try { const me = await api("GET", "/api/me"); await start(me); }
    catch (_) { showLogin(); }
  })();
})();
