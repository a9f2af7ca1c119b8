"""Payloads over the server's limit never poison a workflow (issue 16 item 3).

The dev server refuses a payload list over 2 MB (its ``limit.blobSize.error`` default); a
workflow task carrying one would fail, and be retried, forever. So ``funcs.call``,
``process.send`` to a workflow and child starts return ``nil, err`` (kind ``Invalid``, naming
the size and the limit) before anything is sent, and the workflow goes on; an activity result
over the limit fails that activity with ``Invalid``; a workflow result over it fails the
workflow with ``Invalid``.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from moonflow.worker._payloads import PAYLOAD_LIMIT

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

MB = 1024 * 1024

ACTS = """\
local function size(...)
  local n = 0
  for i = 1, select("#", ...) do n = n + #select(i, ...) end
  return n
end
local function big(mb) return string.rep("r", math.floor(mb * 1048576)) end
return { size = size, big = big }
"""

WF = """\
local funcs = require("funcs")
local workflow = require("workflow")
local function describe(value, err)
  if err then return {kind = err:kind(), message = err:message(), retryable = err:retryable()} end
  return {value = value}
end
local function main(case)
  local out = {}
  if case == "one" then
    out.big = describe(funcs.call("app:size", string.rep("x", 3 * 1048576)))
  elseif case == "many" then
    local part = string.rep("y", 800 * 1024)
    out.big = describe(funcs.call("app:size", part, part, part))
  elseif case == "fits" then
    out.big = describe(funcs.call("app:size", string.rep("z", 1048576)))
  elseif case == "result" then
    out.big = describe(funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 3}})
      :call("app:big", 3))
  elseif case == "send" then
    out.big = describe(process.send("{app:temporal_client@app:worker|nobody-" .. case .. "}",
      "topic", string.rep("s", 3 * 1048576)))
  elseif case == "child" then
    out.big = describe(process.exec("app:echo", nil, string.rep("c", 3 * 1048576)))
  elseif case == "own_result" then
    return string.rep("o", 3 * 1048576)
  elseif case == "continue" then
    workflow.continue_as_new("again", string.rep("n", 3 * 1048576))
  end
  -- the workflow goes on: a normal call after the refused one
  out.after = funcs.call("app:size", "after")
  return out
end
return { main = main }
"""

ECHO = """\
local function main(x) return #x end
return { main = main }
"""


def _app(make_app):
    return make_app(
        workflow_entry("wf", "wf.lua", "[funcs, workflow]")
        + workflow_entry("echo", "echo.lua", "[]")
        + activity_entry("size", "acts.lua", "size")
        + activity_entry("big", "acts.lua", "big"),
        {"wf.lua": WF, "acts.lua": ACTS, "echo.lua": ECHO},
    )


async def _run(env, app, case, wid=None):
    async with app.workers(env):
        return await asyncio.wait_for(
            env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[case],
                id=wid or f"payload-{case}-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            120,
        )


def _assert_refused(out, what):
    big = out["big"]
    assert (big.get("kind"), big.get("retryable")) == ("Invalid", False), big
    assert big["message"].startswith(what), big["message"]
    assert f"over the {PAYLOAD_LIMIT}-byte (2.0 MB) payload limit" in big["message"]
    assert out["after"] == 5  # #"after": the workflow went on and completed


@pytest.mark.parametrize(
    ("case", "what"),
    [
        ("one", "funcs.call(app:size) arguments: 31457"),  # 3 MB and some bytes of JSON
        ("many", "funcs.call(app:size) arguments: 24577"),  # three 800 KB arguments
    ],
)
async def test_a_call_over_the_limit_is_invalid_and_nothing_is_scheduled(
    dev_env, make_app, case, what
):
    app = _app(make_app)
    wid = f"payload-{case}-{uuid.uuid4()}"
    out = await _run(dev_env, app, case, wid)
    _assert_refused(out, what)
    events = await history_events(dev_env, wid)
    scheduled = [e for e in events if "activityTaskScheduledEventAttributes" in e]
    assert len(scheduled) == 1  # only the small call after it
    failed = [e for e in events if "workflowTaskFailedEventAttributes" in e]
    assert not failed, failed


async def test_a_call_under_the_limit_goes_through(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "fits")
    assert out == {"big": {"value": MB}, "after": 5}


async def test_an_activity_result_over_the_limit_fails_the_activity_with_invalid(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "result")
    _assert_refused(out, "activity app:big result: 31457")


async def test_process_send_over_the_limit_is_invalid(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "send")
    _assert_refused(out, 'process.send(topic "topic") values: 31457')


async def test_a_child_start_over_the_limit_is_invalid(dev_env, make_app):
    out = await _run(dev_env, _app(make_app), "child")
    _assert_refused(out, "process.exec(app:echo): input: 31457")


@pytest.mark.parametrize(
    ("case", "what"),
    [("own_result", "workflow result: 31457"), ("continue", "continue_as_new arguments: 31457")],
)
async def test_a_workflow_result_over_the_limit_fails_the_workflow_with_invalid(
    dev_env, make_app, case, what
):
    app = _app(make_app)
    with pytest.raises(WorkflowFailureError) as raised:
        await _run(dev_env, app, case)
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Invalid", True)
    assert cause.message.startswith(what), cause.message
    assert "payload limit" in cause.message
