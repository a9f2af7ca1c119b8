-- Spawns the counter monitored, sends two messages on different topics before the workflow
-- listens, asks for its status (request/reply raced against a 5 s deadline), ends it and reads
-- its EXIT event.
local time = require("time")
local function main()
  local events = process.events()
  local pid, err = process.spawn_monitored("app:counter", "app:worker", {start = 10})
  if not pid then return nil, err end
  process.send(pid, "add", 5)
  process.send(pid, "add", 7)
  local replies = process.listen("status")
  process.send(pid, "get_status")
  local r = channel.select{ replies:case_receive(), time.after("5s"):case_receive() }
  if r.channel ~= replies then return nil, "no reply within 5 s" end
  process.send(pid, "done")
  local ev = events:receive()
  return {status = r.value, kind = ev.kind, from_is_pid = ev.from == pid, result = ev.result,
    value = ev.result.value}
end
return { main = main }
