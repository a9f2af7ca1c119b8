"""The quickest way out of Lua (issue 18 item 2): ``sys.encode_json_fast`` writes strings without
checking them and sorts object keys itself; ``Converter.to_python`` checks the whole text once
and goes the careful way (``sys.encode_json``, then the walk) when a string needed an escape or is
not UTF-8. Whatever way a value takes, the result must be the walk's, keys in sorted order.
"""

from __future__ import annotations

import json
import locale
import math
import re

import pytest

from moonflow.lua._convert import _MAX_DEPTH, ConversionError, _checked_loads

from .helpers import new_state, run


@pytest.fixture(params=["workflow", "activity"])
def state(request):
    return new_state(request.param)


def _typed(v):
    """Types and key order too (1 vs 1.0, -0.0 vs 0.0, {"b", "a"} vs {"a", "b"})."""
    if isinstance(v, dict):
        return ("dict", list(v.keys()), [_typed(x) for x in v.values()])
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    if isinstance(v, float):
        return ("float", math.copysign(1.0, v), repr(v))
    return (type(v).__name__, v)


def _sorted_walk(state, value):
    def order(v):
        if isinstance(v, dict):
            return {k: order(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [order(x) for x in v]
        return v

    return order(state.convert.walk(value, "v"))


QUICK = [
    "return {}",
    "return {1, 2.0, -0.0, 0.1, 1e300, 5e-324, 2^53 + 1, 1/3, -123456789.125, 1e17, 3.0}",
    "return {math.maxinteger, math.mininteger, 0, -1}",
    'return {z = 1, a = 2, m = {y = true, b = false, ["ä"] = "x", ["Z"] = "", [""] = 0}}',
    "local t = {} for i = 1, 100 do t['k' .. (i * 7919 % 101)] = {i, 'v' .. i} end return t",
    "local t = {} for i = 1, 300 do t[i] = {id = i, name = 'n' .. i, ok = i % 2 == 0} end return t",
    "local t = {x = 1} return {a = t, b = t, c = {t, t}}",  # shared, not recursive
    # objects of many kinds (more than the tree of key sequences keeps)
    "local t = {} for i = 1, 3000 do t[i] = {['b' .. i] = i, ['a' .. i] = {i}, z = i} end return t",
    'return {s = "é ✓ 𝄞", list = {{}, {a = 1}, {"x"}}}',
]


@pytest.mark.parametrize("src", QUICK)
def test_the_quick_way_gives_the_walks_value_with_sorted_keys(state, src):
    value = run(state, src)[0]
    assert state.sys.encode_json_fast(value, _MAX_DEPTH) is not None  # taken, not declined
    assert _typed(state.to_python(value)) == _typed(_sorted_walk(state, value))


NEEDS_ESCAPES = [
    'return {s = "quote\\" inside"}',
    'return {s = "a\\",\\"x\\":\\"b"}',  # would read as an extra key if not caught
    'return {["k\\"ey"] = 1, other = 2}',
    'return {s = "back\\\\slash"}',
    'return {s = "nl\\n tab\\t nul\\0 bell\\7"}',
    'return {s = "del\\127"}',
    'return {list = {"ok", "x\\"y"}}',
]


@pytest.mark.parametrize("src", NEEDS_ESCAPES)
def test_strings_needing_escapes_take_the_careful_way(state, src):
    value = run(state, src)[0]
    assert _typed(state.to_python(value)) == _typed(_sorted_walk(state, value))


@pytest.mark.parametrize(
    ("src", "path"),
    [
        ('return {s = "\\xff"}', "result.s"),
        ('return {list = {"ok", "\\xed\\xa0\\x80"}}', "result.list[2]"),
        ('return {["\\xff"] = 1}', "result[<key>]"),
    ],
)
def test_invalid_utf8_still_names_the_path(state, src, path):
    value = run(state, src)[0]
    with pytest.raises(ConversionError, match=rf"^{re.escape(path)}: "):
        state.to_python(value, "result")


def test_values_that_came_in_round_trip_with_sorted_keys(state):
    incoming = {
        "b": {"empty": {}, "none": None, "list": [], "holes": [1, None, 3]},
        "a": [{"z": None, "y": 1}, {"only": None}],
        "c": {f"k{i}": {"i": i, "n": None} for i in range(50)},
    }
    back = state.to_python(state.to_lua(incoming))
    assert back == incoming
    expected = json.loads(json.dumps(incoming, sort_keys=True))
    assert _typed(back) == _typed(expected)


def test_a_null_member_set_in_lua_is_written_once(state):
    fn = state.sys.raw.load(
        "local a = ... a.n = 5 return a", "=t", "t", state.new_env()
    )  # {"n": null, "m": 1} came in; Lua set n
    value = state.pcall(fn, state.to_lua({"n": None, "m": 1}))[1][0]
    assert state.sys.encode_json_fast(value, _MAX_DEPTH) is not None
    assert _typed(state.to_python(value)) == _typed({"m": 1, "n": 5})


def test_marked_values_are_left_to_the_careful_writer(state):
    value = run(
        state, 'local time = M("time") return {t = time.unix(0, 0), d = time.parse_duration("2s")}'
    )[0]
    assert state.sys.encode_json_fast(value, _MAX_DEPTH) is None
    assert state.to_python(value) == {"d": 2_000_000_000, "t": "1970-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    "src",
    [
        "return {1, nil, 3}",
        "return {1, 2, x = 3}",
        "return {a = 1, [1] = 2}",
        "return {x = 1, [2] = 2}",
        "return {n = 0/0}",
        "return {f = print}",
        "local t = {} t.self = t return t",
    ],
)
def test_what_the_rules_reject_is_declined(state, src):
    value = run(state, src)[0]
    assert state.sys.encode_json_fast(value, _MAX_DEPTH) is None
    with pytest.raises(ConversionError):
        state.to_python(value, "result")


def test_outside_the_c_collation_the_careful_writer_sorts_in_python(state):
    value = run(state, 'return {b = 1, a = {d = 2, c = 3}, ["é"] = 4, Z = 5}')[0]
    old = locale.setlocale(locale.LC_COLLATE)
    try:
        try:
            locale.setlocale(locale.LC_COLLATE, "C.UTF-8")
        except locale.Error:
            pytest.fail("the C.UTF-8 locale is missing on this machine")
        assert state.sys.encode_json_fast(value, _MAX_DEPTH) is None
        got = state.to_python(value)
    finally:
        locale.setlocale(locale.LC_COLLATE, old)
    assert _typed(got) == _typed({"Z": 5, "a": {"c": 3, "d": 2}, "b": 1, "é": 4})


def test_control_characters_stay_on_the_quick_way(state):
    value = run(state, 'return {s = "nl\\n tab\\t nul\\0 esc\\27", k = {"\\r"}}')[0]
    quick = state.sys.encode_json_fast(value, _MAX_DEPTH)
    assert _checked_loads(*quick) == {"k": ["\r"], "s": "nl\n tab\t nul\0 esc\x1b"}
    assert state.to_python(value) == {"k": ["\r"], "s": "nl\n tab\t nul\0 esc\x1b"}


def test_after_strings_with_quotes_values_go_the_careful_way_for_a_while(state):
    quoted = run(state, 'return {s = "say \\"hi\\"", p = "C:\\\\x"}')[0]
    plain = run(state, "return {b = {1, 2.5}, a = 'x'}")[0]
    assert state.to_python(quoted) == {"p": "C:\\x", "s": 'say "hi"'}
    assert state.convert._careful_for > 0
    for _ in range(100):  # the same values whichever way they take
        assert _typed(state.to_python(plain)) == _typed({"a": "x", "b": [1, 2.5]})
    assert state.convert._careful_for == 0  # and the quick way is tried again


def test_floats_come_back_as_the_same_doubles(state):
    import random

    rng = random.Random(20261205)
    floats = [0.1, 19.99, -19.99, 1.5, 3.0, -2.0, 1e-6, 999999999.999999, 1e9, 1e15, 2.5e-7]
    for _ in range(3000):
        x = rng.uniform(-1e9, 1e9) * rng.choice([1, 1e-3, 1e-6, 1e-9])
        floats.append(round(x, rng.randint(0, 9)) or 0.5)
        floats.append(x)
        floats.append(x + math.ulp(x))  # next to a short decimal, not on it
        floats.append(round(x, 6) + math.ulp(round(x, 6)))
    value = state.to_lua(floats)
    assert state.sys.encode_json_fast(value, _MAX_DEPTH) is not None
    back = state.to_python(value)
    assert [repr(f) for f in back] == [repr(f) for f in floats]
    assert all(type(f) is float for f in back)


@pytest.mark.parametrize("careful_for", [0, 16])
def test_the_size_limit_does_not_depend_on_the_writer(state, monkeypatch, careful_for):
    # a review found: the quick writer leaves control characters raw (1 character each) where
    # the careful one writes \u0001 (6), and which writer runs depends on what this Lua state
    # converted before (maybe another run's value): the same value was refused or not
    import moonflow.lua._convert as convert

    monkeypatch.setattr(convert, "_MAX_BYTES", 600_000)
    over = run(state, "return {s = string.rep('\\1', 150000)}")[0]  # 900,008 escaped
    under = run(state, "return {s = string.rep('\\1', 90000)}")[0]  # 540,008 escaped
    state.convert._careful_for = careful_for
    with pytest.raises(ConversionError, match="larger than 600000 bytes"):
        state.to_python(over)
    state.convert._careful_for = careful_for
    assert state.to_python(under) == {"s": "\x01" * 90000}
