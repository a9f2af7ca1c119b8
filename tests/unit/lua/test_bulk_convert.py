"""Python -> Lua in one crossing (issue 18 item 2): ``Converter.to_lua`` writes a dict or list as
JSON and Lua decodes it (``sys.decode_json``). The Lua values must be exactly those the
element-by-element conversion (``Converter.build``) makes: same types (``1`` vs ``1.0``), same
markers (``{}`` vs ``[]``, null members, arrays with nulls), same table layout (``#t`` on an
array with holes, raw ``next`` order), and every value the fast path declines must still get
``build``'s error naming the path. The way out (``sys.encode_json``) is covered by
test_convert_fast_path.py.
"""

from __future__ import annotations

import math
import sys

import pytest

from moonflow.lua._convert import _ENCODE, ConversionError
from moonflow.lua._vm import LuaVM

from .helpers import new_state, run

# A Lua description of a value: types, markers, `#t` and the raw `next` order of every table, so
# two values built in the same state compare equal only if Lua sees no difference at all.
_SHAPE = """
local sys, value = ...
local function shape(v, out)
    local t = type(v)
    if t ~= "table" then
        out[#out + 1] = t .. ":" .. (math.type(v) or "") .. ":" .. tostring(v)
        return
    end
    local nulls = sys.nulls[v]
    out[#out + 1] = "{" .. "#" .. #v .. " object=" .. tostring(sys.objects[v])
        .. " length=" .. tostring(sys.lengths[v])
        .. " nulls=" .. (nulls and table.concat(nulls, ",") or "-")
    for k, item in sys.raw.next, v do
        out[#out + 1] = "key " .. type(k) .. (math.type(k) or "") .. ":" .. tostring(k)
        shape(item, out)
    end
    out[#out + 1] = "}"
end
local out = {}
shape(value, out)
return table.concat(out, "\\n")
"""


@pytest.fixture(params=["workflow", "activity"])
def state(request):
    return new_state(request.param)


def _shape(state, value):
    return run(state, _SHAPE, state.sys, value)[0]


def _same_as_build(state, value):
    fast = state.to_lua(value, "p")
    slow = state.convert.build(value, "p")
    assert _shape(state, fast) == _shape(state, slow)
    return fast


VALUES = [
    {},
    [],
    {"a": {}, "b": [], "c": [[]], "d": [{}]},
    {"i": 1, "f": 1.0, "neg": -0.0, "tiny": 5e-324, "big": 1e300, "third": 1 / 3, "e": 1e16},
    [2**63 - 1, -(2**63), 0, -1, 2**53 + 1, 123456789.125],
    {"t": True, "f": False, "s": "", "n": None},
    {"only": None, "nothing": None},
    [None],
    [1, None, 3],
    [None, None, 5, None, 7, 8, 9, None],
    {"list": [None] * 40 + [1] + [None] * 3},
    {"q": 'quote" back\\ slash/ nl\n cr\r tab\t nul\0 bell\x07 del\x7f', "u": "é ✓ 𝄞 \u2028"},
    {'ke"y': 1, "k\\ey": {"n\nl": [1]}, "": 2, "10": 3, "9": 4, "ünï": 5, "a:b,c}d]e": 6},
    ['"', "\\", '\\"', "x\\", '"}', "]", "{", ",", ":", "null", "true", "1"],
    {"tags": ["a", "b"], "nested": {"deeper": {"list": [{"x": 1.5}, {"y": None}]}}},
    {f"k{i}": {"id": i, "name": f"n{i}", "ok": i % 2 == 0, "v": i * 0.5} for i in range(200)},
    list(range(300)),
    (1, "two", (3.0,)),
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_one_crossing_builds_what_the_element_walk_builds(state, value):
    assert state.sys.decode_json(_ENCODE(value).encode()) is not None  # not a fallback
    _same_as_build(state, value)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_values_round_trip(state, value):
    back = state.to_python(state.to_lua(value, "p"), "p")
    expected = _json_like(value)
    assert _typed(back) == _typed(expected)


def test_the_fast_path_is_taken(state):
    # decode_json builds the value itself (not a decline falling back to build)
    text = '{"a":[1,2.0,null,{}],"b":null,"c":"x\\"y"}'
    value = state.sys.decode_json(text.encode())
    assert value is not None
    assert state.to_python(value) == {"a": [1, 2.0, None, {}], "b": None, "c": 'x"y'}


def test_float_one_stays_a_float_in_lua(state):
    got = run(
        state,
        "local v = ... return math.type(v.f), math.type(v.i), v.f",
        state.to_lua({"f": 1.0, "i": 1}),
    )
    assert got == ["float", "integer", 1.0]


def test_array_with_holes_has_the_same_border(state):
    # `#t` of a table with holes depends on how it was built: the fast path must build it alike
    for value in ([1, None, 3], [None, 2, None, 4, 5], [1, 2, None, None, None, 6, 7]):
        fast = state.to_lua(value)
        slow = state.convert.build(value)
        assert run(state, "local a, b = ... return #a, #b", fast, slow) == list(
            run(state, "local a, b = ... return #b, #a", fast, slow)
        )


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": [1, 2**63]}, "p.a[2]"),
        ({"a": {"b": -(2**63) - 1}}, "p.a.b"),
        ([10**30], "p[1]"),
    ],
)
def test_integers_beyond_64_bits_are_declined_and_named(state, value, path):
    text = __import__("json").dumps(value, separators=(",", ":")).encode()
    assert state.sys.decode_json(text) is None  # declined, not read as a float
    with pytest.raises(ConversionError, match=rf"^{path.replace('[', '.').replace(']', '.')}"):
        state.to_lua(value, "p")


