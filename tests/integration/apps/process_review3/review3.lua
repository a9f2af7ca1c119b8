-- Entries of tests/integration/test_process_review3.py (see app.yaml).

-- Ends once it gets "go".
local function short()
  process.inbox():receive()
  return true
end

-- A long-lived process: starts n short processes one after another, monitors each
-- (process.monitor), lets it end and takes its EXIT; then registers as "watcher_done" and
-- waits for "stop".
local function watcher(n)
  local events = process.events()
  for _ = 1, n do
    local pid = assert(process.spawn("app:short", "app:processes"))
    assert(process.monitor(pid))
    assert(process.send(pid, "go"))
    local ev = events:receive()
    assert(ev.kind == process.event.EXIT and ev.from == pid, tostring(ev.kind))
  end
  process.registry.register("watcher_done")
  process.inbox():receive()
  return "stopped"
end

-- Waits for any message, then ends.
local function sleeper()
  process.inbox():receive()
  return "woken"
end

-- Starts a sleeper monitored and ends at once, returning its PID.
local function spawn_monitored_sleeper()
  return assert(process.spawn_monitored("app:sleeper", "app:processes"))
end

-- Fails with an error of about a megabyte of text.
local function fail_big(i)
  error(string.rep("e", 1000000) .. i, 0)
end

-- funcs.call of fail_big n times, each error dropped after use; returns the bytes seen.
local function big_failures(n)
  local funcs = require("funcs")
  local total = 0
  for i = 1, n do
    local v, err = funcs.call("app:fail_big", i)
    assert(v == nil and err ~= nil)
    total = total + #tostring(err:message())
  end
  return total
end

-- Ends at once with a small result.
local function quick()
  return "small"
end

-- Ends at once with a result of about 5 MB.
local function huge()
  return string.rep("h", 5000000)
end

-- Starts quick (not monitored) and huge (monitored), waits until both have ended, then
-- monitors quick late: returns what the monitor said and the EXIT it gave.
local function late_monitor()
  local time = require("time")
  local q = assert(process.spawn("app:quick", "app:processes"))
  assert(process.spawn_monitored("app:huge", "app:processes"))
  local events = process.events()
  local ev = events:receive()
  assert(#ev.value == 5000000)
  time.sleep("200ms")
  local ok, err = process.monitor(q)
  if not ok then
    return { monitor = tostring(err) }
  end
  local late = events:receive()
  return { monitor = true, from_quick = late.from == q, value = late.value }
end

-- A result of 50,000 small tables (about 0.6 MB as JSON text).
local function many_tables()
  local t = {}
  for i = 1, 50000 do
    t[i] = { a = i }
  end
  return t
end

-- funcs.call of many_tables n times, each result dropped after use; returns the tables seen.
local function table_calls(n)
  local funcs = require("funcs")
  local total = 0
  for _ = 1, n do
    total = total + #assert(funcs.call("app:many_tables"))
  end
  return total
end

return {
  many_tables = many_tables,
  table_calls = table_calls,
  quick = quick,
  huge = huge,
  late_monitor = late_monitor,
  short = short,
  watcher = watcher,
  sleeper = sleeper,
  spawn_monitored_sleeper = spawn_monitored_sleeper,
  fail_big = fail_big,
  big_failures = big_failures,
}
