-- Prints its arguments, then every line of its input upper-cased, and returns the line count.
local io = require("io")
local function main(...)
  io.print("args", table.unpack(io.args()))
  io.write("first arg: ", tostring((...)), "\n")
  local n = 0
  while true do
    local line = io.readline()
    if line == nil then break end
    n = n + 1
    io.print(string.upper(line))
  end
  io.eprint("read " .. n .. " lines")
  return n
end
return { main = main }
