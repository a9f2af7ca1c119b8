-- Children of tests/integration/test_process_light.py (see app.yaml): most need nothing of
-- Python, so that a process spawns them light.

local function value(v)
  return v
end

-- A result with tables inside (the monitor gets a copy).
local function shaped(n)
  return { n = n, list = { 1, 2, n }, name = "child " .. n, nested = { deep = { n } } }
end

local function fails(message)
  error(message)
end

local function nil_err(message)
  return nil, message
end

local function not_data()
  return { f = function() end }
end

-- Reports what an earlier process left where a process could leave something (its globals,
-- the library tables it sees, their metatables), then leaves something there itself.
local function leaky(i)
  local seen = {}
  if leaked_global ~= nil then seen[#seen + 1] = "global" end
  if string.leak ~= nil then seen[#seen + 1] = "string" end
  if table.leak ~= nil then seen[#seen + 1] = "table" end
  if utf8.leak ~= nil then seen[#seen + 1] = "utf8" end
  if os.leak ~= nil then seen[#seen + 1] = "os" end
  if coroutine.leak ~= nil then seen[#seen + 1] = "coroutine" end
  if ("x").leak ~= nil then seen[#seen + 1] = "string metatable" end
  leaked_global = i
  pcall(function() string.leak = i end)  -- (read-only: refused)
  table.leak, utf8.leak, os.leak, coroutine.leak = i, i, i, i
  pcall(setmetatable, _G, { __index = function() return i end })
  local co = coroutine.wrap(function() coroutine.yield(i) end)
  co()
  return #seen == 0 and "clean" or table.concat(seen, ",")
end

local function own_pid()
  return process.pid()
end

-- Ends with the payload of the first message it gets.
local function waits()
  local msg = process.inbox():receive()
  return msg:payload():data()
end

local function spins()
  while true do end
end

local function context_value(key)
  return require("ctx").get(key)
end


-- Changes what a process can reach of its run: its environment's metatable.
local function poisoner()
  local mt = getmetatable(_G)
  mt.loot = {}
  mt.__index = function() return "poisoned" end
  mt.__newindex = function(t, k, v) mt.loot[k] = v; rawset(t, k, v) end
  return "poisoned"
end

-- Sets a global, then reports what it can see of an earlier process through its run.
local function thief()
  SECRET = "mine"
  local mt = getmetatable(_G)
  return { loot = mt.loot ~= nil, unknown = SOME_UNKNOWN_GLOBAL == nil, has_mt = mt ~= nil }
end

-- A different string of 1,000,000 bytes for each `i`.
local function big_string(i)
  return string.rep(string.format("%08d", i), 125000)
end

-- Reads `math` but draws no random number.
local function floors(x)
  return math.floor(x) + math.max(1, 2)
end

return {
  floors = floors, value = value, shaped = shaped, fails = fails, nil_err = nil_err, not_data = not_data,
  leaky = leaky, own_pid = own_pid, waits = waits, spins = spins, context_value = context_value,
  poisoner = poisoner, thief = thief, big_string = big_string,
}
