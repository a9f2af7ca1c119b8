"""``sys.copy_values`` (issue 14, benchmark P2): a local message's values copied in Lua from the
sender's run to the receiver's, in the same Lua state, without the Python step.

The copy must be exactly what the Python path gives the receiver (``to_python`` in the sender,
then ``to_lua`` in the receiver): types (integer vs float, -0.0), keys, values and the three
markers (``sys.objects``, ``sys.lengths``, ``sys.nulls``), sharing no table with the original.
Whatever it does not copy exactly it declines (nil) and the Python path decides, so a value the
Python path refuses must never be copied. A differential test checks that over a corpus of
hand-written edge cases and generated values, two process runs sharing one state.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from moonflow.lua import ConversionError, LuaRun, MachineHost
from moonflow.lua._run import PROCESS
from moonflow.lua._vm import LuaVM

from .helpers import run


def _process_run(vm: LuaVM) -> LuaRun:
    host = MachineHost()
    state = LuaRun(PROCESS, host, vm=vm)
    host.state = state
    return state


@pytest.fixture
def runs() -> tuple[LuaRun, LuaRun]:
    """A sender and a receiver: two process runs in one Lua state, as on a process node."""
    vm = LuaVM(PROCESS, max_memory=None)
    return _process_run(vm), _process_run(vm)


# check(original, copy, expected) -> nil, or what differs. `expected` is the Python path's
# packed list. Compared structurally (pairs order is not part of a value): types with
# math.type, float sign (-0.0), keys both ways, the three markers, #t; and no table of the copy
# is reachable from the original.
_CHECK = r"""
local sys = ...
local objects, lengths, nulls, next = sys.objects, sys.lengths, sys.nulls, sys.raw.next
local getmt = sys.raw.debug_getmetatable

local function key_text(k)
    return type(k) == "string" and string.format("%q", k) or tostring(k)
end

local function null_set(list)
    if list == nil then
        return "-"
    end
    local keys = {}
    for i = 1, #list do
        keys[i] = list[i]
    end
    table.sort(keys)
    return table.concat(keys, ",")
end

local function same(a, b, path)
    local ta, tb = type(a), type(b)
    if ta ~= tb then
        return path .. ": " .. ta .. " vs " .. tb
    end
    if ta == "number" then
        if math.type(a) ~= math.type(b) then
            return path .. ": " .. math.type(a) .. " vs " .. math.type(b)
        end
        if a ~= b or (a == 0 and 1 / a ~= 1 / b) then
            return path .. string.format(": %.17g vs %.17g", a, b)
        end
        return nil
    end
    if ta ~= "table" then
        if a ~= b then
            return path .. ": " .. tostring(a) .. " vs " .. tostring(b)
        end
        return nil
    end
    if getmt(a) ~= nil or getmt(b) ~= nil then
        return path .. ": a metatable"
    end
    if (objects[a] or false) ~= (objects[b] or false) then
        return path .. ": objects marker " .. tostring(objects[a]) .. " vs " .. tostring(objects[b])
    end
    if lengths[a] ~= lengths[b] then
        return path .. ": lengths marker " .. tostring(lengths[a]) .. " vs " .. tostring(lengths[b])
    end
    if null_set(nulls[a]) ~= null_set(nulls[b]) then
        return path .. ": nulls marker " .. null_set(nulls[a]) .. " vs " .. null_set(nulls[b])
    end
    if #a ~= #b then
        return path .. ": #t " .. #a .. " vs " .. #b
    end
    for k, v in next, a do
        local w = sys.raw.rawget(b, k)
        if w == nil then
            return path .. "[" .. key_text(k) .. "]: missing from the expected value"
        end
        local diff = same(v, w, path .. "[" .. key_text(k) .. "]")
        if diff then
            return diff
        end
    end
    for k in next, b do
        if sys.raw.rawget(a, k) == nil then
            return path .. "[" .. key_text(k) .. "]: missing from the copy"
        end
    end
    return nil
end

local function reach(v, set)
    if type(v) ~= "table" or set[v] then
        return
    end
    set[v] = true
    for k, item in next, v do
        reach(k, set)
        reach(item, set)
    end
