"""Load-time checks of Lua source files: syntax, exported functions, ``require`` calls.

The chunk is compiled and its top level executed once in a throwaway sandboxed ``lupa.lua54``
runtime, where ``require`` returns a stub (indexing it gives the stub again; calling it returns the
stub), and ``io``, ``os.execute``, ``python``, ``debug``, ``load``, ``dofile`` and ``loadfile`` are
gone. A memory cap and an instruction budget keep a runaway top level from hanging the loader.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

import lupa.lua54 as lupa

_FORMS = Path(__file__).resolve().parent.parent / "lua" / "forms.lua"

#: Instructions the top level of a file may run at load time.
INSTRUCTION_BUDGET = 20_000_000
#: Memory cap of the throwaway runtime, bytes.
MAX_MEMORY = 64 * 1024 * 1024

_CHECKER = r"""
local forms_source = ...
local load, pcall, type, tostring, pairs, rawequal = load, pcall, type, tostring, pairs, rawequal
local setmetatable, error, sort, concat = setmetatable, error, table.sort, table.concat
local sethook = debug.sethook

local stub
local mt = {}
stub = setmetatable({}, mt)
local function give() return stub end
mt.__index = give
mt.__call = give
for _, op in pairs({"add", "sub", "mul", "div", "mod", "pow", "unm", "idiv", "band", "bor",
                    "bxor", "shl", "shr", "bnot"}) do
  mt["__" .. op] = give
end
mt.__concat = function() return "" end
mt.__len = function() return 0 end
mt.__lt = function() return false end
mt.__le = function() return false end
mt.__tostring = function() return "<stub>" end

io, python, debug = nil, nil, nil
_G.load, _G.dofile, _G.loadfile, _G.collectgarbage = nil, nil, nil, nil
os.execute, os.exit, os.remove, os.rename, os.tmpname = nil, nil, nil, nil, nil
string.dump = nil
if package then package.loadlib = nil; package.searchers = nil end
require = function() return stub end
process, channel, payload, errors = stub, stub, stub, stub
print = function() end
subscribe, unsubscribe = give, give
-- the run-time forms (integer(x), unpack, string(x), ...) exist at the top level too
local string_call = load(forms_source, "=moonflow/forms", "t")(_G, table, error)
setmetatable(string, { __call = function(_, ...) return string_call(...) end })

