-- The `io` module of a terminal host (lua-api.md §2.14b; not Lua's standard io): the console of
-- `moonflow run APP -x ENTRY`. Only a process on a terminal host has one; elsewhere every call
-- returns nil, "no terminal context" (io.print and io.eprint return true, as the reference
-- runtime ignores their write errors).
--
--   io.write(...) -> true | nil, err    tostring of each argument, no separators, no newline
--   io.print(...) / io.eprint(...) -> true    tab-separated, newline, stdout / stderr
--   io.read(n?) -> string | nil, err    up to n bytes (default 1024); waits without blocking
--                                       other processes
--   io.readline() -> string | nil, err  a line without its \n / \r\n; EOF with no data: nil, err
--   io.flush() -> true | nil, err
--   io.raw(enable?) -> nil, err         raw terminal mode is not supported
--   io.args() -> array of strings       the arguments after the entry on the command line
--
-- Called with (sys).
local sys = ...
local raw = sys.raw
local host = sys.host
local pack, concat = table.pack, table.concat
local tostring = raw.tostring

local M = {}
local NO_TERMINAL = "no terminal context"
local has_terminal = sys.context == "process"

local function joined(sep, ...)
    local args = pack(...)
    local parts = {}
    for i = 1, args.n do
        parts[i] = tostring(args[i])
    end
    return concat(parts, sep)
end

-- Lua strings are bytes; the host gets them mapped byte for byte onto text (128-255 ->
-- U+0080-U+00FF) and writes the bytes back out unchanged, UTF-8 or not.
local gsub, char, uchar = string.gsub, string.char, utf8.char
local LATIN1 = {}
for i = 128, 255 do
    LATIN1[char(i)] = uchar(i)
end

local function write(stream, text)
    if not has_terminal then
        return nil, NO_TERMINAL
    end
    return host.terminal_write(stream, (gsub(text, "[\128-\255]", LATIN1)))
end

function M.write(...)
    return write("out", joined("", ...))
end
function M.print(...)
    write("out", joined("\t", ...) .. "\n")
    return true
end
function M.eprint(...)
    write("err", joined("\t", ...) .. "\n")
    return true
end
function M.flush()
    if not has_terminal then
        return nil, NO_TERMINAL
    end
    return host.terminal_flush()
end
function M.args()
    if not has_terminal then
        return {}
    end
    return host.terminal_args()
end
function M.raw()
    return nil, "raw terminal mode is not supported by moonflow"
end

local function read(line, n)
    if not has_terminal then
        return nil, NO_TERMINAL
    end
    local r = sys.yield_cmd({ op = "io_read", line = line, n = n })
    if r.ok then
        return r.value
    end
    return nil, r.err
end
function M.readline()
    return read(true, nil)
end
function M.read(n)
    if n ~= nil and type(n) ~= "number" then
        return nil, "io.read: n must be a number of bytes"
    end
    if n == nil or n <= 0 then
        n = 1024
    end
    n = n // 1
    return read(false, n)
end

return M
