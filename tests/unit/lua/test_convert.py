"""The data conversion rule set, both ways (issue 2 §6)."""

from __future__ import annotations

import pytest

from moonflow.lua import ConversionError

from .helpers import new_state, run


@pytest.fixture
def state():
    return new_state()


def to_py(state, src):
    return state.to_python(run(state, src)[0], "result")


def roundtrip(state, value):
    fn = run(state, "return function(x) return x end")[0]
    ok, res, _ = state.pcall(fn, state.to_lua(value))
    assert ok
    return state.to_python(res[0], "result")


@pytest.mark.parametrize(
    "src, expected",
    [
        ("return nil", None),
        ("return true", True),
        ("return 'héllo'", "héllo"),
        ("return 42", 42),
        ("return 9007199254740993", 9007199254740993),
        ("return math.maxinteger", 2**63 - 1),
        ("return math.mininteger", -(2**63)),
        ("return 1.0", 1.0),
        ("return 0.5", 0.5),
        ("return {1, 2, 3}", [1, 2, 3]),
        ("return {a = 1, b = {c = 'x'}}", {"a": 1, "b": {"c": "x"}}),
        ("return {}", []),
        ("return {items = {}}", {"items": []}),
        ("return {{1}, {2, {3}}}", [[1], [2, [3]]]),
    ],
)
def test_lua_to_python(state, src, expected):
    got = to_py(state, src)
    assert got == expected
    assert type(got) is type(expected)


def test_float_one_stays_float(state):
    got = to_py(state, "return {i = 1, f = 1.0}")
    assert type(got["i"]) is int and type(got["f"]) is float


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        {"a": {}, "b": []},
        [1, None, 3],
        {"n": [None, None]},
        {"big": 2**63 - 1, "neg": -(2**63), "f": 2.0},
        {"nested": [{"x": [{}]}]},
        "ünïcödé",
    ],
)
def test_python_roundtrip_unchanged(state, value):
    got = roundtrip(state, value)
    assert got == value
    assert _types(got) == _types(value)


def _types(v):
    if isinstance(v, dict):
        return {k: _types(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_types(x) for x in v]
    return type(v).__name__


def test_null_members_round_trip(state):
    assert roundtrip(state, {"a": None, "b": 1}) == {"a": None, "b": 1}
    assert roundtrip(state, {"a": None}) == {"a": None}
    fn = run(state, "return function(x) x.a = 5 return x end")[0]
    ok, res, _ = state.pcall(fn, state.to_lua({"a": None}))
    assert state.to_python(res[0]) == {"a": 5}


@pytest.mark.parametrize("src", ["return '\\xff\\xfe'", "return {ok = 1}, 'x', '\\xff'"])
def test_top_level_invalid_utf8_names_the_path(state, src):
    fn = run(state, "return function() " + src.replace("return ", "return ", 1) + " end")[0]
    ok, res, _ = state.pcall(fn)
    assert ok
    bad = res[-1]
    with pytest.raises(ConversionError, match="result: string is not valid UTF-8"):
        state.to_python(bad, "result")


def test_time_becomes_rfc3339(state):
    got = to_py(state, "local time = M('time') return {t = time.unix(1700000000, 5000000)}")
    assert got == {"t": "2023-11-14T22:13:20.005Z"}


@pytest.mark.parametrize(
    "src, path",
    [
        ("return {items = {1, 2, {a = 1, [1] = 2}}}", "result.items[3]"),
        ("return {items = {1, nil, 3}}", "result.items"),
        ("return {1, 2, x = 3}", "result"),
        ("return {f = function() end}", "result.f"),
        ("return {co = coroutine.create(function() end)}", "result.co"),
        ("return {s = '\\xff\\xfe'}", "result.s"),
        ("return {list = {'ok', '\\xff'}}", "result.list[2]"),
        ("return {x = 0/0}", "result.x"),
        ("return {[1.5] = 1}", "result"),
    ],
)
def test_errors_name_the_path(state, src, path):
    with pytest.raises(ConversionError) as e:
        to_py(state, src)
    assert str(e.value).startswith(path + ":") or str(e.value).startswith(path + "["), str(e.value)


def test_recursive_table_is_an_error(state):
    with pytest.raises(ConversionError, match="recursive"):
        to_py(state, "local t = {} t.self = t return t")


def test_deep_nesting_is_an_error(state):
    with pytest.raises(ConversionError, match="deeper than 128"):
        to_py(state, "local t = {} local c = t for i = 1, 200 do c.x = {} c = c.x end return t")


def test_map_keys_come_out_sorted(state):
    got = to_py(state, "return {zeta = 1, alpha = 2, mid = 3}")
    assert list(got) == ["alpha", "mid", "zeta"]


def test_int_out_of_range_to_lua(state):
    with pytest.raises(ConversionError, match="64 bits"):
        state.to_lua({"n": 2**64})


def test_input_object_stays_object_after_lua_edits(state):
    fn = run(state, "return function(x) x.a.k = 1 x.a.k = nil return x end")[0]
    ok, res, _ = state.pcall(fn, state.to_lua({"a": {}}))
    assert ok
    assert state.to_python(res[0]) == {"a": {}}
