-- Sends a table to itself, changes the table, then reads the message: a message carries the
-- values as they were when sent (tests/integration/test_process_review2.py; the same code
-- runs as a workflow and as a process).
local function main()
  local t = { n = 1, list = { 1 } }
  assert(process.send(process.pid(), "x", t))
  t.n = 2
  t.list[1] = 99
  local got = process.inbox():receive():payload():data()
  got.n = got.n + 10
  return { n = got.n, first = got.list[1], same = rawequal(got, t), t_n = t.n }
end
return { main = main }
