-- Monitoring after start, termination, unmonitor, and a trapped link to a workflow.
local time = require("time")
local function main()
  local events = process.events()
  local out = {}

  local a = process.spawn("app:sleeper", "app:worker")
  assert(process.monitor(a))
  assert(process.terminate(a, "enough"))
  local ev = events:receive()
  out.terminated = {kind = ev.kind, from_ok = ev.from == a, error_kind = ev.error:kind(),
    message = ev.error:message()}

  local b = process.spawn("app:sleeper", "app:worker")
  assert(process.monitor(b))
  assert(process.unmonitor(b))
  assert(process.terminate(b))
  local r = channel.select{ events:case_receive(), time.after("1.5s"):case_receive() }
  out.after_unmonitor = r.channel == events and "event" or "nothing"

  assert(process.set_options({trap_links = true}))
  local c = process.spawn("app:sleeper", "app:worker")
  assert(process.link(c))
  assert(process.terminate(c, "linked one"))
  local down = events:receive()
  out.link_down = {kind = down.kind, is_link_down = down.kind == process.event.LINK_DOWN,
    from_ok = down.from == c, error_kind = down.error:kind()}
  return out
end
return { main = main }
