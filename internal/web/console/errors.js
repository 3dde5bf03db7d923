// 12348 console: every error the server sends, in Chinese (loaded before
// app.js, which calls HotlineErrors.zh from api()).
//
// The server's JSON errors are {"error": English text} and, where an
// endpoint has one, a stable "code". The console never shows the English:
//   1. a known code → its sentence (codes below; other console files add
//      theirs with HotlineErrors.codes[code] = "…");
//   2. a known text (exact, or a known prefix for texts that name a field
//      or a value) → its sentence;
//   3. otherwise the sentence for the HTTP status (with the status number,
//      so that support can find the request in the log).
// The English text stays on the Error as serverMessage (and in the log).
"use strict";
window.HotlineErrors = (() => {
  const codes = {
    redeliver_failed: "重新推送失败：读取推送失败列表出错",
    not_configured: "该功能未配置",
  };
  const texts = {
    "login required": "登录已过期，请重新登录",
    "bad username or password": "用户名或密码错误",
    "too many failed logins; try again later": "失败次数过多，请稍后再试",
    "too many logins at once; try again in a moment": "登录人数过多，请稍后再试",
    "login failed": "登录失败",
    "for managers": "仅值班长可执行此操作",
    "operators set their own seat only": "坐席只能设置自己的状态",
    "operators edit the tickets of their own calls, the call on their seat and their callback work": "坐席只能编辑本人通话和本人回访的工单",
    "recordings are for managers; operators hear the voicemails of their callback work": "录音仅值班长可听；坐席只能收听本人回访任务的留言",
    "the seat's phone is not registered": "坐席话机未注册，请先登录软电话",
    "no such seat": "没有这个坐席",
    "no such ticket": "没有这张工单",
    "no such API route": "接口不存在（控制台与服务版本不一致？请刷新页面）",
    "ticket has no recording": "该工单没有录音",
    "recording file missing": "录音文件缺失",
    "recording deleted by the retention policy": "录音已按保存期限删除",
    "recording unreadable": "录音文件无法读取",
    "could not compute statistics": "统计计算失败",
    "statistics are not configured": "统计未启用",
    "live events are not configured": "实时事件未启用",
    "could not list dead letters": "读取推送失败列表出错",
    "could not list tickets": "查询工单出错",
    "could not read ticket": "读取工单出错",
    "could not save the ticket": "保存工单出错",
    "could not redeliver": "重新推送出错",
    "could not reconcile": "对账出错",
    "could not write the audit log": "写审计日志出错，操作未执行",
    "could not work out what you may see": "权限检查出错",
    "body too large": "提交内容过大",
    "body must be one JSON object": "提交内容格式错误",
    "date: must be YYYY-MM-DD": "日期格式应为 年-月-日",
    "limit: must be a positive number": "条数必须是正数",
    "state: must be ready or not_ready": "状态只能是就绪或未就绪",
    "status: must be open or closed": "状态只能是进行中或已结束",
    "reason: at most 64 bytes": "原因过长",
    "not your ticket": "不是您的工单",
    "nothing to change: send summary, category, legal_domain or disposition": "没有要保存的修改",
  };
  const prefixes = [
    ["cross-origin request refused", "请求被拒绝：来源不符（请从控制台页面操作）"],
    ["the list of nodes is unavailable", "集群节点列表暂不可用"],
    ["from: ", "起始日期格式错误"],
    ["to: ", "结束日期格式错误"],
    ["body must be", "提交内容格式错误"],
    ["summary", "来电摘要不符合要求（最多 2000 字）"],
    ["category", "业务类别不在可选范围内"],
    ["legal_domain", "法律领域不在可选范围内"],
    ["disposition", "处理结果不在可选范围内"],
    ["agent:", "坐席当前状态不允许此操作"],
    // call control (web/calls.go)
    ["not your call", "不是您的通话：只有接听坐席或值班长可以操作"],
    ["the call is not connected now", "通话当前未接通（排队中、振铃中或已结束）"],
    ["the call ended", "通话已结束"],
    ["dtmf needs", "按键只能是 0-9、*、#、A-D，1 到 32 个"],
    ["digits only go with dtmf", "只有发送按键时才能填写按键"],
    ["no such call action", "不支持的通话操作"],
    ["call control failed", "通话控制失败"],
    ["ticket lookup failed", "查找工单出错"],
    ["acd:", "坐席当前状态不允许此操作"],
  ];
  const statuses = {
    400: "请求内容有误",
    401: "登录已过期，请重新登录",
    403: "没有权限执行此操作",
    404: "要找的内容不存在",
    409: "当前状态不允许此操作",
    410: "内容已删除",
    413: "提交内容过大",
    429: "操作过于频繁，请稍后再试",
    500: "服务器内部错误",
    502: "集群中的其他节点未响应",
    503: "服务暂不可用，请稍后再试",
    504: "服务器响应超时",
  };
  const hasHan = (s) => /[\u4e00-\u9fff]/.test(s);
  // zh is the Chinese sentence for an error answer (status 0: no answer at all).
  function zh(status, data) {
    const code = data && data.code, text = data && typeof data.error === "string" ? data.error.trim() : "";
    if (code && codes[code]) return codes[code];
    if (text && hasHan(text)) return text; // the server already speaks Chinese
    if (text && texts[text]) return texts[text];
    for (const [p, s] of prefixes) if (text.startsWith(p)) return s;
    if (!status) return "无法连接服务器，请检查网络";
    const base = statuses[status] || (status >= 500 ? "服务器错误" : "请求失败");
    return `${base}（错误 ${status}）`;
  }
  // workorderError: a dead letter's last_error (internal/ticket/push.go) in
  // Chinese, keeping the receiver's own reply as it came.
  function workorderError(s) {
    if (!s) return "";
    let m = /^receiver answered (\d{3})[^:]*(?::\s*(.*))?$/s.exec(s);
    if (m) return `工单系统拒收（HTTP ${m[1]}）` + (m[2] ? `，对方答复：${m[2]}` : "，对方未说明原因");
    if (s === "timeout") return "工单系统超时未答复";
    if (s === "bad workorder.url") return "工单系统地址（workorder.url）配置错误";
    if (/connection refused/.test(s)) return "无法连接工单系统（连接被拒绝）";
    if (/no such host/.test(s)) return "无法连接工单系统（域名无法解析）";
    if (/certificate|x509|tls/i.test(s)) return "无法连接工单系统（证书错误）";
    if (/connection reset|EOF/.test(s)) return "工单系统连接中断";
    return hasHan(s) ? s : "推送失败（网络或对方系统错误，详情见提示）";
  }
  return { zh, workorderError, codes, texts };
})();
