"""The ``yaml`` Lua module: encode/decode round trips, types Lua lacks, errors with line
numbers, unsafe tags refused, and the bounds against alias bombs (lua-api.md §2.0)."""

from __future__ import annotations

import time

import pytest
import yaml

from moonflow.modules import _yaml
from moonflow.modules._documents import MAX_CONTAINERS

from .helpers import FakeWorkflowHost, new_state, run


@pytest.fixture(params=["activity", "workflow"])
def state(request):
    if request.param == "workflow":
        return new_state("workflow", FakeWorkflowHost(1_700_000_000_000_000_000, 7, []))
    return new_state("activity")


def lua(state, src):
    return run(state, "local yaml = M('yaml')\n" + src)


def decode(state, text):
    """``yaml.decode(text)`` -> ``[value, None, None, None]`` or ``[None, kind, message,
    retryable]``."""
    fn = state.sys.raw.load(
        "local yaml = ...\n"
        "return function(t)\n"
        "  local v, err = yaml.decode(t)\n"
        "  if err then return nil, err:kind(), err:message(), err:retryable() end\n"
        "  return v, nil, nil, nil\n"
        "end",
        "=decode",
        "t",
    )
    return _call(state, fn(state.module("yaml")), text)


def _call(state, fn, *args):
    ok, res, tb = state.pcall(fn, *args)
    assert ok, tb
    return [state.to_python(v, "r") for v in res]


NESTED = {
    "name": "Grüße ✓ 日本",
    "count": 3,
    "ratio": 2.5,
    "whole_float": 1.0,
    "flags": [True, False],
    "nothing": None,
    "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 0, "tags": ["x", "y"]}],
    "empty_map": {},
    "empty_list": [],
    "big": 2**62,
    "negative": -17,
}


def test_decode_encode_round_trip_keeps_types(state):
    text = yaml.safe_dump(NESTED, allow_unicode=True)
    value, err = lua(state, f"return yaml.decode({_lua_string(text)})")
    assert err is None
    assert value == NESTED
    assert type(value["count"]) is int and type(value["whole_float"]) is float
    # and back: Lua -> YAML -> Python gives the same data (numbers keep int vs float)
    [text2, err] = lua(state, f"return yaml.encode(yaml.decode({_lua_string(text)}))")
    assert err is None
    again = yaml.safe_load(text2)
    assert again == NESTED
    assert type(again["whole_float"]) is float and type(again["big"]) is int


def test_encode_is_block_style_with_sorted_keys_and_raw_unicode(state):
    [text, err] = lua(state, "return yaml.encode({zeta = 1, alpha = {1, 2}, mid = 'é✓'})")
    assert err is None
    assert text == "alpha:\n- 1\n- 2\nmid: é✓\nzeta: 1\n"


def test_encode_scalars_and_nil(state):
    assert yaml.safe_load(lua(state, "return yaml.encode('yes')")[0]) == "yes"  # quoted
    assert yaml.safe_load(lua(state, "return yaml.encode(nil)")[0]) is None
    assert yaml.safe_load(lua(state, "return yaml.encode(12)")[0]) == 12
    assert yaml.safe_load(lua(state, "return yaml.encode('2024-01-02')")[0]) == "2024-01-02"


def test_encode_refuses_unconvertible_values_naming_the_path(state):
    v, kind, msg = lua(
        state,
        "local v, err = yaml.encode({a = {b = {1, 2, function() end}}}) "
        "return v, err:kind(), err:message()",
    )
    assert v is None and kind == "Invalid"
    assert "value.a.b[3]" in msg and "function" in msg
    v, kind, msg = lua(
        state, "local v, err = yaml.encode({1, 2, x = 3}) return v, err:kind(), err:message()"
    )
    assert v is None and kind == "Invalid" and "mixes" in msg


def test_yaml_1_1_scalars_and_keys_become_lua_values(state):
    value, kind, *_ = decode(
        state, "on: yes\n2: two\n2.5: x\nnull: z\nhex: 0x1F\nneg: -0.5\ntilde: ~\n"
    )
    assert kind is None
    assert value == {
        "true": True,
        "2": "two",
        "2.5": "x",
        "null": "z",
        "hex": 31,
        "neg": -0.5,
        "tilde": None,  # nil in Lua; the table remembers the key, as json.decode's do
    }
    src = "local v = yaml.decode('[.inf, -.inf, .nan]') return v[1] == math.huge, v[2] < 0, v[3] ~= v[3]"
    assert lua(state, src) == [True, True, True]


def test_keys_that_collide_once_made_strings_are_refused(state):
    value, kind, msg, _ = decode(state, "x: 0\n1: a\n'1': b\n")
    assert value is None and kind == "Invalid"
    assert "two different keys are both '1'" in msg and "line 3" in msg
    value, kind, msg, _ = decode(state, "? [a, b]\n: 1\n")
    assert value is None and kind == "Invalid" and "cannot be a mapping key" in msg


def test_true_and_1_stay_distinct_keys(state):
    # Python dicts would merge them (True == 1); Lua gets both.
    assert decode(state, "true: t\n1: one\n1.0: f\n")[0] == {"true": "t", "1": "one", "1.0": "f"}


def test_a_repeated_key_keeps_the_last_value(state):
    assert decode(state, "a: 1\na: 2\n")[0] == {"a": 2}


def test_timestamps_binary_sets_and_omap(state):
    text = (
        "date: 2024-05-01\n"
        "stamp: 2024-05-01T10:00:00.5Z\n"
        "tagged: !!timestamp 2001-12-14 21:59:43.10 -5\n"
        "blob: !!binary |\n  aGVsbG8g\n  d29ybGQ=\n"
        "set: !!set {b, a}\n"
        "omap: !!omap [x: 1, y: 2]\n"
    )
    value, kind, *_ = decode(state, text)
    assert kind is None
    assert value == {
        "date": "2024-05-01",
        "stamp": "2024-05-01T10:00:00.5Z",
        "tagged": "2001-12-14 21:59:43.10 -5",
        "blob": "aGVsbG8gd29ybGQ=",
        "set": ["b", "a"],
        "omap": [["x", 1], ["y", 2]],
    }


