-- The reference runtime's run-time forms (lua-dialect.md §4): calling a type name converts or
-- validates, and two Lua 5.1 names its apps still use. Installed by sandbox.lua (shared by the
-- runs of a state, read-only to them) and by the load-time checker (kinds/_luacheck.py), so a
-- file's top level can use them too (`local N = integer("5")`).
-- Called with (G, the table library, error); returns what `string(x)` calls.
local G, tbl, raise = ...
local tonumber, tostring, tointeger, select, type = tonumber, tostring, math.tointeger, select, type

local function show(v)
    return type(v) == "string" and ("'" .. v .. "'") or tostring(v)
end
local function needs(name, n)
    if n == 0 then
        raise("bad argument #1 to '" .. name .. "' (value expected)", 3)
    end
end

-- number(x): a number, or a numeric string converted; anything else is an error
G.number = function(...)
    needs("number", select("#", ...))
    local v = ...
    local n = tonumber(v)
    if n == nil or (type(v) ~= "number" and type(v) ~= "string") then
        raise("number: cannot convert " .. show(v) .. " to a number", 2)
    end
    return n
end

-- integer(x): an integer, or a number or numeric string with an integral value
G.integer = function(...)
    needs("integer", select("#", ...))
    local v = ...
    local n = (type(v) == "number" or type(v) == "string") and tonumber(v)
    local i = n and tointeger(n)
    if not i then
        raise("integer: cannot convert " .. show(v) .. " to an integer", 2)
    end
    return i
end

-- boolean(x): a boolean, or the strings "true" / "false"; anything else is an error
G.boolean = function(...)
    needs("boolean", select("#", ...))
    local v = ...
    if v == true or v == "true" then
        return true
    elseif v == false or v == "false" then
        return false
    end
    raise("boolean: cannot convert " .. show(v) .. " to a boolean", 2)
end

-- unpack / table.unpack / table.getn check their table first: Lua's own unpack fails on a
-- non-table with a message that has no position ("attempt to get length of a nil value")
local tunpack = tbl.unpack
local function unpack(t, ...)
    if type(t) ~= "table" then
        raise("bad argument #1 to 'unpack' (table expected, got " .. type(t) .. ")", 2)
    end
    return tunpack(t, ...)
end
G.unpack = unpack
tbl.unpack = unpack
tbl.getn = function(t)
    if type(t) ~= "table" then
        raise("bad argument #1 to 'getn' (table expected, got " .. type(t) .. ")", 2)
    end
    return #t
end

-- string(x): x's string form, as tostring gives it
return function(...)
    needs("string", select("#", ...))
    return tostring((...))
end
