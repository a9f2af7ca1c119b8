local time = require("time")
local function main()
  time.sleep("1h")
  return "woke"
end
return { main = main }
