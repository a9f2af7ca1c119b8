"""Bounded pattern matching (src/moonflow/lua/patterns.lua).

string.find/match/gmatch/gsub backtrack in C, where the instruction budget cannot stop them. The
guarded versions send a call to C only while a bound on C's work is small, else to a Lua port of
the matcher that the budget counts. Here: the port agrees with C (random patterns and subjects,
errors included), the bound routes bombs to it and normal patterns to C, C calls at the limits
are short, and a bomb in workflow or activity code ends at the budget.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import lupa.lua54 as lupa
import pytest

from moonflow.lua import RunStopped

from .helpers import new_state, run, run_error

# ---- random cases ---------------------------------------------------------------------------
ATOMS = [
    "a", "b", "a", "b", ".", "%a", "%d", "%s", "%w", "%x", "%p", "%c", "%u", "%l", "%g", "%A",
    "%S", "%W", "%D", "%.", "%%", "%z", "%]", "[ab]", "[^ab]", "[a-c]", "[%a_]", "[]]", "[^]]",
    "[a-]", "[-a]", "[%]]", "[a%-]", "[b-a]", "[^%s]", "1", " ", "\0", "\xe9", "[\0-\x1f]",
]  # fmt: skip
LONE = ["(", ")", "[", "]", "$", "^", "-", "*"]
QUANTS = ["", "", "", "*", "+", "-", "?"]
SPECIAL = [
    "(", ")", "()", "%b()", "%bab", "%f[%a]", "%f[^a]", "%f[%z]", "%1", "%2", "%0", "$", "^",
    "%", "[a", "%f", "%fa", "%b", "%ba", "[^", "[%",
]  # fmt: skip
SUBJECT_CHARS = "ab()[] ._-1A%^$\0\xe9\t"
SAMPLES = {
    "a": "a", "b": "b", ".": "ab( x", "%a": "abX", "%s": " \t", "[ab]": "ab", "[^a]": "b( x",
    "%(": "(", "%)": ")", "[()]": "()", "%w": "a1Z", "x": "x",
}  # fmt: skip
REPLS = ["x", "%0", "%1", "<%1|%2>", "%%", "%", "%x", "", "%3%1", "-%0-", "TABLE", "FUNC", "BAD", 7]


def junk_pattern(r: random.Random) -> str:
    """Anything, malformed patterns included."""
    parts = ["^"] if r.random() < 0.2 else []
    for _ in range(r.randint(0, 6)):
        if r.random() < 0.7:
            atom = r.choice(ATOMS + LONE)
            parts.append(atom if atom in LONE else atom + r.choice(QUANTS))
        else:
            parts.append(r.choice(SPECIAL))
    return "".join(parts) + ("$" if r.random() < 0.15 else "")


def sampled(r: random.Random) -> tuple[str, str]:
    """A well-formed pattern and a subject built to match it, often: captures, position
    captures, back-references, %b, %f; with noise around it and sometimes one char changed."""
    caps: list[str | None] = []

    def seq(depth: int) -> tuple[str, str]:
        pat, sub = [], []
        for _ in range(r.randint(1, 4)):
            x = r.random()
            if x < 0.5:
                atom, q = r.choice(list(SAMPLES)), r.choice(QUANTS)
                reps = {"": 1, "*": 3, "+": 3, "-": 3, "?": 1}[q]
                reps = r.randint(q in ("", "+") and 1 or 0, reps)
                pat.append(atom + q)
                sub.append("".join(r.choice(SAMPLES[atom]) for _ in range(reps)))
            elif x < 0.68 and depth < 3 and len(caps) < 8:
                caps.append(None)
                i = len(caps) - 1
                p, s = seq(depth + 1)
                caps[i] = s
                pat.append("(" + p + ")")
                sub.append(s)
            elif x < 0.75 and len(caps) < 8:
                caps.append("")
                pat.append("()")
            elif x < 0.85 and any(c is not None for c in caps):
                i = r.choice([i for i, c in enumerate(caps) if c is not None])
                pat.append(f"%{i + 1}")
                sub.append(caps[i] or "")
            elif x < 0.93:
                pat.append("%b()")
                sub.append(r.choice(["()", "(a)", "(a(b))", "((x)(y))"]))
            else:
                pat.append(r.choice(["%f[%a]", "%f[%A]", "%f[%s]"]))
        return "".join(pat), "".join(sub)

    p, s = seq(0)
    anchored = r.random() < 0.2

    def noise() -> str:
        return "".join(r.choice("ab( )x") for _ in range(r.randint(0, 4)))

    s = ("" if anchored else noise()) + s + noise()
    if s and r.random() < 0.2:
        i = r.randrange(len(s))
        s = s[:i] + r.choice("ab()x ") + s[i + 1 :]
    return ("^" if anchored else "") + p + ("$" if r.random() < 0.15 else ""), s


def random_cases(seed: int, n: int) -> list[list[Any]]:
    r = random.Random(seed)
    cases = []
    for _ in range(n):
        fname = r.choice(["find", "find", "match", "gmatch", "gsub"])
        if r.random() < 0.5:
            s = "".join(r.choice(SUBJECT_CHARS) for _ in range(r.randint(0, 12)))
            p = junk_pattern(r)
        else:
            p, s = sampled(r)
        if fname == "gsub":
            a3, a4 = r.choice(REPLS), r.choice([None, None, None, 0, 1, 2, -1])
        else:
            a3 = r.choice([None, None, None, r.randint(-15, 15), 2**40, -(2**40), 0, 2.0, "2"])
            a4 = r.random() < 0.3 if fname == "find" else None
        cases.append([fname, s.encode("latin-1"), p.encode("latin-1"), a3, a4])
    return cases


# Runs each case through two sets of functions and returns the cases whose results (values and
# types, or error text) differ, plus counts of what C returned (to keep the test honest).
DIFF = r"""
local A, B = ...
local pack, unpack, concat = table.pack, table.unpack, table.concat
local REPL_T = { a = "T", b = false, ["()"] = 7, x = {} }
local function repl_f(...)
    local a = ...
    if a == "b" then return nil end
    if a == "x" then return {} end
    if select("#", ...) > 1 then return concat({...}, ",") end
    return "<" .. tostring(a) .. ">"
