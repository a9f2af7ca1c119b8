"""What the binary modules (``base64``, ``hash``, ``crypto``) share: how a Lua string holding any
bytes reaches Python (:data:`BINARY_LUA`), how their work is charged to the instruction budget,
and argument helpers every Python-written module uses (:func:`describe`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lupa.lua54 as lupa

#: Lua half of a binary module. lupa hands Lua strings to Python decoded as UTF-8 and raises
#: on any other bytes before the Python function runs, so every string argument is first
#: mapped byte for byte onto text: bytes 128-255 become U+0080-U+00FF (one ``gsub`` in C), and
#: Python gets the bytes back with ``.encode("latin-1")`` (:func:`arg_bytes`). Python returns
#: ``bytes`` for binary results, which lupa pushes as a Lua string of exactly those bytes.
#:
#: Each call is charged to the running instruction budget first (``sys.charge``, as the
#: sandbox does for C library loops), so hashing megabytes, a slow FNV or a pbkdf2 with many
#: iterations stops at the budget instead of holding the Lua state (every run sharing it).
#: The chunk gets ``(sys, module name, flat table "group.fn" or "fn" -> Python function, cost
#: table "group.fn" -> eighths of an instruction per argument byte)``.
BINARY_LUA = r"""
local sys, module, fns, per_byte = ...
local type, next, tointeger = type, next, math.tointeger
local gsub, find, sub, char, uchar = string.gsub, string.find, string.sub, string.char, utf8.char

local LATIN1 = {}
for i = 128, 255 do
    LATIN1[char(i)] = uchar(i)
end
local function pass(v)
    if type(v) == "string" then
        return (gsub(v, "[\128-\255]", LATIN1))
    end
    return v
end
local function size(v)
    local t = type(v)
    return t == "string" and #v or t == "number" and 24 or 0
end
-- an integer argument within 1..max, else 0 (Python refuses it; nothing to charge)
local function count(v, max)
    local i = type(v) == "number" and tointeger(v)
    if i and i >= 1 and i <= max then
        return i
    end
    return 0
end
local function charge(n)
    local ch = sys.charge
    if ch ~= nil and n >= 1024 then
        ch(n)
    end
end
-- Work that does not follow the argument sizes, in instructions (~6 ns each).
local SPECIAL = {
    ["crypto.random.bytes"] = function(n) return count(n, 1048576) // 8 end,
    -- a Python loop per character
    ["crypto.random.string"] = function(n) return 16 * count(n, 1048576) end,
    -- one HMAC-SHA256 pair (~0.2 us) per iteration and 32-byte block
    ["crypto.pbkdf2"] = function(_, _, it, len)
        local blocks = (count(len, 1024) + 31) // 32
        return 40 * count(it, 10000000) * blocks
    end,
}

local M = {}
for key, f in next, fns do
    local k = per_byte[key] or 1
    local special = SPECIAL[module .. "." .. key]
    local function wrapped(a, b, c, d)
        local cost = (size(a) + size(b) + size(c) + size(d)) * k // 8
        if special ~= nil then
            cost = cost + special(a, b, c, d)
        end
        charge(cost)
        return f(pass(a), pass(b), pass(c), pass(d))
    end
    local dot = find(key, ".", 1, true)
    if dot then
        local group = sub(key, 1, dot - 1)
        M[group] = M[group] or {}
        M[group][sub(key, dot + 1)] = wrapped
    else
        M[key] = wrapped
    end
end
return M
"""


def binary_module(
    state: Any, name: str, functions: dict[str, tuple[Callable[..., Any], int]]
) -> Any:
    """The module table of a binary module.

    Args:
        state: the Lua state (a weak proxy).
        name: the module name (errors from Python exceptions are named ``name.key``).
        functions: ``"fn"`` or ``"group.fn"`` -> ``(python function, cost)``; the cost is in
            eighths of an instruction per byte of string argument (1 for C-speed work).
            Python functions receive string arguments as Latin-1 text (:func:`arg_bytes`).
    """
    table = state.module_table(name, {k: fn for k, (fn, _) in functions.items()})
    costs = state.to_lua({k: cost for k, (_, cost) in functions.items()})
    return state.load_lua_module(BINARY_LUA, f"=moonflow/{name}", state.sys, name, table, costs)


def arg_bytes(value: Any) -> bytes | None:
    """The bytes of a string argument as :data:`BINARY_LUA` passes it, or None for a non-string."""
    if isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(value, bytes):
        return value
    return None


def arg_data(state: Any, value: Any) -> bytes | None:
    """:func:`arg_bytes`, and a number as the bytes of its Lua ``tostring`` (``1.5`` ->
    ``"1.5"``, ``3.0`` -> ``"3.0"``), as Lua's string functions accept numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(state.tostring(value)).encode("ascii")
    return arg_bytes(value)


def describe(value: Any) -> str:
    """A short description of an argument for error messages: its type and size, never its
    content (it may be a key or a password)."""
    if isinstance(value, (str, bytes)):
        return f"a string of {len(value)} bytes"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"a {lupa.lua_type(value) or type(value).__name__}"
