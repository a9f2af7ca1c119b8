-- Sends "seq" 1..n to a collect_workflow, each from its own coroutine, started in order:
-- process.send is per-sender FIFO, so the workflow must get 1..n in that order.
local function main(n)
  n = math.tointeger(n) or 20
  local pid = process.spawn_monitored("app:collect_workflow", "app:worker", n)
  for i = 1, n do
    coroutine.spawn(function()
      assert(process.send(pid, "seq", i))
    end)
  end
  local ev = process.events():receive()
  if ev.error then
    return nil, ev.error
  end
  return ev.result
end
return { main = main }
