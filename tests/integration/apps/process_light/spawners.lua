-- Spawners of tests/integration/test_process_light.py (see app.yaml).

-- How an EXIT event reads, as plain data.
local function exit_of(ev)
  local e = { from = ev.from, is_nil = ev.value == nil, value = ev.value }
  if ev.error ~= nil then
    e.error = { kind = ev.error:kind(), message = ev.error:message() }
  end
  return e
end

-- Spawns `n` children of `entry` monitored, each with `arg` (or its number when arg is nil),
-- and returns their EXITs in spawn order: {pids = {...}, exits = {pid -> exit}}.
local function collect(entry, n, arg)
  local events = process.events()
  local pids = {}
  for i = 1, n do
    local pid, err = process.spawn_monitored(entry, "app:processes", arg == nil and i or arg)
    if not pid then
      return { spawn_error = { kind = err:kind(), message = err:message() }, at = i }
    end
    pids[i] = pid
  end
  local exits, got = {}, 0
  while got < n do
    local ev = events:receive()
    if ev.kind == process.event.EXIT then
      exits[ev.from] = exit_of(ev)
      got = got + 1
    end
  end
  local ordered = {}
  for i, pid in ipairs(pids) do
    ordered[i] = exits[pid]
  end
  return { pids = pids, exits = ordered }
end

-- Spawns `entry` (not monitored) with `arg`, lets it end, then monitors it: the EXIT of a
-- process that ended already. The first spawn of an entry is Python's, so it spawns twice.
local function late_monitor(entry, arg)
  local time = require("time")
  local events = process.events()
  local out = {}
  for round = 1, 2 do
    local pid = assert(process.spawn(entry, "app:processes", arg))
    time.sleep("30ms")
    assert(process.monitor(pid))
    local ev = events:receive()
    out[round] = exit_of(ev)
    out[round].same = ev.from == pid
    out[round].result_value = ev.result.value
  end
  return out
end

-- Spawns `waits` monitored and sends it `payload` at once (before it ever ran).
local function message_then_exit(payload)
  local events = process.events()
  local out = {}
  for round = 1, 2 do
    local pid = assert(process.spawn_monitored("app:waits", "app:processes"))
    assert(process.send(pid, "go", payload))
    out[round] = exit_of(events:receive())
  end
  return out
end

-- Spawns `waits` monitored and ends it with process.terminate or process.cancel (`how`).
local function stop_it(how)
  local events = process.events()
  local out = {}
  for round = 1, 2 do
    local pid = assert(process.spawn_monitored("app:waits", "app:processes"))
    local ok, err = process[how](pid, "enough")
    if not ok then
      return { failed = err:message() }
    end
    out[round] = exit_of(events:receive())
  end
  return out
end

