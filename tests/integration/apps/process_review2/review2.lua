-- Entries of tests/integration/test_process_review2.py (see app.yaml).

-- Takes one message, rewires what it can reach through it (the methods of every message and
-- payload, were they shared with other processes), tells the driver, and returns what its
-- methods were handed by other processes' calls.
local function tamperer(driver)
  local stolen = {}
  local msg = process.inbox():receive()
  pcall(function()
    local Message = msg.__index
    Message.topic = function(self)
      stolen[#stolen + 1] = self._values[1]
      return "HIJACKED"
    end
  end)
  pcall(function()
    local Payload = msg:payload().__index
    Payload.data = function(self)
      stolen[#stolen + 1] = self._v
      return "PWNED", nil
    end
  end)
  process.send(driver, "rewired")
  process.inbox():receive()
  return stolen
end

-- Reports the topic and the value of the first message it gets.
local function victim(driver)
  local msg = process.inbox():receive()
  process.send(driver, "seen", msg:topic(), msg:payload():data())
end

-- A tamperer rewires, then an unrelated victim gets "secret_topic" / "secret": returns what
-- the victim saw and what the tamperer got hold of.
local function tamper_then_victim()
  -- plain listen channels: what the driver reads does not go through Message methods
  local rewired, seen = process.listen("rewired"), process.listen("seen")
  local me = process.pid()
  local t = process.spawn_monitored("app:tamperer", "app:processes", me)
  process.send(t, "hello", 1)
  rewired:receive()
  local v = process.spawn("app:victim", "app:processes", me)
  process.send(v, "secret_topic", "secret")
  local got = seen:receive()
  process.send(t, "done")
  local ev = process.events():receive()
  return { seen = got, stolen = ev.result }
end

-- A long-lived server (registered as "server"): answers "ping" with "pong" until "stop".
local function server()
  process.registry.register("server")
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "stop" then
      return "stopped"
    end
    process.send(msg:from(), "pong")
  end
end

-- A short-lived client: monitors the server, pings it, waits for the pong, returns.
local function monitoring_client()
  assert(process.monitor("server"))
  assert(process.send("server", "ping"))
  process.inbox():receive()
  return true
end

-- n clients, one after another batch: each monitors the server and ends; returns n.
local function monitoring_clients(n)
  local events = process.events()
  for _ = 1, n do
    process.spawn_monitored("app:monitoring_client", "app:processes")
  end
  for _ = 1, n do
    local ev = events:receive()
    assert(ev.error == nil, tostring(ev.error))
  end
  return n
end

-- A function returning about a megabyte of text.
local function big_result(i)
  return string.rep("x", 1000000) .. i
end

-- funcs.call of big_result n times, each result dropped after use; returns the bytes seen.
local function big_calls(n)
  local funcs = require("funcs")
  local total = 0
  for i = 1, n do
    total = total + #assert(funcs.call("app:big_result", i))
  end
  return total
end

-- A string of `size` bytes (the step builds it under the memory cap) returned in a table, or
-- raised in a table.
local function big_value(how, size)
  local s = string.rep("y", size)
  if how == "raise" then
    error({ s = s })
  end
  return { s = s }
end

-- Reads `n_ctl` "ctl" messages (they are all there when it starts reading), then the "data"
-- messages, which no channel took until then; returns both sums.
local function control_reader(n_ctl, n_data)
  local ctl, go = process.listen("ctl"), process.listen("go")
  go:receive()
  local ctl_sum = 0
  for _ = 1, n_ctl do
    ctl_sum = ctl_sum + ctl:receive()
  end
  local inbox = process.inbox()
  local data_sum = 0
  for _ = 1, n_data do
    data_sum = data_sum + inbox:receive():payload():data()
  end
  return { ctl = ctl_sum, data = data_sum }
end

-- n_data "data" messages, then n_ctl "ctl" messages, then "go" to a control_reader.
local function backlog_behind(n_data, n_ctl)
  local pid = process.spawn_monitored("app:control_reader", "app:processes", n_ctl, n_data)
  for _ = 1, n_data do
    assert(process.send(pid, "data", 1))
  end
  for _ = 1, n_ctl do
    assert(process.send(pid, "ctl", 1))
  end
  assert(process.send(pid, "go"))
  local ev = process.events():receive()
  if ev.error then
    return nil, ev.error
  end
  return ev.result
end

return {
  control_reader = control_reader,
  backlog_behind = backlog_behind,
  big_value = big_value,
  big_result = big_result,
  big_calls = big_calls,
  tamperer = tamperer,
  victim = victim,
  tamper_then_victim = tamper_then_victim,
  server = server,
  monitoring_client = monitoring_client,
  monitoring_clients = monitoring_clients,
}
