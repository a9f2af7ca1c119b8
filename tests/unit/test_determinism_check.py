"""The static determinism pass (moonflow.determinism) and ``moonflow check --determinism``."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from moonflow.cli import run
from moonflow.determinism import (
    NOTE,
    WARNING,
    LexError,
    check_source,
    scan,
    tokenize,
)

SEED_DONT = """\
-- Don't use wall clock time
local now = os.time()  -- Non-deterministic

-- Don't use random directly
local r = math.random()  -- Non-deterministic

-- Don't do I/O in workflow code
local file = io.open("data.txt")  -- Non-deterministic

-- Don't use global mutable state
counter = counter + 1  -- Non-deterministic across replays
"""


def _short(src: str, **kw: object) -> list[tuple[int, str, str]]:
    """(line, severity, first words of message) per finding."""
    return [
        (f.line, f.severity, f.message.split(" ")[0])
        for f in check_source(textwrap.dedent(src), **kw)  # type: ignore[arg-type]
    ]


# ---- tokenizer ---------------------------------------------------------------------------
def test_tokenizer_strings_comments_and_lines():
    src = (
        "local a = [[io.open\n]] --[==[ os.exit()\n ]] still comment ]==] local b = 'x\\z\n"
        '   y\' -- io.open\r\nreturn [=[\n]]]=], "\\x41\\65\\u{48}\\""\n'
    )
    toks = tokenize(src)
    kinds = [(t.kind, t.value, t.line) for t in toks]
    assert ("string", "io.open\n", 1) in kinds
    assert ("name", "b", 3) in kinds  # the long comment spans two lines
    assert ("string", "xy", 3) in kinds  # \z skips the line break
    assert ("keyword", "return", 5) in kinds  # \r\n is one line break
    assert ("string", "]]", 5) in kinds  # first newline of a long string is skipped
    assert ("string", 'AAH"', 6) in kinds
    assert [t.value for t in toks if t.kind == "name"] == ["a", "b"]
    assert toks[-1].kind == "eof"


def test_tokenizer_numbers_and_operators():
    toks = tokenize("x = 0x1p4 + 1e-3 - .5 // 3. ... a..b :: ~= 0xA.8P-1 >> 1 << 2")
    values = [t.value for t in toks if t.kind in ("number", "op")]
    assert values == [
        "=",
        "0x1p4",
        "+",
        "1e-3",
        "-",
        ".5",
        "//",
        "3.",
        "...",
        "..",
        "::",
        "~=",
        "0xA.8P-1",
        ">>",
        "1",
        "<<",
        "2",
    ]


@pytest.mark.parametrize(
    "src",
    ["x = 'abc", "x = [[abc", "--[==[ never closed ]=]", "x = 3abc", "x = '\\q'", "x = $"],
)
def test_tokenizer_errors(src):
    with pytest.raises(LexError):
        tokenize(src)


def test_tokens_match_luas_line_numbers():
    import lupa.lua54 as lupa

    # Long string (first newline skipped but counted), long comment, backslash-newline in a
    # string, \r\n and \n\r as one line break each: Lua puts the stray `c` on line 7.
    src = "local a = [[\n\n]] --[=[\n]=] s = 'x\\\ny' \r\n\n\r b c"
    lua_error = lupa.LuaRuntime().eval("function(s) return select(2, load(s, '=x')) end")(src)
    assert lua_error == "x:7: syntax error near 'c'"
    toks = tokenize(src)
    assert [(t.value, t.line) for t in toks if t.kind == "name"][-2:] == [("b", 7), ("c", 7)]


# ---- findings ----------------------------------------------------------------------------
def test_seed_dont_block():
    found = check_source(SEED_DONT, file="wf.lua", entry="app:wf")
    assert [(f.line, f.severity) for f in found] == [
        (2, NOTE),
        (5, NOTE),
        (8, WARNING),
        (11, WARNING),
    ]
    assert str(found[0]).startswith("wf.lua:2: app:wf: note: os.time()")
    assert "io.open is not supported in workflow context" in found[2].message
    assert "move it into an activity" in found[2].message
    assert "global 'counter'" in found[3].message


def test_strings_and_comments_never_warn():
    src = """
    local s = "io.open('x') os.execute('rm') load('x')"
    local l = [==[ io.open ]] load("x") ]==]
    --[[ io.open("x")
      os.exit() ]]
    --[=[ debug.traceback() ]=]
    -- io.open("data.txt"), counter = counter + 1
    local e = 'it\\'s io.open' .. "\\"os.time()\\""
    local z = "\\z
       io.open"
    return s
    """
    assert check_source(textwrap.dedent(src)) == []


def test_locals_shadow_globals():
    src = """
    local io = { open = function() end }
    io.open("fine")
    local function f(os, ...) return os.execute() end
    for _, math in ipairs({}) do math.random() end
    local t = { load = 1, io = 2, os = { time = 3 } }
    print(t.load, t.io, t.os.time)
    do local debug = {} debug.traceback() end
    debug.traceback()
    return f
    """
    assert _short(src) == [(9, WARNING, "debug.traceback")]


def test_local_is_visible_only_after_its_statement():
    assert _short("local io = io\nio.write('x')\n") == [(1, WARNING, "io")]
    assert _short("local x = os.time()\n") == [(1, NOTE, "os.time()")]


@pytest.mark.parametrize(
    "src, name",
    [
        ("os.execute('ls')", "os.execute"),
        ("local v = os.getenv('HOME')", "os.getenv"),
        ("os.remove('x')", "os.remove"),
        ("os.rename('a', 'b')", "os.rename"),
        ("os.exit(1)", "os.exit"),
        ("local n = os.tmpname()", "os.tmpname"),
        ("local f = load('return 1')", "load"),
        ("local f = loadstring('return 1')", "loadstring"),
        ("dofile('x.lua')", "dofile"),
        ("local f = loadfile('x.lua')", "loadfile"),
        ("local r = debug.getregistry()", "debug.getregistry"),
        ("local s = string.dump(print)", "string.dump"),
        ("package.loadlib('a', 'b')", "package.loadlib"),
        ("collectgarbage()", "collectgarbage"),
        ("local f = io.open", "io.open"),
        ("io.write('x')", "io.write"),
        ("local x = io", "io"),
        ("local d = _G.os['execute']", "os.execute"),
        ("local o = _ENV.io.lines", "io.lines"),
        ("python.eval('1')", "python.eval:"),
    ],
)
def test_refused_calls_warn(src, name):
    found = check_source(src)
    assert len(found) == 1, found
    assert found[0].severity == WARNING
    assert found[0].message.startswith(name + (" " if not name.endswith(":") else ""))


@pytest.mark.parametrize(
    "src, name",
    [
        ("local t = os.time()", "os.time()"),
        ("local t = os.time{year = 2020, month = 1, day = 1}", "os.time()"),
        ("local d = os.date('%Y')", "os.date()"),
        ("local c = os.clock()", "os.clock()"),
        ("local r = math.random(1, 6)", "math.random"),
        ("math.randomseed(42)", "math.randomseed:"),
    ],
)
def test_replaced_calls_are_notes(src, name):
    found = check_source(src)
    assert [(f.severity, f.message.split(" ")[0]) for f in found] == [(NOTE, name)]


def test_harmless_library_calls_are_silent():
    src = """
    local t = os.difftime(2, 1) + math.floor(1.5) + #string.format("%d", 1)
    local s = ("x"):rep(3):upper()
    local ok = pcall(error, "x")
    local q = table.concat({}, ",")
    return t, s, ok, q, os, math.pi
    """
    assert check_source(textwrap.dedent(src)) == []


def test_global_assignments():
    src = """
    local a, b = 1, 2
    a, g2 = 3, 4
    counter = (counter or 0) + 1
    function main() end
    local M = {}
    function M.run() end
    function M:method() return self end
    for i = 1, 3 do local z = i end
    local t = {} t.x = 1 t["y"] = 2
    local function helper(p) p = 1; return p end
    x = { y = 1 }
    """
    assert _short(src) == [
        (3, WARNING, "assignment"),
        (4, WARNING, "assignment"),
        (5, NOTE, "function"),
        (12, WARNING, "assignment"),
    ]
    assert "global 'g2'" in check_source(textwrap.dedent(src))[0].message


def test_requires():
    src = """
    local json = require("json")
    local http = require("http_client")
    local nope = require "nope"
    local wf = require('workflow')
    local lib = require [[mylib]]
    local s = require("string")
    local e = require("errors")
    local dyn = require(name_of_module)
    """
    found = check_source(
        textwrap.dedent(src), entry="app:wf", modules=["workflow"], imports={"mylib": "app:lib"}
    )
    by_line = {f.line: f for f in found}
    assert sorted(by_line) == [2, 3, 4, 9]
    assert "not in the modules list of app:wf" in by_line[2].message
    assert "not supported in workflow context" in by_line[3].message
    assert "no module nope" in by_line[4].message
    assert by_line[9].severity == NOTE and "computed" in by_line[9].message
    assert all(f.severity == WARNING for f in found if f.line != 9)


def test_unparsable_source_gives_one_warning():
    (found,) = check_source("local x = 'never closed\nreturn x\n", file="bad.lua")
    assert found.severity == WARNING and found.line == 1
    assert found.message.startswith("cannot analyse: unfinished string")
    (found,) = check_source("local function f(\n  return 1 end", file="bad.lua")
    assert "cannot analyse" in found.message and found.line == 2


def test_scanner_handles_full_grammar():
    src = """
    local x <const>, y <close> = 1, nil
    ::top::
    goto done
    while x < 2 do x = x + 1 break end
    repeat local q = x until q >= 1
    if x then elseif not x then else end
    for k, v in next, {} do end
    local f = function(...) local a, b = ... return select('#', ...) end
    local t = { [1] = 1, a = 2; 3, f = function() return os.clock() end, }
    local s = t.a and t[1] or -t[3] ~ 2 | 1 & 3 << 1 >> 1 // 1 % 2 ^ 2 .. "" == "x"
    f{1}; f"x"; f[[y]]; (f)(1)
    ::done::
    return #t
    """
    result = scan(textwrap.dedent(src))
    assert [r.path for r in result.refs if r.path[0] == "os"] == [("os", "clock")]
    assert result.assigns == []  # `x = x + 1` assigns the local x


# ---- the command -------------------------------------------------------------------------
def _app(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(
        textwrap.dedent(
            """\
            version: "1.0"
            namespace: app
            entries:
              - name: temporal_client
                kind: temporal.client
                address: "localhost:7233"
              - name: worker
                kind: temporal.worker
                client: app:temporal_client
                task_queue: det
              - name: wf
                kind: workflow.lua
                source: file://wf.lua
                method: main
                modules: [time]
                imports:
                  helpers: app:helpers
                meta:
                  temporal:
                    workflow:
                      worker: app:worker
              - name: helpers
                kind: library.lua
                source: file://lib/helpers.lua
            """
        )
    )
    (root / "wf.lua").write_text(
        "local helpers = require('helpers')\n"
        "-- io.open in a comment is fine\n"
        "local function main(input)\n"
        "    local started = os.time()\n"
        "    return { started = started, s = 'os.execute()' }\n"
        "end\n"
        "return { main = main }\n"
    )
    (root / "lib").mkdir(exist_ok=True)
    (root / "lib" / "helpers.lua").write_text(
        "local M = {}\n"
        "function M.fetch()\n"
        "    local n = math.random(10)\n"
        "    return io.open('x')\n"
        "end\n"
        "return M\n"
    )
    return root


def test_cli_check_determinism(tmp_path: Path):
    app = _app(tmp_path / "app")
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(app), "--determinism"], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines == [
        "lib/helpers.lua:3: app:helpers (imported by app:wf): note: math.random is seeded from "
        "the workflow's deterministic randomness: the same numbers on replay (not for secrets)",
        "lib/helpers.lua:4: app:helpers (imported by app:wf): warning: io.open is not supported "
        "in workflow context (an error at run time): move it into an activity",
        "wf.lua:4: app:wf: note: os.time() reads workflow time in workflow code (the same on "
        "replay), not the machine clock",
        "determinism: 1 warning, 2 notes in 2 files (1 workflow entry)",
    ]


def test_cli_check_determinism_json(tmp_path: Path):
    app = _app(tmp_path / "app")
    out = io.StringIO()
    assert run(["check", str(app), "--determinism", "--json"], out=out, err=io.StringIO()) == 0
    doc = json.loads(out.getvalue())
    assert (doc["warnings"], doc["notes"], doc["files"], doc["workflows"]) == (1, 2, 2, 1)
    assert doc["findings"][2] == {
        "file": "wf.lua",
        "line": 4,
        "entry": "app:wf",
        "severity": "note",
        "message": "os.time() reads workflow time in workflow code (the same on replay), "
        "not the machine clock",
    }


def test_cli_check_determinism_exit_codes(tmp_path: Path):
    err = io.StringIO()
    assert run(["check", str(tmp_path / "missing"), "--determinism"], err=err) == 2
    err = io.StringIO()
    assert run(["check", str(_app(tmp_path / "a")), "--json"], err=err) == 2
    assert "--json goes with --determinism" in err.getvalue()


def test_examples_are_clean():
    root = Path(__file__).resolve().parents[2] / "examples" / "orders"
    out = io.StringIO()
    assert run(["check", str(root), "--determinism"], out=out, err=io.StringIO()) == 0
    assert out.getvalue().splitlines()[-1].startswith("determinism: no findings")


def test_scanner_accepts_exactly_what_lua_accepts():
    # Differential check against Lua's own parser on random token soups (goto/labels left
    # out: their checks are semantic, not syntactic).
    import random

    import lupa.lua54 as lupa

    from moonflow.determinism import ParseError

    lua_ok = lupa.LuaRuntime().eval("function(s) return load(s, '=x', 't') ~= nil end")
    frags = [
        "local ", "x", " = ", "1", "'a\\z\n  b'", '"q\\""', "[[\nio]]", "[==[ ]] ]==]",
        "--[[ c\n]]", "-- c\n", "\n", "\r\n", " ", "(", ")", "{", "}", ",", ";", "..", "...",
        "function", "end", "do", "return", "io.open", "os.time()", "0x1p4", ".5", "3.", "t[",
        "]", ":", "f", "if x then", "else", "for i=1,2 do", "while x do", "repeat", "until x",
        "<const>", "a.b", "#", "not ", "and ", "or ", "~", "//", "\\", "1e", "0x", "'\\x4'",
        "[=", "--[=", "=", "==", "<", ">", "f()", "s:m()", "g'x'", "h{}",
    ]  # fmt: skip
    rnd = random.Random(3)
    mismatches = []
    for _ in range(4000):
        src = "".join(rnd.choice(frags) for _ in range(rnd.randint(1, 14)))
        try:
            scan(src)
            ours = True
        except (LexError, ParseError):
            ours = False
        if ours != lua_ok(src):
            mismatches.append(src)
    assert mismatches == []
