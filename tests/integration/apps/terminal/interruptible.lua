-- Waits for its CANCEL event (Ctrl-C), cleans up, and returns.
local io = require("io")
local time = require("time")
local function main()
  io.print("ready")
  io.flush()
  local ev = process.events():receive()
  time.sleep("100ms")
  io.print("cleaned up after " .. ev.kind .. " (" .. tostring(ev.reason) .. ")")
  return 0
end
return { main = main }
