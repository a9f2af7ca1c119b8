-- A small assertion library (errors at level 2 name the test's line).
local M = {}

local function show(v)
    return type(v) == "string" and string.format("%q", v) or tostring(v)
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
