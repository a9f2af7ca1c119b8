"""The Lua `errors` module (issue 2 §4, lua-api.md §2.5)."""

from __future__ import annotations

import pytest

from .helpers import new_state, run, run_error


@pytest.fixture
def state():
    return new_state()


def py(state, src):
    return state.to_python(run(state, src)[0], "result")


def test_constants_are_camel_case(state):
    got = py(
        state,
        "return {errors.NOT_FOUND, errors.INVALID, errors.TIMEOUT, errors.RATE_LIMITED,"
        " errors.ALREADY_EXISTS, errors.PERMISSION_DENIED, errors.UNAVAILABLE,"
        " errors.INTERNAL, errors.CANCELED, errors.CONFLICT}",
    )
    assert got == [
        "NotFound",
        "Invalid",
        "Timeout",
        "RateLimited",
        "AlreadyExists",
        "PermissionDenied",
        "Unavailable",
        "Internal",
        "Canceled",
        "Conflict",
    ]
    assert py(state, "return errors.UNKNOWN") == ""


def test_new_forms(state):
    got = py(
        state,
        """
        local a = errors.new("plain")
        local b = errors.new({kind = errors.NOT_FOUND, message = "m", retryable = false, details = {x = 1}})
        local c = errors.new("TIMEOUT", "payment not received")
        return {
          {a:kind(), a:message(), a:retryable() == nil, tostring(a)},
          {b:kind(), b:message(), b:retryable(), b:details().x},
          {c:kind(), c:message(), tostring(c)},
        }""",
    )
    assert got == [
        ["", "plain", True, "plain"],
        ["NotFound", "m", False, 1],
        ["Timeout", "payment not received", "payment not received"],
    ]


def test_wrap_and_is(state):
    got = py(
        state,
        """
        local base = errors.new({kind = errors.TIMEOUT, message = "slow", retryable = true})
        local w = errors.wrap(base, "charging")
        return {w:kind(), w:message(), w:retryable(), errors.is(w, errors.TIMEOUT),
                errors.is(w, "TIMEOUT"), errors.is(w, errors.INVALID), errors.unwrap(w) == base}""",
    )
    assert got == ["Timeout", "charging: slow", True, True, True, False, True]


def test_table_form_needs_message(state):
    assert "needs a message" in run_error(state, "errors.new({kind = 'Invalid'})")


def test_error_objects_cannot_be_tampered(state):
    assert py(state, "return getmetatable(errors.new('x'))") is False


def test_error_info_from_lua(state):
    err = run(state, "return errors.new({kind = 'Conflict', message = 'busy', retryable = true})")[
        0
    ]
    info = state.error_info(err)
    assert (info.kind, info.message, info.retryable) == ("Conflict", "busy", True)
    info2 = state.error_info("file.lua:3: boom")
    assert (info2.kind, info2.message) == ("Internal", "file.lua:3: boom")


def test_the_positional_form_keeps_retryable_and_details():
    from .helpers import new_state, run

    state = new_state("activity")
    assert run(
        state,
        "local e = errors.new('NotFound', 'gone', true, {id = 7})\n"
        "local d = errors.new('NotFound', 'gone')\n"
        "return e:kind(), e:retryable(), e:details().id, d:retryable() == nil",
    ) == ["NotFound", True, 7, True]
