"""The typed dialect eraser: every row of lua-dialect.md §1-§3, its hazards, line preservation
and unchanged plain files. Each annotated snippet is erased, then compiled and run by a plain
``lupa.lua54`` runtime, and its results are compared with the expected values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua54 as lupa
import pytest

import moonflow.dialect
from moonflow.dialect import DialectError, erase
from moonflow.errors import MoonflowError

ROOT = Path(__file__).resolve().parents[3]


def run(src: str) -> Any:
    """Erase ``src``, check the line count is kept, run it in plain Lua 5.4, return results."""
    out = erase(src, "t.lua")
    assert out.count("\n") == src.count("\n")
    rt = lupa.LuaRuntime()
    fn = rt.eval("function(s) local f, e = load(s, '=t.lua', 't') return f or e end")(out)
    assert lupa.lua_type(fn) == "function", f"{fn}\n--- erased:\n{out}"
    res = fn()
    if lupa.lua_type(res) == "table":
        return _py(res)
    return res


def _py(value: Any) -> Any:
    if lupa.lua_type(value) != "table":
        return value
    keys = list(value.keys())
    if keys == list(range(1, len(keys) + 1)):
        return [_py(value[k]) for k in keys]
    return {k: _py(value[k]) for k in keys}


def test_public_names():
    assert moonflow.dialect.__all__ == ["DialectError", "erase"]
    assert issubclass(DialectError, MoonflowError)
    assert issubclass(DialectError, ValueError)


# --- §1 declarations and statements -------------------------------------------------------

SECTION_1 = {
    "typed locals": (
        """
local x: number = 1
local s = "key=val"
local k: string?, v = s:match("(%w+)=(%w+)")
local n: integer
return {x, k, v, n == nil}
""",
        [1, "key", "val", True],
    ),
    "typed parameters": (
        """
local function main(input: {message: string?})
  return input.message
end
return main({message = "hi"})
""",
        "hi",
    ),
    "typed vararg": (
        """
local function fmt(f: string, ...: any): string
  return string.format(f, ...)
end
return fmt("%d-%s", 3, "x")
""",
        "3-x",
    ),
    "return types: one, parenthesised, unparenthesised, none": (
        """
local function a(): any? return nil end
local function b(): (number, number) return 1, 2 end
local function c(s: string): string?, string?
  return s:match("(%a)(%a)")
end
local function d(): () end
local p, q = b()
local r, t = c("xy")
return {a() == nil, p, q, r, t, select("#", d())}
""",
        [True, 1, 2, "x", "y", 0],
    ),
    "a return type ends at the first token that cannot continue it": (
        """
local t = { get = function(): any return {7} end }
local f = function(): number return 5 end
local g = function(): {string} local x = {"a"} return x end
local h = function(x): boolean if x then return true end return false end
return {t.get()[1], f(), g()[1], h(1)}
""",
        [7, 5, "a", True],
    ),
    "generic functions: named, local, method, anonymous, constraints": (
        """
local function pair<K, V>(k: K, v: V): {key: K, value: V}
  return {key = k, value = v}
end
function name_of<T: HasName>(o: T) return o.name end
local C = {}
function C:echo<T>(x: T): T return x end
local id = function<T>(x: T): T return x end
local p = pair("a", 1)
return {p.key, p.value, name_of({name = "n"}), C:echo(3), id(4)}
""",
        ["a", 1, "n", 3, 4],
    ),
    "method definitions": (
        """
local Counter = {n = 0}
function Counter:add(n: number): Counter
  self.n = self.n + n
  return self
end
return Counter:add(2):add(3).n
""",
        5,
    ),
    "type aliases, generic, multi-line, anywhere in a block": (
        """
type Status = "pending" | "active"
type Box<T> = {value: T}
local sample = {a = 1}
type Sample = typeof(sample)
local function f()
  type Inner =
    | "a"
    | "b"
  local x: Inner = "a"
  export type Pair<A, B> = {first: A, second: B}
  return x
end
return f()
""",
        "a",
    ),
    "interface declarations": (
        """
interface Base
  id: number
end
interface Named : Base  name: string  function greet(self: any): string end
interface Shape<T> extends Base, Named
  kind?: string
  end: number
  [string]: any
  function area(self: Shape<T>): number
end
return 1
""",
        1,
    ),
    "typed for loops": (
        """
