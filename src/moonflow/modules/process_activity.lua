-- The `process` global in activity code: activities are not processes (no PID, no mailbox).
-- Every call says so clearly instead of failing on a nil value. Called with (sys).
local sys = ...
local M = {}
M.event = { EXIT = "pid.exit", CANCEL = "pid.cancel", LINK_DOWN = "pid.link_down" }
function M.pid()
    return nil
end
local function unavailable(name)
    return function()
        return nil, sys.make_error("Unavailable", "process." .. name
            .. " is not available in activity code: send messages from the workflow", false)
    end
end
for _, name in ipairs({ "send", "inbox", "events", "listen", "unlisten", "spawn", "exec",
    "terminate", "cancel", "monitor", "unmonitor", "link", "unlink" }) do
    M[name] = unavailable(name)
end
return M
