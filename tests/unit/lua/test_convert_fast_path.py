"""The one-call JSON fast path out of Lua must agree exactly with the element-by-element walk.

``Converter.to_python`` first asks Lua for the whole value as JSON (``sys.encode_json``) and
falls back to the walk when Lua declines; every value here goes both ways and the results
(types included: ``1.0`` stays a float) must be identical, and every value the rules reject
must be declined by the fast path so that the walk names the path.
"""

from __future__ import annotations

import json
import math

import pytest

from moonflow.lua._convert import _MAX_DEPTH, ConversionError

from .helpers import new_state, run


@pytest.fixture
def state():
    return new_state("workflow")


def _both(state, value):
    fast_text = state.sys.encode_json(value, _MAX_DEPTH)
    slow = state.convert.walk(value, "value")
    return fast_text, slow


def _typed(v):
    """A structure that compares types too (1 vs 1.0, -0.0 vs 0.0)."""
    if isinstance(v, dict):
        return ("dict", list(v.keys()), [_typed(x) for x in v.values()])
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    if isinstance(v, float):
        return ("float", math.copysign(1.0, v), repr(v))
    return (type(v).__name__, v)


AGREE = [
    "return {}",
    "return {1, 2.0, -0.0, 0.1, 1e300, 5e-324, 2^53 + 1, 1/3, -123456789.125}",
    "return {math.maxinteger, math.mininteger, 0, -1}",
    'return {s = "quote\\" back\\\\ nl\\n tab\\t nul\\0 del\\127 bell\\7 é ✓ 𝄞"}',
    'return {b = true, c = false, z = {}, list = {{}, {a = 1}, {"x"}}}',
    'return {["key with space"] = 1, ["ünï"] = 2, ["10"] = 3, ["9"] = 4, [""] = 5}',
    "local t = {x = 1}; return {a = t, b = t, c = {t, t}}",  # shared, not recursive
    "local t = {} for i = 1, 40 do t[i] = {i, tostring(i), i * 0.5} end return t",
]


@pytest.mark.parametrize("src", AGREE)
def test_fast_path_agrees_with_the_walk(state, src):
    value = run(state, src)[0]
    fast_text, slow = _both(state, value)
    assert fast_text is not None, "the fast path declined a valid value"
    fast = state.to_python(value)
    assert _typed(fast) == _typed(slow)
    assert json.loads(str(fast_text)) == slow


def test_markers_round_trip_through_the_fast_path(state):
    incoming = {"empty": {}, "none": None, "arr": [1, None, 3], "nested": {"n": None, "k": []}}
    lua_value = state.to_lua(incoming)
    assert state.sys.encode_json(lua_value, _MAX_DEPTH) is not None
    assert state.to_python(lua_value) == incoming
    assert _typed(state.to_python(lua_value)) == _typed(state.convert.walk(lua_value, "v"))


def test_time_duration_and_error_values(state):
    value = run(
        state,
        """
        local time = M("time")
        return {
            t = time.unix(1700000000, 5000),
            d = time.parse_duration("1m30s"),
            e = errors.new("NOT_FOUND", "gone"),
        }
        """,
    )[0]
    fast_text, slow = _both(state, value)
    assert fast_text is not None
    assert state.to_python(value) == slow
    assert slow["d"] == 90_000_000_000 and slow["t"].startswith("2023-11-14T22:13:20")


REJECTED = [
    ("return {1, nil, 3}", "sparse"),
    ("return {1, 2, x = 3}", "mixes"),
    ("return {a = 1, [2] = 3}", "mixes"),
    ("return {f = print}", "function"),
    ("return {n = 0/0}", "JSON"),
    ("return {n = math.huge}", "JSON"),
    ("return {[1.5] = 1}", "not a string or an index"),
    ("local t = {} t.self = t return t", "recursive"),
    ('return {s = "\\xff"}', "UTF-8"),
    ('return {["\\xff"] = 1}', "UTF-8"),
    ("return {co = coroutine.create(function() end)}", "cannot be converted"),
]


@pytest.mark.parametrize("src, needle", REJECTED)
def test_rejected_values_fall_back_to_the_walk_that_names_the_path(state, src, needle):
    value = run(state, src)[0]
    assert state.sys.encode_json(value, _MAX_DEPTH) is None
    with pytest.raises(ConversionError) as exc:
        state.to_python(value, "result")
    assert needle in str(exc.value) and str(exc.value).startswith("result")


