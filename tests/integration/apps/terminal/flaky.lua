local time = require("time")
local function main(name)
  time.sleep("20ms")
  error("crash of " .. name)
end
return { main = main }
