local time = require("time")

local function main(duration)
    time.sleep(duration)
    return { slept = duration }
end

return { main = main }
