"""The quickest way into Lua (issue 18 item 2): ``Converter.to_lua`` turns the JSON text of a dict
or list into a Lua chunk with byte replacements only and lets Lua's parser read it
(``sys.load_json``). The tables must be exactly the element-by-element conversion's (types,
markers, ``#t``, raw ``next`` order), and every text the replacements would get wrong (a bracket
inside a string, 19+ digit integers, nesting Lua's parser refuses) must be declined, the value
then taking ``sys.decode_json`` or ``build``.
"""

from __future__ import annotations

import pytest

from moonflow.lua._convert import _BRACKETS_IN_STRINGS, _ENCODE_LUA, ConversionError

from .helpers import new_state, run
from .test_bulk_convert import _SHAPE


@pytest.fixture(params=["workflow", "activity"])
def state(request):
    return new_state(request.param)


def _shape(state, value):
    return run(state, _SHAPE, state.sys, value)[0]


def _quick(state, value):
    """What the quick way makes of value (None when it declines)."""
    return state.convert._load_source(_ENCODE_LUA(value).encode())


TAKEN = [
    {},
    [],
    {"a": {}, "b": [], "c": [[]], "d": [{}]},
    {"i": 1, "f": 1.0, "neg": -0.0, "tiny": 5e-324, "big": 1e300, "third": 1 / 3, "e": 1e16},
    [2**53 + 1, -(2**53), 0, -1, 123456789.125, 1e-7],
    {"t": True, "f": False, "s": "", "n": None},
    {"only": None, "nothing": None},
    [None],
    [1, None, 3],
    [None, None, 5, None, 7, 8, 9, None],
    {"list": [None] * 40 + [1] + [None] * 3},
    {"q": 'quote" back\\ slash/ nl\n cr\r tab\t nul\0 bell\x07 del\x7f', "u": "é ✓ 𝄞 \u2028"},
    {"\\u0041": "\\\\u00e9", "x\\": '\\"', "ctl\x01\x1f": "\\\x02"},
    {'ke"y': 1, "k\\ey": {"n\nl": [1]}, "": 2, "10": 3, "9": 4, "ünï": 5, "a:b,c}d": 6},
    {"null": "null", "true": "O", "A": "false", "local": "return"},
    {"tags": ["a", "b"], "nested": {"deeper": {"list": [{"x": 1.5}, {"y": None}]}}},
    {f"k{i}": {"id": i, "name": f"n{i}", "ok": i % 2 == 0, "v": i * 0.5} for i in range(200)},
    list(range(300)),
    [{} for _ in range(1000)],
    (1, "two", (3.0,)),
]


@pytest.mark.parametrize("value", TAKEN, ids=range(len(TAKEN)))
def test_the_quick_way_builds_what_the_element_walk_builds(state, value):
    quick = _quick(state, value)
    assert quick is not None, "declined"
    assert _shape(state, quick) == _shape(state, state.convert.build(value, "p"))
    assert _shape(state, state.to_lua(value)) == _shape(state, quick)


BRACKETS = [
    ["[", 1],
    {"a": "x]"},
    {"k{": 1},
    [{"a": "{"}],
    {"nested": [["a[0]"]], "q": 'say "[hi]"', "b": "back\\[slash]\\"},
    {"log": "[INFO] {user} said ]["},
]


@pytest.mark.parametrize("value", BRACKETS, ids=range(len(BRACKETS)))
def test_brackets_inside_strings_are_caught_and_rewritten_around_the_strings(state, value):
    data = _ENCODE_LUA(value).encode()
    assert state.convert._load_source(data) is _BRACKETS_IN_STRINGS
    aware = state.convert._load_source(data, strings_aware=True)
    expected = _shape(state, state.convert.build(value, "p"))
    assert _shape(state, aware) == expected
    assert _shape(state, state.to_lua(value)) == expected
    assert state.convert._aware_for > 0  # the next values of this state go around strings


def test_values_after_one_with_brackets_in_strings(state):
    state.to_lua({"s": "[x]"})
    for i in range(40):  # whichever way each takes: the same tables
        value = {"i": i, "l": [i, None], "s": "[y]" if i == 20 else "y"}
        assert _shape(state, state.to_lua(value)) == _shape(state, state.convert.build(value))
    assert state.convert._aware_for == 0


@pytest.mark.parametrize(
    "value",
    [
        [9223372036854775807, -9223372036854775808],
        [1234567890123456789],
        {"s": "1234567890123456789"},  # digits in a string: declined too, harmlessly
    ],
)
def test_long_integers_are_left_to_the_json_decoder(state, value):
    assert _quick(state, value) is None
    got = state.to_lua(value)
    assert _shape(state, got) == _shape(state, state.convert.build(value, "p"))


def test_the_smallest_integer_stays_an_integer(state):
    got = run(
        state,
        "local v = ... return math.type(v[1]), v[1] == math.mininteger, math.type(v[2])",
        state.to_lua([-(2**63), 2**63 - 1]),
    )
    assert got == ["integer", True, "integer"]


def test_nesting_lua_cannot_parse_goes_the_other_way(state):
    value: object = 1
    for _ in range(300):
        value = [value]
    assert _quick(state, value) is None
    got = run(state, "local v = ... for _ = 1, 300 do v = v[1] end return v", state.to_lua(value))
    assert got == [1]


def test_a_long_array_of_objects_with_nulls(state):
    value = [{"i": i, "n": None, "l": [i, None]} for i in range(5000)]
    quick = _quick(state, value)
    assert quick is not None
    assert state.to_python(quick) == value
    got = run(
        state,
        "local v, sys = ... return #v, sys.nulls[v[5000]][1], sys.lengths[v[1].l], #v[3].l",
        quick,
        state.sys,
    )
    assert got == [5000, "n", 2, 1]


def test_errors_still_name_the_path(state):
    with pytest.raises(ConversionError, match=r"^p\.a\[2\]: integer"):
        state.to_lua({"a": [1, 2**64]}, "p")
    with pytest.raises(ConversionError, match=r"^p\.s: a Python set"):
        state.to_lua({"s": {1}}, "p")


def test_lone_surrogates_and_cycles_are_conversion_errors_naming_the_path(state):
    # JSON's "\ud800" decodes to a lone surrogate, which has no UTF-8 form: before, a bare
    # UnicodeEncodeError (or RecursionError for a value containing itself) left to_lua
    with pytest.raises(
        ConversionError,
        match=r"^value\.a\[2\]: string is not valid UTF-8"
        r": it holds a lone UTF-16 surrogate \(U\+D800 at character 1; a JSON \\u escape",
    ):
        state.to_lua({"a": ["ok", "x\ud800"]})
    with pytest.raises(ConversionError, match=r"^value\[<key>\]: string is not valid UTF-8"):
        state.to_lua({"\udfff": 1})
    with pytest.raises(ConversionError, match=r"^argument 1: string is not valid UTF-8"):
        state.to_lua("\ud800", "argument 1")
    looped: list = [1]
    looped.append(looped)
    with pytest.raises(ConversionError, match=r"^value: the value contains itself"):
        state.to_lua(looped)