end

return function(original, copy, expected)
    if copy == original then
        return "the packed list itself is shared"
    end
    if copy.n ~= original.n or copy.n ~= expected.n then
        return "n: " .. tostring(copy.n) .. " vs " .. tostring(expected.n)
    end
    local theirs, mine = {}, {}
    reach(original, theirs)
    theirs[original] = nil
    for i = 1, copy.n do
        local diff = same(copy[i], expected[i], "value " .. i)
        if diff then
            return diff
        end
        reach(copy[i], mine)
    end
    for t in next, mine do
        if theirs[t] then
            return "a table of the copy is the original's"
        end
    end
    return nil
end
"""


def _differences(sender: LuaRun, receiver: LuaRun, cases: Any) -> tuple[list[str], int]:
    """Each case's copy against the Python path; the problems, and how many were copied."""
    check = run(sender, _CHECK, sender.sys)[0]
    copy_values = sender.sys.copy_values
    problems: list[str] = []
    copied = 0
    for i in range(1, len(cases) + 1):
        case = cases[i]
        name, packed = case["name"], case["packed"]
        copy = copy_values(packed)
        if isinstance(copy, tuple):  # the copy, then its slots and string bytes
            copy, _slots, text = copy
            strings = [packed[j] for j in range(1, packed["n"] + 1) if isinstance(packed[j], str)]
            if text < sum(len(v) for v in strings):
                problems.append(f"{name}: {text} string bytes counted, fewer than its strings")
        try:
            values = [sender.to_python(packed[j], f"{name} {j}") for j in range(1, packed["n"] + 1)]
            expected: Any = receiver.pack([receiver.to_lua(v, name) for v in values])
        except ConversionError as e:
            if copy is not None:
                problems.append(f"{name}: copied, but the Python path raises: {e}")
            continue
        if copy is None:
            if case["must"]:
                problems.append(f"{name}: declined (the fast path must take it)")
            continue
        copied += 1
        diff = check(packed, copy, expected)
        if diff is not None:
            problems.append(f"{name}: {diff}")
    return problems, copied


