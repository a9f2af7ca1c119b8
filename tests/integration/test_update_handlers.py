"""Issue 17 item 14: a workflow that ends while an update handler still runs.

The handler here is a coroutine that acks an update, works for a while, then answers. When the
workflow returns (or continues as new) first, the worker logs a warning naming the update and
its id, and the caller (moonflow.client.update, the real client) gets kind ``Unavailable``
with a message saying what happened, instead of Temporal's bare "Workflow completed before the
Update completed". ``workflow.wait_handlers()`` before returning lets the handler finish;
``workflow.all_handlers_finished()`` says whether it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from moonflow.client import update
from moonflow.errors import WorkflowFailure
from moonflow.replay import replay_history

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

FLOW = """\
local time = require("time")
local workflow = require("workflow")

local function main(mode)
    local inbox = process.inbox()
    coroutine.spawn(function()
        while true do
            local msg = inbox:receive()
            process.send(msg:from(), "ack")
            time.sleep("2s")  -- still running when the workflow is told to finish
            process.send(msg:from(), "ok", "approved " .. tostring(msg:payload():data()))
        end
    end)
    process.listen("finish"):receive()
    local before = workflow.all_handlers_finished()
    if mode == "wait" then
        workflow.wait_handlers()
    elseif mode == "continue" then
        workflow.continue_as_new("wait")
    end
    return {before = before, after = workflow.all_handlers_finished()}
end
return { main = main }
"""


async def _accepted(handle) -> None:
    """Until the run's history shows the update accepted (its handler runs)."""
    for _ in range(300):
        history = await handle.fetch_history()
        if any(
            e.HasField("workflow_execution_update_accepted_event_attributes")
            for e in history.events
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the update was not accepted in 30 s")


@contextlib.asynccontextmanager
async def _update_running(env, make_app, mode: str, po: str) -> AsyncIterator[tuple[Any, ...]]:
    """Workers up, app:flow started with ``mode`` and an ``approve(po)`` update accepted (its
    handler at work): yields ``(app, handle, caller)``, caller the task awaiting the answer."""
    app = make_app(workflow_entry("flow", "flow.lua", "[time, workflow]"), {"flow.lua": FLOW})
    async with app.workers(env):
        handle = await app.start(env, "app:flow", mode, id=f"upd-{mode}-{uuid.uuid4()}")
        caller = asyncio.create_task(update(env.client, handle.id, "approve", po))
        await _accepted(handle)
        yield app, handle, caller


async def _replays(app, handle) -> None:
    history = await handle.fetch_history()
    result = await replay_history(app.app, history)
    assert result.kind == "ok", result.message


async def test_returning_with_a_running_update_warns_and_tells_the_caller(
    dev_env, make_app, caplog
):
    caplog.set_level(logging.WARNING)
    async with _update_running(dev_env, make_app, "return", "po-1") as (app, handle, caller):
        await handle.signal("finish")
        with pytest.raises(WorkflowFailure) as exc:
            await asyncio.wait_for(caller, 30)
        assert await asyncio.wait_for(handle.result(), 30) == {"before": False, "after": False}
    info = exc.value.info
    assert info.kind == "Unavailable", info
    assert info.retryable is False
    assert "update 'approve'" in info.message and "completed" in info.message, info.message
    assert "workflow.wait_handlers()" in info.message
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "update 'approve'" in w and "id " in w and handle.id in w and "still running" in w
        for w in warnings
    ), warnings
    await _replays(app, handle)


async def test_wait_handlers_lets_the_update_finish_first(dev_env, make_app):
    async with _update_running(dev_env, make_app, "wait", "po-2") as (app, handle, caller):
        await handle.signal("finish")
        assert await asyncio.wait_for(caller, 30) == "approved po-2"
        assert await asyncio.wait_for(handle.result(), 30) == {"before": False, "after": True}
    await _replays(app, handle)


async def test_continue_as_new_with_a_running_update_tells_the_caller_to_retry(dev_env, make_app):
    async with _update_running(dev_env, make_app, "continue", "po-3") as (app, handle, caller):
        await handle.signal("finish")
        with pytest.raises(WorkflowFailure) as exc:
            await asyncio.wait_for(caller, 30)
        info = exc.value.info
        assert info.kind == "Unavailable", info
        assert info.retryable is True  # the new run can take the update
        assert "continued as new" in info.message, info.message
        # the new run (mode "wait") answers a retried update, then finishes
        latest = dev_env.client.get_workflow_handle(handle.id)
        assert (
            await asyncio.wait_for(update(dev_env.client, handle.id, "approve", "po-3"), 30)
            == "approved po-3"
        )
        await latest.signal("finish")
        assert await asyncio.wait_for(latest.result(), 30) == {"before": True, "after": True}
    await _replays(app, handle)


async def test_an_update_whose_run_is_terminated_is_unavailable_not_unknown(dev_env, make_app):
    # the server ends this update itself: the client still names the update and the cause
    async with _update_running(dev_env, make_app, "return", "po-4") as (app, handle, caller):
        await handle.terminate("operator stop")
        with pytest.raises(WorkflowFailure) as exc:
            await asyncio.wait_for(caller, 30)
    info = exc.value.info
    assert info.kind == "Unavailable", info
    assert info.message.startswith(
        f"update 'approve' was not finished: workflow {handle.id} closed before its handler"
    ), info.message
