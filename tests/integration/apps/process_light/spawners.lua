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

return {
  relay = relay, collect = collect, late_monitor = late_monitor, message_then_exit = message_then_exit,
  stop_it = stop_it, unmonitored = unmonitored, monitor_twice = monitor_twice, by_name = by_name,
  tight_loop = tight_loop, spawn_one = spawn_one,
}
