-- Lua half of the value conversion rules, the way in (see _convert.py): JSON text a Python
-- dict or list was written as becomes Lua tables in one call. Called once per state with
-- (sys), after convert.lua, whose markers (objects, lengths, nulls) it sets the same way.
local sys = ...
local raw = sys.raw
local c_find, concat, mtype = sys.c_string.find, table.concat, math.type
local objects, lengths, nulls = sys.objects, sys.lengths, sys.nulls

-- ---- Fast path in: a whole value from one JSON text ------------------------------------------
-- sys.decode_json(text) -> the Lua value, or nil when declined. `text` is what _convert.py's
-- encoder (Python's json, compact separators, ensure_ascii off) wrote for a dict or list: well
-- formed, without whitespace, so only what that encoder writes is handled and no syntax errors
-- need reporting. One crossing per value instead of one per element (about 15x quicker).
--
-- Tables are built exactly as the element-by-element conversion (Converter.build) builds them:
-- an empty constructor, then the members assigned in order with nulls skipped, so their
-- layout, `#t` on an array with holes and the raw `next` order are the same; the same markers
-- are set (objects, lengths, nulls). Declined (Converter.build then converts it and names the
-- path of an error): NaN, infinities, integers outside 64 bits.
--
-- Speed comes from reading each member with one pattern match: a key, then either a scalar
-- token (number, true, false, null) or the first character of a string or a container, then
-- the character after it. Strings with escapes take a slower path.
local find, sub, char = c_find, string.sub, string.char
local utf8_char, tonumber, pcall, error = utf8.char, tonumber, raw.pcall, raw.error
local DECLINE = {}
local UNESCAPE = {
    ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}
-- A member ("key":token followed by one character) and an element (token, one character).
-- The token is empty for a string or a container: the character is then its first one.
local MEMBER = '^"([^"\\]*)":([%w.+-]*)(.)'
local ELEMENT = "^([%w.+-]*)(.)"
local PLAIN_STRING = '^([^"\\]*)"(.)' -- the rest of a string without escapes, and what follows
local COLON_TOKEN = "^:([%w.+-]*)(.)"

local text = "" -- the text being decoded (one decode at a time: it never yields)

-- The string whose opening quote is at i (it has escapes): the string, the position after it.
local function escaped_string(i)
    local parts, n, pos = {}, 0, i + 1
    while true do
        local k = find(text, '["\\]', pos)
        n = n + 1
        parts[n] = sub(text, pos, k - 1)
        if sub(text, k, k) == '"' then
            return concat(parts, "", 1, n), k + 1
        end
        local e = sub(text, k + 1, k + 1)
        n = n + 1
        if e == "u" then
            local code = tonumber(sub(text, k + 2, k + 5), 16)
            pos = k + 6
            if code >= 0xD800 and code < 0xDC00 and sub(text, pos, pos + 1) == "\\u" then
                local low = tonumber(sub(text, pos + 2, pos + 5), 16)
                if low >= 0xDC00 and low < 0xE000 then
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    pos = pos + 6
                end
            end
            parts[n] = code < 0x80 and char(code) or utf8_char(code)
        else
            parts[n] = UNESCAPE[e]
            pos = k + 2
        end
    end
end

-- A scalar token as a Lua value (nil for null); declines what the rules leave to Python.
local function scalar(token)
    if token == "true" then
        return true
    elseif token == "false" then
        return false
    elseif token == "null" then
        return nil
    end
    local v = tonumber(token) -- nil for NaN, Infinity, -Infinity
    if v == nil then
        error(DECLINE)
    end
    -- 19+ digits may be an integer beyond 64 bits, which Lua reads as a float
    if #token > 18 and mtype(v) == "float" and not find(token, "[.eE]") then
        error(DECLINE)
    end
    return v
end

local object_at, array_at

-- The value starting at e whose token (scalar) or first character (c) was read: the value,
-- the position of the character after it, that character.
local function value_at(token, c, e)
    if token ~= "" then
        return scalar(token), e, c
    end
    local v, p
    if c == '"' then
        local s, e2, str, c2 = find(text, PLAIN_STRING, e + 1)
        if s then
            return str, e2, c2
        end
        v, p = escaped_string(e)
    elseif c == "{" then
        v, p = object_at(e)
    else -- "["
        v, p = array_at(e)
    end
    return v, p, sub(text, p, p)
end

object_at = function(i)
    local t = {}
    local count, null_keys = 0, nil
    local s, e, k, token, c, v
    while true do
        s, e, k, token, c = find(text, MEMBER, i + 1)
        if not s then -- {}, or a key with escapes
            if count == 0 and null_keys == nil and sub(text, i + 1, i + 1) == "}" then
                objects[t] = true
                return t, i + 2
            end
            k, e = escaped_string(i + 1)
            s, e, token, c = find(text, COLON_TOKEN, e)
        end
        -- numbers and plain strings inline (a call per value is a good part of the time)
        if token ~= "" then
            v, i = scalar(token), e
        elseif c == '"' then
            local s2, e2, str, c2 = find(text, PLAIN_STRING, e + 1)
            if s2 then
                v, i, c = str, e2, c2
            else
                v, i, c = value_at(token, c, e)
            end
        else
            v, i, c = value_at(token, c, e)
        end
        if v == nil then
            if null_keys == nil then
                null_keys = { k }
            else
                null_keys[#null_keys + 1] = k
            end
        else
            t[k] = v
            count = count + 1
        end
        if c == "}" then
            break
        end
    end
    if count == 0 then
        objects[t] = true
    end
    if null_keys then
        nulls[t] = null_keys
    end
    return t, i + 1
end

array_at = function(i)
    local t = {}
    local n, holes = 0, false
    local _, e, token, c, v
    while true do
        _, e, token, c = find(text, ELEMENT, i + 1)
        if c == "]" and token == "" then -- [] (an element never starts with "]")
            return t, e + 1
        end
        -- numbers and plain strings inline (a call per value is a good part of the time)
        if token ~= "" then
            v, i = scalar(token), e
        elseif c == '"' then
            local s2, e2, str, c2 = find(text, PLAIN_STRING, e + 1)
            if s2 then
                v, i, c = str, e2, c2
            else
                v, i, c = value_at(token, c, e)
            end
        else
            v, i, c = value_at(token, c, e)
        end
        n = n + 1
        if v == nil then
            holes = true
        else
            t[n] = v
        end
        if c == "]" then
            break
        end
    end
    if holes then
        lengths[t] = n
    end
    return t, i + 1
end

local function decode(s)
    if sub(s, 1, 1) == "{" then
        return object_at(1)
    end
    return array_at(1)
end

-- ---- Quickest way in: Lua's own parser --------------------------------------------------------
-- sys.load_json(source, objects, arrays) -> the Lua value, or nil when declined. `source` is a
-- chunk _convert.py made from the JSON text of a dict or list without a Python step per token:
-- objects written as O{"k1", v1, "k2", v2} (Python's json with "," between key and value),
-- arrays as A{v1, v2}, null as the global `null`, string escapes as Lua reads them. Lua's parser
-- (C) reads it, and O and A build the tables exactly as decode_json does: an object is a new
-- table with its members assigned in order (nulls skipped, recorded in `nulls`; `objects` when
-- none is left), so its layout and `#t` are the element-by-element conversion's; an array
-- without nulls is the constructor's table (same `#t` and `next` order), one with nulls is
-- built by assignment and keeps its length in `lengths`.
--
-- The rewriting is blind to strings: a "[", "]" or "{" inside a string would be rewritten too.
-- `objects` and `arrays` are the counts of "{" and "[" (and "]") in the text; when O and A ran
-- fewer times, some string held one, and the result is nil, true (_convert.py then rewrites
-- the text around its strings). Declined (nil): a source Lua's parser refuses (nesting deeper
-- than about 200, too many registers for one expression).
local NULL = {}
local json_env = { null = NULL } -- the chunk's only global; the source has no other names
local raw_load = raw.load
local made_objects, made_arrays = 0, 0

local function O(a)
    made_objects = made_objects + 1
    local n = #a -- a holds no nil: a null is NULL
    if n == 0 then
        objects[a] = true
        return a
    end
    local t, count, null_keys = {}, 0, nil
    for i = 1, n, 2 do
        local k, v = a[i], a[i + 1]
        if v == NULL then
            if null_keys == nil then
                null_keys = { k }
            else
                null_keys[#null_keys + 1] = k
            end
        else
            t[k] = v
            count = count + 1
        end
    end
    if count == 0 then
        objects[t] = true
    end
    if null_keys then
        nulls[t] = null_keys
    end
    return t
end

local function A(a)
    made_arrays = made_arrays + 1
    local n = #a
    for i = 1, n do
        if a[i] == NULL then
            local t = {}
            for j = 1, n do
                local v = a[j]
                if v ~= NULL then
                    t[j] = v
                end
            end
            lengths[t] = n
            return t
        end
    end
    return a
end

function sys.load_json(source, objects_in_text, arrays_in_text)
    local chunk = raw_load(source, "=json", "t", json_env)
    if chunk == nil then
        return nil
    end
    made_objects, made_arrays = 0, 0
    local value = chunk(O, A)
    if made_objects ~= objects_in_text or made_arrays ~= arrays_in_text then
        return nil, true
    end
    return value
end

function sys.decode_json(s)
    text = s
    local ok, v = pcall(decode, s)
    text = "" -- not kept alive until the next call
    if ok then
        return v
    end
    if v == DECLINE then
        return nil
    end
    error(v, 0)
end
