"""``json.encode`` (lua-api.md §2.8): NaN and infinities become ``null``, and only there - the
conversion rules every other crossing uses (workflow results, activity arguments) keep them an
error."""

from __future__ import annotations

import pytest

from moonflow.lua import ConversionError

from .helpers import FakeWorkflowHost, new_state, run


@pytest.fixture(params=["activity", "workflow"])
def state(request):
    if request.param == "workflow":
        return new_state("workflow", FakeWorkflowHost(1_700_000_000_000_000_000, 7, []))
    return new_state("activity")


def encode(state, expr):
    return run(
        state,
        f"local json = M('json') local s, err = json.encode({expr})\n"
        "if err then return s, err:kind(), err:message() end return s",
    )


@pytest.mark.parametrize("expr", ["0/0", "math.huge", "-math.huge"])
def test_non_finite_numbers_encode_as_null(state, expr):
    assert encode(state, expr) == ["null"]
    assert encode(state, f"{{a = {expr}}}") == ['{"a":null}']


def test_non_finite_numbers_nested(state):
    got = encode(state, "{a = {b = {0/0, 1.5, math.huge}}, c = -math.huge, d = 'x', e = 2}")
    assert got == ['{"a":{"b":[null,1.5,null]},"c":null,"d":"x","e":2}']


def test_other_refusals_are_unchanged(state):
    got = encode(state, "{a = 0/0, f = function() end}")
    assert got[0] is None and got[1] == "Invalid" and "value.f" in got[2]
    got = encode(state, "{1, nil, 3}")
    assert got[0] is None and "sparse" in got[2]


def test_other_conversions_keep_non_finite_numbers_an_error():
    # a workflow result, an activity argument... go through state.to_python: still strict
    st = new_state("workflow", FakeWorkflowHost(0, 1, []))
    value = st.sys.raw.load("return {a = {1, 0/0}}")()
    with pytest.raises(ConversionError, match=r"result\.a\[2\]: nan cannot be encoded as JSON"):
        st.to_python(value, "result")
    with pytest.raises(ConversionError, match="inf cannot be encoded"):
        st.to_python(float("inf"), "result")
