-- A workflow messaging the process that started it (tests/integration/test_process_review2.py):
-- n coroutines send "seq" i at once (one sender: the process must see 1..n in order), then
-- it forwards what the process sends it (the Payloads of a two-value message, one of them
-- alone, a message of no value) back to the process.
local function main(owner, n)
  local inbox = process.inbox()
  local sent = channel.new(n)
  for i = 1, n do
    coroutine.spawn(function()
      sent:send(process.send(owner, "seq", i) == true)
    end)
  end
  for _ = 1, n do
    assert(sent:receive(), "a seq send failed")
  end
  local two = inbox:receive()
  assert(process.send(owner, "fwd", two:payload(), two:payload()[2], two:topic()))
  local none = inbox:receive()
  assert(process.send(owner, "none", none:payload(), none:payload():data() == nil))
  return "done"
end
return { main = main }