end
local function show(r, from)
    local out = {}
    for i = from, r.n do
        out[#out + 1] = math.type(r[i]) or type(r[i])
        out[#out + 1] = tostring(r[i])
    end
    return concat(out, "|")
end
local function one(lib, fname, s, p, a3, a4)
    if fname == "gsub" then
        a3 = a3 == "TABLE" and REPL_T or a3 == "FUNC" and repl_f or a3 == "BAD" and
            function(m) return #m > 1 or nil end or a3
    end
    local r = pack(pcall(lib[fname], s, p, a3, a4))
    if not r[1] then return "error:" .. tostring(r[2]), "error " .. tostring(r[2]):sub(1, 24) end
    if fname ~= "gmatch" then
        local kind = r[2] == nil and "no match" or (r.n > 4 and "captures" or "match")
        return show(r, 2), kind
    end
    local out, it = {}, r[2]
    for _ = 1, 40 do
        local x = pack(pcall(it))
        if not x[1] then out[#out + 1] = "error:" .. tostring(x[2]) break end
        if x[2] == nil then break end
        out[#out + 1] = show(x, 2)
    end
    return concat(out, ";"), #out > 1 and "iterations" or "gmatch"
end
local function esc(text) -- readable in Python, whatever the bytes
    return (string.gsub(text, "[%z\1-\31\128-\255]", function(c) return "\\" .. c:byte() end))
end
return function(cases)
    local bad, kinds = {}, {}
    for i = 1, #cases do
        local c = cases[i]
        local a, kind = one(A, c[1], c[2], c[3], c[4], c[5])
        local b = one(B, c[1], c[2], c[3], c[4], c[5])
        kinds[kind] = (kinds[kind] or 0) + 1
        if a ~= b then bad[#bad + 1] = { i, esc(a), esc(b) } end
    end
    return bad, kinds
end
"""


@pytest.fixture(scope="module")
def lib() -> dict[str, Any]:
    """A state with patterns.lua loaded: its module (M), the C functions, and DIFF over both."""
    state = new_state("activity")
    base = state.vm.sys
    run(state, "return string.find('a', 'a')")  # the first call loads patterns.lua
    env = state.vm.module_env
    diff = state.sys.raw.load(DIFF, "=diff", "t", env)
    return {"state": state, "M": base.patterns, "C": base.c_string, "diff": diff}


def compare(lib: dict[str, Any], a: Any, b: Any, cases: list[list[Any]]) -> Counter[str]:
    state = lib["state"]
    table = state.rt.table_from([state.rt.table_from(c) for c in cases])
    bad, kinds = lib["diff"](a, b)(table)
    mismatches = [(cases[m[1] - 1], m[2], m[3]) for m in bad.values()]
    assert not mismatches, "\n".join(map(repr, mismatches[:10]))
    return Counter(dict(kinds.items()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lua_matcher_agrees_with_c_on_random_cases(lib, seed):
    kinds = compare(lib, lib["C"], lib["M"].lua, random_cases(seed, 8000))
    # The cases reach every outcome (so that agreement means something).
    for kind in ("no match", "match", "captures", "iterations", "gmatch"):
        assert kinds[kind] > 100, kinds
    for error in (
        "malformed pattern", "invalid capture index", "invalid pattern captur",
        "unfinished capture", "missing '[' after '%f'", "invalid use of '%' in",
        "invalid replacement va",
    ):  # fmt: skip
        seen = sum(v for k, v in kinds.items() if k.startswith("error " + error))
        assert seen > 5, (error, kinds)


def test_the_guarded_functions_agree_with_c(lib):
    compare(lib, lib["C"], lib["M"].guarded, random_cases(4, 8000))


def test_recursion_and_capture_limits_as_in_c(lib):
    a = "a" * 250
    cases = [
        ["find", a.encode(), b"a?" * 250, None, None],  # 200 nested calls: pattern too complex
        ["match", a[:14].encode(), b"a?" * 12 + b"b", None, None],
        ["gsub", a.encode(), b"(a)" * 33, "x", None],  # too many captures
        ["match", a.encode(), b"(a)" * 32, None, None],
        ["match", b"x((a))y" * 3, b"%b()%b()", None, None],
        ["find", b"THE (quick) fox", b"%f[%a]%a+%f[%A]", 2, None],
        ["gsub", b"hello world", b"(o)", "%1%1", 1],
        ["gsub", b"abc", b"", "-", None],
        ["gmatch", b"abc", b"^a", None, None],  # '^' is a plain char in gmatch (5.4)
        ["gmatch", b"^a^a", b"^a", 2, None],
        ["find", b"a+b", b"+", None, None],
        ["find", b"a.b", b".", 1, True],
    ]
    compare(lib, lib["C"], lib["M"].lua, cases)


# The Lua port takes the same steps as C; so if the bound holds, the VM instructions the port
# runs stay within a constant times the bound, however long the subject (an unsound bound shows
# as a ratio growing with n: hundreds for a quadratic pattern bounded as linear).
COUNT = r"""
local M, sethook, fname, s, p = ...
local f = M.lua[fname]
local function go()
    if fname == "gmatch" then for _ in f(s, p) do end
    elseif fname == "gsub" then f(s, p, "x") else f(s, p) end
end
pcall(go) -- parse and analyse first
local n = 0
sethook(function() n = n + 100 end, "", 100)
pcall(go)
sethook()
return n
"""


def test_the_bound_covers_the_matchers_work(lib):
    state, M = lib["state"], lib["M"]
    count = state.sys.raw.load(COUNT, "=count", "t", state.vm.module_env)
    sethook = state.vm.sys.raw.sethook
    r = random.Random(9)
    worst = (0.0, "")
    for _ in range(1500):
        fname = r.choice(["find", "match", "gmatch", "gsub"])
        if r.random() < 0.5:
            atoms = ["a", "a", "b", ".", "%a", "[ab]", "[^b]"]
            p = "".join(r.choice(atoms) + r.choice(QUANTS) for _ in range(r.randint(1, 5)))
            p = ("^" if r.random() < 0.2 else "") + p + ("$" if r.random() < 0.2 else "")
        else:
            p = sampled(r)[0]
        if r.random() < 0.4:  # long runs: where backtracking costs most
            s = "a" * r.randint(40, 250) + r.choice(["", "b", "("])
        else:
            s = "".join(r.choice("aaaab()") for _ in range(r.randint(0, 150)))
        ratio = (count(M, sethook, fname, s, p) - 400) / M.bound(fname, p, len(s))
        worst = max(worst, (ratio, f"{fname} {p!r} on {len(s)} bytes"))
    print(f"\nmost instructions per step of the bound: {worst[0]:.0f} ({worst[1]})")
    assert worst[0] < 100, worst


# ---- errors name the caller's line, as C's do ---------------------------------------------------
# Each snippet runs in a plain Lua state (the C functions) and in a moonflow state (guarded); the
# error texts must be equal. The pattern errors come from the Lua matcher (a pattern that can
# raise always takes it), the argument errors from the guard's own checks.
ERROR_SNIPPETS = [
    'local r = ("x"):find("(")',
    'local r = string.find("x", "(")',
    'local r = ("abc"):match("%f")',
    'local r = ("abc"):match("[a")',
    'local r = ("abc"):find("a%")',
    'local r = ("abc"):find(("a-"):rep(3) .. "%")',
    'local r = ("a"):rep(3000):find(("a-"):rep(3) .. "%b")',
    'local r = ("abc"):match("(a%2)")',
    'local r = ("abc"):match("b)")',
    'local r = ("abc"):gsub("(b)", "%2")',
    'local r = ("abc"):gsub("b", "%x")',
    'local r = ("abc"):gsub("b", {b = true})',
    'local r = ("abc"):gsub("(b)", function() return {} end)',
    "local r = string.find()",
    'local r = string.find("x")',
    'local r = ("x"):find()',
    'local r = string.find({}, "x")',
    'local r = string.find(setmetatable({}, {__name = "Thing"}), "x")',
    'local r = ("x"):find("x", 1.5)',
    'local r = ("x"):find("x", "one")',
    'local r = ("x"):match("x", {})',
    'local r = ("x"):gsub("x")',
    'local r = ("x"):gsub("x", true)',
    'local r = ("x"):gsub("x", true, 1.5)',
    'local r = ("x"):gmatch()',
    'local f = string.gmatch; local r = f(nil, "x")',
    'for w in ("a(b"):gmatch("(%a") do end',
]


def test_errors_are_the_same_as_c_and_name_the_callers_line():
    plain = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    expect = plain.eval(
        'function(src) local f = load(src, "=snippet") local ok, e = pcall(f) return e end'
    )
    state = new_state("activity")
    for src in ERROR_SNIPPETS * 2:  # the second time, patterns are analysed: the fast path
        want = expect(src)
        assert want, src
        assert run_error(state, src) == want, src
    assert run_error(state, 'local r = ("x"):find("(")').startswith("snippet:1: ")


def test_number_arguments_are_converted_as_in_c():
    src = """
      local out = {}
      local function add(...)
        for i = 1, select("#", ...) do
          local v = select(i, ...)
          out[#out + 1] = math.type(v) or v
        end
      end
      add(string.find(12345, 3))
      add(string.gsub(1.5, "%.", ","))
      add(("abc"):find("c", "2"))
      add(("abc"):find("c", 2.0))
      add(string.match(123, 2))
      add(("aaa"):gsub("a", 7, "2"))
      add(("a.b"):find(".", -2, 1))
      return table.concat(out, " ")
    """
    plain = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    want = plain.execute(src)
    assert want == "integer integer 1,5 integer integer integer integer integer 2 77a integer " + (
        "integer integer"
    )
    assert run(new_state("activity"), src) == [want]


def test_a_gsub_function_may_match_again_and_may_not_yield(lib):
    state = new_state("activity")
    # past the limit: both gsubs take the Lua matcher
    src = """
      local s = ("x"):rep(3000) .. "y"
      local n = 0
      local out = s:gsub("(x*)-?y", function(xs)
        n = n + 1
        return (xs:gsub("(x*)-?x", function(inner) return #inner .. "." end))
      end)
      local co = coroutine.wrap(function()
        return pcall(string.gsub, s, "(x*)-?y", function() coroutine.yield(1) end)
      end)
      local ok, err = co()
      return out, n, ok, err
    """
    assert lib["M"].route("gsub", "x" * 3001, "(x*)-?y") == "Lua"
    out, n, ok, err = run(state, src)
    assert (out, n, ok) == ("2999.", 1, False)
    assert "attempt to yield across a C-call boundary" in err


# ---- the bound ----------------------------------------------------------------------------------
BOMBS = [
    ("find", "a" * 2000, "a-" * 3 + "b"),
    ("match", "a" * 5000, "a-" * 4 + "b"),
    ("gmatch", "a" * 3000, "a-a-b"),
    ("gsub", "a" * 3000, "(a*)a-b"),
    ("find", "a" * 20000, "%w+="),  # every start scans the word: n^2
    ("match", "x" + " " * 5000 + "x", "^%s*(.-)%s*$"),  # trim on a worst case: n^2
    ("find", "(" * 20000, "%b()"),
    ("match", "a" * 300, "^" + "a?" * 40 + "b"),  # 2^40
    ("find", "a" * 1_000_000, "a" * 50_000 + "b", True),  # lmemfind: n * #needle
]
NORMAL = [
    ("match", "key=value", "^(%w+)=(%w+)$"),
    ("match", "k" * 100_000 + "=v", "^(%w+)=(%w+)$"),  # anchored, disjoint: linear
    ("gsub", "x" * 1_000_000, '[%c"\\]'),  # convert.lua's JSON quoting
    ("gsub", "a b  c" * 100_000, "%s+"),
    ("gmatch", "a,b,c" * 100_000, "[^,]+"),
    ("find", "x" * 1_000_000, "%d+"),
    ("find", "x" * 1_000_000, "needle", True),
    ("find", "x" * 1_000_000, "needle"),
    ("match", "  trim me  " * 50, "^%s*(.-)%s*$"),
    ("gsub", '"a" "b"' * 80, '"([^"]*)"'),  # (n^2 for the bound: Lua past ~580 bytes)
    ("find", "path/to/file.txt", "%.(%w+)$"),
]


@pytest.mark.parametrize("case", BOMBS, ids=lambda c: f"{c[0]}:{c[2][:12]}")
def test_bombs_take_the_lua_matcher(lib, case):
    assert lib["M"].route(*case) == "Lua"


@pytest.mark.parametrize("case", NORMAL, ids=lambda c: f"{c[0]}:{c[2][:12]}:{len(c[1])}")
def test_normal_patterns_take_c(lib, case):
    assert lib["M"].route(*case) == "C"


def test_patterns_that_can_raise_take_the_lua_matcher(lib):
    for p in ["(a", "a)", "%1", "(a)%2", "[a", "a%", "%f", "%b", ("(a)" * 33), "a?" * 200]:
        assert lib["M"].route("match", "x", p) == "Lua", p


TIMED = [  # (function, pattern, repeated unit, tail): each timed at the longest n sent to C
    ("find", "a-a-b", "a", ""),
    ("find", "a-a-a-b", "a", ""),
    ("find", "a*a*b", "a", ""),
    ("find", ".-b", "a", ""),
    ("find", "%w+=", "a", ""),
    ("find", "%bab", "a", ""),
    ("find", "(a*)%1b", "a", ""),
    ("match", "^(.-)%s*$", " ", "x"),
    ("match", "^(a*)(a*)(a*)b", "a", ""),
    ("gmatch", "a-b", "a", ""),
    ("gsub", "(%w+)=(%w+)", "a", ""),
    ("gsub", "aaaaab", "a", ""),
    ("find", "aaaaaaaaaaaaaaaaaaaaaaab", "a", ""),
]
TIME_AT = r"""
local M, C, fname, p, unit, tail = ...
local function fits(n) return M.route(fname, unit:rep(n) .. tail, p) == "C" end
local lo, hi = 0, 1
while fits(hi) and hi < 1 << 22 do lo, hi = hi, hi * 2 end
while hi - lo > 1 do local mid = (lo + hi) // 2 if fits(mid) then lo = mid else hi = mid end end
local s = unit:rep(lo) .. tail
local best = math.huge
for _ = 1, 3 do
    local t = os.clock()
    if fname == "gmatch" then for _ in C.gmatch(s, p) do end
    elseif fname == "gsub" then C.gsub(s, p, "") else C[fname](s, p) end
    best = math.min(best, os.clock() - t)
end
return #s, best, M.bound(fname, p, #s)
"""


def test_c_calls_at_the_limits_are_short(lib):
    state = lib["state"]
    time_at = state.sys.raw.load(TIME_AT, "=time_at", "t", state.vm.module_env)
    M = lib["M"]
    print(f"\nLIMIT {M.LIMIT:g} steps + {M.PER_BYTE} per byte; plain: {M.PLAIN_LIMIT}")
    for fname, p, unit, tail in TIMED:
        n, secs, bound = time_at(M, lib["C"], fname, p, unit, tail)
        ms = secs * 1000
        print(f"  {fname:6} {p!r:28} longest n to C {n:>8}: {ms:7.2f} ms, bound {bound:9.3g}")
        # A few ms, plus ~20 ns per byte of linear work (n is below 300 KB for all of these);
        # generous for a loaded CI machine.
        assert ms < 25 + n * 50e-6, (fname, p, n, ms)


# ---- a bomb ends at the instruction budget ------------------------------------------------------
BOMB_CODE = [
    'string.find(string.rep("a", 2000), string.rep("a-", 3) .. "b")',
    '("a"):rep(5000):match(("a-"):rep(4) .. "b")',
    'for _ in ("a"):rep(3000):gmatch("a-a-b") do end',
    '("a"):rep(3000):gsub("(a*)a-b", "%1")',
    'string.gsub(("a"):rep(3000), ".-.-b", function() end)',
]


@pytest.mark.parametrize("src", BOMB_CODE)
def test_a_bomb_in_workflow_code_ends_at_the_budget(src):
    state = new_state("workflow")  # the default budget, 50M instructions per activation
    chunk = state.sys.raw.load(f"return function() {src} end", "=bomb.lua", "t", state.new_env())
    ok, res, _ = state.pcall(chunk)
    assert ok
    kernel = state.kernel
    kernel.start(res[0], state.pack([]))
    t = time.perf_counter()
    status, _ = kernel.run()
    elapsed = time.perf_counter() - t
    print(f"\nworkflow: stopped after {elapsed:.3f} s: {src}")
    assert status == "budget"
    assert elapsed < 5


@pytest.mark.parametrize("src", BOMB_CODE[:2])
def test_a_bomb_in_activity_code_ends_at_the_budget(src):
    state = new_state("activity", instruction_budget=50_000_000)
    fn = state.sys.raw.load(src, "=bomb.lua", "t", state.new_env())
    t = time.perf_counter()
    with pytest.raises(RunStopped) as stopped:
        state.guarded_pcall(fn)
    elapsed = time.perf_counter() - t
    print(f"\nactivity: stopped after {elapsed:.3f} s: {src}")
    assert stopped.value.reason == "budget"
    assert elapsed < 5


def _longest_c(lib: dict[str, Any], fname: str, p: str, plain: bool = False) -> int:
    """The longest subject of a's that ``fname`` hands to C for pattern ``p``."""
    lo, hi = 0, 1 << 20
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if lib["M"].route(fname, "a" * mid, p, plain) == "C":
            lo = mid
        else:
            hi = mid
    return lo


# Each call goes to C, just under its limit (a few ms), for a handful of counted instructions:
# without charging C work to the budget, these loops ran for hours within it.
LOOPS = [
    ("find", "a-a-b", False, 'local s = ("a"):rep({n})\nfor i = 1, 1e9 do s:find("a-a-b") end'),
    ("match", "a-a-b", False, 'local s = ("a"):rep({n})\nfor i = 1, 1e9 do s:match("a-a-b") end'),
    ("gsub", "a*a-b", False, 'local s = ("a"):rep({n})\nfor i = 1, 1e9 do s:gsub("a*a-b", "") end'),
    (
        "find",
        "a" * 200 + "b",
        True,
        'local s, p = ("a"):rep({n}), ("a"):rep(200) .. "b"\n'
        "for i = 1, 1e9 do s:find(p, 1, true) end",
    ),
]


@pytest.mark.parametrize("fname, p, plain, src", LOOPS, ids=[f"{x[0]}-{x[2]}" for x in LOOPS])
def test_a_loop_of_costly_c_calls_ends_at_the_budget(lib, fname, p, plain, src):
    code = src.format(n=_longest_c(lib, fname, p, plain))
    state = new_state("workflow")
    chunk = state.sys.raw.load(f"return function()\n{code}\nend", "=loop.lua", "t", state.new_env())
    kernel = state.kernel
    kernel.start(state.pcall(chunk)[1][0], state.pack([]))
    t = time.perf_counter()
    status, _ = kernel.run()
    elapsed = time.perf_counter() - t
    print(f"\nworkflow: a loop of {fname} calls stopped after {elapsed:.3f} s")
    assert status == "budget"
    assert kernel.budget_where == "loop.lua:3"  # the line of the call, for the task's message
    assert elapsed < 5
    act = new_state("activity", instruction_budget=50_000_000)
    fn = act.sys.raw.load(code, "=loop.lua", "t", act.new_env())
    t = time.perf_counter()
    with pytest.raises(RunStopped) as stopped:
        act.guarded_pcall(fn)
    print(f"activity: stopped after {time.perf_counter() - t:.3f} s")
    assert (stopped.value.reason, stopped.value.where) == ("budget", "loop.lua:2")
    assert time.perf_counter() - t < 5


def test_a_plain_find_with_a_long_needle_is_linear(lib):
    # lmemfind compares the needle at every candidate: 4.7 s in C for this one (measured). Past
    # the plain limit a Knuth-Morris-Pratt search in Lua does it, within the budget.
    state = new_state("workflow")
    src = 'local s = ("a"):rep(1000000) return s:find(("a"):rep(50000) .. "b", 1, true), ' + (
        '(s .. "b"):find(("a"):rep(50000) .. "b", 1, true)'
    )
    chunk = state.sys.raw.load(f"return function() {src} end", "=plain.lua", "t", state.new_env())
    kernel = state.kernel
    kernel.start(state.pcall(chunk)[1][0], state.pack([]))
    t = time.perf_counter()
    status, _ = kernel.run()
    elapsed = time.perf_counter() - t
    print(f"\nplain find of a 50 KB needle in 1 MB, twice: {elapsed:.3f} s")
    assert status == "done"
    assert [kernel.result[i] for i in (1, 2, 3)] == [None, 950001, 1000001]
    assert lib["M"].route("find", "a" * 1_000_000, "a" * 50_000 + "b", True) == "Lua"


# ---- cost ---------------------------------------------------------------------------------------
OVERHEAD = r"""
local C, L = ...
local s, p = "key=value", "^(%w+)=(%w+)$"
local cmatch = C.match
local function per_call(f, n)
    local best = math.huge
    for _ = 1, 5 do
        local t = os.clock()
        f(n)
        best = math.min(best, os.clock() - t)
    end
    return best / n * 1e9
end
local c = per_call(function(n) for _ = 1, n do local a, b = cmatch(s, p) end end, 200000)
local g = per_call(function(n) for _ = 1, n do local a, b = s:match(p) end end, 200000)
local l = per_call(function(n) for _ = 1, n do local a, b = L.match(s, p) end end, 20000)
return c, g, l
"""


def test_the_guard_costs_little_on_normal_calls(lib):
    state = lib["state"]
    f = state.sys.raw.load(OVERHEAD, "=overhead", "t", state.new_env())
    c_ns, guarded_ns, lua_ns = f(lib["C"], lib["M"].lua)
    print(
        f'\n("key=value"):match("^(%w+)=(%w+)$"): C {c_ns:.0f} ns, guarded {guarded_ns:.0f} ns '
        f"(+{guarded_ns - c_ns:.0f}), Lua matcher {lua_ns:.0f} ns (x{lua_ns / c_ns:.0f})"
    )
    assert guarded_ns < 3 * c_ns  # the fast path: no Lua matcher, no analysis
    assert lua_ns > guarded_ns  # (and the measurement can tell them apart)


def test_the_analysis_cache_is_bounded(lib):
    state = lib["state"]
    src = """
      local M = ...
      local most = 0
      for i = 1, 2500 do
        local r = ("k" .. i .. "=v"):match("^k" .. i .. "=(%w+)$")
        assert(r == "v")
        most = math.max(most, M.cached())
      end
      return most
    """
    f = state.sys.raw.load(src, "=cache", "t", state.new_env())
    assert 900 < f(lib["M"]) <= 1000
