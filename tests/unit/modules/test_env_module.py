"""The ``env`` Lua module (lua-api.md §2.12): the worker's OS environment, read-only, and not
available to workflow code."""

from __future__ import annotations

import os

import pytest

from moonflow.errors import INVALID, NOT_FOUND, PERMISSION_DENIED

from .helpers import FakeWorkflowHost, call, load_entry, new_state, run


@pytest.fixture
def state():
    return new_state("activity")


def lua(state, src):
    return run(state, "local env = M('env')\n" + src)


def result(state, call_src):
    """``v, err = <call>`` -> ``[v, kind, message, retryable]`` (Nones without an error)."""
    return lua(
        state,
        f"local v, err = {call_src}\n"
        "if err then return v, err:kind(), err:message(), err:retryable() end\n"
        "return v, nil, nil, nil",
    )


def test_get_reads_the_worker_environment(state, monkeypatch):
    monkeypatch.setenv("MOONFLOW_TEST_API_URL", "https://api.example.com/v1 ✓")
    assert result(state, "env.get('MOONFLOW_TEST_API_URL')") == [
        "https://api.example.com/v1 ✓",
        None,
        None,
        None,
    ]
    # read when called, not when the module was built
    monkeypatch.setenv("MOONFLOW_TEST_API_URL", "changed")
    assert result(state, "env.get('MOONFLOW_TEST_API_URL')")[0] == "changed"


def test_an_empty_value_is_a_value(state, monkeypatch):
    monkeypatch.setenv("MOONFLOW_TEST_EMPTY", "")
    assert result(state, "env.get('MOONFLOW_TEST_EMPTY')") == ["", None, None, None]


def test_missing_variable_is_not_found_naming_it(state, monkeypatch):
    monkeypatch.delenv("MOONFLOW_TEST_MISSING", raising=False)
    v, kind, msg, retryable = result(state, "env.get('MOONFLOW_TEST_MISSING')")
    assert v is None and kind == NOT_FOUND and retryable is False
    assert "MOONFLOW_TEST_MISSING" in msg and msg.startswith("env.get:")


@pytest.mark.parametrize("arg", ["nil", "42", "{}", "''", "'A=B'"])
def test_bad_keys_are_invalid(state, arg):
    v, kind, msg, _ = result(state, f"env.get({arg})")
    assert v is None and kind == INVALID and msg.startswith("env.get:")


def test_get_all_returns_every_variable(state, monkeypatch):
    monkeypatch.setenv("MOONFLOW_TEST_ONE", "1")
    monkeypatch.setenv("MOONFLOW_TEST_TWO", "zwei")
    [all_vars, err] = lua(state, "return env.get_all()")
    assert err is None
    assert all_vars["MOONFLOW_TEST_ONE"] == "1" and all_vars["MOONFLOW_TEST_TWO"] == "zwei"
    assert all_vars == dict(os.environ)
    assert lua(state, "local t = env.get_all() return type(t), t.MOONFLOW_TEST_TWO") == [
        "table",
        "zwei",
    ]


def test_set_is_refused_and_changes_nothing(state, monkeypatch):
    monkeypatch.setenv("MOONFLOW_TEST_SET", "before")
    ok, kind, msg, retryable = result(state, "env.set('MOONFLOW_TEST_SET', 'after')")
    assert ok is False and kind == PERMISSION_DENIED and retryable is False
    assert "not supported" in msg and "OS environment" in msg
    assert os.environ["MOONFLOW_TEST_SET"] == "before"
    assert result(state, "env.get('MOONFLOW_TEST_SET')")[0] == "before"


def test_env_is_refused_in_workflow_code(tmp_path):
    wf = new_state("workflow", FakeWorkflowHost(0, 1, []))
    # not listable: require fails at run time naming the module and the context
    fn = load_entry(
        wf,
        tmp_path,
        "return function() local ok, e = pcall(require, 'env') return ok, tostring(e) end",
        (),
    )
    ok, message = call(wf, fn)
    assert ok is False
    assert 'require("env")' in message and "not supported in workflow context" in message
    # even listed (the registry refuses that at load, see the integration test), require fails
    with pytest.raises(Exception, match=r"module env is not supported in workflow context"):
        load_entry(wf, tmp_path, "local env = require('env') return function() end", ("env",))
