"""Issue 17 item 1: a query handler that assigns to a workflow variable (an upvalue) fails the
query and the assignment is undone, so the workflow's result and its replay stay as they were.

Review item 1a: a query writing a global (new or existing, or rawset on ``_ENV``/``_G``) fails
the same way and the global is put back. Writes into table fields are not caught at run time;
``moonflow check`` flags them (tests/unit/test_determinism_query_handlers.py).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowQueryFailedError

from moonflow.replay import replay_history

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

MUTATING_QUERY = """\
local workflow = require("workflow")
local time = require("time")
local function main()
    local n = 0
    workflow.on_query("mut", function() n = n + 1; return n end)
    workflow.on_query("peek", function() local m = n; m = m + 10; return m end)
    process.inbox():receive()
    if n > 0 then time.sleep("1s") end
    return {n = n}
end
return { main = main }
"""


@pytest.mark.parametrize("no_cache", [False, True], ids=["cached", "no-cache"])
async def test_a_query_assigning_a_workflow_variable_fails_and_is_undone(
    dev_env, make_app, no_cache
):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": MUTATING_QUERY})
    app.no_cache = no_cache
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=f"q-upval-{uuid.uuid4()}")
        for _ in range(2):
            with pytest.raises(WorkflowQueryFailedError) as exc:
                await asyncio.wait_for(handle.query("mut"), 30)
            message = str(exc.value)
            assert "query handlers are read-only: the assignment to 'n' would change the " in (
                message
            ), message
            assert "compute from state, do not change it" in message
            assert "flow.lua:5" in message  # where the handler is defined
        # a handler changing only its own locals answers, and sees n unchanged
        assert await asyncio.wait_for(handle.query("peek"), 30) == 10
        await handle.signal("go", "now")
        assert await asyncio.wait_for(handle.result(), 30) == {"n": 0}
    history = await handle.fetch_history()
    result = await replay_history(app.app, history)
    assert result.kind == "ok", result.message


GLOBAL_QUERY = """\
local workflow = require("workflow")
local time = require("time")
total = 0
local function main()
    workflow.on_query("new_global", function() fresh = 1; return fresh end)
    workflow.on_query("bump", function() total = total + 1; return total end)
    workflow.on_query("raw", function() rawset(_ENV, "total", 99); return total end)
    workflow.on_query("raw_new", function() rawset(_G, "other", 5); return 1 end)
    workflow.on_query("read", function() return {total = total, n = tostring(fresh)} end)
    process.inbox():receive()
    if total > 0 or fresh or other then time.sleep("1s") end
    return {total = total, fresh = fresh ~= nil, other = other ~= nil}
end
return { main = main }
"""


async def test_a_query_writing_a_global_fails_and_is_undone(dev_env, make_app):
    """Review item 1a: globals (new or existing, assigned or rawset on _ENV/_G) are refused."""
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": GLOBAL_QUERY})
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=f"q-global-{uuid.uuid4()}")
        for name, global_name in (
            ("new_global", "fresh"),
            ("bump", "total"),
            ("raw", "total"),
            ("raw_new", "other"),
        ):
            with pytest.raises(WorkflowQueryFailedError) as exc:
                await asyncio.wait_for(handle.query(name), 30)
            message = str(exc.value)
            assert "query handlers are read-only: the assignment to global " in message, message
            assert f"'{global_name}'" in message, message
        # a read-only handler (reading globals it never read before) answers, sees nothing set
        assert await asyncio.wait_for(handle.query("read"), 30) == {"total": 0, "n": "nil"}
        await handle.signal("go", "now")
        assert await asyncio.wait_for(handle.result(), 60) == {
            "total": 0,
            "fresh": False,
            "other": False,
        }
    history = await handle.fetch_history()
    result = await replay_history(app.app, history)
    assert result.kind == "ok", result.message
