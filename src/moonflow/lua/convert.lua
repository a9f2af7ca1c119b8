-- Lua half of the value conversion rules (see _convert.py). Called with (sys).
local sys = ...
local raw = sys.raw
local fmt = string.format
local utf8_len = utf8.len

-- Tables that came in as JSON {} (so they go back out as {}), and arrays that came in with
-- nulls (their declared length). Weak keys: they vanish with the tables.
sys.objects = raw.setmetatable({}, { __mode = "k" })
sys.lengths = raw.setmetatable({}, { __mode = "k" })

-- Replaced by the time module when it loads (no Time value can exist before that).
local function never()
    return false
end
sys.is_time = sys.is_time or never
sys.is_duration = sys.is_duration or never

-- describe(v) -> tag, extra, identity
--   "time", rfc3339 | "duration", ns | "error", message | "object" | "array", n | "table"
function sys.describe(v)
    if sys.is_time(v) then
        return "time", sys.time_to_string(v), nil
    end
    if sys.is_duration(v) then
        return "duration", v._ns, nil
    end
    if sys.is_error(v) then
        return "error", tostring(v), nil
    end
    local id = fmt("%p", v)
    if sys.objects[v] then
        return "object", nil, id
    end
    local n = sys.lengths[v]
    if n then
        return "array", n, id
    end
    return "table", nil, id
end

local function key_path(k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then
        return "." .. k
    end
    if type(k) == "string" then
        return fmt("[%q]", k)
    end
    return "[" .. tostring(k) .. "]"
end

-- Path suffix (".name", "[3]") of the first invalid UTF-8 string key or value in t.
function sys.find_bad_utf8(t)
    for k, v in next, t do
        if type(k) == "string" and not utf8_len(k) then
            return "[<key>]"
        end
        if type(v) == "string" and not utf8_len(v) then
            return key_path(k)
        end
    end
    return ""
end
