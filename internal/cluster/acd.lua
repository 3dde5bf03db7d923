-- The hotline's shared ACD (SPEC §6, §11) as one Redis script: every step
-- of every node — a call queued, an offer answered, a seat registering, a
-- node found dead — is one atomic run of this script on the Redis server,
-- which changes the state, pairs waiting calls with ready seats by exactly
-- the rules of package acd (dispatch.go: green first, then arrival; the
-- longest-idle ready seat with the skill; any seat after skill_fallback;
-- decliners last and not before decline_pause), and appends what changed to
-- the stream every node reads. Whichever node runs it, the result is the one
-- the single-node ACD gives; acd's tests and the differential test in this
-- package hold the two to that.
--
-- Lua has no rollback: every operation checks everything first and writes
-- after, so an error leaves nothing half done.
--
-- KEYS[1] is <prefix>:gen; every key below starts with <prefix>, one hash
-- tag ({hotline}), so Redis Cluster keeps them in one slot.
-- ARGV: op, node, boot, now (ms; "0": the server's TIME), config JSON, args…
-- Returns a JSON object: {"r": result, "e": error code, "next": ms of the
-- next deadline (0: none), "now": ms, "claims": offers made, "gen": …}.

local P = string.sub(KEYS[1], 1, -5)
local op, NODE, BOOT = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cfg = cjson.decode(ARGV[5])
-- cfg: ring (ring_timeout; 0: no ring watchdog), wrap, maxwait, fallback,
-- pause, timeout (node_timeout), suspect, freeze, leavegrace, maxlen
-- (stream), all ms except maxlen.

local changes = {}
local claims = 0
local result = nil

local function fail(code, msg)
  return error({err = code .. ' ' .. (msg or '')})
end

local function k(...)
  return P .. ':' .. table.concat({...}, ':')
end

local function num(v)
  return tonumber(v) or 0
end

-- Nodes ------------------------------------------------------------------

local nodeCache = {}
local function node(id)
  local n = nodeCache[id]
  if n == nil then
    local v = redis.call('HMGET', k('node', id), 'boot', 'hb', 'state')
    n = {id = id, boot = v[1] or '', hb = num(v[2]), state = v[3] or ''}
    nodeCache[id] = n
  end
  return n
end

-- live: the node heartbeats (not suspect) and takes work. A node silent
-- for cfg.suspect is not given new work but is not dead until cfg.timeout.
local function live(id)
  if id == '' then return true end
  local n = node(id)
  return n.state == 'alive' and n.hb + cfg.suspect > now
end

-- Seats ------------------------------------------------------------------

local SEATF = {'name', 'skills', 'st', 'rs', 'since', 'idle', 'reg', 'call', 'tok', 'wu', 'onr', 'ors', 'via', 'cnode', 'cboot'}

local function getSeat(id)
  local v = redis.call('HMGET', k('seat', id), unpack(SEATF))
  if not v[3] then return nil end
  return {id = id, name = v[1] or '', skills = v[2] or ',', st = v[3], rs = v[4] or '',
    since = num(v[5]), idle = num(v[6]), reg = v[7] == '1', call = v[8] or '', tok = num(v[9]),
    wu = num(v[10]), onr = v[11] == '1', ors = v[12] or '', via = v[13] or '', cnode = v[14] or '', cboot = v[15] or ''}
end

local seatList = nil
local function allSeats()
  if seatList == nil then
    local ids = redis.call('SMEMBERS', k('seats'))
    table.sort(ids)
    seatList = {}
    for _, id in ipairs(ids) do
      local s = getSeat(id)
      if s then table.insert(seatList, s) end
    end
  end
  return seatList
end

local function seatByID(id)
  for _, s in ipairs(allSeats()) do
    if s.id == id then return s end
  end
  return nil
end

local function skillsList(s)
  local out = {}
  for sk in string.gmatch(s.skills, '[^,]+') do table.insert(out, sk) end
  return out
end

local function seatView(s)
  return {id = s.id, name = s.name, skills = skillsList(s), state = s.st, reason = s.rs, since = s.since,
    idle = s.idle, reg = s.reg, call = s.call, tok = s.tok, wu = s.wu, onr = s.onr, ors = s.ors, via = s.via,
    cnode = s.cnode}
end

local function hasSkill(s, sk)
  return string.find(s.skills, ',' .. sk .. ',', 1, true) ~= nil
end

local function same(a, b)
  return a.st == b.st and a.rs == b.rs and a.call == b.call and a.tok == b.tok and a.since == b.since and
    a.idle == b.idle and a.wu == b.wu and a.onr == b.onr and a.ors == b.ors and a.via == b.via
end

local function copy(s)
  local c = {}
  for key, v in pairs(s) do c[key] = v end
  return c
end

local function emit(kind, s, c)
  table.insert(changes, {k = kind, at = now, s = s and seatView(s) or nil, c = c})
end

local function putSeat(s)
  redis.call('HSET', k('seat', s.id), 'name', s.name, 'skills', s.skills, 'st', s.st, 'rs', s.rs,
    'since', s.since, 'idle', s.idle, 'reg', s.reg and '1' or '0', 'call', s.call, 'tok', s.tok,
    'wu', s.wu, 'onr', s.onr and '1' or '0', 'ors', s.ors, 'via', s.via, 'cnode', s.cnode, 'cboot', s.cboot)
  emit('seat_changed', s, nil)
end

-- The seat state machine of package agent (machine.go), move for move.
local function move(s, to)
  if s.st ~= to then s.since = now end
  s.st = to
  s.reg = to ~= 'offline'
  if to ~= 'not_ready' then s.rs = '' end
  if to == 'offline' or to == 'ready' or to == 'not_ready' then
    s.call, s.tok, s.cnode, s.cboot = '', 0, '', ''
  end
  if to ~= 'wrap_up' then s.wu = 0 end
end

local function free(s, idle)
  if s.onr then
    move(s, 'not_ready')
    s.rs = s.ors
    return
  end
  move(s, 'ready')
  if idle then s.idle = now end
end

local function available(s)
  return s.st ~= 'offline' and s.st ~= 'not_ready'
end

-- Calls ------------------------------------------------------------------

local CALLF = {'sk', 'pr', 'seq', 'enq', 'node', 'boot', 'seat', 'tok', 'dec', 'dat'}

local function getCall(id)
  local v = redis.call('HMGET', k('call', id), unpack(CALLF))
  if not v[1] then return nil end
  local dec = {}
  for d in string.gmatch(v[9] or '', '[^,]+') do table.insert(dec, d) end
  return {id = id, sk = v[1], pr = v[2], seq = num(v[3]), enq = num(v[4]), node = v[5] or '', boot = v[6] or '',
    seat = v[7] or '', tok = num(v[8]), dec = dec, dat = num(v[10])}
end

local function putCall(e)
  redis.call('HSET', k('call', e.id), 'sk', e.sk, 'pr', e.pr, 'seq', e.seq, 'enq', e.enq, 'node', e.node,
    'boot', e.boot, 'seat', e.seat, 'tok', e.tok, 'dec', table.concat(e.dec, ','), 'dat', e.dat)
end

local function qname(pr, sk) return pr .. '|' .. sk end
local function qkey(pr, sk) return k('q', qname(pr, sk)) end

local function declined(e, id)
  for _, d in ipairs(e.dec) do
    if d == id then return true end
  end
  return false
end

-- The FIFOs in dispatch order: green first, then by priority and skill.
local function queues()
  local out = {}
  for _, name in ipairs(redis.call('SMEMBERS', k('qs'))) do
    local pr, sk = string.match(name, '^([^|]*)|(.*)$')
    table.insert(out, {pr = pr, sk = sk, key = k('q', name)})
  end
  table.sort(out, function(a, b)
    local ga, gb = a.pr == 'green', b.pr == 'green'
    if ga ~= gb then return ga end
    if a.pr ~= b.pr then return a.pr < b.pr end
    return a.sk < b.sk
  end)
  return out
end

-- green first, then arrival (the Redis sequence, never a node's clock).
local function cmpEntry(a, b)
  local ga, gb = a.pr == 'green', b.pr == 'green'
  if ga ~= gb then
    if ga then return -1 end
    return 1
  end
  if a.seq < b.seq then return -1 end
  if a.seq > b.seq then return 1 end
  return 0
end

-- walk calls fn with the waiting entries of a FIFO from its head until fn
-- returns false: the head alone first, then pages 8 times larger (acd.walk).
local function walk(q, fn)
  local skip, n = 0, 1
  while true do
    local ids = redis.call('ZRANGE', q.key, skip, skip + n - 1)
    for _, id in ipairs(ids) do
      local e = getCall(id)
      if e and not fn(e) then return end
    end
    if #ids < n then return end
    skip = skip + n
    n = math.min(n * 8, 64)
  end
end

local function position(e)
  if e.seat ~= '' then return 0 end
  local pos = 1
  for _, q in ipairs(queues()) do
    if q.pr == 'green' and e.pr ~= 'green' then
      pos = pos + redis.call('ZCARD', q.key)
    elseif q.pr == e.pr then
      pos = pos + redis.call('ZCOUNT', q.key, '-inf', '(' .. e.seq)
    end
  end
  return pos
end

local function view(e, pos)
  local state = 'waiting'
  if e.seat ~= '' then state = 'offered' end
  return {id = e.id, skill = e.sk, prio = e.pr, state = state, pos = pos, seat = e.seat, enq = e.enq,
    seq = e.seq, node = e.node, boot = e.boot, tok = e.tok}
end

-- finish takes a call out of the ACD (acd.finish).
local function finish(e, kind, s)
  redis.call('DEL', k('call', e.id))
  redis.call('ZREM', qkey(e.pr, e.sk), e.id)
  redis.call('SREM', k('ncalls', e.node), e.id)
  emit(kind, s, view(e, 0))
end

local function loggedIn()
  local n = 0
  for _, s in ipairs(allSeats()) do
    if s.reg then n = n + 1 end
  end
  return n
end

-- offerFailed puts an offered call back to waiting at its place
-- (acd.offerFailed); s is the seat that did not take it, in its new state.
local function offerFailed(e, s, kind)
  local tok = e.tok
  e.seat, e.tok = '', 0
  if kind == 'call_declined' then
    if not declined(e, s.id) then table.insert(e.dec, s.id) end
    e.dat = now
    if cfg.pause > 0 then
      redis.call('ZADD', k('wakes'), now + cfg.pause, (now + cfg.pause) .. ':' .. e.id)
    end
  end
  putCall(e)
  redis.call('ZADD', qkey(e.pr, e.sk), e.seq, e.id)
  local v = view(e, position(e))
  v.tok = tok
  emit(kind, s, v)
end

-- noSeatsLeft: the last seat logged out: every waiting call goes to
-- voicemail (acd.noSeatsLeft).
local function noSeatsLeft()
  if loggedIn() > 0 then return end
  for _, q in ipairs(queues()) do
    local gone = {}
    walk(q, function(e)
      table.insert(gone, e)
      return true
    end)
    for _, e in ipairs(gone) do finish(e, 'call_no_seats', nil) end
  end
end

local function unregister(s)
  if s.st == 'offline' then return end
  local was, call = s.st, s.call
  move(s, 'offline')
  putSeat(s)
  if was == 'ringing' then
    local e = getCall(call)
    if e and e.seat == s.id then offerFailed(e, s, 'call_withdrawn') end
  end
  noSeatsLeft()
end

-- Bindings (the seats' SIP registrations, sip.Binding) -------------------

local BINDF = {'contact', 'src', 'tr', 'ua', 'exp', 'cid', 'cseq', 'node', 'boot'}

local function getBinding(seat)
  local v = redis.call('HMGET', k('bind', seat), unpack(BINDF))
  if not v[1] then return nil end
  return {seat = seat, contact = v[1], src = v[2] or '', tr = v[3] or '', ua = v[4] or '', exp = num(v[5]),
    cid = v[6] or '', cseq = num(v[7]), node = v[8] or '', boot = v[9] or ''}
end

local function putBinding(b)
  redis.call('HSET', k('bind', b.seat), 'contact', b.contact, 'src', b.src, 'tr', b.tr, 'ua', b.ua,
    'exp', b.exp, 'cid', b.cid, 'cseq', b.cseq, 'node', b.node, 'boot', b.boot)
  redis.call('PEXPIREAT', k('bind', b.seat), b.exp + 60000)
  redis.call('ZADD', k('bindexp'), b.exp, b.seat)
end

local function dropBinding(seat)
  redis.call('DEL', k('bind', seat))
  redis.call('ZREM', k('bindexp'), seat)
end

local function liveBinding(seat)
  local b = getBinding(seat)
  if b and b.exp > now then return b end
  return nil
end

-- register: the seat has a live binding through node via.
local function register(s, via)
  local old = copy(s)
  s.via = via
  if s.st == 'offline' then free(s, true) end
  if not same(old, s) then putSeat(s) end
end

-- The steps of one call (acd/calls.go) ------------------------------------

-- ringDue: seat s has rung ring_timeout (acd.expireRings).
local function ringDue(s)
  return (cfg.ring or 0) > 0 and s.st == 'ringing' and now - s.since >= cfg.ring
end

-- ringing: the call's entry and its seat, if the offer tok stands.
local function ringing(callID, seatID, tok)
  local e = getCall(callID)
  if not e then fail('NOTOFFERED', 'call ' .. callID .. ' is not queued') end
  if e.seat ~= seatID or e.tok ~= tok then
    fail('NOTOFFERED', 'seat ' .. seatID .. ' offer #' .. tok .. ' (current: ' .. e.seat .. ' #' .. e.tok .. ')')
  end
  local s = seatByID(seatID)
  if not s or s.st ~= 'ringing' or s.call ~= callID then fail('NOTOFFERED', 'seat ' .. seatID .. ' is not ringing for it') end
  if ringDue(s) then
    -- Past the deadline, before the timer settled: the watchdog's RONA
    -- stands (settle takes it, as acd.expireRings does first).
    fail('NOTOFFERED', 'seat ' .. seatID .. ' offer #' .. tok .. ': ring timed out')
  end
  return e, s
end

-- Node liveness ------------------------------------------------------------

local function nodeOf(n)
  return redis.call('HMGET', k('node', n), 'boot', 'hb', 'state')
end

-- reap takes what a dead boot of node n held out of the shared state:
-- its calls (their dialogs died with it), the offers to them, the seats
-- talking to them (→ wrap-up) and the seats registered only through it
-- (→ offline). How its UDP registrations go (the TCP ones died with its
-- connections):
--   mode 'dead': dropped too;
--   mode 'away': kept — the node left gracefully (drained for an upgrade)
--     and will likely come back with the same socket address; the node
--     is 'away' (no work for it or its seats) until it rejoins or
--     cfg.leavegrace passes;
--   any other mode is a new boot of the node (join): kept and handed to it.
local function reap(n, boot, mode)
  for _, id in ipairs(redis.call('SMEMBERS', k('ncalls', n))) do
    local e = getCall(id)
    if e == nil then
      redis.call('SREM', k('ncalls', n), id)
    elseif e.boot == boot then
      local s = nil
      if e.seat ~= '' then
        s = seatByID(e.seat)
        if s and s.st == 'ringing' and s.call == e.id then
          free(s, false)
          putSeat(s)
        end
      end
      finish(e, 'call_dropped', s)
    end
  end
  for _, s in ipairs(allSeats()) do
    if s.cnode == n and s.cboot == boot then
      if s.st == 'busy' then
        move(s, 'wrap_up')
        s.wu = now + cfg.wrap
        putSeat(s)
      elseif s.st == 'ringing' then
        free(s, false)
        putSeat(s)
      end
    end
  end
  for _, s in ipairs(allSeats()) do
    local b = getBinding(s.id)
    if b and b.node == n and b.boot == boot then
      local udp = string.upper(b.tr) == 'UDP'
      if udp and mode ~= 'dead' and mode ~= 'away' then
        b.boot = mode
        putBinding(b)
      elseif not (udp and mode == 'away') then
        dropBinding(s.id)
        unregister(s)
      end
    end
  end
  if mode == 'dead' or mode == 'away' then
    redis.call('HSET', k('node', n), 'state', mode, 'deadat', now)
    table.insert(changes, {k = 'node_' .. mode, at = now, node = n})
  end
end

local function reapDead()
  for _, n in ipairs(redis.call('SMEMBERS', k('nodes'))) do
    local v = nodeOf(n)
    local state, hb = v[3] or '', num(v[2])
    if state == 'alive' and hb + cfg.timeout <= now then
      reap(n, v[1] or '', 'dead')
    elseif state == 'leaving' and hb + cfg.timeout <= now then
      reap(n, v[1] or '', 'away')
    elseif state == 'away' and hb + cfg.leavegrace <= now then
      reap(n, v[1] or '', 'dead')
    elseif state == 'dead' and num(redis.call('HGET', k('node', n), 'deadat')) + 86400000 < now then
      redis.call('DEL', k('node', n), k('ncalls', n))
      redis.call('SREM', k('nodes'), n)
    elseif state == '' then
      redis.call('SREM', k('nodes'), n)
    end
  end
  nodeCache = {}
end

local function expireBindings()
  local due = redis.call('ZRANGEBYSCORE', k('bindexp'), '-inf', now)
  for _, seat in ipairs(due) do
    dropBinding(seat)
    local s = seatByID(seat)
    if s then unregister(s) end
  end
end

-- Dispatch (acd/dispatch.go) -------------------------------------------------

local function frozen()
  return num(redis.call('GET', k('freeze'))) > now
end

local function readyOrder(seats)
  local r = {}
  for _, s in ipairs(seats) do
    if s.st == 'ready' and live(s.via) then table.insert(r, s) end
  end
  table.sort(r, function(a, b)
    if a.idle ~= b.idle then return a.idle < b.idle end
    return a.id < b.id
  end)
  return r
end

-- pick: acd.pick, rule for rule.
local function pick(e, seats, ready)
  if not live(e.node) then return nil, true end -- its node cannot ring now
  local past = now - e.enq >= cfg.fallback
  local other = nil
  for _, s in ipairs(ready) do
    if not declined(e, s.id) then
      if hasSkill(s, e.sk) then return s, true end
      if past and other == nil then other = s end
    end
  end
  if other then return other, true end
  if #e.dec == 0 then return nil, false end
  for _, s in ipairs(seats) do
    if available(s) and (past or hasSkill(s, e.sk)) and not declined(e, s.id) then return nil, true end
  end
  if now < e.dat + cfg.pause then return nil, true end
  for _, s in ipairs(ready) do
    if hasSkill(s, e.sk) then return s, true end
  end
  if past then return ready[1], true end
  return nil, false
end

local function offer(e, s)
  local tok = redis.call('INCR', k('fence'))
  e.seat, e.tok = s.id, tok
  redis.call('ZREM', qkey(e.pr, e.sk), e.id)
  putCall(e)
  move(s, 'ringing')
  s.call, s.tok, s.cnode, s.cboot = e.id, tok, e.node, e.boot
  putSeat(s)
  emit('call_offered', s, view(e, 0))
  claims = claims + 1
end

local function dispatch(seats)
  if frozen() then return end
  while true do
    local ready = readyOrder(seats)
    if #ready == 0 then return end
    local best, bestSeat = nil, nil
    for _, q in ipairs(queues()) do
      if best and best.pr == 'green' and q.pr ~= 'green' then break end
      walk(q, function(e)
        if best and cmpEntry(e, best) >= 0 then return false end
        local s, more = pick(e, seats, ready)
        if s then
          best, bestSeat = e, s
          return false
        end
        return more
      end)
    end
    if not best then return end
    offer(best, bestSeat)
  end
end

-- expireRings: the ring watchdog (acd.expireRings): a seat that rang
-- ring_timeout is RONA, and its call waits again (the owning node tells the
-- call's goroutine: Event RingTimeout).
local function expireRings(seats)
  for _, s in ipairs(seats) do
    if ringDue(s) then
      local e = getCall(s.call)
      move(s, 'not_ready')
      s.rs = 'no_answer'
      putSeat(s)
      if e and e.seat == s.id then offerFailed(e, s, 'call_no_answer') end
    end
  end
end

local function expireWaits()
  if cfg.maxwait <= 0 then return end
  for _, q in ipairs(queues()) do
    local due = {}
    walk(q, function(e)
      if now - e.enq < cfg.maxwait then return false end
      table.insert(due, e)
      return true
    end)
    for _, e in ipairs(due) do finish(e, 'call_timed_out', nil) end
  end
end

-- nextDeadline: acd.rearm's deadlines, and the cluster's own: the next
-- binding expiry, the next node to reach node_timeout, the end of a freeze.
local function nextDeadline(seats)
  local nxt = 0
  local function consider(t)
    if t > now and (nxt == 0 or t < nxt) then nxt = t end
  end
  redis.call('ZREMRANGEBYSCORE', k('wakes'), '-inf', now)
  local w = redis.call('ZRANGE', k('wakes'), 0, 0, 'WITHSCORES')
  if w[2] then consider(num(w[2])) end
  local anyReady = false
  for _, s in ipairs(seats) do
    if s.st == 'wrap_up' then consider(s.wu) end
    if s.st == 'ready' then anyReady = true end
    if s.st == 'ringing' and (cfg.ring or 0) > 0 then consider(s.since + cfg.ring) end
  end
  for _, q in ipairs(queues()) do
    local head = true
    walk(q, function(e)
      if head and cfg.maxwait > 0 then consider(e.enq + cfg.maxwait) end
      head = false
      if not anyReady or cfg.fallback <= 0 then return false end
      local t = e.enq + cfg.fallback
      if t > now then
        consider(t)
        return false
      end
      return true
    end)
  end
  local b = redis.call('ZRANGE', k('bindexp'), 0, 0, 'WITHSCORES')
  if b[2] then consider(num(b[2])) end
  for _, n in ipairs(redis.call('SMEMBERS', k('nodes'))) do
    local v = nodeOf(n)
    if v[3] == 'alive' or v[3] == 'leaving' then consider(num(v[2]) + cfg.timeout) end
    if v[3] == 'away' then consider(num(v[2]) + cfg.leavegrace) end
  end
  consider(num(redis.call('GET', k('freeze'))))
  return nxt
end

local nextAt = 0

-- settle: acd.settle plus the cluster's deadlines; every op ends with it.
local function settle()
  expireBindings()
  reapDead()
  local seats = allSeats()
  for _, s in ipairs(seats) do
    if s.st == 'wrap_up' and s.wu <= now then
      free(s, true)
      putSeat(s)
    end
  end
  expireRings(seats)
  expireWaits()
  dispatch(seats)
  nextAt = nextDeadline(seats)
end

-- The caller must be this node's current boot, alive.
local function checkNode()
  local v = nodeOf(NODE)
  if redis.call('EXISTS', KEYS[1]) == 0 then fail('LOST', 'the shared state is gone (Redis restarted empty?)') end
  if not v[1] then fail('LOST', 'node ' .. NODE .. ' is not in the shared state') end
  if v[1] ~= BOOT then fail('SUPERSEDED', 'node ' .. NODE .. ' runs as boot ' .. v[1]) end
  if v[3] == 'dead' then fail('REAPED', 'node ' .. NODE .. ' was found dead') end
end

-- Operations -------------------------------------------------------------------

local A = {}
for i = 6, #ARGV do table.insert(A, ARGV[i]) end

local ops = {}

-- join: the node starts (boot BOOT): seats from its config, its previous
-- boot reaped (UDP bindings adopted). A[1]: JSON {sip, http, gen, seats}.
function ops.join()
  local j = cjson.decode(A[1])
  local fresh = false
  if redis.call('SETNX', KEYS[1], j.gen) == 1 then fresh = true end
  local v = nodeOf(NODE)
  if v[1] and v[1] ~= BOOT and v[3] ~= 'dead' then
    -- Only a starting process replaces an older boot; one that rejoins
    -- after an outage must not take the node id back from a newer one.
    if j.rejoin then fail('SUPERSEDED', 'node ' .. NODE .. ' runs as boot ' .. v[1]) end
    -- A live node with this id elsewhere is another node misconfigured
    -- with the same node_id, not our previous boot: refuse to start.
    local at = redis.call('HMGET', k('node', NODE), 'sip', 'http')
    if v[3] == 'alive' and num(v[2]) + cfg.timeout > now and (at[1] ~= j.sip or at[2] ~= j.http) then
      fail('INUSE', 'node_id ' .. NODE .. ' is used by a live node advertising ' .. (at[1] or '?') .. ' and ' .. (at[2] or '?'))
    end
    reap(NODE, v[1], BOOT)
  end
  redis.call('HSET', k('node', NODE), 'boot', BOOT, 'hb', now, 'state', 'alive', 'sip', j.sip, 'http', j.http,
    'started', now)
  redis.call('HDEL', k('node', NODE), 'deadat')
  redis.call('SADD', k('nodes'), NODE)
  nodeCache = {}
  for _, c in ipairs(j.seats) do
    local skills = ',' .. table.concat(c.skills, ',') .. ','
    local s = getSeat(c.id)
    if s == nil then
      redis.call('HSET', k('seat', c.id), 'name', c.name, 'skills', skills, 'st', 'offline', 'reg', '0')
    else
      redis.call('HSET', k('seat', c.id), 'name', c.name, 'skills', skills)
    end
    redis.call('SADD', k('seats'), c.id)
  end
  seatList = nil
  result = {gen = redis.call('GET', KEYS[1]), fresh = fresh}
end

-- heartbeat: the node is alive; returns the generation and, with A[1] =
-- "1", the node's queued calls for its reconciliation.
function ops.heartbeat()
  checkNode()
  redis.call('HSET', k('node', NODE), 'hb', now, 'calls', A[2] or 0)
  nodeCache = {}
  local mine = nil
  if A[1] == '1' then
    mine = {}
    for _, id in ipairs(redis.call('SMEMBERS', k('ncalls', NODE))) do
      local e = getCall(id)
      if e and e.boot == BOOT then table.insert(mine, {id = id, seat = e.seat, tok = e.tok}) end
    end
  end
  result = {gen = redis.call('GET', KEYS[1]), mine = mine}
end

-- leave: the node has drained (SIGTERM) and stops: no new work for it or
-- its seats; its bindings wait for it to come back (join adopts them) or
-- are reaped after node_timeout.
function ops.leave()
  checkNode()
  redis.call('HSET', k('node', NODE), 'state', 'leaving', 'hb', now)
  nodeCache = {}
end

function ops.settle()
  checkNode()
end

-- enqueue A: id, skill, prio.
function ops.enqueue()
  checkNode()
  local id, sk, pr = A[1], A[2], A[3]
  if redis.call('EXISTS', k('call', id)) == 1 then fail('DUPLICATE', 'call ' .. id) end
  if loggedIn() == 0 then
    emit('call_no_seats', nil, {id = id, skill = sk, prio = pr, state = 'waiting', pos = 0, seat = '', enq = now,
      seq = 0, node = NODE, boot = BOOT, tok = 0})
    result = {noseats = true}
    return
  end
  local e = {id = id, sk = sk, pr = pr, seq = redis.call('INCR', k('seq')), enq = now, node = NODE, boot = BOOT,
    seat = '', tok = 0, dec = {}, dat = 0}
  putCall(e)
  redis.call('ZADD', qkey(pr, sk), e.seq, id)
  redis.call('SADD', k('qs'), qname(pr, sk))
  redis.call('SADD', k('ncalls', NODE), id)
  emit('call_queued', nil, view(e, position(e)))
  result = {seq = e.seq, enq = e.enq}
end

-- abandon A: id.
function ops.abandon()
  checkNode()
  local e = getCall(A[1])
  if not e then fail('UNKNOWNCALL', 'call ' .. A[1]) end
  local s = nil
  if e.seat ~= '' then
    s = seatByID(e.seat)
    if not s or s.st ~= 'ringing' or s.call ~= e.id then fail('STATE', 'seat ' .. e.seat .. ' not ringing for ' .. e.id) end
  end
  if s then
    free(s, false)
    putSeat(s)
  end
  finish(e, 'call_abandoned', s)
end

-- answered / noanswer / declined A: id, seat, token.
function ops.answered()
  checkNode()
  local e, s = ringing(A[1], A[2], num(A[3]))
  move(s, 'busy')
  putSeat(s)
  finish(e, 'call_answered', s)
end

function ops.noanswer()
  checkNode()
  local e, s = ringing(A[1], A[2], num(A[3]))
  move(s, 'not_ready')
  s.rs = 'no_answer'
  putSeat(s)
  offerFailed(e, s, 'call_no_answer')
end

function ops.declined()
  checkNode()
  local e, s = ringing(A[1], A[2], num(A[3]))
  free(s, false)
  putSeat(s)
  offerFailed(e, s, 'call_declined')
end

-- hangup A: id, seat, token. A seat gone offline meanwhile: nothing to end.
function ops.hangup()
  checkNode()
  local s = seatByID(A[2])
  if not s then fail('UNKNOWNSEAT', A[2]) end
  if s.st == 'offline' then return end
  if s.st ~= 'busy' or s.call ~= A[1] or s.tok ~= num(A[3]) then
    fail('NOTCONNECTED', 'seat ' .. s.id .. ' (' .. s.st .. ' ' .. s.call .. ' #' .. s.tok .. ')')
  end
  move(s, 'wrap_up')
  s.wu = now + cfg.wrap
  putSeat(s)
end

-- registered / unregistered A: seat. The registrar's report is checked
-- against the binding: the seat is registered while it has a live
-- binding through any node, whatever node reports it.
function ops.registered()
  checkNode()
  local s = seatByID(A[1])
  if not s then fail('UNKNOWNSEAT', A[1]) end
  local b = liveBinding(A[1])
  if b then register(s, b.node) end
end

function ops.unregistered()
  checkNode()
  local s = seatByID(A[1])
  if not s then fail('UNKNOWNSEAT', A[1]) end
  if liveBinding(A[1]) then return end
  unregister(s)
end

-- setstate A: seat, state, reason (agent.Seat.Set).
function ops.setstate()
  checkNode()
  local s = seatByID(A[1])
  if not s then fail('UNKNOWNSEAT', A[1]) end
  local old = copy(s)
  if A[2] ~= 'ready' and A[2] ~= 'not_ready' then fail('BADSTATE', A[2]) end
  if s.st == 'offline' then fail('OFFLINE', s.id) end
  if A[2] == 'ready' then
    s.onr, s.ors = false, ''
    if s.st == 'not_ready' or s.st == 'wrap_up' then
      move(s, 'ready')
      s.idle = now
    end
  else
    s.onr, s.ors = true, A[3]
    if s.st == 'ready' or s.st == 'not_ready' then
      move(s, 'not_ready')
      s.rs = A[3]
    end
  end
  if not same(old, s) then putSeat(s) end
end

-- bind A: JSON binding (sip.Binding): the seat registered through NODE.
function ops.bind()
  checkNode()
  local b = cjson.decode(A[1])
  local s = seatByID(b.seat)
  if not s then fail('UNKNOWNSEAT', b.seat) end
  b.node, b.boot = NODE, BOOT
  putBinding(b)
  if b.exp > now then register(s, NODE) end
end

-- unbind A: seat, node. Removes the seat's binding if it is still the
-- one held through that node (a newer one through another node stays),
-- or if it has expired; the seat goes offline if none is left.
function ops.unbind()
  checkNode()
  local b = getBinding(A[1])
  if b and (b.node == A[2] or b.exp <= now) then dropBinding(A[1]) end
  local s = seatByID(A[1])
  if s and not liveBinding(A[1]) then unregister(s) end
end

-- assert A: JSON of what this node really holds, after it found itself
-- reaped, the shared state lost (Redis restarted empty), or its
-- connection broken (a failover may have lost acknowledged writes):
-- {maxseq, maxtok, bindings: [...], calls: [{id, sk, pr, seq, enq, state
-- ("waiting"|"offered"|"connected"), seat, tok}], seats: [{id, onr, ors}]}.
-- Every item is merged, never blindly written: a seat already ringing or
-- talking for another call keeps it (the asserted offer loses and its
-- report will be refused as stale), a connected call always wins a
-- ringing one. When anything held was missing, dispatch pauses for
-- cfg.freeze so that the other nodes re-assert theirs first.
function ops.assert()
  local j = cjson.decode(A[1])
  local v = nodeOf(NODE)
  if v[1] and v[1] ~= BOOT then fail('SUPERSEDED', 'node ' .. NODE .. ' runs as boot ' .. v[1]) end
  if redis.call('EXISTS', KEYS[1]) == 0 then fail('LOST', 'join first') end
  redis.call('HSET', k('node', NODE), 'boot', BOOT, 'hb', now, 'state', 'alive')
  redis.call('HDEL', k('node', NODE), 'deadat')
  redis.call('SADD', k('nodes'), NODE)
  nodeCache = {}
  if num(redis.call('GET', k('seq'))) < j.maxseq then redis.call('SET', k('seq'), j.maxseq) end
  if num(redis.call('GET', k('fence'))) < j.maxtok then redis.call('SET', k('fence'), j.maxtok) end
  local lost, conflicts = 0, 0
  local flags = {}
  for _, f in ipairs(j.seats or {}) do flags[f.id] = f end
  for _, b in ipairs(j.bindings or {}) do
    local s = seatByID(b.seat)
    local cur = getBinding(b.seat)
    if s and b.exp > now and (cur == nil or (cur.node == NODE and cur.exp < b.exp)) then
      if cur == nil then lost = lost + 1 end
      b.node, b.boot = NODE, BOOT
      putBinding(b)
      local f = flags[s.id]
      if s.st == 'offline' and f and f.onr and not s.onr then s.onr, s.ors = true, f.ors end
      register(s, NODE)
    end
  end
  for _, c in ipairs(j.calls or {}) do
    local e = getCall(c.id)
    local s = nil
    if c.seat ~= '' then s = seatByID(c.seat) end
    if c.state == 'connected' then
      if e then finish(e, 'call_answered', nil) end
      if s and not (s.st == 'busy' and s.call == c.id) then
        if s.st == 'busy' or s.st == 'offline' then
          conflicts = conflicts + 1
        else
          lost = lost + 1
          if s.st == 'ringing' and s.call ~= c.id then
            local other = getCall(s.call)
            if other and other.seat == s.id then
              move(s, 'busy')
              offerFailed(other, s, 'call_withdrawn')
            end
          end
          move(s, 'busy')
          s.call, s.tok, s.cnode, s.cboot = c.id, c.tok, NODE, BOOT
          putSeat(s)
        end
      end
    else
      if not e then
        lost = lost + 1
        e = {id = c.id, sk = c.sk, pr = c.pr, seq = c.seq, enq = c.enq, node = NODE, boot = BOOT, seat = '', tok = 0,
          dec = {}, dat = 0}
        putCall(e)
        redis.call('SADD', k('qs'), qname(e.pr, e.sk))
        redis.call('SADD', k('ncalls', NODE), e.id)
        redis.call('ZADD', qkey(e.pr, e.sk), e.seq, e.id)
        emit('call_queued', nil, view(e, position(e)))
      end
      if c.state == 'offered' and s and e.seat == '' then
        if s.st == 'ready' then
          lost = lost + 1
          e.seat, e.tok = s.id, c.tok
          redis.call('ZREM', qkey(e.pr, e.sk), e.id)
          putCall(e)
          move(s, 'ringing')
          s.call, s.tok, s.cnode, s.cboot = e.id, c.tok, NODE, BOOT
          putSeat(s)
          emit('call_offered', s, view(e, 0))
        else
          conflicts = conflicts + 1
        end
      end
    end
  end
  if lost > 0 then
    local until_ = now + cfg.freeze
    if num(redis.call('GET', k('freeze'))) < until_ then redis.call('SET', k('freeze'), until_, 'PX', cfg.freeze + 1000) end
  end
  result = {lost = lost, conflicts = conflicts, gen = redis.call('GET', KEYS[1])}
end

-- position A: id (read only).
function ops.position()
  local e = getCall(A[1])
  if e then result = position(e) else result = 0 end
end

local fn = ops[op]
if not fn then fail('BADOP', op) end
fn()
if op ~= 'position' then
  settle()
end
if #changes > 0 then
  redis.call('XADD', k('ev'), 'MAXLEN', '~', cfg.maxlen, '*', 'j',
    cjson.encode({node = NODE, boot = BOOT, ch = changes}))
end
return cjson.encode({r = result, next = nextAt, now = now, claims = claims, n = #changes})