# Hand-written edge cases. case(name, must, ...) records sys.guard_pack(...), as process.send
# packs its values; `must`: copy_values has to take it (the shapes messages have).
_EDGE_CASES = r"""
local sys, from_json = ...
local cases = {}
local function case(name, must, ...)
    cases[#cases + 1] = { name = name, must = must, packed = sys.guard_pack(...) }
end
local objects = sys.objects
local errors, time = M("errors"), M("time")

case("nothing", true)
case("nil", true, nil)
case("nils around", true, nil, 1, nil)
case("three integers", true, 1, 2, 3)
case("booleans", true, true, false)
case("strings", true, "", "héllo", "✓ 𝄞", "a\0b", 'q"\\/', "\n\t\r\1\127", "{app:processes|0x00002}")
case("integer limits", true, math.maxinteger, math.mininteger, 0, -1, (1 << 53) + 1)
case("floats", true, 1.0, -0.0, 0.0, 0.5, 1e300, -1e300, 5e-324, 2.0 ^ 53, 2.0 ^ 63, -2.0 ^ 63)
case("more floats", true, 1e17, 1e16, 123456789.125, 1 / 3, 19.99, -1.5e-7, 0.1, 1e22, 2.0 ^ -1074)
case("empty table", true, {})
local marked = {}
objects[marked] = true
case("empty marked object", true, marked)
case("empty objects from JSON", true, from_json.empty_object, from_json.empty_array)
case("array", true, { 1, 2, 3 })
case("array of strings", true, { "a", "b", "ü" })
case("nested arrays", true, { { 1 }, { { 2.5 } }, {} })
case("small map", true, { key = "a", reply_to = "{app:processes|0x00002}" })
case("nested mix", true, { a = { 1, 2, { x = 1.5, y = -0.0 } }, b = {}, c = true, d = "s", e = marked })
case("string keys", true, { [""] = 1, ["1"] = 2, ["2"] = 3, ["ü"] = 4, ["a\0b"] = 5, n = 6 })
local s = { 1, { k = "v" } }
case("shared table", true, { s, s, m = s }, s)
local filled = M("json").decode("{}")
filled.k = 1
case("non-empty marked object", true, filled)
local listed = M("json").decode("{}")
listed[1] = "x"
case("marked object used as an array", true, listed)
case("emptied map", true, (function() local t = { a = 1 } t.a = nil return t end)())
case("array of 900", true, (function() local t = {} for i = 1, 900 do t[i] = i end return t end)())
case("a million bytes", true, string.rep("é", 500000))
case("depth 32", true, (function() local t = {} for _ = 1, 31 do t = { t } end return t end)())
case("from JSON", true, from_json.record)

-- declined or refused: the differential check still applies
case("invalid UTF-8 at the top", false, "\255\254")
case("invalid UTF-8 among others", false, 1, "ok", "\255")
case("invalid UTF-8 nested", false, { "a", "\192\128" })
case("surrogate nested", false, { s = "\237\160\128" })
case("beyond U+10FFFF", false, { "\244\144\128\128" })
case("five-byte form", false, { "\248\136\128\128\128" })
case("invalid UTF-8 key", false, { ["\255"] = 1 })
case("nan", false, 0 / 0)
case("inf", false, math.huge)
case("-inf", false, -math.huge)
case("nested nan", false, { x = 0 / 0 })
case("nested inf", false, { 1, -math.huge })
case("sparse", false, { 1, nil, 3 })
case("index 0", false, { [0] = 1 })
case("index 2 only", false, { [2] = 1 })
case("negative index", false, { [-1] = 1, 2 })
case("float key", false, { [1.5] = 1 })
case("boolean key", false, { [true] = 1 })
case("table key", false, { [{}] = 1 })
case("mixed keys", false, { 1, a = 2 })
case("mixed keys, string first", false, { a = 2, [3] = 1 })
case("function", false, string.format)
case("nested function", false, { f = function() end })
case("coroutine", false, coroutine.create(function() end))
case("error object", false, errors.new("NOT_FOUND", "gone"))
case("made error", false, sys.make_error("Invalid", "bad input", false))
case("nested error", false, { err = errors.new("X", "y") })
case("time", false, time.unix(1700000000, 5000))
case("duration", false, time.parse_duration("1m30s"))
case("nested time", false, { at = time.unix(1, 0) })
case("metatable", false, setmetatable({}, {}))
case("metatable with data", false, setmetatable({ a = 1 }, { __index = { b = 2 } }))
case("nested metatable", false, { setmetatable({ 1 }, {}) })
local cyclic = { a = 1 }
cyclic.self = cyclic
case("cycle", false, cyclic)
local ring = { 1 }
ring[2] = { ring }
case("cycle through arrays", false, ring)
case("depth 33", false, (function() local t = {} for _ = 1, 32 do t = { t } end return t end)())
case("depth 200", false, (function() local t = {} for _ = 1, 199 do t = { t } end return t end)())
case("array of 1000", false, (function() local t = {} for i = 1, 1000 do t[i] = i end return t end)())
case("array of 5000", false, (function() local t = {} for i = 1, 5000 do t[i] = i end return t end)())
case("map of 2000", false, (function() local t = {} for i = 1, 2000 do t["k" .. i] = i end return t end)())
case("many small tables", false, (function() local t = {} for i = 1, 600 do t[i] = { i } end return t end)())
case("shared 2^12 times", false, (function() local t = { 1 } for _ = 1, 12 do t = { t, t } end return t end)())
case("nine megabytes", false, string.rep("a", 9 * 1024 * 1024))
case("array with nulls from JSON", false, from_json.holes)
case("only nulls from JSON", false, from_json.only_nulls)
case("null members from JSON", false, from_json.null_members)
case("only null members from JSON", false, from_json.only_null_members)
local patched = M("json").decode("[1, null, 3]")
patched[2] = 2
case("array with its null filled", false, patched)
local objs = M("json").decode('{"a": null, "b": 1}')
objs.a = 5
case("object with its null member set", false, objs)
case("out-of-order array", false, (function() local t = {} for i = 8, 1, -1 do t[i] = i end return t end)())
return cases
"""


