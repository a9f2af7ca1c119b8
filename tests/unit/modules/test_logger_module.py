"""The ``logger`` Lua module: levels, fields, children, both call styles, host routing."""

from __future__ import annotations

import logging

import pytest

from moonflow.lua import MachineHost

from .helpers import FakeWorkflowHost, new_state, run


@pytest.fixture
def state():
    return new_state("activity")


def records(state):
    return state.host.records


def lua(state, src):
    return run(state, "local logger = M('logger')\n" + src)


@pytest.mark.parametrize("level", ["debug", "info", "warn", "error"])
def test_levels_method_style(state, level):
    lua(state, f"logger:{level}('hello', {{order_id = 'o-1', total = 12.5}})")
    assert records(state) == [(level, "hello", {"order_id": "o-1", "total": 12.5})]


def test_dot_style_and_no_fields(state):
    lua(state, "logger.info('plain') logger.warn('with', {a = 1})")
    assert records(state) == [("info", "plain", None), ("warn", "with", {"a": 1})]


def test_message_is_tostring_of_any_value(state):
    lua(state, "logger:info(42) logger:info(nil) logger:info(errors.new('boom'))")
    assert [r[1] for r in records(state)] == ["42", "nil", "boom"]


def test_with_merges_fields_and_call_fields_win(state):
    lua(
        state,
        """
        local a = logger:with({service = 'orders', region = 'eu'})
        local b = a:with({region = 'us', step = 1})
        a:info('one')
        b:info('two', {step = 2})
        b.error('three')
        logger:info('root untouched')
    """,
    )
    assert records(state) == [
        ("info", "one", {"service": "orders", "region": "eu"}),
        ("info", "two", {"service": "orders", "region": "us", "step": 2}),
        ("error", "three", {"service": "orders", "region": "us", "step": 1}),
        ("info", "root untouched", None),
    ]


def test_with_copies_fields(state):
    lua(state, "local f = {a = 1} local c = logger:with(f) f.a = 2 f.b = 3 c:info('x')")
    assert records(state) == [("info", "x", {"a": 1})]


def test_named_children_join_names(state):
    lua(
        state,
        """
        local p = logger:named('orders')
        p:info('a')
        p:named('payment'):with({id = 7}):warn('b')
        logger.named('dot'):debug('c')
    """,
    )
    assert records(state) == [
        ("info", "a", {"logger": "orders"}),
        ("warn", "b", {"logger": "orders.payment", "id": 7}),
        ("debug", "c", {"logger": "dot"}),
    ]


@pytest.mark.parametrize("arg", ["''", "nil", "42"])
def test_named_needs_a_non_empty_string(state, arg):
    assert lua(state, f"local c, e = logger:named({arg}) return c, e:kind(), e:retryable()") == [
        None,
        "Invalid",
        False,
    ]


def test_with_needs_a_table(state):
    assert lua(state, "local c, e = logger:with('x') return c, e:kind()") == [None, "Invalid"]
    assert lua(state, "local c = logger:with(nil) c:info('ok') return c ~= nil") == [True]


def test_non_table_fields_are_kept_as_text(state):
    lua(state, "logger:info('m', 'extra')")
    assert records(state) == [("info", "m", {"fields": "extra"})]


def test_binary_message_is_escaped(state):
    lua(state, "logger:info('ok \\255\\0 é')")
    assert records(state) == [("info", "ok \\xFF\x00 \\xC3\\xA9", None)]


def test_logging_never_raises(state):
    def broken(*args):
        raise RuntimeError("sink down")

    state.sys.host.log = broken  # the Lua-side host table modules call
    assert lua(state, "logger:error('x') return 1") == [1]


def test_logger_cannot_be_tampered_with(state):
    assert lua(state, "return getmetatable(logger)") == [False]


def test_works_in_workflow_state():
    state = new_state("workflow", FakeWorkflowHost(1, 1, []))
    run(state, "local logger = M('logger') logger:named('wf'):info('step', {n = 1})")
    assert state.host.records == [("info", "step", {"n": 1, "logger": "wf"})]


def test_default_host_writes_python_logging(caplog):
    host = MachineHost()
    state = new_state("activity", host)
    with caplog.at_level(logging.DEBUG, logger="moonflow.lua"):
        run(state, "M('logger'):with({k = 'v'}):warn('careful')")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", "careful k=v")]


def test_default_host_writes_fields_as_logfmt_and_keeps_them_as_extra(caplog):
    state = new_state("activity", MachineHost())
    with caplog.at_level(logging.DEBUG, logger="moonflow.lua"):
        run(
            state,
            "M('logger'):info('tick', {n = 2, who = 'o-1', note = 'two words', ok = true, "
            "t = {a = 1}, q = 'say \"hi\"'})",
        )
    (record,) = caplog.records
    assert record.getMessage() == (
        'tick n=2 note="two words" ok=true q="say \\"hi\\"" t={"a":1} who=o-1'
    )
    assert record.fields == {
        "n": 2,
        "who": "o-1",
        "note": "two words",
        "ok": True,
        "t": {"a": 1},
        "q": 'say "hi"',
    }
