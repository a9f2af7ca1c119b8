"""The one set of result rules (lua/_outcome.py): what `return ...` means for a run."""

from __future__ import annotations

import pytest

from moonflow.lua._outcome import returned

from .helpers import new_state


def _returned(context: str, body: str):
    state = new_state(context)
    fn = state.sys.raw.load(f"return function() {body} end", "=r.lua", "t", state.new_env())()
    ok, packed, tb = state.vm.protected_call(fn)
    assert ok, tb
    return returned(state, packed, "workflow result")


@pytest.mark.parametrize("context", ["workflow", "activity"])
@pytest.mark.parametrize(
    "body, message",
    [
        ('return nil, "plain text"', "plain text"),
        ('return nil, "bad \\255 byte"', "bad \ufffd byte"),  # not UTF-8: still the message
        ("return nil, 42", "42"),
        ("return nil, {code = 7}", 'error value {"code": 7}'),
        ("return nil, false", "false"),
    ],
)
def test_nil_and_anything_is_a_failure_never_a_success(context, body, message):
    outcome = _returned(context, body)
    assert not outcome.ok
    assert outcome.error is not None
    assert (outcome.error.kind, outcome.error.message, outcome.error.retryable) == (
        "Internal",
        message,
        False,
    )


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_an_error_object_keeps_its_kind_and_flag(context):
    outcome = _returned(context, 'return nil, errors.new({kind = "Unavailable", message = "m"})')
    assert not outcome.ok and outcome.error is not None
    assert (outcome.error.kind, outcome.error.message) == ("Unavailable", "m")


@pytest.mark.parametrize(
    "body, value",
    [("return {a = 1}", {"a": 1}), ("return", None), ("return 5, nil", 5), ("return nil", None)],
)
def test_success(body, value):
    outcome = _returned("activity", body)
    assert outcome.ok and outcome.value == value
