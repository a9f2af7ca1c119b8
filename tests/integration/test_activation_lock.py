"""A workflow run uses Lua only while it holds its runtime's activation lock
(``LuaVM.lock`` in lua/_vm.py): runs sharing a Lua state queue once per activation
instead of once per call into Lua."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from moonflow.lua import DEFAULT_MAX_MEMORY
from moonflow.lua._vm import _pool_size, workflow_vm

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

HELLO = "return { main = function(name) return 'hi ' .. name end }\n"


@contextlib.contextmanager
def _every_runtime_lock() -> Iterator[None]:
    """Hold the lock of every runtime a run of the worker can land in (the pool fills up to
    its size)."""
    runtimes = {id(rt): rt for rt in (workflow_vm(DEFAULT_MAX_MEMORY) for _ in range(8))}
    assert len(runtimes) == _pool_size()
    with contextlib.ExitStack() as held:
        for rt in runtimes.values():
            held.enter_context(rt.lock)
        yield


async def test_an_activation_waits_for_its_runtime_lock(dev_env, make_app):
    app = make_app(workflow_entry("hello", "hello.lua", "[]"), {"hello.lua": HELLO})
    async with app.workers(dev_env):
        with _every_runtime_lock():
            handle = await app.start(dev_env, "app:hello", "ada")
            # Wait until the worker has the first workflow task, then give it time it would
            # need a thousand times over without the lock (stay under the SDK's 2 s deadlock
            # detector, which would fail the task; the run would still end after a retry).
            for _ in range(50):
                events = (await handle.fetch_history()).events
                if any(e.HasField("workflow_task_started_event_attributes") for e in events):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the worker never started the first workflow task")
            await asyncio.sleep(0.5)
            events = (await handle.fetch_history()).events
            assert not any(
                e.HasField("workflow_task_completed_event_attributes") for e in events
            ), "the workflow task completed while every runtime lock was held"
        assert await asyncio.wait_for(handle.result(), 30) == "hi ada"


WAITER = """
local time = require("time")
local workflow = require("workflow")
return { main = function()
  local state = "sleeping"
  workflow.on_query("state", function() return state end)  -- read-only, as queries must be
  time.sleep("1h")
end }
"""


async def test_a_query_waits_for_its_runtime_lock(dev_env, make_app):
    app = make_app(
        workflow_entry("waiter", "waiter.lua", "[time, workflow]"), {"waiter.lua": WAITER}
    )
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:waiter")
        assert await asyncio.wait_for(handle.query("state"), 30) == "sleeping"  # run cached
        with _every_runtime_lock():
            query = asyncio.ensure_future(handle.query("state"))
            done, _ = await asyncio.wait({query}, timeout=0.7)  # under the 2 s detector
            assert not done, "the query was answered while every runtime lock was held"
        assert await asyncio.wait_for(query, 30) == "sleeping"
