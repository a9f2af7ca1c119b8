"""lua/random.lua: a per-run math.random that must reproduce the C one of lupa's Lua 5.4 exactly.

Recorded workflow histories depend on the sequence, so every test compares value for value
(type and exact bits) with the real math.random / math.randomseed after the same seeding.
"""

from __future__ import annotations

import random
from pathlib import Path

import lupa.lua54 as lupa
import pytest

RANDOM_LUA = Path(__file__).resolve().parents[3] / "src" / "moonflow" / "lua" / "random.lua"

MININT = -(2**63)
MAXINT = 2**63 - 1
SEEDS = [0, 1, -1, 42, 2**62, MININT, MAXINT]
N = 2000
NOARG_SEED = 987654321  # what on_noarg() hands to randomseed() without arguments

# Both implementations are driven through `m.random(...)` / `m.randomseed(...)` on the same
# lines, so the real C messages ("bad argument #1 to 'random' ...", positions) are comparable.
HARNESS = """
local R = ...
local fmt, mtype, pack, unpack = string.format, math.type, table.pack, table.unpack

local function enc(v)
    local t = mtype(v)
    if t == "float" then return "float " .. fmt("%a", v) end
    if t == "integer" then return "int " .. fmt("%d", v) end
    return type(v) .. " " .. tostring(v)
end

-- `m.random(...)` spelled out: a call through m[name] would be named '?' in the C messages.
local function call(m, name, args)
    local r = pack(pcall(function()
        if name == "random" then
            local r = pack(m.random(unpack(args, 1, args.n)))
            return r
        else
            local r = pack(m.randomseed(unpack(args, 1, args.n)))
            return r
        end
    end))
    if not r[1] then return "error " .. tostring(r[2]) end
    local out = {}
    for i = 1, r[2].n do out[i] = enc(r[2][i]) end
    return table.concat(out, ", ")
end

-- Runs the calls (each {name =, n = #args, args...}) against m, after seeding.
local function run(m, seed, calls, is_real)
    m.randomseed(seed)
    local out = {}
    for i = 1, #calls do
        local c = calls[i]
        if is_real and c.name == "randomseed" and c.n == 0 then
            c = { name = c.name, n = 1, NOARG_SEED }  -- what on_noarg supplies to ours
        end
        out[i] = call(m, c.name, c)
    end
    return out
end

local real = { random = math.random, randomseed = math.randomseed }

local function ours(seed)
    local rnd, rs = R.new(seed, function() return NOARG_SEED end)
    return { random = rnd, randomseed = rs }
end

return {
    real = function(seed, calls) return run(real, seed, calls, true) end,
    ours = function(seed, calls) return run(ours(seed), seed, calls) end,
    new = ours,
    enc = enc,
}
"""


@pytest.fixture(scope="module")
def lua():
    rt = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    g = rt.globals()
    # Load as production does: bytecode, own environment holding the standard library.
    env = rt.table()
    for k, v in g.items():
        env[k] = v
    load_bytecode = rt.eval(
        "function(src, env)"
        " local fn = assert(load(src, '@random.lua', 't'))"
        " return assert(load(string.dump(fn), '=random', 'b', env))"
        " end"
    )
    chunk = load_bytecode(RANDOM_LUA.read_text(), env)
    R = chunk()
    harness = g.load(HARNESS.replace("NOARG_SEED", str(NOARG_SEED)), "=harness", "t")
    return rt, R, harness(R)


def _calls(rt, calls):
    """calls: list of (name, args tuple) -> Lua list of {name=, n=, args...}."""
    out = rt.table()
    for i, (name, args) in enumerate(calls, 1):
        t = rt.table()
        for j, a in enumerate(args, 1):  # "TABLE" stands for a Lua table argument
            t[j] = rt.table() if a == "TABLE" else a
        t["name"] = name
        t["n"] = len(args)
        out[i] = t
    return out


def _compare(lua, seed, calls):
    rt, _, h = lua
    lc = _calls(rt, calls)
    real = list(h.real(seed, lc).values())
    ours = list(h.ours(seed, lc).values())
    assert len(real) == len(ours) == len(calls)
    for i, (a, b) in enumerate(zip(real, ours, strict=True)):
        assert b == a, f"seed {seed}, call #{i} {calls[i]}: real {a!r}, ours {b!r}"
    return real


def _r(*args):
    return ("random", args)


RANGES_N = [1, 2, 3, 6, 7, 8, 10, 100, 2**31, 2**53 + 1, MAXINT]
RANGES_MN = [
    (1, 6),
    (0, 1),
    (-10, -3),
    (-5, 5),
    (-(2**62), 2**62),
    (MININT, MAXINT),
    (MININT, -1),
    (0, MAXINT),
    (MININT, 0),
    (-1, MAXINT),
    (7, 7),
    (MININT, MININT),
    (MAXINT, MAXINT),
    (2**40, 2**40 + 1000),
]


