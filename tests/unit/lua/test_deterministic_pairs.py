"""Deterministic ``pairs`` / ``next`` in workflow code (lua/detpairs.lua, issue 4 §6)."""

from __future__ import annotations

import json
import locale
import random
import subprocess
import sys
import time
from pathlib import Path

from .helpers import new_state, run, run_error

KEYS_50 = [f"k{i:02d}_{'xyz'[i % 3]}" for i in range(50)]

# Build a table from a list of keys (in that insertion order) and return the pairs order.
PAIRS_ORDER = """
local keys = ...
local t = {}
for i = 1, #keys do t[keys[i]] = i end
local out = {}
for k in pairs(t) do out[#out + 1] = k end
return out
"""


def _order(state, keys: list[str]) -> list[str]:
    return state.to_python(run(state, PAIRS_ORDER, state.to_lua(keys))[0])


def test_same_order_in_fresh_states_and_insertion_orders():
    shuffled = KEYS_50[:]
    random.Random(7).shuffle(shuffled)
    a = _order(new_state("workflow"), KEYS_50)
    b = _order(new_state("workflow"), shuffled)
    c = _order(new_state("workflow"), list(reversed(KEYS_50)))
    assert a == b == c == sorted(KEYS_50)


_LUA_IN_PROCESS = """
local t = {}
for i = 1, 50 do t["k" .. i] = i end
local det, raw = {}, {}
for k in pairs(t) do det[#det + 1] = k end
for k in sys.raw.pairs(t) do raw[#raw + 1] = k end
return table.concat(det, ","), table.concat(raw, ",")
"""

_PROCESS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from helpers import new_state

