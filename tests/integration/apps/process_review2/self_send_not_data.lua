-- Sends itself a channel, then a function: neither is data, so process.send must refuse each
-- with (nil, err), in a workflow as in a process (tests/integration/test_process_review2.py).
local function main()
  local ok1, err1 = process.send(process.pid(), "x", channel.new())
  local ok2, err2 = process.send(process.pid(), "x", function() end)
  return { ok1 == true, ok2 == true, err1 ~= nil, err2 ~= nil }
end
return { main = main }