@pytest.mark.parametrize("seed", SEEDS)
def test_floats(lua, seed):
    vals = _compare(lua, seed, [_r()] * N)
    assert all(v.startswith("float ") for v in vals)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", RANGES_N)
def test_random_n(lua, seed, n):
    vals = _compare(lua, seed, [_r(n)] * N)
    assert all(v.startswith("int ") for v in vals)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m,n", RANGES_MN)
def test_random_m_n(lua, seed, m, n):
    vals = _compare(lua, seed, [_r(m, n)] * N)
    assert all(v.startswith("int ") for v in vals)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_zero_full_integer(lua, seed):
    vals = _compare(lua, seed, [_r(0)] * N)
    assert len(set(vals)) == N


def test_randomseed_two_args_and_returns(lua):
    calls = []
    for n1, n2 in [(1, 2), (0, 0), (-1, -1), (MININT, MAXINT), (42, 2**62), (MAXINT, MININT)]:
        calls.append(("randomseed", (n1, n2)))
        calls += [_r(), _r(6), _r(0), _r(-3, 3), _r(2**53 + 1)] * 40
    # Other argument forms, each followed by draws that expose the resulting state.
    for args in [(3.0,), ("7",), ("0x10", 2.0), (5, None), (1, 2, 3), ()]:
        calls.append(("randomseed", args))
        calls += [_r(), _r(100), _r(0)] * 10
    vals = _compare(lua, 42, calls)
    assert vals[0] == "int 1, int 2"
    assert "int 987654321, int 0" in vals  # randomseed() reseeded from on_noarg


FORMS = [
    (),
    (0,),
    (1,),
    (2,),
    (3,),
    (6,),
    (10,),
    (100,),
    (2**31,),
    (2**53 + 1,),
    (MAXINT,),
    (1, 6),
    (-10, -3),
    (MININT, MAXINT),
    (7, 7),
    (-(2**62), 2**62),
    (3.0,),
    ("12",),
    (1.0, "20"),
]


@pytest.mark.parametrize("seed", SEEDS)
def test_interleaved_mix(lua, seed):
    rng = random.Random(seed)
    calls = []
    for _ in range(5 * N):
        k = rng.random()
        if k < 0.005:
            calls.append(("randomseed", (rng.randrange(MININT, MAXINT), rng.randrange(-5, 5))))
        elif k < 0.01:  # failing calls still draw a value in C: state must stay in step
            calls.append(_r(*rng.choice([(2, 1), (1, 2, 3), (1.5,), (-1,), (None,)])))
        else:
            calls.append(_r(*rng.choice(FORMS)))
    _compare(lua, seed, calls)


ERROR_CASES = [
    (2, 1),
    (1, 2, 3),
    (1.5,),
    (-1,),
    (MAXINT, MININT),
    (None,),
    ("x",),
    (2.0**63,),
    (1, 2.5),
    (1, "y"),
    (1, None),
    ("TABLE",),
    ("1.5",),
]


@pytest.mark.parametrize("args", ERROR_CASES)
def test_error_messages(lua, args):
    # Each error is followed by a draw: the failing call must have consumed one value, as in C.
    vals = _compare(lua, 42, [_r(*args), _r(), _r(*args), _r(100)])
    assert vals[0].startswith("error harness:"), vals[0]  # names the caller's line
    assert vals[2] == vals[0]


@pytest.mark.parametrize("args", [(1.5,), (1, 2.5), (None,), ("x",), (2.0**63,), (1, "TABLE")])
def test_randomseed_error_messages(lua, args):
    vals = _compare(lua, 42, [("randomseed", args), _r(), _r(0)])
    assert vals[0].startswith("error harness:"), vals[0]
    assert "to 'randomseed'" in vals[0]


def test_generators_are_independent(lua):
    rt, _, h = lua
    draw = rt.eval("function(f, ...) return f(...) end")
    pattern = [(), (6,), (0,), (-5, 5)] * 250

    def alone(seed, per_step):
        f = h.new(seed)["random"]
        return [h.enc(draw(f, *args)) for a in pattern for args in [a] + per_step]

    a, b = h.new(1)["random"], h.new(2)["random"]
    got_a, got_b = [], []
    for args in pattern:  # interleaved; b also draws an extra random(3) each step
        got_a.append(h.enc(draw(a, *args)))
        got_b.append(h.enc(draw(b, *args)))
        got_b.append(h.enc(draw(b, 3)))
    assert got_a == alone(1, [])
    assert got_b == alone(2, [(3,)])
    assert got_a != alone(2, [])


def test_does_not_touch_the_state_global_generator(lua):
    rt, _, h = lua
    g = rt.globals()
    g.math.randomseed(5)
    expected = [g.math.random(0) for _ in range(100)]
    g.math.randomseed(5)
    got = []
    for i in range(100):
        rnd = h.new(i)["random"]
        rnd(0)
        got.append(g.math.random(0))
        rnd()
    assert got == expected
