"""Errors, heartbeats and client values over Temporal's payload limit (issue 16 item 3, review).

A failure too large for the server never arrived: an activity's completion was dropped and the
workflow waited out the start-to-close timeout (kind ``Timeout``), or the server replaced it
with a bare "Failure exceeds size limit". Now every failure over the limit is replaced at once
by a small one: kind ``Invalid``, not retryable, naming the original kind, the size and the
limit, with the start of the message. A heartbeat over the limit is ``nil, err`` and is not
sent; a client value over it is a one-line ``UsageError`` (the CLI's ``moonflow: error:``).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from moonflow.client._values import check_value
from moonflow.errors import UsageError
from moonflow.worker._payloads import PAYLOAD_LIMIT

from .conftest import activity_entry, workflow_entry
from .test_cli_basic import moonflow_cli, write_tiny_app

pytestmark = pytest.mark.integration

LIMIT_TEXT = f"over the {PAYLOAD_LIMIT}-byte (2.0 MB) payload limit"

ACTS = """\
local errors = require("errors")
local activity = require("activity")
local function conflict()
  return nil, errors.new({kind = "Conflict", message = string.rep("m", 3e6), retryable = true})
end
local function details()
  return nil, errors.new({kind = "Conflict", message = "small", retryable = true,
    details = {blob = string.rep("d", 3e6)}})
end
local function beat()
  local ok, err = activity.heartbeat(string.rep("x", 3e6))
  local small = activity.heartbeat({step = 1})
  return {ok = ok, kind = err and err:kind(), message = err and err:message(),
    retryable = err and err:retryable(), small = small}
end
return { conflict = conflict, details = details, beat = beat }
"""

PY = """\
from moonflow import errors


def conflict():
    raise errors.Error("m" * 3000000, kind="Conflict", retryable=True)
"""

WF = """\
local funcs = require("funcs")
local errors = require("errors")
local function describe(value, err)
  if err then
    return {kind = err:kind(), message = string.sub(err:message(), 1, 2000),
      retryable = err:retryable(), details = err:details()}
  end
  return {value = value}
end
local function main(case)
  local call = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "5m",
    ["activity.retry_policy"] = {maximum_attempts = 3},
  })
  if case == "fail" then
    return nil, errors.new({kind = "Conflict", message = string.rep("w", 3e6)})
  elseif case == "child" then
    return describe(process.exec("app:wf", nil, "fail"))
  end
  return describe(call:call("app:" .. case))
end
return { main = main }
"""


def _app(make_app):
    return make_app(
        workflow_entry("wf", "wf.lua", "[funcs, errors]")
        + activity_entry("conflict", "acts.lua", "conflict", "[errors, activity]")
        + activity_entry("details", "acts.lua", "details", "[errors, activity]")
        + activity_entry("beat", "acts.lua", "beat", "[errors, activity]")
        + """
- name: py_conflict
  kind: function.py
  source: file://acts.py
  method: conflict
  meta: {temporal: {activity: {worker: app:worker}}}
""",
        {"wf.lua": WF, "acts.lua": ACTS, "acts.py": PY},
    )


async def _run(env, app, case):
    async with app.workers(env):
        return await asyncio.wait_for(
            env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[case],
                id=f"payload-err-{case}-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            120,  # without the check the failure is lost: the 5m start-to-close timeout
        )


def _assert_replaced(err, first_char):
    assert (err["kind"], err["retryable"]) == ("Invalid", False), err
    message = err["message"]
    assert message.startswith("an error of kind Conflict was "), message
    assert LIMIT_TEXT in message, message
    assert message.endswith(first_char * 1024 + "..."), message[-80:]
    assert err["details"]["kind"] == "Conflict"
    assert err["details"]["size"] > PAYLOAD_LIMIT
    assert err["details"]["limit"] == PAYLOAD_LIMIT
    # the 3 MB message counted once (it used to say 6291520 bytes: message and chain item)
    size = err["details"]["size"]
    assert 3_000_000 < size < 3_001_000, size
    assert message.startswith(f"an error of kind Conflict was {size} bytes encoded (2.9 MB), "), (
        message[:200]
    )


@pytest.mark.parametrize("case", ["conflict", "py_conflict"])
async def test_an_activity_error_over_the_limit_fails_at_once_with_invalid(dev_env, make_app, case):
    out = await _run(dev_env, _app(make_app), case)
    _assert_replaced(out, "m")


async def test_an_activity_error_with_huge_details_is_invalid(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "details")
    assert (out["kind"], out["retryable"]) == ("Invalid", False), out
    assert out["message"].startswith("an error of kind Conflict was "), out["message"]
    assert LIMIT_TEXT in out["message"]
    assert out["message"].endswith("its message began: small"), out["message"]


async def test_a_workflow_error_over_the_limit_fails_it_with_invalid(dev_env, make_app):
    with pytest.raises(WorkflowFailureError) as raised:
        await _run(dev_env, _app(make_app), "fail")
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Invalid", True)
    assert cause.message.startswith("an error of kind Conflict was "), cause.message[:300]
    assert LIMIT_TEXT in cause.message


async def test_a_child_error_over_the_limit_reaches_the_parent_as_invalid(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "child")
    _assert_replaced(out, "w")


async def test_a_heartbeat_over_the_limit_is_invalid_and_not_sent(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "beat")
    value = out["value"]
    assert value.get("ok") is None, value
    assert (value["kind"], value["retryable"]) == ("Invalid", False), value
    assert value["message"].startswith("activity.heartbeat details: 30000"), value["message"]
    assert LIMIT_TEXT in value["message"]
    assert value["small"] is True  # a small one afterwards still goes


def test_check_value_refuses_a_value_over_the_limit():
    check_value("x" * (PAYLOAD_LIMIT - 100), "input")  # fits
    with pytest.raises(UsageError) as raised:
        check_value({"blob": "x" * 3_000_000}, "values[0]")
    message = str(raised.value)
    assert message.startswith("values[0]: 30000"), message
    assert LIMIT_TEXT in message and "pass a reference" in message


def test_the_cli_refuses_an_input_file_over_the_limit(tmp_path):
    app = write_tiny_app(tmp_path / "tiny", 1)  # the memory server: no port used
    big = tmp_path / "big.json"
    big.write_text(json.dumps("x" * 3_000_000))
    done = moonflow_cli(
        "execute", str(app), "app:ok", "--input-file", str(big), "--server", "memory"
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("moonflow: error: input: 30000"), lines[0]
    assert LIMIT_TEXT in lines[0] and "pass a reference" in lines[0], lines[0]
