-- Process API corner cases (issue #14 review): each returns what it saw.
local time = require("time")
local function main()
  local out = {}
  -- monitor a process that has already ended: its EXIT comes at once
  local events = process.events()
  local quick = process.spawn("app:exit_with", nil, "raise")
  time.sleep("50ms")
  out.late_monitor = process.monitor(quick)
  local ev = events:receive()
  out.late_exit = {kind = ev.kind, from_ok = ev.from == quick, error_kind = ev.error:kind()}
  -- cancel a process that reads no events: it ends with Canceled
  local sleeper = process.spawn_monitored("app:slow", nil, "z", "10s")
  assert(process.cancel(sleeper, "no longer needed"))
  ev = events:receive()
  out.canceled = {error_kind = ev.error:kind(), message = ev.error:message()}
  -- a value sent to yourself is a copy
  local t = {n = 1}
  process.send(process.pid(), "self", t)
  local got = process.inbox():receive():payload():data()
  out.self_copy = got ~= t and got.n == 1
  -- reserved topics, unknown options, cluster scopes
  local ok = pcall(process.listen, "@inbox")
  out.listen_reserved = ok
  local _, e1 = process.set_options({trap_linkz = true})
  out.bad_option = e1:kind()
  local _, e2 = process.registry.register("x", nil, process.registry.EVENTUAL)
  out.bad_scope = e2:kind()
  return out
end
return { main = main }
