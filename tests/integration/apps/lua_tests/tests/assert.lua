-- A small assertion library, as test apps import one (level 2: the caller's line).
local M = {}

local function show(v)
    if type(v) == "string" then
        return string.format("%q", v)
    end
    return tostring(v)
end

function M.eq(actual, expected, what)
    if actual ~= expected then
        error((what and (what .. ": ") or "") .. "expected " .. show(expected) .. ", got " .. show(actual), 2)
    end
end

function M.ok(value, what)
    if not value then
        error((what or "expected a true value") .. ", got " .. show(value), 2)
    end
    return value
end

return M
