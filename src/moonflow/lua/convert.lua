-- Lua half of the value conversion rules (see _convert.py). Called once per state with (sys),
-- the state-wide table: every run's values are converted here.
local sys = ...
local raw = sys.raw
local fmt = string.format
local utf8_len = utf8.len
-- Library functions are captured now (quicker; nothing here depends on later lookups).
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

-- The text of a string guard_text wrapped (invalid bytes as U+FFFD), nil for anything else:
-- a `return nil, <bytes>` is still a failure with a message.
function sys.wrapped_text(v)
    if type(v) == "table" and raw.debug_getmetatable(v) == BAD then
        return sys.valid_text(v._bytes)
    end
    return nil
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

-- Time, Duration and error values are recognised by their metatable, which each run's
-- time/errors module registers here when it loads (many runs share this state, each with its
-- own module instance). Weak keys: a metatable goes with the last run using it.
local kinds = raw.setmetatable({}, { __mode = "k" })
sys.kinds = kinds
local dgetmt = raw.debug_getmetatable
function sys.is_time(v)
    return type(v) == "table" and kinds[dgetmt(v)] == "time"
end
function sys.is_duration(v)
    return type(v) == "table" and kinds[dgetmt(v)] == "duration"
end
function sys.is_error(v)
    return type(v) == "table" and kinds[dgetmt(v)] == "error"
end
function sys.time_to_string(v)
    return dgetmt(v).__index.format_rfc3339_nano(v)  -- the method, whatever fields v has
end
-- A stable entry point for Python (which captures functions once, see _state.py).
function sys.check_error(v)
    return sys.is_error(v)
end

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

-- ---- Fast path out: a whole value as one JSON text ------------------------------------------
-- sys.encode_json(v, max_depth) -> JSON text, or nil when v holds anything the rules reject
-- (or that needs a path in its error message): the Python converter then walks the value
-- itself and reports precisely. One call instead of one crossing per table and element.
-- Object keys come out in table order; the Python side sorts them.
local mtype, huge, rawget = math.type, math.huge, rawget
local gsub = string.gsub
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\" }
for c = 0, 31 do
    ESC[string.char(c)] = fmt("\\u%04x", c)
end
ESC["\127"] = "\\u007f"

local function quote(s)
    return '"' .. gsub(s, '[%c"\\]', ESC) .. '"'
end

local encode_value
local COUNT = {} -- key of the tables-written count in `visiting`
local MAX_TABLES = 200000 -- _convert.py's _MAX_TABLES (Temporal payloads are a few MB)

local function encode_table(v, out, n, depth, visiting)
    local mt = raw.debug_getmetatable(v)
    if mt ~= nil then
        if sys.is_time(v) then
            out[n + 1] = quote(sys.time_to_string(v))
            return n + 1
        end
        if sys.is_duration(v) then
            out[n + 1] = fmt("%d", v._ns)
            return n + 1
        end
        if sys.is_error(v) then
            local text = tostring(v)
            if not utf8_len(text) then
                return nil
            end
            out[n + 1] = quote(text)
            return n + 1
        end
        return nil -- a marker (bad UTF-8) or some other object: the slow path explains
    end
    if depth <= 0 or visiting[v] then
        return nil
    end
    -- a table reached along many paths (t = {t, t} repeated) is written once per path: count
    -- the tables written and decline past MAX_TABLES (the slow path then names the problem)
    local count = (visiting[COUNT] or 0) + 1
    if count > MAX_TABLES then
        return nil
    end
    visiting[COUNT] = count
    visiting[v] = true
    local first = raw.next(v)
    local nulls = sys.nulls[v]
    if first == nil and nulls == nil then
        local length = sys.lengths[v]
        if sys.objects[v] then
            out[n + 1] = "{}"
        elseif length then
            local parts = {}
            for i = 1, length do
                parts[i] = "null"
            end
            out[n + 1] = "[" .. concat(parts, ",") .. "]"
        else
            out[n + 1] = "[]"
        end
        visiting[v] = nil
        return n + 1
    end
    if type(first) == "string" or (first == nil and nulls ~= nil) then
        out[n + 1] = "{"
        n = n + 1
        local sep = false
        for k, item in raw.next, v do
            if type(k) ~= "string" or not utf8_len(k) then
                return nil
            end
            out[n + 1] = sep and "," .. quote(k) .. ":" or quote(k) .. ":"
            sep = true
            n = encode_value(item, out, n + 1, depth - 1, visiting)
            if n == nil then
                return nil
            end
        end
        if nulls then
            for i = 1, #nulls do
                local k = nulls[i]
                if rawget(v, k) == nil then
                    out[n + 1] = sep and "," .. quote(k) .. ":null" or quote(k) .. ":null"
                    sep = true
                    n = n + 1
                end
            end
        end
        out[n + 1] = "}"
        visiting[v] = nil
        return n + 1
    end
    -- an array: integer keys 1..len. One that came in with nulls remembers its length:
    -- 1..remembered may have holes (the nulls), anything past it must be contiguous.
    local remembered = sys.lengths[v] or 0
    local top, beyond = 0, 0
    for k in raw.next, v do
        if mtype(k) ~= "integer" or k < 1 then
            return nil
        end
        if k > top then
            top = k
        end
        if k > remembered then
            beyond = beyond + 1
        end
    end
    local len = top > remembered and top or remembered
    if beyond ~= len - remembered then
        return nil -- sparse
    end
    out[n + 1] = "["
    n = n + 1
    for i = 1, len do
        local item = rawget(v, i)
        if item == nil then
            out[n + 1] = "null"
            n = n + 1
        else
            n = encode_value(item, out, n, depth - 1, visiting)
            if n == nil then
                return nil
            end
        end
        if i < len then
            out[n + 1] = ","
            n = n + 1
        end
    end
    out[n + 1] = "]"
    visiting[v] = nil
    return n + 1
end

encode_value = function(v, out, n, depth, visiting)
    local t = type(v)
    if t == "string" then
        if not utf8_len(v) then
            return nil
        end
        out[n + 1] = quote(v)
        return n + 1
    elseif t == "number" then
        if mtype(v) == "integer" then
            out[n + 1] = fmt("%d", v)
            return n + 1
        end
        if v ~= v or v == huge or v == -huge then
            return nil
        end
        local s = fmt("%.17g", v)
        if not s:find("[%.eEn]") then
            s = s .. ".0" -- stays a float on the Python side
        end
        out[n + 1] = s
        return n + 1
    elseif t == "boolean" then
        out[n + 1] = v and "true" or "false"
        return n + 1
    elseif v == nil then
        out[n + 1] = "null"
        return n + 1
    elseif t == "table" then
        return encode_table(v, out, n, depth, visiting)
    end
    return nil
end

function sys.encode_json(v, max_depth)
    local out = {}
    local n = encode_value(v, out, 0, max_depth, {})
    if n == nil then
        return nil
    end
    return concat(out, "", 1, n)
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
