"""Child workflow start options refuse what Temporal would refuse in the parent's workflow task
(review of issue 16, item 1): negative durations and retry intervals, a ``maximum_interval``
below the ``initial_interval``, two spellings of one retry key; each error names the key."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from temporalio.exceptions import ApplicationError

from moonflow.worker._failures import application_error_info, from_exception
from moonflow.worker._options import OptionError, activity_options
from moonflow.worker._python_activity import arguments_error
from moonflow.worker._workflow_options import workflow_options


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"workflow.execution_timeout": "-1s"}, "workflow.execution_timeout must not be negative"),
        ({"workflow.run_timeout": -5}, "workflow.run_timeout must not be negative"),
        (
            {"workflow.retry_policy": {"initial_interval": -1}},
            "workflow.retry_policy.initial_interval must not be negative",
        ),
        (
            {"temporal.workflow.retry_policy": {"maximum_interval": "-1s"}},
            "temporal.workflow.retry_policy.maximum_interval must not be negative",
        ),
        (
            {"workflow.retry_policy": {"initial_interval": "5s", "maximum_interval": "1s"}},
            "workflow.retry_policy.maximum_interval (1s) must not be less than "
            "workflow.retry_policy.initial_interval (5s)",
        ),
        (
            {"workflow.retry_policy": {"maximum_attempts": 2, "MaximumAttempts": 3}},
            "workflow.retry_policy: MaximumAttempts and maximum_attempts both set maximum_attempts",
        ),
    ],
)
def test_child_start_options_temporal_refuses_name_the_key(options, named):
    with pytest.raises(OptionError) as e:
        workflow_options(options)
    assert named in str(e.value)


def test_zero_retry_intervals_are_temporals_defaults():
    policy = workflow_options(
        {"workflow.retry_policy": {"initial_interval": 0, "maximum_interval": "0s"}}
    ).retry_policy
    assert policy is not None
    assert policy.maximum_interval in (None, timedelta(0))


# Second review of issue 16, item 4: a number is milliseconds, so 0.5 was a 0.5 ms timeout
# that expired on every attempt, forever. Nonzero durations under 1 ms are refused.
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"activity.start_to_close_timeout": 0.5}, "activity.start_to_close_timeout: 0.5 is"),
        ({"temporal.activity.heartbeat_timeout": "500us"}, "activity.heartbeat_timeout: '500us'"),
        (
            {"activity.retry_policy": {"initial_interval": 0.25}},
            "activity.retry_policy.initial_interval: 0.25 is",
        ),
    ],
)
def test_activity_durations_under_a_millisecond_are_invalid(options, named):
    with pytest.raises(OptionError) as e:
        activity_options(options)
    assert named in str(e.value)
    assert "under 1 millisecond" in str(e.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"workflow.execution_timeout": 0.5}, "workflow.execution_timeout: 0.5 is"),
        (
            {"workflow.retry_policy": {"maximum_interval": 0.9}},
            "workflow.retry_policy.maximum_interval: 0.9 is",
        ),
    ],
)
def test_child_durations_under_a_millisecond_are_invalid(options, named):
    with pytest.raises(OptionError) as e:
        workflow_options(options)
    assert named in str(e.value)
    assert "numbers are milliseconds; for" in str(e.value)


def test_zero_and_one_millisecond_are_still_accepted():
    assert activity_options({"activity.start_to_close_timeout": 1})[
        "start_to_close_timeout"
    ] == timedelta(milliseconds=1)
    assert workflow_options({"workflow.run_timeout": 0}).durations.get("run_timeout") in (
        None,
        timedelta(0),
    )


# Second review of issue 16, item 1: a failure with no type (made by the SDK or the server,
# e.g. a payload its encoder refused) reached Lua with an empty kind.
def test_a_failure_without_type_is_internal_not_an_empty_kind():
    info = application_error_info(ApplicationError("[TMPRL1103] too big"))
    assert info.kind == "Internal"
    assert info.retryable is True
    info = from_exception(ApplicationError("plain", type=""))
    assert info.kind == "Internal"


# Second review of issue 16, item 5: "takes at least 1 arguments"
def test_python_arity_message_grammar():
    def var(a, *rest, k=1):
        return a

    def two(a, b):
        return a

    def one_or_two(a, b=2):
        return a

    def code(fn):
        entry = SimpleNamespace(id="app:fn", root=None)
        return SimpleNamespace(function=fn, entry=entry, method=fn.__name__)

    bad = arguments_error(code(var), [])
    assert bad is not None and "takes at least 1 argument (a), called with 0: " in bad.message
    bad = arguments_error(code(two), [1])
    assert bad is not None and "takes 2 arguments (a, b), called with 1: " in bad.message
    bad = arguments_error(code(one_or_two), [])
    assert bad is not None and "takes 1 to 2 arguments (a, b), called with 0" in bad.message