-- Spawns a child monitored, unmonitors it, lets it end: no EXIT arrives (what arrives is listed).
local function unmonitored(entry)
  local time = require("time")
  local events = process.events()
  local got = {}
  for round = 1, 2 do
    local pid = assert(process.spawn_monitored(entry, "app:processes", round))
    assert(process.unmonitor(pid))
  end
  local timeout = time.after("200ms")
  while true do
    local r = channel.select({ events:case_receive(), timeout:case_receive() })
    if r.channel == timeout then
      break
    end
    got[#got + 1] = r.value.from
  end
  return got
end

-- Spawns a child monitored and monitors it again: one EXIT.
local function monitor_twice(entry)
  local time = require("time")
  local events = process.events()
  local got = 0
  for round = 1, 2 do
    local pid = assert(process.spawn_monitored(entry, "app:processes", round))
    assert(process.monitor(pid))
  end
  local timeout = time.after("200ms")
  while true do
    local r = channel.select({ events:case_receive(), timeout:case_receive() })
    if r.channel == timeout then
      break
    end
    got = got + 1
  end
  return got
end

-- Registers a name for a child it spawned and sends to the name.
local function by_name(payload)
  local events = process.events()
  local out = {}
  for round = 1, 2 do
    local pid = assert(process.spawn_monitored("app:waits", "app:processes"))
    local name = "waiter" .. round
    assert(process.registry.register(name, pid))
    assert(process.send(name, "go", payload))
    out[round] = exit_of(events:receive())
    out[round].name_released = process.registry.lookup(name) == nil
  end
  return out
end

-- Spawns `n` children in one loop of main, then collects their EXITs: the sum of their values.
local function tight_loop(n)
  local events = process.events()
  for i = 1, n do
    assert(process.spawn_monitored("app:value", nil, i))
  end
  local sum = 0
  for _ = 1, n do
    sum = sum + events:receive().value
  end
  return sum
end

-- Spawns one child of `entry` on `host` with `arg`, monitored, and returns its EXIT.
local function spawn_one(entry, host, arg)
  local events = process.events()
  local pid, err = process.spawn_monitored(entry, host, arg)
  if not pid then
    return { spawn_error = { kind = err:kind(), message = err:message() } }
  end
  local e = exit_of(events:receive())
  e.pid = pid
  return e
end

-- Needs its Python side first (process.pid), then spawns `n` children monitored and sums their
-- values.
local function relay(n)
  assert(process.pid())
  local events = process.events()
  for i = 1, n do
    assert(process.spawn_monitored("app:value", "app:processes", i))
  end
  local sum = 0
  for _ = 1, n do
    sum = sum + events:receive().value
  end
  return sum
end

-- `rounds` times: spawns `a` monitored and waits for its EXIT, then the same with `b`; returns
-- b's values.
local function alternate(a, b, rounds)
  local events = process.events()
  local got = {}
  for round = 1, rounds do
    assert(process.spawn_monitored(a, "app:processes"))
    events:receive()
    assert(process.spawn_monitored(b, "app:processes"))
    got[round] = events:receive().value
  end
  return got
end

-- Spawns `n` children of `entry` (monitored, all in this step), then allocates `kb` KiB itself.
local function spawn_then_allocate(entry, n, kb)
  local events = process.events()
  for _ = 1, n do
    assert(process.spawn_monitored(entry, "app:processes"))
  end
  local mine = {}
  for i = 1, kb * 64 do
    mine[i] = i
  end
  for _ = 1, n do
    local ev = events:receive()
    if ev.error then
      return { error = ev.error:message() }
    end
  end
  return #mine
end

-- Spawns one `value` child, then `n` more from inside a string.gsub callback (C calls Lua:
-- nothing there may wait); returns how many spawns returned a PID and how many EXITs came.
local function spawn_in_gsub(n)
  local events = process.events()
  assert(process.spawn_monitored("app:value", "app:processes", 0))
  events:receive()
  local pids = 0
  string.gsub(string.rep("x", n), "x", function()
    if process.spawn_monitored("app:value", "app:processes", 1) then
      pids = pids + 1
    end
  end)
  local exits = 0
  for _ = 1, pids do
    events:receive()
    exits = exits + 1
  end
  return { pids = pids, exits = exits }
end

-- process.monitor / process.link of `pid`: "ok", or the error's kind and message.
local function monitor_pid(pid, how)
  local ok, err = process[how](pid)
  if ok then
    return "ok"
  end
  return err:kind() .. ": " .. err:message()
end

-- Spawns `entry` twice (not monitored), lets both end, returns the second one's PID.
local function returns_pid(entry)
  local time = require("time")
  assert(process.spawn(entry, "app:processes", 1))
  local pid = assert(process.spawn(entry, "app:processes", 2))
  time.sleep("30ms")
  return pid
end

-- Spawns `n` children of `entry` monitored (argument: their number) and returns the sum of the
-- lengths of their values.
local function lengths(entry, n)
  local events = process.events()
  for i = 1, n do
    assert(process.spawn_monitored(entry, "app:processes", i))
  end
  local total = 0
  for _ = 1, n do
    total = total + #events:receive().value
  end
  return total
end

-- Spawns `entry` `n` times with `arg`, not monitored, and lets them end.
local function fire_and_forget(entry, n, arg)
  local time = require("time")
  for _ = 1, n do
    assert(process.spawn(entry, "app:processes", arg))
  end
  time.sleep("50ms")
  return n
end

-- Spawns each {entry, arg} of `list` monitored, then returns the positions in `list` of the
-- EXITs in the order they arrived.
local function arrival_order(list)
  local events = process.events()
  local at = {}
  for i, item in ipairs(list) do
    at[assert(process.spawn_monitored(item[1], "app:processes", item[2]))] = i
  end
  local order = {}
  for i = 1, #list do
    order[i] = at[events:receive().from]
  end
  return order
end

-- A light child A ends, `n` failing children end (on the Python path), a light child B ends;
-- then A is monitored: its EXIT (two light processes have ended: both are remembered).
local function late_after_many(n)
  local events = process.events()
  assert(process.spawn_monitored("app:value", "app:processes", "warm"))
  events:receive()
  local a = assert(process.spawn_monitored("app:value", "app:processes", "A"))
  events:receive()
  for _ = 1, n do
    assert(process.spawn_monitored("app:fails", "app:processes", "x"))
  end
  for _ = 1, n do
    events:receive()
  end
  assert(process.spawn_monitored("app:value", "app:processes", "B"))
  events:receive()
  local ok, err = process.monitor(a)
  if not ok then
    return err:kind() .. ": " .. err:message()
  end
  return events:receive().value
end

return {
  arrival_order = arrival_order, late_after_many = late_after_many,
  fire_and_forget = fire_and_forget, lengths = lengths, alternate = alternate, spawn_then_allocate = spawn_then_allocate,
  spawn_in_gsub = spawn_in_gsub, monitor_pid = monitor_pid, returns_pid = returns_pid,
  relay = relay, collect = collect, late_monitor = late_monitor, message_then_exit = message_then_exit,
  stop_it = stop_it, unmonitored = unmonitored, monitor_twice = monitor_twice, by_name = by_name,
  tight_loop = tight_loop, spawn_one = spawn_one,
}
