-- Drives echo_workflow (see there) and returns what arrived.
local function main(n)
  n = math.tointeger(n) or 20
  local seq = process.listen("seq")
  local fwd = process.listen("fwd", { message = true })
  local none = process.listen("none", { message = true })
  local pid = process.spawn_monitored("app:echo_workflow", "app:worker", process.pid(), n)
  local got = {}
  for i = 1, n do
    got[i] = seq:receive()
  end
  assert(process.send(pid, "two", { a = { 1, 2 } }, "b"))
  local f = fwd:receive():payload()
  assert(process.send(pid, "none"))
  local z = none:receive():payload()
  local ev = process.events():receive()
  return {
    seq = got,
    fwd = { f[1]:data(), f[2]:data(), f[3]:data() },
    none = { z[1]:data() == nil, z[2]:data() },
    result = ev.result,
    error = ev.error and tostring(ev.error),
  }
end
return { main = main }