def _from_json(receiver: LuaRun) -> Any:
    """Values as the Python path brings them in (markers set by to_lua)."""
    t = receiver.rt.table()
    for name, value in {
        "empty_object": {},
        "empty_array": [],
        "record": {"id": 7, "tags": ["a", "b"], "meta": {}, "score": 1.0, "list": [[], {}]},
        "holes": [1, None, 3],
        "only_nulls": [None, None],
        "null_members": {"a": None, "b": 1},
        "only_null_members": {"a": None},
    }.items():
        t[name] = receiver.to_lua(value)
    return t


def test_edge_cases_copy_exactly_or_decline(runs):
    sender, receiver = runs
    cases = run(sender, _EDGE_CASES, sender.sys, _from_json(receiver))[0]
    problems, copied = _differences(sender, receiver, cases)
    assert problems == []
    assert copied == sum(1 for i in range(1, len(cases) + 1) if cases[i]["must"])


def _random_json(rng: random.Random, depth: int) -> Any:
    """A JSON-like Python value: nested arrays and maps, nulls, empties, unicode, big ints,
    floats of every kind (NaN and infinities excepted: JSON has none)."""
    roll = rng.random()
    if depth > 0 and roll < 0.3:
        return [_random_json(rng, depth - 1) for _ in range(rng.randrange(0, 6))]
    if depth > 0 and roll < 0.55:
        keys = rng.sample(["a", "b", "key", "reply_to", "é", "𝄞x", "", "1", "n", "a b"], 4)
        return {k: _random_json(rng, depth - 1) for k in keys[: rng.randrange(0, 5)]}
    pick = rng.randrange(9)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), 2**53 + 1, rng.randrange(-(10**12), 10**12)])
    if pick == 3:
        return rng.choice([0.0, -0.0, 1.0, 2.0**63, 1e17, 5e-324, 1e308, 0.1, -2.5])
    if pick == 4:
        return (
            rng.uniform(-1e6, 1e6)
            if rng.random() < 0.5
            else math.ldexp(rng.random(), rng.randrange(-1074, 1000))
        )
    if pick == 5:
        return round(rng.uniform(-1e4, 1e4), rng.randrange(0, 7))
    if pick == 6:
        return "".join(rng.choice('ab"\\\n\0é✓𝄞{}[],:') for _ in range(rng.randrange(0, 8)))
    if pick == 7:
        return {}
    return []


# mutate(v, seed): Lua code changing some tables of a value that came from Python, so markers
# meet the changes Lua code makes (members set and removed, arrays grown, holes filled).
_MUTATE = r"""
local sys = ...
local next = sys.raw.next
local state
local function roll(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n
end
local function mutate(v, depth)
    if type(v) ~= "table" or depth > 8 then
        return
    end
    local children = {}
    for _, item in next, v do
        children[#children + 1] = item
    end
    local action = roll(7)
    if action == 0 then
        v.zz = roll(3) == 0 and {} or 1
    elseif action == 1 then
        v[#v + 1] = "x"
    elseif action == 2 then
        local k = next(v)
        if k ~= nil then
            v[k] = nil
        end
    elseif action == 3 and sys.lengths[v] then
        v[sys.lengths[v]] = 0.5
    end
    for _, item in next, children do
        mutate(item, depth + 1)
    end
end
return function(values, seed)
    state = seed
    local cases = {}
    for i = 1, #values do
        local v = values[i]
        if i % 2 == 0 then
            mutate(v, 0)
        end
        cases[i] = { name = "json " .. i .. (i % 2 == 0 and " mutated" or ""), must = false,
            packed = sys.guard_pack(v) }
    end
    return cases
end
"""


def test_generated_json_values_copy_exactly_or_decline(runs):
    sender, receiver = runs
    rng = random.Random(14)
    values = sender.rt.table()
    for i in range(1, 401):
        values[i] = sender.to_lua(_random_json(rng, 4))
    cases = run(sender, _MUTATE, sender.sys)[0](values, 14)
    problems, copied = _differences(sender, receiver, cases)
    assert problems == []
    assert copied >= 100