def test_a_19_digit_integer_inside_64_bits_stays_an_integer(state):
    got = run(
        state,
        "local v = ... return math.type(v[1]), v[1] == math.maxinteger",
        state.to_lua([9223372036854775807]),
    )
    assert got == ["integer", True]


@pytest.mark.parametrize("x", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_go_the_element_way(state, x):
    value = state.to_lua({"x": x, "y": [x]}, "p")
    got = run(state, "local v = ... return v.x, v.y[1]", value)
    for g in got:
        assert (math.isnan(g) and math.isnan(x)) or g == x


def test_a_python_type_json_lacks_names_its_path(state):
    with pytest.raises(ConversionError, match=r"^p\.a\[2\]: a Python set cannot be passed to Lua"):
        state.to_lua({"a": [1, {1, 2}]}, "p")


def test_bytes_become_text_with_replacements(state):
    value = {"b": b"ok \xff", "ba": [bytearray(b"x")]}
    assert state.to_python(state.to_lua(value)) == {"b": "ok \ufffd", "ba": ["x"]}
    _same_as_build(state, value)


def test_keys_that_are_not_strings_become_their_json_text(state):
    # JSON has string keys only; the SDK's payload converter does the same on the wire, and
    # the element-by-element way (taken here for the integer beyond 64 bits) agrees
    value = {7: "a", 2.5: "b", True: "c", None: None}
    expected = {"7": "a", "2.5": "b", "true": "c", "null": None}
    assert state.to_python(state.to_lua(value)) == expected
    assert state.to_python(state.convert.build(value)) == expected
    with pytest.raises(ConversionError, match=r"^v\.nested\[2\]: integer"):
        state.to_lua({False: 1, "nested": [1, 2**64]}, "v")


def test_a_lone_surrogate_is_refused(state):
    with pytest.raises(ConversionError, match=r"^value\.s: string is not valid UTF-8"):
        state.to_lua({"s": "\ud800"})


def test_deep_nesting(state):
    depth = 500
    value: object = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    lua_value = _same_as_build(state, value)
    back = state.convert.walk(lua_value, "v") if depth < 128 else None
    assert back is None or back == value
    got = run(
        state,
        "local v, n = ... for _ = 1, n do v = v.k or v[1] end return v",
        lua_value,
        depth,
    )
    assert got == ["leaf"]


def test_six_hundred_thousand_empty_tables(state):
    # issue 18: 1.8 MB of {} took seconds element by element (past the SDK's 2 s deadlock
    # detector); they are objects, so they go back out as {}
    value = state.to_lua([{} for _ in range(600_000)], "input 1")
    got = run(
        state,
        "local v, sys = ... return #v, sys.objects[v[1]], sys.objects[v[600000]]",
        value,
        state.sys,
    )
    assert got == [600_000, True, True]


def test_the_value_is_built_outside_the_memory_cap_and_charged_by_its_size():
    vm = LuaVM("activity", 1 << 20)  # a state of its own (pooled ones may have no cap)
    host_state = new_state("activity", max_memory=1 << 20, vm=vm)
    value = [{"i": i, "s": f"item {i}"} for i in range(20_000)]
    size = len(__import__("json").dumps(value))
    with host_state.lock:
        host_state.arm_memory()
        limit = vm.rt.get_max_memory(total=True)
        lua_value = host_state.to_lua(value, "v")
        grown = vm.rt.get_max_memory(total=True) - limit
    assert run(host_state, "return #(...)", lua_value) == [20_000]
    # the cap is raised by what the conversion took: the tables, and at most the JSON text
    # and its pieces besides (bounded by the payload size)
    assert size < grown < 12 * size + (1 << 20)


def _json_like(v):
    if isinstance(v, dict):
        return {str(k): _json_like(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_like(x) for x in v]
    return v


def _typed(v):
    if isinstance(v, dict):
        return ("dict", sorted((k, _typed(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    if isinstance(v, float):
        return ("float", math.copysign(1.0, v), repr(v))
    return (type(v).__name__, v)


assert sys.getrecursionlimit() >= 1000