def test_depth_limit_is_the_same_on_both_paths(state):
    ok = run(state, f"local t = 1 for _ = 1, {_MAX_DEPTH} do t = {{t}} end return t")[0]
    too_deep = run(state, f"local t = 1 for _ = 1, {_MAX_DEPTH + 1} do t = {{t}} end return t")[0]
    assert state.sys.encode_json(ok, _MAX_DEPTH) is not None
    assert state.sys.encode_json(too_deep, _MAX_DEPTH) is None
    with pytest.raises(ConversionError):
        state.to_python(too_deep)


def _edited(state, incoming, lua):
    """``incoming`` converted into Lua as ``a``, then the Lua statements ``lua`` run on it."""
    fn = state.sys.raw.load(f"local a = ... {lua} return a", "=t", "t", state.new_env())
    return state.pcall(fn, state.to_lua(incoming))[1][0]


@pytest.mark.parametrize(
    "incoming, lua, expected",
    [
        # an array that came in with nulls keeps its length; items past it must be contiguous
        ([1, 2, None, 4], "a[5] = 4", [1, 2, None, 4, 4]),
        ([1, None], "a[2] = 2; a[3] = 3", [1, 2, 3]),
        ([1, None], "a[3] = 3", [1, None, 3]),
        ([None, None], "", [None, None]),
        ([1, None, 3], "a[3] = nil", [1, None, None]),
    ],
)
def test_arrays_that_came_in_with_nulls_can_grow(state, incoming, lua, expected):
    value = _edited(state, incoming, lua)
    assert state.sys.encode_json(value, _MAX_DEPTH) is not None
    assert state.to_python(value) == expected
    assert state.convert.walk(value, "v") == expected


@pytest.mark.parametrize(
    "incoming, lua",
    [
        ([1, None], "a[4] = 4"),  # a hole past the remembered length
        ([1, None], "a[0] = 0"),
        ([1, None], "a[-1] = 0"),
        ([1, 2, None, 4], "a[7] = 7"),
    ],
)
def test_arrays_that_came_in_with_nulls_still_reject_holes_past_their_length(state, incoming, lua):
    value = _edited(state, incoming, lua)
    assert state.sys.encode_json(value, _MAX_DEPTH) is None
    with pytest.raises(ConversionError) as exc:
        state.to_python(value, "result")
    assert "sparse array" in str(exc.value)


def test_random_tables_agree_on_both_paths(state):
    # Seeded: inputs with nulls/empties come in, Lua code edits them at random, and both
    # paths must then agree: same value (types included), or both refuse.
    import random

    rng = random.Random(20261129)
    keys = ["1", "2", "3", "4", "5", "0", "-1", '"a"', '"b"', "1.5"]
    values = ["nil", "1", "2.0", '"x"', "true", "{}", "{1}", '{k = "v"}']
    seeds = [[1, None], [None], [], {}, {"a": None}, [1, 2, None, 4], {"a": 1, "b": None}]
    agreed = refused = 0
    for case in range(1500):
        incoming = rng.choice(seeds)
        edits = "; ".join(
            f"t[{rng.choice(keys)}] = {rng.choice(values)}" for _ in range(rng.randint(0, 4))
        )
        fn = state.sys.raw.load(f"local t = ... {edits} return t", "=fuzz", "t", state.new_env())
        value = state.pcall(fn, state.to_lua(incoming))[1][0]
        text = state.sys.encode_json(value, _MAX_DEPTH)
        try:
            slow = state.convert.walk(value, "v")
        except ConversionError:
            assert text is None, f"case {case}: {incoming!r} + {edits!r} -> fast {text!r}"
            refused += 1
            continue
        assert text is not None, f"case {case}: {incoming!r} + {edits!r} declined"
        assert _typed(json.loads(str(text), object_pairs_hook=lambda p: dict(sorted(p)))) == (
            _typed(slow)
        ), f"case {case}: {incoming!r} + {edits!r}"
        agreed += 1
    assert agreed > 300 and refused > 300  # both outcomes are really exercised
