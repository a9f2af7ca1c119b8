"""Workflow start option tables (issue #13, item 3): keys, prefixes, policies, defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

from moonflow.worker._options import OptionError
from moonflow.worker._workflow_options import workflow_options


def test_keys_with_either_prefix_and_the_canonical_one_wins():
    opts = workflow_options(
        {
            "temporal.workflow.id": "legacy",
            "workflow.id": "canonical",
            "temporal.workflow.execution_timeout": "72h",
            "workflow.run_timeout": 1500,  # milliseconds
            "workflow.id_reuse_policy": "WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE",
            "workflow.parent_close_policy": "Abandon",
            "workflow.wait_for_cancellation": True,
            "workflow.retry_policy": {"maximumAttempts": 3, "initial_interval": "2s"},
            "workflow.memo": {"note": "x"},
            "workflow.cron_schedule": "*/5 * * * *",
            "network": "ignored",
        }
    )
    assert opts.id == "canonical"
    assert opts.durations == {
        "execution_timeout": timedelta(hours=72),
        "run_timeout": timedelta(milliseconds=1500),
    }
    kwargs = opts.child_kwargs()
    assert kwargs["id_reuse_policy"] == WorkflowIDReusePolicy.REJECT_DUPLICATE
    assert kwargs["parent_close_policy"] == ParentClosePolicy.ABANDON
    assert kwargs["cancellation_type"] == ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
    assert kwargs["retry_policy"].maximum_attempts == 3
    assert kwargs["retry_policy"].initial_interval == timedelta(seconds=2)
    assert kwargs["memo"] == {"note": "x"} and kwargs["cron_schedule"] == "*/5 * * * *"


@pytest.mark.parametrize(
    "options, conflict",
    [
        ({}, "fail"),  # a generated id
        ({"workflow.id": "x"}, "use_existing"),  # the reference runtime's default
        ({"workflow.id": "x", "workflow.execution_error_when_already_started": True}, "fail"),
        (
            {"workflow.id": "x", "workflow.id_conflict_policy": "terminate_existing"},
            "terminate_existing",
        ),
        (
            {"workflow.id_conflict_policy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"},
            "use_existing",
        ),
    ],
)
def test_the_id_conflict_default(options, conflict):
    opts = workflow_options(options)
    assert opts.conflict == conflict
    assert (
        opts.client_kwargs()["id_conflict_policy"]
        == {
            "fail": WorkflowIDConflictPolicy.FAIL,
            "use_existing": WorkflowIDConflictPolicy.USE_EXISTING,
            "terminate_existing": WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        }[conflict]
    )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"workflow.idd": "x"}, "unknown workflow option 'workflow.idd'"),
        ({"wfid": "x"}, "unknown option 'wfid'"),
        (
            {"workflow.id_conflict_policy": "sometimes"},
            "workflow.id_conflict_policy: unknown value",
        ),
        ({"workflow.execution_timeout": "soon"}, "workflow.execution_timeout"),
        ({"workflow.wait_for_cancellation": "yes"}, "must be true or false"),
        ({"workflow.memo": "x"}, "workflow.memo must be a table"),
        ({"workflow.id": ""}, "workflow.id must be a non-empty string"),
        ({"workflow.retry_policy": {"tries": 1}}, "unknown retry_policy key 'tries'"),
        # values the SDK cannot hold used to fail the parent's workflow task forever
        ({"workflow.execution_timeout": 1e300}, "workflow.execution_timeout: 1e+300 is too long"),
        ({"workflow.run_timeout": 1e17}, "workflow.run_timeout: 1e+17 is too long"),
        (
            {"workflow.execution_timeout": 9223372036854775807},
            "workflow.execution_timeout: 9223372036854775807 is too long",
        ),
        ({"workflow.retry_policy": {"initial_interval": 1e300}}, "initial_interval: 1e+300 is"),
        ({"workflow.retry_policy": {"maximum_attempts": 1e300}}, "from 0 (unlimited) to"),
        ({"workflow.retry_policy": {"backoff_coefficient": 0.5}}, "from 1 to 1000000"),
        ({"workflow.execution_timeout": True}, "workflow.execution_timeout: expected a duration"),
        ({"workflow.request_id": "r" * 201}, "workflow.request_id is too long (201 characters"),
    ],
)
def test_a_bad_option_names_the_key(options, message):
    with pytest.raises(OptionError) as info:
        workflow_options(options)
    assert message in str(info.value)


def test_an_empty_lua_table_is_no_options():
    assert workflow_options([]).id is None


def test_a_numeric_request_id_is_read_as_text():
    assert workflow_options({"workflow.request_id": 5}).request_id == "5"


def test_a_key_is_named_once():
    with pytest.raises(OptionError) as info:
        workflow_options({"workflow.execution_timeout": True})
    assert str(info.value).count("workflow.execution_timeout") == 1
