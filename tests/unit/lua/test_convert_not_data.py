"""Values that are not data leave Lua as one clear error in Lua's words (issue 14, a newcomer's
report): table keys spelled as Lua writes them (``true``, not Python's ``True``), a coroutine
named a coroutine, and channels, select cases, timers and tickers named as what they are (their
fields are machinery: never converted, never named). A Payload (``msg:payload()``) converts as
the value it holds, on the quick and on the careful way alike."""

from __future__ import annotations

import pytest

from moonflow.lua._convert import ConversionError

from .helpers import new_state, run


@pytest.fixture
def state():
    return new_state("workflow")


def to_py(state, src):
    return state.to_python(run(state, src)[0], "result")


@pytest.mark.parametrize(
    "src, message",
    [
        ("return {[true] = 'a'}", "result: table key true is not a string or an index"),
        ("return {[1.5] = 1}", "result: table key 1.5 is not a string or an index"),
        ("return {[2^63] = 1}", "result: table key 9.2233720368548e+18 is not a string"),
        # which key is met first depends on the table's `next` order: only the spelling counts
        ("return {a = 1, [false] = 2}", "key false"),
        ("return {[5] = 1, [2.5] = 2}", "key 2.5"),
        ("return {1, x = 2}", 'mixes integer keys and string keys (key "x")'),  # array part first
        ("return {[{}] = 1}", "result: table key a table is not a string or an index"),
        (
            "return {co = coroutine.create(function() end)}",
            "result.co: a coroutine (thread) cannot be converted to JSON",
        ),
        ("return {f = print}", "result.f: a function cannot be converted to JSON"),
        (
            "return {list = {1, channel.new(0)}}",
            "result.list[2]: a channel cannot be converted to JSON (send the values it carries",
        ),
        (
            "return {c = channel.new(1):case_send(1)}",
            "result.c: a select case cannot be converted to JSON (",
        ),
        (
            "local time = M('time') return {t = time.timer('1s')}",
            "result.t: a timer cannot be converted to JSON (send a Time or a Duration instead)",
        ),
    ],
)
def test_what_is_not_data_is_named_in_lua_words(state, src, message):
    with pytest.raises(ConversionError) as e:
        to_py(state, src)
    assert message in str(e.value), str(e.value)
    assert "True" not in str(e.value) and "'" not in str(e.value)
    assert "_buf" not in str(e.value) and "._" not in str(e.value)


def test_a_top_level_coroutine_is_named_a_coroutine(state):
    with pytest.raises(ConversionError, match=r"^result: a coroutine \(thread\) cannot"):
        to_py(state, "return coroutine.create(function() end)")


def _payload(state, src):
    """The value of ``src`` (Lua returning a table) with ``P(v)`` making a Payload."""
    state.module("process")
    env = state.new_env()
    env["P"] = state.sys.new_payload
    env["M"] = state.module
    fn = state.sys.raw.load(src, "=snippet", "t", env)
    ok, res, _ = state.pcall(fn)
    assert ok, res
    return res[0]


def test_a_payload_converts_as_the_value_it_holds(state):
    value = _payload(state, "return {p = P({a = {1, 2.5, 'x'}}), n = P(nil), s = P('s')}")
    want = {"n": None, "p": {"a": [1, 2.5, "x"]}, "s": "s"}
    assert state.to_python(value, "result") == want
    assert state.convert.walk(value, "result") == want  # the careful walk agrees


@pytest.mark.parametrize(
    "src, message",
    [
        ("local p = P(1) rawset(p, '_v', {p}) return {p}", "recursive table"),
        ("local p = P(1) rawset(p, '_v', p) return {p}", "nested deeper than 128"),
    ],
)
def test_a_payload_holding_itself_is_an_error_not_a_hang(state, src, message):
    with pytest.raises(ConversionError, match=message):
        state.to_python(_payload(state, src), "result")


def test_a_payload_holding_a_channel_names_the_path(state):
    value = _payload(state, "return {p = P({c = channel.new(0)})}")
    with pytest.raises(ConversionError, match=r"^result\.p\.c: a channel cannot be converted"):
        state.to_python(value, "result")
