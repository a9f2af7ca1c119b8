-- Keeps the last message it got; queries read it (tests/integration/test_process_review2.py).
local workflow = require("workflow")
local function main()
  local last = nil
  workflow.on_query("last", function()
    return { topic = last:topic(), payload = last:payload(), data = last:payload():data() }
  end)
  workflow.on_query("message", function()
    return last
  end)
  local inbox = process.inbox()
  last = inbox:receive()
  local stop = inbox:receive()
  return stop:topic()
end
return { main = main }
