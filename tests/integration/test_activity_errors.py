"""Activity failures as a Lua workflow sees them (issue 16 item 2): ``err:kind()``,
``err:retryable()``, ``err:message()``, ``err:details()`` for each failure mode, with the
number of attempts counted by the activity itself (``_hit_counter.py``); and one error's trip
activity -> workflow -> parent workflow -> client with its kind, message, retryable flag and
details intact.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from moonflow.worker._failures import application_error_info

from ._hit_counter import ATTEMPT_LUA, hit_counter
from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

ACTS = (
    ATTEMPT_LUA
    + """\
local time = require("time")
local function typed(url, key)
  local n = attempt(url, key)
  return nil, errors.new({kind = errors.CONFLICT, message = "out of stock", retryable = false,
    details = {sku = "A-1", attempt = n}})
end
local function raises(url, key)
  attempt(url, key)
  local t = nil
  return t.field
end
local function plain(url, key)
  attempt(url, key)
  return nil, "card declined"
end
local function nap(url, key, ms)
  attempt(url, key)
  time.sleep(ms * 1000000)
  return "woke"
end
return { typed = typed, raises = raises, plain = plain, nap = nap }
"""
)

WF = """\
local funcs = require("funcs")
local function main(url, key, target, options, ...)
  local value, err = funcs.new():with_options(options or {}):call(target, url, key, ...)
  if not err then return {value = value} end
  return {kind = err:kind(), message = err:message(), retryable = err:retryable(),
    details = err:details()}
end
return { main = main }
"""

#: no retry policy: Temporal's default (unlimited attempts) applies
DEFAULT_POLICY = None


def _app(make_app):
    entries = workflow_entry("wf", "wf.lua", "[funcs]") + workflow_entry(
        "other_wf", "wf.lua", "[funcs]"
    )
    for name in ("typed", "raises", "plain", "nap"):
        entries += activity_entry(name, "acts.lua", name, "[http_client, errors, time]")
    return make_app(entries, {"wf.lua": WF, "acts.lua": ACTS})


async def _run(env, app, *args, wid=None):
    async with app.workers(env):
        return await asyncio.wait_for(
            env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=list(args),
                id=wid or f"errs-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            120,
        )


async def test_return_nil_err_keeps_kind_message_retryable_and_details(dev_env, make_app):
    app = _app(make_app)
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "t", "app:typed", DEFAULT_POLICY)
        assert counter.hits["t"] == 1  # not retryable: no second attempt under the default policy
    assert out == {
        "kind": "Conflict",
        "message": "out of stock",
        "retryable": False,
        "details": {"sku": "A-1", "attempt": 1},
    }


async def test_an_uncaught_lua_error_is_internal_with_file_line_and_not_retried(dev_env, make_app):
    app = _app(make_app)
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "r", "app:raises", DEFAULT_POLICY)
        assert counter.hits["r"] == 1
    assert (out["kind"], out["retryable"]) == ("Internal", False)
    line = ACTS.splitlines().index("  return t.field") + 1
    assert out["message"].startswith(f"acts.lua:{line}: "), out["message"]
    assert "attempt to index a nil value" in out["message"]


async def test_return_nil_plain_text_follows_the_workflow_rule(dev_env, make_app):
    # as in workflows (lua/_outcome.py): no kind -> Internal, and not retryable, so the
    # default policy does not retry it forever
    app = _app(make_app)
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "p", "app:plain", DEFAULT_POLICY)
        assert counter.hits["p"] == 1
    assert out == {"kind": "Internal", "message": "card declined", "retryable": False}


async def test_an_unregistered_activity_type_is_scheduled_and_retryable_not_found(
    dev_env, make_app
):
    app = _app(make_app)
    wid = f"unregistered-{uuid.uuid4()}"
    once = {"activity.retry_policy": {"maximum_attempts": 1}}
    out = await _run(dev_env, app, None, None, "app:nowhere", once, wid=wid)
    assert (out["kind"], out["retryable"]) == ("NotFound", True), out
    assert "app:nowhere" in out["message"]
    events = await history_events(dev_env, wid)
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled == ["app:nowhere"]  # another deployment could have served it


async def test_an_entry_that_is_not_an_activity_is_not_found_without_scheduling(dev_env, make_app):
    app = _app(make_app)
    wid = f"not-activity-{uuid.uuid4()}"
    out = await _run(dev_env, app, None, None, "app:other_wf", DEFAULT_POLICY, wid=wid)
    assert (out["kind"], out["retryable"]) == ("NotFound", False), out
    assert "app:other_wf is a workflow.lua entry, not an activity" in out["message"]
    events = await history_events(dev_env, wid)
    assert not [e for e in events if "activityTaskScheduledEventAttributes" in e]


@pytest.mark.parametrize(
    ("options", "timeout_type"),
    [
        ({"activity.start_to_close_timeout": "1s"}, "start_to_close"),
        ({"activity.schedule_to_close_timeout": "1500ms"}, "schedule_to_close"),
        # a task queue no worker polls: the task is never started
        (
            {"activity.schedule_to_start_timeout": "1s", "activity.task_queue": "nobody-polls"},
            "schedule_to_start",
        ),
    ],
)
async def test_a_timeout_is_kind_timeout_with_its_type(dev_env, make_app, options, timeout_type):
    app = _app(make_app)
    options = {**options, "activity.retry_policy": {"maximum_attempts": 1}}
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "n", "app:nap", options, 30_000)
    assert out["kind"] == "Timeout", out
    assert out["retryable"] is False
    assert out["details"] == {"timeout_type": timeout_type}


CHAIN_CHILD = """\
local funcs = require("funcs")
local function main()
  local _, err = funcs.call("app:typed_plain")
  return nil, err
end
return { main = main }
"""

CHAIN_PARENT = """\
local function main()
  local _, err = process.exec("app:child", nil)
  -- the parent sees the activity's error as it was, and passes it on
  assert(err:kind() == "Conflict", err:kind())
  return nil, err
end
return { main = main }
"""

CHAIN_ACT = """\
local function typed_plain()
  return nil, errors.new({kind = errors.CONFLICT, message = "out of stock", retryable = false,
    details = {sku = "A-1", lines = {1, 2}}})
end
return { typed_plain = typed_plain }
"""


async def test_an_error_travels_activity_workflow_parent_client_intact(dev_env, make_app):
    app = make_app(
        workflow_entry("parent", "parent.lua", "[funcs]")
        + workflow_entry("child", "child.lua", "[funcs]")
        + activity_entry("typed_plain", "act.lua", "typed_plain", "[errors]"),
        {"parent.lua": CHAIN_PARENT, "child.lua": CHAIN_CHILD, "act.lua": CHAIN_ACT},
    )
    async with app.workers(dev_env):
        with pytest.raises(WorkflowFailureError) as raised:
            await asyncio.wait_for(
                dev_env.client.execute_workflow(
                    app.app.workflow_type("app:parent"),
                    id=f"chain-{uuid.uuid4()}",
                    task_queue=app.task_queue,
                ),
                120,
            )
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Conflict", True)
    info = application_error_info(cause)
    assert (info.kind, info.message, info.retryable) == ("Conflict", "out of stock", False)
    assert info.details == {"sku": "A-1", "lines": [1, 2]}