local s = 0
for i: integer = 1, 3 do s = s + i end
for k: string, v: number in pairs({a = 4}) do s = s + v end
return s
""",
        10,
    ),
}


@pytest.mark.parametrize("name", list(SECTION_1))
def test_section_1(name):
    src, expected = SECTION_1[name]
    assert run(src) == expected


def test_type_is_not_a_keyword():
    assert run('return {type(1), type("s"), type(nil)}') == ["number", "string", "nil"]
    assert run('local x: number = 1\nreturn type(x) == "number"') is True
    assert run("local type = 5\ntype = type + 1\nreturn type") == 6


# --- §2 expressions ------------------------------------------------------------------------

SECTION_2 = {
    "cast with as": (
        "local result = {value = {n = 1}}\nlocal e = result.value as Event\nreturn e.n",
        1,
    ),
    "cast with ::": ("local payload = {id = 9}\nreturn payload.id :: string", 9),
    "cast with :: in a return list": (
        "local t = {1}\nlocal function f() return t :: table, nil end\n"
        "local a, b = f()\nreturn {#a, b == nil}",
        [1, True],
    ),
    "non-nil assertion": (
        "local state = {active = {p = 3}}\nlocal prefix = 'p'\n"
        "local function f(a, b) return a + b end\nlocal x, y = 1, 2\n"
        "return {state.active[prefix]!, f(x!, y!), state.active!.p}",
        [3, 3, 3],
    ),
    "explicit type arguments": (
        "local function f(x) return x .. '!' end\nreturn f::<string>('a')",
        "a!",
    ),
    "casts keep one value": (
        "local function f() return 1, 2 end\n"
        "local function g() return f() as number end\n"
        "local function h() return f() :: number end\n"
        "local function k(...) return ...! end\n"
        "return {select('#', g()), select('#', h()), select('#', k(1, 2))}",
        [1, 1, 1],
    ),
    "cast inside an expression": (
        "local a = {n = 2}\nreturn (a as any).n + (a.n :: number) * 2 + a.n as number",
        8,
    ),
    "as is still a name where it cannot be a cast": (
        "local n = 0\nlocal function as(v) n = n + (type(v) == 'table' and v[1] or v) end\n"
        "local x: number = 1\nlocal y = x\nas(1)\nlocal z = y\nas {2}\nlocal t = {as = 3}\n"
        "local f = as\nas = nil\nas = f\nreturn n + t.as",
        6,
    ),
    "a type ends at the end of its line before a new statement": (
        "local T = {}\nlocal x: T\nT.y = 1\nlocal function f(): T\n  T.z = 2\nend\nf()\n"
        "return T.y + T.z",
        3,
    ),
}


@pytest.mark.parametrize("name", list(SECTION_2))
def test_section_2(name):
    src, expected = SECTION_2[name]
    assert run(src) == expected


def test_cast_translation_is_parenthesised():
    assert erase("return f() as T", "t.lua") == "return (f() )   "
    assert erase("return x!", "t.lua") == "return (x)"
    assert erase("return f::<string>(x)", "t.lua") == "return f          (x)"


# --- §3 type expressions -------------------------------------------------------------------

TYPES = [
    "string",
    "process.Message",
    "Channel<Event>",
    "Box<Box<T>>",
    "Map<string, Box<Box<T>>>",
    '"pending"',
    "42",
    "true",
    "nil",
    "T?",
    "A | B",
    "A & B",
    "A? | B & C",
    "| A\n  | B\n  | C",
    "A |\n  B",
    "{T}",
    "T[]",
    "{T?}",
    "{[K]: V}",
    "{[string]: {number}}",
    "{name: string, age?: number,}",
    "{type: string, end: number; function: boolean}",
    "readonly {x: number}",
    "{readonly x: number}",
    "interface {x: number}",
    "(x: A, ...B) -> R",
    "(x: A, y?: B, ...: C) -> R",
    "() -> ()",
    "(A) -> (R1, R2)",
    "<T>(T) -> T",
    "fun(a: A): R",
    "fun(a: A, ...): R?",
    "fun()",
    'typeof(require("x"))',
    "typeof(sample.field[1])",
    "keyof(T)",
    "T[K]",
    "A extends B ? X : Y",
    "asserts x is T",
    "number @min(0) @max(100)",
    'string @pattern("^.+@.+$")',
    'string @pattern("a@b")',
    "(string)",
    "-1",
]


@pytest.mark.parametrize("ty", TYPES)
def test_section_3_type_forms(ty):
    # ``v :: <T>(T) -> T`` would read as explicit type arguments ``v::<T>(T)``: cast with ``as``.
    colon_cast = "as" if ty.startswith("<") else "::"
    src = f"""
local sample = {{field = {{1}}}}
type Alias = {ty}
local v: {ty} = 7
local function f(p: {ty}, q: {ty}): {ty}
  return p + q
