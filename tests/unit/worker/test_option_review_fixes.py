"""Child workflow start options refuse what Temporal would refuse in the parent's workflow task
(review of issue 16, item 1): negative durations and retry intervals, a ``maximum_interval``
below the ``initial_interval``, two spellings of one retry key; each error names the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moonflow.worker._options import OptionError
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
