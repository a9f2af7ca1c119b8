-- A service that runs until it is asked to stop (its CANCEL event), then returns why.
local function main()
  local ev = process.events():receive()
  return "stopped: " .. tostring(ev.reason)
end
return { main = main }
