-- Starts the asker workflow, answers its question, and counts every question that arrives
-- (with the workflow cache off, a message sent twice on replay would show up twice).
local time = require("time")
local function main()
  local questions = process.listen("question", {message = true})
  local events = process.events()
  local pid = process.spawn_monitored("app:asker", "app:worker", process.pid())
  local q = questions:receive()
  process.send(q:from(), "answer", 42)
  local ev = events:receive()
  local extra = 0
  local deadline = time.after("1s")
  while true do
    local r = channel.select{ questions:case_receive(), deadline:case_receive() }
    if r.channel == deadline then break end
    extra = extra + 1
  end
  return {question = q:payload():data(), from_is_pid = q:from() == pid, result = ev.result,
    extra = extra}
end
return { main = main }
