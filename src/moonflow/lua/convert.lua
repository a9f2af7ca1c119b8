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

-- Objects that are not data (channels, select cases, timers, tickers, messages): their
-- metatable -> {what it is, what to send instead}, registered by the module that makes them
-- (each run's module instance has its own metatables; weak keys as for `kinds`). Their fields
-- are machinery (queues, sources, functions): converting them would leak those or fail naming
-- a field, so a value holding one fails naming its path and what it is. Only tables with a
-- metatable are looked up here (the fast paths decline those anyway): plain tables pay nothing.
local not_data = raw.setmetatable({}, { __mode = "k" })
sys.not_data = not_data
-- A Payload (msg:payload(), kind "payload" in `kinds`) is data: it converts as the value it
-- holds (`_v`), as the reference runtime passes a payload through as its data.

-- describe(v) -> tag, extra, identity
--   "time", rfc3339 | "duration", ns | "error", message | "object" | "array", n | "table"
--   | "notdata", what, hint (see not_data) | "payload", the value it holds
function sys.describe(v)
    local mt = raw.debug_getmetatable(v)
    if mt == BAD then
        return "badutf8", nil, nil
    end
    if mt ~= nil then
        local what = not_data[mt]
        if what ~= nil then
            return "notdata", what[1], what[2]
        end
        if kinds[mt] == "payload" then
            return "payload", guard_text(rawget(v, "_v")), nil
        end
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
local objects, lengths, nulls = sys.objects, sys.lengths, sys.nulls
-- The C pattern functions: sandbox.lua routes the string library's to guarded versions that
-- bound their work on user patterns; these patterns are fixed and linear.
local gsub, c_find = sys.c_string.gsub, sys.c_string.find
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\" }
for c = 0, 31 do
    ESC[string.char(c)] = fmt("\\u%04x", c)
end
ESC["\127"] = "\\u007f"

local function quote(s)
    return '"' .. gsub(s, '[%c"\\]', ESC) .. '"'
end

local COUNT = {} -- key of the tables-written count in `visiting`
local MAX_TABLES = 200000 -- _convert.py's _MAX_TABLES (Temporal payloads are a few MB)
local NEEDS_CARE = '[%c"\\\128-\255]' -- a string that needs escapes or a UTF-8 check
local type, next = type, raw.next

-- Pieces are written into `out` (one slot per piece, joined once at the end); a string that
-- needs neither escapes nor a UTF-8 check is written as it is, between quote pieces. Returns
-- the new piece count, or nil to decline. `keys` caches the '"key":' pieces of the call.
local encode_table

-- v as pieces after out[n]; nil for what the rules reject.
local function encode_value(v, out, n, depth, visiting, keys)
    local t = type(v)
    if t == "string" then
        if c_find(v, NEEDS_CARE) == nil then
            out[n + 1], out[n + 2], out[n + 3] = '"', v, '"'
            return n + 3
        end
        if not utf8_len(v) then
            return nil
        end
        out[n + 1] = quote(v)
        return n + 1
    elseif t == "number" then
        if mtype(v) == "integer" then
            out[n + 1] = v -- concat writes an integer as %d
            return n + 1
        end
        if v ~= v or v == huge or v == -huge then
            return nil
        end
        -- %.17g reads back as the same double; an integral value below 1e17 is written
        -- without a point or exponent, and gets ".0" so it stays a float on the Python side
        local s = fmt("%.17g", v)
        if v % 1 == 0 and v < 1e17 and v > -1e17 then
            s = s .. ".0"
        end
        out[n + 1] = s
        return n + 1
    elseif t == "boolean" then
        out[n + 1] = v and "true" or "false"
        return n + 1
    elseif t == "table" then
        return encode_table(v, out, n, depth, visiting, keys)
    end
    return nil
end

-- The '"key":' piece of a string key (cached for the call), nil for a key the rules reject.
local function key_piece(k, keys)
    local piece = keys[k]
    if piece == nil then
        if type(k) ~= "string" or not utf8_len(k) then
            return nil
        end
        piece = quote(k) .. ":"
        keys[k] = piece
    end
    return piece
end

-- An array: integer keys 1..len. One that came in with nulls remembers its length: 1..length
-- may have holes (the nulls), anything past it must be contiguous.
local function encode_array(v, out, n, depth, visiting, keys, length)
    if length == 0 then
        -- most arrays: `next` hands out 1, 2, ... n in order (the array part); one pass then
        local i, start = 0, n
        out[n + 1] = "["
        n = n + 1
        for k, item in next, v do
            i = i + 1
            if k ~= i then
                n = nil
                break
            end
            if i > 1 then
                out[n + 1] = ","
                n = n + 1
            end
            n = encode_value(item, out, n, depth, visiting, keys)
            if n == nil then
                return nil
            end
        end
        if n ~= nil then
            out[n + 1] = "]"
            return n + 1
        end
        n = start -- keys in another order (or not 1..n): the two passes below decide
    end
    local top, beyond = 0, 0
    for k in next, v do
        if mtype(k) ~= "integer" or k < 1 then
            return nil
        end
        if k > top then
            top = k
        end
        if k > length then
            beyond = beyond + 1
        end
    end
    local len = top > length and top or length
    if beyond ~= len - length then
        return nil -- sparse
    end
    out[n + 1] = "["
    n = n + 1
    for i = 1, len do
        if i > 1 then
            out[n + 1] = ","
            n = n + 1
        end
        local item = v[i] -- raw: v has no metatable
        if item == nil then
            out[n + 1] = "null"
            n = n + 1
        else
            n = encode_value(item, out, n, depth, visiting, keys)
            if n == nil then
                return nil
            end
        end
    end
    out[n + 1] = "]"
    return n + 1
end

encode_table = function(v, out, n, depth, visiting, keys)
    local mt = dgetmt(v)
    if mt ~= nil then
        local kind = kinds[mt]
        if kind == "time" then
            out[n + 1] = quote(sys.time_to_string(v))
            return n + 1
        elseif kind == "duration" then
            out[n + 1] = fmt("%d", v._ns)
            return n + 1
        elseif kind == "error" then
            local text = tostring(v)
            if not utf8_len(text) then
                return nil
            end
            out[n + 1] = quote(text)
            return n + 1
        elseif kind == "payload" then
            -- the value it holds; one level of depth, so a payload holding itself ends
            if depth <= 0 then
                return nil
            end
            return encode_value(rawget(v, "_v"), out, n, depth - 1, visiting, keys)
        end
        return nil -- a marker (bad UTF-8), a not_data object or another: the slow path explains
    end
    if depth <= 0 or visiting[v] then
        return nil
    end
    -- a table reached along many paths (t = {t, t} repeated) is written once per path: count
    -- the tables written and decline past MAX_TABLES (the slow path then names the problem)
    local count = visiting[COUNT] + 1
    if count > MAX_TABLES then
        return nil
    end
    visiting[COUNT] = count
    depth = depth - 1
    local first = next(v)
    local null_keys = nulls[v]
    if first == nil and null_keys == nil then
        local length = lengths[v]
        if objects[v] then
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
        return n + 1
    end
    visiting[v] = true
    if type(first) == "string" or (first == nil and null_keys ~= nil) then
        local open = "{"
        for k, item in next, v do
            local piece = keys[k] or key_piece(k, keys)
            if piece == nil then
                return nil
            end
            out[n + 1], out[n + 2] = open, piece
            open = ","
            n = encode_value(item, out, n + 2, depth, visiting, keys)
            if n == nil then
                return nil
            end
        end
        if null_keys then
            for i = 1, #null_keys do
                local k = null_keys[i]
                if rawget(v, k) == nil then
                    out[n + 1], out[n + 2], out[n + 3] = open, quote(k), ":null"
                    open = ","
                    n = n + 3
                end
            end
        end
        out[n + 1] = "}"
        visiting[v] = nil
        return n + 1
    end
    n = encode_array(v, out, n, depth, visiting, keys, lengths[v] or 0)
    visiting[v] = nil
    return n
end

function sys.encode_json(v, max_depth)
    local out = {}
    local n = encode_value(v, out, 0, max_depth, { [COUNT] = 0 }, {})
    if n == nil then
        return nil
    end
    return concat(out, "", 1, n)
end

-- ---- Quicker way out, checked afterwards ----------------------------------------------------
-- sys.encode_json_fast(v, max_depth) -> JSON text and the number of '"' it wrote, or nil to
-- decline. Strings (keys and values) are written as they are, with no per-string check: the
-- caller (_convert.py) checks the whole text once instead. A string with a '"' or a backslash
-- or not valid UTF-8 shows there as a backslash, more '"' than counted here, or text lupa cannot
-- decode; the caller then asks sys.encode_json above, which escapes and checks each string (raw
-- control characters need no escape there: Python reads them as it reads their escapes).
-- Declines what encode_json declines (a cycle through the depth limit or the table count), and
-- also tables with a marker (Time, Duration, error, bad UTF-8) and arrays that came in with
-- nulls, which encode_json writes.
--
-- Object keys come out sorted (byte order, which is code point order for UTF-8, as Python
-- sorts str), so Python reads the text without a sorting hook. The order is worked out once
-- per key sequence: tables with the same keys in the same `next` order (records of one kind)
-- share a node of `shapes`, a tree of key sequences made for each call.
local sort, setlocale = table.sort, raw.os_setlocale
local ORDER, PIECES, STR_PIECES = {}, {}, {} -- fields of a node of `shapes`
local BIG = 32 -- objects with more keys are sorted without a node per key
local quotes = 0 -- '"' written by the current call (one call at a time: it never yields)
local tables = 0 -- tables written by the current call
local shapes -- the current call's tree of key sequences
local shape_nodes = 0 -- its size, bounded: objects with keys of their own gain nothing from it
local MAX_SHAPE_NODES = 4096

-- The sorted keys of object v (and its null keys still unset) and the pieces written before
-- each member's value: '{"k":' / ',"k":', and the same with a string value's opening quote.
-- nil for a key that is not a string.
local function object_order(v, null_keys)
    local node, count = shapes, 0
    if shape_nodes > MAX_SHAPE_NODES then
        node = nil -- objects of many kinds: no tree, each sorted by itself
    end
    for k in next, v do
        if node == nil then
            break
        end
        count = count + 1
        if count > BIG then
            node = nil
            break
        end
        local child = node[k]
        if child == nil then
            if type(k) ~= "string" then
                return nil
            end
            child = {}
            node[k] = child
            shape_nodes = shape_nodes + 1
        end
        node = child
    end
    if node ~= nil and null_keys == nil and node[ORDER] ~= nil then
        return node[ORDER], node[PIECES], node[STR_PIECES]
    end
    local order, n = {}, 0
    for k in next, v do
        if type(k) ~= "string" then
            return nil
        end
        n = n + 1
        order[n] = k
    end
    if null_keys ~= nil then
        for i = 1, #null_keys do
            local k = null_keys[i]
            if rawget(v, k) == nil then
                n = n + 1
                order[n] = k
            end
        end
    end
    sort(order)
    local pieces, str_pieces = {}, {}
    for i = 1, n do
        local head = (i == 1 and '{"' or ',"') .. order[i]
        pieces[i], str_pieces[i] = head .. '":', head .. '":"'
    end
    if node ~= nil and null_keys == nil then
        node[ORDER], node[PIECES], node[STR_PIECES] = order, pieces, str_pieces
    end
    return order, pieces, str_pieces
end

local fast_table

-- The piece of a number or boolean after out[n]; nil to decline.
local function fast_scalar(item, t, out, n)
    if t == "number" then
        if mtype(item) == "integer" then
            out[n + 1] = item -- concat writes an integer as %d
            return n + 1
        end
        if item ~= item or item == huge or item == -huge then
            return nil
        end
        -- A float with at most 6 decimals (1.5, 19.99) as M "e-6", M an integer below 1e15:
        -- Python reads that as the double nearest to M / 10^6, which is what Lua's division
        -- M / 1e6 gives (both round correctly), so when that is item, the text is exact. No
        -- string.format (printf of 17 digits is most of the cost of a float). Not for 0.0 and
        -- -0.0 (M would lose the sign).
        local m = (item * 1e6 + 0.5) // 1
        if m / 1e6 == item and m < 1e15 and m > -1e15 and item ~= 0 then
            out[n + 1], out[n + 2] = m | 0, "e-6" -- m | 0: the integer, written as %d
            return n + 2
        end
        -- as encode_value: %.17g reads back as the same double, ".0" keeps it a float
        if item % 1 == 0 and item < 1e17 and item > -1e17 then
            out[n + 1] = fmt("%.17g.0", item)
        else
            out[n + 1] = fmt("%.17g", item)
        end
        return n + 1
    elseif t == "boolean" then
        out[n + 1] = item and "true" or "false"
        return n + 1
    end
    return nil
end

fast_table = function(v, out, n, depth)
    if depth <= 0 or dgetmt(v) ~= nil then
        return nil
    end
    tables = tables + 1
    if tables > MAX_TABLES then
        return nil
    end
    depth = depth - 1
    if v[1] == nil then -- raw: v has no metatable
        local null_keys = nulls[v]
        local order, pieces, str_pieces = object_order(v, null_keys)
        if order == nil then
            return nil
        end
        local size = #order
        if size == 0 then
            if lengths[v] ~= nil then
                return nil
            end
            out[n + 1] = (objects[v] or null_keys ~= nil) and "{}" or "[]"
            return n + 1
        end
        for i = 1, size do
            local item = v[order[i]]
            local t = type(item)
            if t == "string" then
                out[n + 1], out[n + 2], out[n + 3] = str_pieces[i], item, '"'
                n = n + 3
                quotes = quotes + 4
            else
                out[n + 1] = pieces[i]
                quotes = quotes + 2
                if t == "table" then
                    n = fast_table(item, out, n + 1, depth)
                elseif t == "nil" then
                    out[n + 2] = "null"
                    n = n + 2
                else
                    n = fast_scalar(item, t, out, n + 1)
                end
                if n == nil then
                    return nil
                end
            end
        end
        out[n + 1] = "}"
        return n + 1
    end
    -- an array: `next` hands out 1, 2, ... n in order (the array part), else decline
    if lengths[v] ~= nil then
        return nil
    end
    local i, open, open_str = 0, "[", '["'
    for k, item in next, v do
        i = i + 1
        if k ~= i then
            return nil
        end
        local t = type(item)
        if t == "string" then
            out[n + 1], out[n + 2], out[n + 3] = open_str, item, '"'
            n = n + 3
            quotes = quotes + 2
        else
            out[n + 1] = open
            if t == "table" then
                n = fast_table(item, out, n + 1, depth)
            else
                n = fast_scalar(item, t, out, n + 1)
            end
            if n == nil then
                return nil
            end
        end
        open, open_str = ",", ',"'
    end
    out[n + 1] = "]"
    return n + 1
end

function sys.encode_json_fast(v, max_depth)
    -- keys are sorted with `<`, which compares strings with strcoll: byte order only in the
    -- C locale (as detpairs.lua); otherwise encode_json writes them for Python to sort
    local collate = setlocale and setlocale(nil, "collate")
    if type(v) ~= "table" or (collate ~= "C" and collate ~= "POSIX") then
        return nil
    end
    local out = {}
    quotes, tables, shapes, shape_nodes = 0, 0, {}, 0
    local n = fast_table(v, out, 0, max_depth)
    shapes = nil
    if n == nil then
        return nil
    end
    return concat(out, "", 1, n), quotes
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

-- ---- Copy between runs of this state, without Python --------------------------------------
-- sys.copy_values(packed) -> a fresh packed list {n = N, ...} of copies, or nil to decline;
-- then the tables plus elements it copied and the bytes of the strings in it.
-- `packed` is what sys.guard_pack makes. The copy is what the receiver would get from the
-- Python path (to_python, then to_lua in its run): the same types (math.type too), keys,
-- values and markers, and no table shared with the original (runs never share tables). It
-- copies a conservative subset exactly and declines (nil) anything else, which then takes the
-- Python path and gets its exact result or error there: nil, booleans, valid UTF-8 strings,
-- integers, finite floats (-0.0 and integral floats stay such floats), and tables without a
-- metatable that are either a sequence 1..n that `next` hands out in order or have only valid
-- UTF-8 string keys. An empty table keeps its `objects` marker (JSON {} comes back as {}); a
-- non-empty one comes back unmarked, as from Python. Declined besides: Time, Duration, error
-- and bad-UTF-8 marker tables (any metatable), tables with a `lengths` or `nulls` marker,
-- nesting deeper than COPY_DEPTH (a cycle ends there), more than COPY_SLOTS tables plus
-- elements, more than COPY_BYTES of strings. A table reached twice is copied twice.
-- The copy's `next` order may differ from the Python path's (that one inserts keys sorted).
-- The tables are made in the calling run (the sender's memory cap), at most COPY_SLOTS slots.
-- It runs on every local process.send: the checks are written out in each loop (no calls).
local unpack = table.unpack
local COPY_DEPTH = 32
local COPY_SLOTS = 1000
-- Strings are shared, not copied (Lua strings are immutable values). The bound keeps the copy
-- exact where Python refuses a value: its JSON text is at most 6 characters per string byte
-- (\u0001) plus about 30 per slot, far below _convert.py's _MAX_BYTES (64 MiB) at 8 MiB.
local COPY_BYTES = 8 * 1024 * 1024
local slots, bytes = 0, 0 -- spent by the current call (one call at a time: it never yields)

local copy_table

-- The copy of the sequence v (first item `item`), or nil to decline.
local function copy_array(v, item, depth)
    local k, i, nested = 1, 0, false
    repeat
        i = i + 1
        if k ~= i or i > COPY_SLOTS then
            return nil -- not 1..n in `next` order (a hole, other keys, or the hash part)
        end
        local t = type(item)
        if t == "number" then
            if item ~= item or item == huge or item == -huge then
                return nil
            end
        elseif t == "string" then
            bytes = bytes + #item
            if bytes > COPY_BYTES or not utf8_len(item) then
                return nil
            end
        elseif t == "table" then
            nested = true
        elseif t ~= "boolean" then
            return nil
        end
        k, item = next(v, k)
    until k == nil
    slots = slots + i
    if slots > COPY_SLOTS then
        return nil
    end
    local c = { unpack(v, 1, i) } -- the array part, sized as the Python path's constructor
    if nested then
        for j = 1, i do
            item = c[j]
            if type(item) == "table" then
                item = copy_table(item, depth)
                if item == nil then
                    return nil
                end
                c[j] = item
            end
        end
    end
    return c
end

-- The copy of table v, or nil to decline.
copy_table = function(v, depth)
    if depth <= 0 or dgetmt(v) ~= nil or lengths[v] ~= nil or nulls[v] ~= nil then
        return nil
    end
    slots = slots + 1
    local k, item = next(v)
    if k == nil then
        if objects[v] then
            local c = {}
            objects[c] = true
            return c
        end
        return {}
    elseif k == 1 then
        return copy_array(v, item, depth - 1)
    end
    local c = {}
    repeat
        if type(k) ~= "string" then
            return nil
        end
        slots = slots + 1
        bytes = bytes + #k
        if slots > COPY_SLOTS or bytes > COPY_BYTES or not utf8_len(k) then
            return nil
        end
        local t = type(item)
        if t == "number" then
            if item ~= item or item == huge or item == -huge then
                return nil
            end
        elseif t == "string" then
            bytes = bytes + #item
            if bytes > COPY_BYTES or not utf8_len(item) then
                return nil
            end
        elseif t == "table" then
            item = copy_table(item, depth - 1)
            if item == nil then
                return nil
            end
        elseif t ~= "boolean" then
            return nil
        end
        c[k] = item
        k, item = next(v, k)
    until k == nil
    return c
end

function sys.copy_values(packed)
    local n = packed.n
    if mtype(n) ~= "integer" or n < 0 or n > COPY_SLOTS then
        return nil
    end
    slots, bytes = 0, 0
    local nested = false
    for i = 1, n do
        local item = packed[i]
        local t = type(item)
        if t == "number" then
            if item ~= item or item == huge or item == -huge then
                return nil
            end
        elseif t == "string" then
            bytes = bytes + #item
            if bytes > COPY_BYTES or not utf8_len(item) then
                return nil
            end
        elseif t == "table" then
            nested = true
        elseif t ~= "boolean" and t ~= "nil" then
            return nil
        end
    end
    local c = pack(unpack(packed, 1, n)) -- C: the array part sized once, n set
    if nested then
        for i = 1, n do
            local item = c[i]
            if type(item) == "table" then
                item = copy_table(item, COPY_DEPTH)
                if item == nil then
                    return nil
                end
                c[i] = item
            end
        end
    end
    return c, slots, bytes
end
