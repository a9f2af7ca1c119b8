-- Sends itself values that are not data for a reason other than a function or a channel (a
-- sparse array, NaN, a float key), then the same to a process PID that does not exist; returns
-- each error's message (tests/integration/test_process_review3.py).
local function main(other)
  local values = { sparse = { 1, nil, 3 }, nan = 0 / 0, float_key = { [1.5] = "x" } }
  local out = {}
  for _, name in ipairs({ "sparse", "nan", "float_key" }) do
    local ok, err = process.send(process.pid(), "x", values[name])
    local ok2, err2 = process.send(other, "x", values[name])
    out[name] = { self = ok and "sent" or tostring(err), other = ok2 and "sent" or tostring(err2) }
  end
  return out
end
return { main = main }