def test_empty_document_is_nil_without_error(state):
    assert decode(state, "") == [None] * 4
    assert decode(state, "# just a comment\n") == [None] * 4


def test_invalid_yaml_reports_line_and_column_on_one_line(state):
    value, kind, msg, retryable = decode(state, "a: 1\nb:\n  c: [1, 2\nd: 4\n")
    assert value is None and kind == "Invalid" and retryable is False
    assert msg.startswith("yaml.decode: ")
    assert "\n" not in msg
    assert "line 4" in msg and "column" in msg, msg
    value, kind, msg, _ = decode(state, "a: 1\n b: 2\n")
    assert kind == "Invalid" and "mapping values are not allowed" in msg and "line 2" in msg


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo pwned']",
        "a: !!python/object:collections.OrderedDict {}",
        "!!python/name:os.system",
        "x: !custom 1",
    ],
)
def test_python_and_unknown_tags_are_refused(state, text):
    value, kind, msg, _ = decode(state, text)
    assert value is None and kind == "Invalid"
    assert "could not determine a constructor" in msg and "line 1" in msg


def test_not_a_string_is_invalid(state):
    v, kind, msg = lua(state, "local v, e = yaml.decode({}) return v, e:kind(), e:message()")
    assert v is None and kind == "Invalid" and "expected a string" in msg
    v, kind = lua(state, "local v, e = yaml.decode(nil, 'extra') return v, e:kind()")
    assert v is None and kind == "Invalid"


def _bomb(levels: int, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast(state):
    started = time.monotonic()
    value, kind, msg, _ = decode(state, _bomb(9))  # 9**10 strings if expanded
    elapsed = time.monotonic() - started
    assert value is None and kind == "Invalid"
    assert "aliases" in msg
    assert elapsed < 10, elapsed


def test_alias_bomb_of_containers_is_refused_by_the_container_bound(state):
    # Few scalars but many tables: each level doubles the number of (empty) maps reached.
    lines = ["c0: &c0 {}"]
    for i in range(1, 20):
        lines.append(f"c{i}: &c{i} [*c{i - 1}, *c{i - 1}]")
    value, kind, msg, _ = decode(state, "\n".join(lines))
    assert value is None and kind == "Invalid"
    assert f"more than {MAX_CONTAINERS} mappings and sequences" in msg


def test_small_aliases_are_expanded(state):
    value, kind, *_ = decode(
        state, "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n"
    )
    assert kind is None
    assert value == {
        "base": {"x": 1, "y": [1, 2]},
        "use": {"x": 1, "y": [1, 2]},
        "merged": {"x": 1, "y": 3},
    }


def test_a_document_that_contains_itself_is_refused(state):
    value, kind, msg, _ = decode(state, "&a [1, *a]")
    assert value is None and kind == "Invalid" and "refers to itself" in msg
    value, kind, msg, _ = decode(state, "&m {self: *m}")
    assert value is None and kind == "Invalid" and "refers to itself" in msg


def test_deep_nesting_and_huge_integers_are_invalid(state):
    value, kind, msg, _ = decode(state, "[" * 2000 + "]" * 2000)
    assert value is None and kind == "Invalid" and "nesting depth" in msg  # libyaml's bound
    value, kind, msg, _ = decode(state, "[" * 600 + "]" * 600)
    assert value is None and kind == "Invalid" and "nested deeper than 512 levels" in msg
    value, kind, *_ = decode(state, "[" * 100 + "]" * 100)
    assert kind is None
    value, kind, msg, _ = decode(state, "n: 123456789012345678901234567890\n")
    assert value is None and kind == "Invalid" and "64 bits" in msg


def test_text_over_the_size_bound_is_refused(monkeypatch, state):
    monkeypatch.setattr(_yaml, "MAX_TEXT_BYTES", 1000)
    value, kind, msg, _ = decode(state, "a: " + "x" * 2000)
    assert value is None and kind == "Invalid" and "longer than 1000 bytes" in msg


def test_the_alias_guard_scales_with_the_text_not_limiting_plain_documents(monkeypatch, state):
    monkeypatch.setattr(_yaml, "MIN_MAX_VALUES", 1000)
    text = "[" + ", ".join(["1"] * 3000) + "]"  # more values than the floor, no aliases
    value, kind, *_ = decode(state, text)
    assert kind is None and len(value) == 3000
    # the same number of values reached through aliases from a short text is refused
    short = "a: &a [" + ", ".join(["1"] * 50) + "]\nb: [" + ", ".join(["*a"] * 60) + "]\n"
    value, kind, msg, _ = decode(state, short)
    assert value is None and kind == "Invalid" and "more than 1000 values" in msg


def test_yaml_in_workflow_code_is_deterministic():
    texts = []
    for seed in (1, 2):
        s = new_state("workflow", FakeWorkflowHost(0, seed, []))
        [text, err] = run(
            s,
            "local yaml = M('yaml') local t = {} for i = 1, 50 do t['k' .. i] = i end "
            "return yaml.encode(t)",
        )
        assert err is None
        texts.append(text)
    assert texts[0] == texts[1]
    assert list(yaml.safe_load(texts[0])) == sorted(f"k{i}" for i in range(1, 51))


def _lua_string(text: str) -> str:
    level = "=" * 5
    assert f"]{level}]" not in text
    return f"[{level}[\n{text}]{level}]"
