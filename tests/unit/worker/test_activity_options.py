"""Activity option tables -> SDK keyword arguments (worker/_options.py; issue 16 item 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.workflow import ActivityCancellationType

from moonflow.worker._options import OptionError, activity_options


def test_defaults_to_ten_minutes_start_to_close():
    assert activity_options(None) == {"start_to_close_timeout": timedelta(minutes=10)}
    assert activity_options([]) == {"start_to_close_timeout": timedelta(minutes=10)}  # {} in Lua


def test_schedule_to_close_alone_needs_no_start_to_close():
    out = activity_options({"activity.schedule_to_close_timeout": "1m"})
    assert out == {"schedule_to_close_timeout": timedelta(minutes=1)}


def test_every_key_with_either_prefix_and_the_plain_key_wins():
    out = activity_options(
        {
            "temporal.activity.start_to_close_timeout": "5s",
            "activity.start_to_close_timeout": 1500,  # milliseconds
            "temporal.activity.heartbeat_timeout": "2s",
            "activity.schedule_to_start_timeout": "3s",
            "temporal.activity.id": "pay-1",
            "activity.task_queue": "payments",
            "activity.wait_for_cancellation": True,
            "temporal.activity.disable_eager_execution": True,
        }
    )
    assert out["start_to_close_timeout"] == timedelta(milliseconds=1500)
    assert out["heartbeat_timeout"] == timedelta(seconds=2)
    assert out["schedule_to_start_timeout"] == timedelta(seconds=3)
    assert out["activity_id"] == "pay-1"
    assert out["task_queue"] == "payments"
    assert out["cancellation_type"] == ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    assert "disable_eager_execution" not in out  # per worker in the Python SDK


@pytest.mark.parametrize(
    "policy",
    [
        {
            "initial_interval": "10ms",
            "backoff_coefficient": 1.5,
            "maximum_interval": 2000,
            "maximum_attempts": 3,
            "non_retryable_error_types": ["Invalid"],
        },
        {
            "initialInterval": 10,
            "backoffCoefficient": 1.5,
            "maximumInterval": "2s",
            "maximumAttempts": 3,
            "nonRetryableErrorTypes": ["Invalid"],
        },
        {
            "InitialInterval": "10ms",
            "BACKOFF_COEFFICIENT": 1.5,
            "MaximumInterval": "2s",
            "MaximumAttempts": 3,
            "NonRetryableErrorTypes": ["Invalid"],
        },
    ],
    ids=["snake", "camel", "pascal-upper"],
)
def test_retry_policy_in_snake_or_camel_case(policy):
    rp = activity_options({"temporal.activity.retry_policy": policy})["retry_policy"]
    assert rp.initial_interval == timedelta(milliseconds=10)
    assert rp.backoff_coefficient == 1.5
    assert rp.maximum_interval == timedelta(seconds=2)
    assert rp.maximum_attempts == 3
    assert rp.non_retryable_error_types == ["Invalid"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"activity.start_to_close": "1m"}, "unknown activity option 'activity.start_to_close'"),
        ({"activity.start_to_close_timeout": "soon"}, "activity.start_to_close_timeout: "),
        ({"temporal.activity.heartbeat_timeout": True}, "temporal.activity.heartbeat_timeout: "),
        ({"activity.schedule_to_close_timeout": {}}, "activity.schedule_to_close_timeout: "),
        ({"activity.retry_policy": "3 times"}, "activity.retry_policy must be a table"),
        ({"activity.retry_policy": {"tries": 3}}, "unknown activity.retry_policy key 'tries'"),
        (
            {"activity.retry_policy": {"maximum_attempts": -1}},
            "activity.retry_policy.maximum_attempts must be an integer",
        ),
        (
            {"activity.retry_policy": {"initialInterval": "x"}},
            "activity.retry_policy.initial_interval: ",
        ),
        (
            {"activity.retry_policy": {"backoff_coefficient": 0.5}},
            "activity.retry_policy.backoff_coefficient must be a number from 1",
        ),
        (
            {"activity.retry_policy": {"non_retryable_error_types": "Invalid"}},
            "activity.retry_policy.non_retryable_error_types must be a list",
        ),
        ({"activity.wait_for_cancellation": "yes"}, "activity.wait_for_cancellation must be true"),
        ({"activity.id": 42}, "activity.id must be a non-empty string"),
        ({"activity.task_queue": ""}, "activity.task_queue must be a non-empty string"),
        ("fast", "options must be a table"),
    ],
)
def test_a_bad_option_names_the_key(options, message):
    with pytest.raises(OptionError) as raised:
        activity_options(options)
    assert message in str(raised.value)


def test_priority():
    p = activity_options(
        {"activity.priority": {"priorityKey": 2, "fairness_key": "t", "fairness_weight": 2}}
    )["priority"]
    assert (p.priority_key, p.fairness_key, p.fairness_weight) == (2, "t", 2.0)
    with pytest.raises(OptionError, match="activity.priority.priority_key must be a positive"):
        activity_options({"activity.priority": {"priority_key": 0}})
