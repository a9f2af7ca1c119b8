-- funcs.async from a process: two calls in flight at once, then one cancelled.
local funcs = require("funcs")
local time = require("time")
local function main()
  local t0 = time.now()
  local a = funcs.async("app:slow", "a", "300ms")
  local b = funcs.async("app:slow", "b", "300ms")
  local got = {}
  for _, f in ipairs({a, b}) do
    local p = f:channel():receive()
    got[#got + 1] = p:data()
  end
  local both_ms = time.now():sub(t0):milliseconds()
  local c = funcs.async("app:slow", "c", "10s")
  time.sleep("50ms")
  c:cancel()
  local _, err = c:result()
  return {got = got, concurrent = both_ms < 550, canceled = c:is_canceled(), kind = err:kind()}
end
return { main = main }
