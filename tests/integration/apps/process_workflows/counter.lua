-- A workflow that sums "add" messages, answers "get_status" to the sender and ends on "done".
local function main(input)
  local adds = process.listen("add")
  local status = process.listen("get_status", {message = true})
  local done = process.listen("done")
  local total = input.start
  while true do
    local r = channel.select{ adds:case_receive(), status:case_receive(), done:case_receive() }
    if r.channel == adds then
      total = total + r.value
    elseif r.channel == status then
      process.send(r.value:from(), "status", {total = total})
    else
      return {total = total}
    end
  end
end
return { main = main }