return function(src, chunkname, budget)
  local fn, err = load(src, chunkname, "t")
  if not fn then return "syntax", tostring(err) end
  sethook(function() error("top-level code did not finish (runaway loop?)", 2) end, "", budget)
  local ok, res = pcall(fn)
  sethook()
  if not ok then
    if rawequal(res, stub) then
      return "runtime", "the top level raised an error object (errors.new or a module's error)"
    elseif type(res) == "table" then
      return "runtime", "the top level raised a table as its error"
    end
    return "runtime", tostring(res)
  end
  if rawequal(res, stub) then return "stub", "" end
  if type(res) == "function" then return "function", "" end
  if type(res) ~= "table" then return "value", type(res) end
  local names = {}
  for k, v in pairs(res) do
    if type(k) == "string" and (type(v) == "function" or rawequal(v, stub)) then
      names[#names + 1] = k
    end
  end
  sort(names)
  return "table", concat(names, ",")
end
"""


@dataclass(frozen=True)
class ChunkInfo:
    """What a Lua file's top level returned.

    Attributes:
        returns: ``"table"`` (a table of functions), ``"function"`` (a single function),
            ``"stub"`` (a stubbed module, e.g. ``return require("lib")``: unknown exports), or
            ``"value"`` (anything else, e.g. nil).
        exports: sorted names of the functions in the returned table (``"table"`` only).
        value_type: the Lua type of the returned value when ``returns == "value"``.
    """

    returns: str
    exports: tuple[str, ...] = ()
    value_type: str = ""

    def exports_method(self, method: str) -> bool:
        """True when calling ``method`` on the loaded file can work."""
        if self.returns in ("function", "stub"):
            return True
        return self.returns == "table" and method in self.exports


class LuaCheckError(Exception):
    """A Lua file failed to compile or to run its top level.

    Attributes:
        what: ``"syntax"``, ``"runtime"`` or ``"memory"``.
        message: the Lua message without the ``chunkname:line:`` prefix (one line).
        line: the Lua line number, or None when the message has none.
    """

    def __init__(self, what: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.what = what
        self.message = message
        self.line = line


def check_chunk(source: str, chunkname: str) -> ChunkInfo:
    """Compile ``source`` and run its top level in a throwaway sandbox.

    Args:
        source: the Lua source text.
        chunkname: the name used in Lua messages (the path relative to the app root; ``@`` is
            prepended here).

    Raises:
        LuaCheckError: syntax error, runtime error, runaway loop or memory cap in the top level.
    """
    runtime = lupa.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        max_memory=MAX_MEMORY,
    )
    checker = runtime.execute(_CHECKER, _FORMS.read_text(encoding="utf-8"))
    try:
        kind, detail = checker(source, "@" + chunkname, INSTRUCTION_BUDGET)
    except lupa.LuaMemoryError:
        raise LuaCheckError(
            "memory", f"top-level code used more than {MAX_MEMORY >> 20} MB", None
        ) from None
    except lupa.LuaError as exc:  # e.g. an error object whose __tostring fails
        raise LuaCheckError("runtime", _one_line(str(exc)), None) from None
    if kind in ("syntax", "runtime"):
        message, line = split_location(str(detail), chunkname)
        if message == "not enough memory":
            message += f" (top-level code may use at most {MAX_MEMORY >> 20} MB)"
        raise LuaCheckError(kind, message, line)
    if kind == "table":
        return ChunkInfo("table", tuple(n for n in str(detail).split(",") if n))
    if kind == "value":
        return ChunkInfo("value", value_type=str(detail))
    return ChunkInfo(str(kind))


def split_location(message: str, chunkname: str) -> tuple[str, int | None]:
    """Split ``"chunk:LINE: msg"`` into ``("msg", LINE)``; other messages give ``(msg, None)``.

    Lua shortens a long chunk name to ``...`` and its last characters (LUA_IDSIZE): that
    form is recognised too, so the message never keeps a path cut off mid-name.
    """
    message = _one_line(message)
    prefix = chunkname + ":"
    rest = None
    if message.startswith(prefix):
        rest = message[len(prefix) :]
    elif message.startswith("..."):
        shown, sep, after = message[3:].partition(":")
        if sep and shown and chunkname.endswith(shown):
            rest = after
    if rest is not None:
        m = re.match(r"(\d+): ?(.*)$", rest)
        if m:
            return m.group(2), int(m.group(1))
    return message, None


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<lcomment>--\[(?P<ceq>=*)\[)
    |(?P<comment>--[^\n]*)
    |(?P<lstring>\[(?P<seq>=*)\[)
    |(?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>\.\.\.?|::)
    |(?P<other>.)""",
    re.S | re.X,
)
_REQUIRE_ARG = re.compile(
    r"""\s*\(?\s*(?:"(?P<dq>(?:\\.|[^"\\\n])*)"|'(?P<sq>(?:\\.|[^'\\\n])*)'|\[(?P<eq>=*)\[(?P<long>.*?)\](?P=eq)\])""",
    re.S,
)


def scan_requires(source: str) -> list[tuple[str, int]]:
    """Every ``require("x")`` / ``require 'x'`` / ``require "x"`` with a literal name.

    Comments and string contents are skipped, and so are method/field calls (``obj.require``).

    Returns:
        ``[(name, line), ...]`` in source order; ``line`` is 1-based.
    """
    newlines = [i for i, ch in enumerate(source) if ch == "\n"]
    found: list[tuple[str, int]] = []
    pos, prev = 0, ""
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:  # pragma: no cover - "other" matches any character
            break
        end = m.end()
        group = m.lastgroup
        if group in ("lcomment", "lstring"):
            eq = m.group("ceq") if group == "lcomment" else m.group("seq")
            close = source.find("]" + eq + "]", end)
            end = len(source) if close < 0 else close + len(eq) + 2
        elif group == "name" and m.group(0) == "require" and prev not in (".", ":"):
            arg = _REQUIRE_ARG.match(source, end)
            if arg is not None:
                name = next(g for g in (arg["dq"], arg["sq"], arg["long"]) if g is not None)
                found.append((name, bisect.bisect_left(newlines, m.start()) + 1))
        if group not in ("ws", "comment", "lcomment"):
            prev = m.group(0)
        pos = end
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())