end
local w = (v as {ty})
local z = (v {colon_cast} {ty})
local fields: {{k: {ty}, m: {ty}}} = {{}}
return {{f(v, w), z}}
"""
    assert run(src) == [14, 7]


def test_section_3_type_forms_in_return_position_before_statements():
    for ty in TYPES:
        if "\n" in ty:
            continue
        src = (
            f"local function f(): {ty}\n  return 1\nend\nlocal g = function(): {ty} return 2 end\n"
        )
        src += "return f() + g()"
        assert run(src) == 3, ty


# --- hazards --------------------------------------------------------------------------------


def test_labels_next_to_casts():
    src = """
local out = {}
for i = 1, 4 do
  if i % 2 == 0 then goto continue end
  out[#out + 1] = i :: number
  ::continue::
end
local j = 0
::top::
j = j + 1
if j < 3 then goto top end
return {out, j}
"""
    assert run(src) == [[1, 3], 3]


def test_lt_in_types_and_comparisons():
    src = """
local a: number, b: Box<number> = 1, 2
local function lt<T>(x: T, y: T): boolean return x < y end
local ok: boolean = a < b and b > a
local s = a<b
return {ok, lt(1, 2), s, a << 2, 8 >> 1, a <= b}
"""
    assert run(src) == [True, True, True, 4, 4, True]


def test_shebang_long_strings_comments_and_numbers():
    src = """local s: string = [==[ a: b ]] as T ]==] --[[ x: number ]] --[=[
local y: T ]=]
local h: number = 0x1p4 + 0xA + 1e2 + .5 -- x as T
local e = "q\\"x: y" .. 'it\\'s'
return {s, h, e}
"""
    assert run(src) == [" a: b ]] as T ", 126.5, "q\"x: yit's"]


def test_crlf_lines_and_escaped_newlines():
    src = 'local s: string = "a\\\r\nb"\r\nlocal n: number = 2\r\nreturn {s, n}\r\n'
    assert run(src) == ["a\nb", 2]


def test_method_calls_are_not_annotations():
    src = "local s: string = 'abc'\nreturn {s:upper(), s:sub(2), ('x'):rep(2), s:len()}"
    assert run(src) == ["ABC", "bc", "xx", 3]


def test_not_equal_operator_free_code_is_unchanged():
    src = "local a, b = 1, 2\nif a ~= b then return a end\n"
    assert erase(src, "t.lua") is src


# --- line preservation and errors ----------------------------------------------------------


def test_lua_error_lines_are_kept():
    src = """local x: number = 1
type T =
  | "a"
  | "b"
local function f(a: {n: number},
                 b: string): (number,
                              string)
  return a.n, b
end
local y = nil + x
"""
    out = erase(src, "t.lua")
    assert out.count("\n") == src.count("\n")
    rt = lupa.LuaRuntime()
    fn = rt.eval("function(s) return load(s, '=t.lua') end")(out)
    ok, msg = rt.eval("function(f) return pcall(f) end")(fn)
    assert not ok and msg.startswith("t.lua:10:")
    for n, (a, b) in enumerate(zip(src.splitlines(), out.splitlines(), strict=True)):
        if n in (0, 9):  # lines with code kept: the kept text starts at the same column
            assert b.startswith(a.split(":")[0])


def test_lua_syntax_error_line_in_annotated_file():
    src = "local x: number = 1\n\nlocal y = = 2\n"
    with pytest.raises(DialectError) as info:
        erase(src, "=dir/t.lua")
    assert str(info.value).startswith("dir/t.lua:3:")
    assert info.value.line == 3


def test_syntax_error_in_a_type_names_its_line():
    src = "local a: number = 1\nlocal x: {string = 1\nreturn x\n"
    with pytest.raises(DialectError, match=r"^t\.lua:2: "):
        erase(src, "t.lua")


def test_plain_syntax_error_is_left_to_lua():
    src = "local x = \nlocal = 2\n"
    assert erase(src, "t.lua") is src


def _lua_files() -> list[Path]:
    files = sorted((ROOT / "examples").rglob("*.lua")) + sorted(
        (ROOT / "tests" / "replay" / "apps").rglob("*.lua")
    )
    files += sorted((ROOT / "src" / "moonflow").rglob("*.lua"))
    return files


def test_files_without_annotations_are_unchanged():
    files = _lua_files()
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert erase(text, path.name) is text, path
        # The full parse (skipping the cheap pre-check) finds nothing to erase either.
        assert erase(text, path.name, force=True) == text, path
