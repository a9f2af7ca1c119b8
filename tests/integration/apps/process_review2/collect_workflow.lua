-- Collects n "seq" messages and returns their values in arrival order
-- (tests/integration/test_process_review2.py).
local function main(n)
  local seq = process.listen("seq")
  local got = {}
  for i = 1, n do
    got[i] = seq:receive()
  end
  return got
end
return { main = main }
