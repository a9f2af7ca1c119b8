-- Echoes its input line back with its length in bytes (Lua strings are bytes).
local io = require("io")
local function main()
  local line = io.readline()
  io.write(line, "|", #line, "\n")
  return 0
end
return { main = main }