# Values made by Lua code: any key and value type, mostly what messages carry, sometimes what
# the Python path refuses (bad bytes, NaN, mixed keys, metatables, functions, cycles).
_GENERATE = r"""
local sys = ...
local time, errors = M("time"), M("errors")
local state = 7
local function roll(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n
end
local KEYS = { "a", "b", "key", "n", "", "é", "\255", "1", 1, 2, 3, 0, 1.5, true }
local SCALARS = {
    0, 1, -7, math.maxinteger, math.mininteger, 0.0, -0.0, 1.0, 0.25, 1e300, 2.0 ^ 63,
    0 / 0, math.huge, -math.huge, "", "s", "é✓", "\0", "\255", "\237\160\128", true, false,
}
local gen
gen = function(depth)
    local r = roll(20)
    if depth > 0 and r < 5 then
        local t = {}
        for i = 1, roll(6) do
            t[i] = gen(depth - 1)
        end
        if roll(10) == 0 then
            t[KEYS[roll(#KEYS) + 1]] = gen(depth - 1)
        end
        return t
    elseif depth > 0 and r < 10 then
        local t = {}
        for _ = 1, roll(5) do
            local k = roll(8) == 0 and KEYS[roll(#KEYS) + 1] or KEYS[roll(6) + 1]
            t[k] = gen(depth - 1)
        end
        if roll(15) == 0 then
            sys.objects[t] = true
        end
        return t
    elseif r == 10 then
        local pick = roll(6)
        if pick == 0 then
            return setmetatable({}, {})
        elseif pick == 1 then
            return errors.new("X", "e")
        elseif pick == 2 then
            return time.unix(roll(1000), 0)
        elseif pick == 3 then
            return function() end
        elseif pick == 4 then
            local t = { 1 }
            t[2] = t
            return t
        end
        return roll(3) == 0 and 1 or nil
    end
    return SCALARS[roll(#SCALARS) + 1]
end
local cases = {}
for i = 1, 600 do
    local count = roll(4)
    local values = {}
    for j = 1, count do
        values[j] = gen(roll(5))
    end
    cases[i] = { name = "lua " .. i, must = false, packed = sys.guard_pack(table.unpack(values, 1, count)) }
end
return cases
"""


def test_generated_lua_values_copy_exactly_or_decline(runs):
    sender, receiver = runs
    cases = run(sender, _GENERATE, sender.sys)[0]
    problems, copied = _differences(sender, receiver, cases)
    assert problems == []
    assert copied >= 100


def test_changing_the_copy_never_changes_the_original_and_back(runs):
    sender, _ = runs
    got = run(
        sender,
        r"""
        local sys = ...
        local objects = sys.objects
        local function fresh()
            local e = {}
            objects[e] = true
            return { a = { 1, 2, { x = "y" } }, b = { x = "y" }, e = e }, { 10, { 20 } }
        end
        local orig = sys.guard_pack(fresh())
        local copy = assert(sys.copy_values(orig))
        copy[1].a[1] = 99
        copy[1].a[3].x = "changed"
        copy[1].b.x = nil
        copy[1].e.z = 1
        objects[copy[1].e] = nil
        copy[2][2][1] = 0
        copy[3] = "extra"
        local o = orig[1]
        local first = o.a[1] == 1 and o.a[3].x == "y" and o.b.x == "y" and o.e.z == nil
            and objects[o.e] == true and orig[2][2][1] == 20 and orig[3] == nil
        local copy2 = assert(sys.copy_values(orig))
        o.a[2] = "two"
        o.a[3].x = nil
        o.e.w = true
        orig[2][1] = -1
        local c = copy2[1]
        local second = c.a[2] == 2 and c.a[3].x == "y" and c.e.w == nil and objects[c.e] == true
            and copy2[2][1] == 10
        return first, second
        """,
        sender.sys,
    )
    assert got == [True, True]
