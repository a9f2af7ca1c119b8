local time = require("time")

local function main()
    local approvals = process.listen("approve")
    local r = channel.select{ approvals:case_receive(), time.after("2s"):case_receive() }
    local outcome = r.channel == approvals and ("approved by " .. tostring(r.value)) or "timed out"
    time.sleep("4s")
    return outcome
end

return { main = main }
