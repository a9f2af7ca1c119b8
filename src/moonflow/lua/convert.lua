-- Lua half of the value conversion rules (see _convert.py). Called with (sys).
local sys = ...
local raw = sys.raw
local fmt = string.format
local utf8_len = utf8.len
-- Library functions are captured now: user code shares the library tables and may rewire them.
local pack, concat = table.pack, table.concat

-- Tables that came in as JSON {} (so they go back out as {}), and arrays that came in with
-- nulls (their declared length). Weak keys: they vanish with the tables.
sys.objects = raw.setmetatable({}, { __mode = "k" })
sys.lengths = raw.setmetatable({}, { __mode = "k" })
-- Objects that came in with null members (Lua cannot store nil): table -> array of key names,
-- so {"a": null} goes back out as {"a": null} unless the Lua code set the key meanwhile.
sys.nulls = raw.setmetatable({}, { __mode = "k" })

-- Strings that are not valid UTF-8 cannot be handed to Python as text (lupa would raise while
-- decoding, before our converter could name the path). Top-level values are therefore passed
-- through guard_text, which wraps such a string in a marker the converter reports by path.
local BAD = { __metatable = false }
function sys.guard_text(v)
    if type(v) == "string" and not utf8_len(v) then
        return raw.setmetatable({ _bytes = v }, BAD)
    end
    return v
end
local guard_text = sys.guard_text
function sys.guard_pack(...)
    local t = pack(...)
    for i = 1, t.n do
        t[i] = guard_text(t[i])
    end
    return t
end

-- Text for humans (error messages, logs): invalid UTF-8 bytes become U+FFFD.
function sys.valid_text(s)
    s = tostring(s)
    if utf8_len(s) then
        return s
    end
    local out, i, n = {}, 1, #s
    while i <= n do
        local ok_len = utf8_len(s, i, i)
        local c = s:byte(i)
        local size = c < 0x80 and 1 or c >= 0xF0 and 4 or c >= 0xE0 and 3 or c >= 0xC0 and 2 or 1
        local chunk = s:sub(i, i + size - 1)
        if ok_len and utf8_len(chunk) then
            out[#out + 1] = chunk
            i = i + size
        else
            out[#out + 1] = "\239\191\189"
            i = i + 1
        end
    end
    return concat(out)
end

-- Replaced by the time/errors modules when they load (no such value can exist before that).
local function never()
    return false
end
sys.is_time = rawget(sys, "is_time") or never
sys.is_duration = rawget(sys, "is_duration") or never
sys.is_error = rawget(sys, "is_error") or never  -- errors.lua replaces it when it loads

-- describe(v) -> tag, extra, identity
--   "time", rfc3339 | "duration", ns | "error", message | "object" | "array", n | "table"
function sys.describe(v)
    local mt = raw.debug_getmetatable(v)
    if mt == BAD then
        return "badutf8", nil, nil
    end
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
    local nulls = sys.nulls[v]
    if sys.objects[v] then
        return "object", nil, id, nulls
    end
    local n = sys.lengths[v]
    if n then
        return "array", n, id
    end
    return "table", nil, id, nulls
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
    for k, v in sys.raw.next, t do
        if type(k) == "string" and not utf8_len(k) then
            return "[<key>]"
        end
        if type(v) == "string" and not utf8_len(v) then
            return key_path(k)
        end
    end
    return ""
end