state = new_state("workflow")
env = state.new_env()
env["sys"] = state.sys
fn = state.sys.raw.load(sys.argv[2], "=x", "t", env)
print(json.dumps(list(fn())))
"""


def test_same_order_in_a_fresh_process():
    # Lua 5.4 seeds string hashes per state; another process is the real replay situation.
    here = str(Path(__file__).parent)
    outs = [
        subprocess.run(
            [sys.executable, "-c", _PROCESS_SCRIPT, here, _LUA_IN_PROCESS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(3)
    ]
    det = {json.loads(o)[0] for o in outs}
    raw = {json.loads(o)[1] for o in outs}
    assert det == {",".join(sorted(f"k{i}" for i in range(1, 51)))}
    print(f"raw pairs orders seen in 3 processes: {len(raw)} distinct")


def test_mixed_key_types_order():
    state = new_state("workflow")
    res = run(
        state,
        """
        local t = {}
        t.b = 1; t[true] = 1; t[10] = 1; t[2.5] = 1; t.a = 1; t[false] = 1; t[-3] = 1
        t[1] = 1; t[-0.5] = 1; t["B"] = 1; t["a\\0"] = 1; t[1e100] = 1; t[math.mininteger] = 1
        local f = function() end
        t[f] = 1
        local out = {}
        for k in pairs(t) do
          out[#out + 1] = type(k) == "function" and "<fn>" or (math.type(k) or type(k)) .. ":" .. tostring(k)
        end
        return table.concat(out, " ")
        """,
    )
    assert res[0].split(" ") == [
        "integer:-9223372036854775808",
        "integer:-3",
        "integer:1",
        "integer:10",
        "float:-0.5",
        "float:2.5",
        "float:1e+100",
        "string:B",
        "string:a",
        "string:a\0",
        "string:b",
        "boolean:false",
        "boolean:true",
        "<fn>",
    ]


def test_other_key_types_all_visited_last():
    state = new_state("workflow")
    res = run(
        state,
        """
        local t = { z = 1, [1] = 1 }
        for i = 1, 20 do t[{}] = i end
        local n, seen_table, bad = 0, false, false
        for k in pairs(t) do
          n = n + 1
          if type(k) == "table" then seen_table = true elseif seen_table then bad = true end
        end
        local m, k = 0, next(t)
        while k ~= nil do m = m + 1; k = next(t, k) end
        return n, m, bad
        """,
    )
    assert list(res) == [22, 22, False]


def test_next_protocol():
    state = new_state("workflow")
    res = run(
        state,
        """
        local t = { c = 3, a = 1, b = 2, [2] = "two", [1] = "one" }
        local out = {}
        local k, v = next(t)
        while k ~= nil do
          out[#out + 1] = tostring(k) .. "=" .. tostring(v)
          k, v = next(t, k)
        end
        local via_for = {}
        for k2, v2 in next, t do via_for[#via_for + 1] = tostring(k2) .. "=" .. tostring(v2) end
        local from_b = {}
        for k3 in next, t, "b" do from_b[#from_b + 1] = tostring(k3) end
        return table.concat(out, " "), table.concat(via_for, " "), table.concat(from_b, " "),
          next({}) == nil, next(t, "c") == nil, select("#", next({}))
        """,
    )
    assert res[0] == "1=one 2=two a=1 b=2 c=3"
    assert res[1] == res[0]
    assert res[2] == "c"
    assert res[3] is True and res[4] is True
    assert res[5] == 1  # next({}) returns a single nil, like Lua's


def test_next_sees_changed_key_sets_between_traversals():
    state = new_state("workflow")
    res = run(
        state,
        """
        local t = { b = 1, d = 1 }
        local function keys(iter)
          local o = {}
          if iter == "pairs" then
            for k in pairs(t) do o[#o + 1] = k end
          else
            for k in next, t do o[#o + 1] = k end
          end
          return table.concat(o, ",")
        end
        local r = { keys("pairs"), keys("next") }
        t.a = 1; t.c = 1
        r[#r + 1] = keys("pairs"); r[#r + 1] = keys("next")
        t.a = nil; t.e = 1
        r[#r + 1] = keys("next"); r[#r + 1] = keys("pairs")
        t.b, t.c, t.d, t.e = nil, nil, nil, nil
        r[#r + 1] = tostring(next(t)); r[#r + 1] = keys("pairs")
        return table.concat(r, " | ")
        """,
    )
    assert res[0] == "b,d | b,d | a,b,c,d | a,b,c,d | b,c,d,e | b,c,d,e | nil | "


def test_next_argument_errors():
    state = new_state("workflow")
    assert "bad argument #1 to 'next' (table expected, got nil)" in run_error(state, "next(nil)")
    assert "bad argument #1 to 'pairs' (table expected, got number)" in run_error(
        state, "for k in pairs(3) do end"
    )
    msg = run_error(state, "local t = {[{}] = 1} next(t, {})")
    assert "invalid key to 'next'" in msg


def test_pairs_honours___pairs():
    state = new_state("workflow")
    res = run(
        state,
        """
        local proxy = setmetatable({}, {
          __pairs = function(self)
            local i = 0
            return function() i = i + 1; if i <= 3 then return i, i * 10 end end, self, nil
          end,
          __metatable = "locked",
        })
        local out = {}
        for k, v in pairs(proxy) do out[#out + 1] = k .. ":" .. v end
        -- next ignores __pairs, as in Lua
        return table.concat(out, " "), next(proxy) == nil
        """,
    )
    assert list(res) == ["1:10 2:20 3:30", True]


def test_nil_values_cleared_during_traversal():
    state = new_state("workflow")
    res = run(
        state,
        """
        local function fill()
          local t = {}
          for i = 1, 40 do t["k" .. i] = i; t[i] = i end
          return t
        end
        -- pairs: clear every field as it is visited
        local t, n = fill(), 0
        for k in pairs(t) do t[k] = nil; n = n + 1 end
        -- next: same, the classic "clear the table" loop
        local u, m = fill(), 0
        for k in next, u do u[k] = nil; m = m + 1 end
        -- clear a field ahead of the traversal: it is not visited
        local w, seen = fill(), {}
        for k in pairs(w) do
          if k == "k1" then w.k2 = nil end
          seen[#seen + 1] = k
        end
        local visited_k2 = false
        for _, k in ipairs(seen) do if k == "k2" then visited_k2 = true end end
        -- modify existing fields during traversal
        local x, total = fill(), 0
        for k, v in pairs(x) do x[k] = v * 2 end
        for _, v in pairs(x) do total = total + v end
        return n, next(t) == nil, m, next(u) == nil, #seen, visited_k2, total
        """,
    )
    assert list(res) == [80, True, 80, True, 79, False, 2 * 2 * (40 * 41 // 2)]


def test_nested_next_traversal_after_clearing_keys():
    # The inner traversal re-snapshots a table whose current key the outer loop just cleared.
    state = new_state("workflow")
    res = run(
        state,
        """
        local t = { a = 1, b = 2, c = 3, d = 4, [1] = 1, [2] = 2 }
        local outer = {}
        for k in next, t do
          outer[#outer + 1] = tostring(k)
          t[k] = nil
          for _ in next, t do end
        end
        return table.concat(outer, ",")
        """,
    )
    assert res[0] == "1,2,a,b,c,d"


def test_activity_keeps_raw_pairs_and_entries_get_deterministic_ones():
    act = new_state("activity")
    same = act.rt.eval("rawequal")
    assert same(act.rt.globals().pairs, act.sys.raw.pairs)
    assert same(act.rt.globals().next, act.sys.raw.next)
    assert same(act.new_env().pairs, act.sys.raw.pairs)
    wf = new_state("workflow")
    same = wf.rt.eval("rawequal")
    g = wf.rt.globals()
    assert not same(g.pairs, wf.sys.raw.pairs)
    assert not same(g.next, wf.sys.raw.next)
    env = wf.new_env()  # what every workflow entry's code runs in
    assert same(env.pairs, g.pairs)
    assert same(env.next, g.next)


def test_byte_order_under_another_collation():
    # C.UTF-8 ships with glibc (Debian, and every machine this project runs on).
    old = locale.setlocale(locale.LC_COLLATE)
    locale.setlocale(locale.LC_COLLATE, "C.UTF-8")
    try:
        assert locale.setlocale(locale.LC_COLLATE) != "C"
        keys = ["b", "B", "a", "\u00e9", "A", "a b", "ab", "Z", "\u00c9"]
        state = new_state("workflow")
        got = _order(state, keys)
        first = state.to_python(
            run(state, "return (next(...))", state.to_lua(dict.fromkeys(keys, 1)))[0]
        )
    finally:
        locale.setlocale(locale.LC_COLLATE, old)
    expected = sorted(keys, key=lambda s: s.encode())
    assert got == expected
    assert first == expected[0]


def test_performance_figure():
    state = new_state("workflow", instruction_budget=0)
    fns = run(
        state,
        """
        local rp, rn, N, REP = ...
        local t = {}
        for i = 1, N do t["key" .. i] = i end
        local function loop(p) return function()
          for _ = 1, REP do local s = 0 for _, v in p(t) do s = s + v end end end end
        local function loop_next(n) return function()
          for _ = 1, REP do local s = 0 for _, v in n, t do s = s + v end end end end
        local function first() for _ = 1, REP do local u = {} for i = 1, N do u["key" .. i] = i end
          for _ in pairs(u) do end end end
        local function first_raw() for _ = 1, REP do local u = {} for i = 1, N do u["key" .. i] = i end
          for _ in rp(u) do end end end
        return loop(rp), loop(pairs), loop_next(rn), loop_next(next), first_raw, first
        """,
        state.sys.raw.pairs,
        state.sys.raw.next,
        1000,
        50,
    )
    names = [
        "raw pairs",
        "pairs (cached snapshot)",
        "raw next",
        "next (cached snapshot)",
        "build+raw pairs",
        "build+pairs (new table)",
    ]
    figures = []
    for name, fn in zip(names, fns, strict=True):
        t0 = time.perf_counter()
        fn()
        figures.append(f"{name} {(time.perf_counter() - t0) / 50 / 1000 * 1e9:.0f} ns/key")
    print("1000 string keys: " + "; ".join(figures))
