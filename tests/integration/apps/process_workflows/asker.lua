-- A workflow that asks the process that started it a question and returns the answer.
local function main(asker_pid)
  local answers = process.listen("answer")
  process.send(asker_pid, "question", "what is 6 x 7?")
  return answers:receive()
end
return { main = main }
