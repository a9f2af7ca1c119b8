"""Continue-as-new with message carry-over, and queries (issue 4 items 4 and 5)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowQueryFailedError

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

BATCHER = """\
local workflow = require("workflow")
local function main(state)
    state = state or {seen = {}, runs = 0}
    state.runs = state.runs + 1
    local ch = process.listen("msg")
    local handled = 0
    while #state.seen < state.total do
        local v = ch:receive()
        state.seen[#state.seen + 1] = v
        handled = handled + 1
        if handled == 10 and #state.seen < state.total then
            workflow.continue_as_new(state)
        end
    end
    return state
end
return { main = main }
"""


@pytest.mark.parametrize("no_cache", [False, True], ids=["cached", "no-cache"])
async def test_continue_as_new_every_10_messages_loses_none(dev_env, make_app, no_cache):
    app = make_app(workflow_entry("batcher", "batcher.lua", "[workflow]"), {"batcher.lua": BATCHER})
    app.no_cache = no_cache
    total = 55
    wid = f"batch-{uuid.uuid4()}"
    async with app.workers(dev_env):
        await app.start(dev_env, "app:batcher", {"seen": [], "runs": 0, "total": total}, id=wid)
        handle = dev_env.client.get_workflow_handle(wid)
        await asyncio.gather(*(handle.signal("msg", i) for i in range(total)))
        result = await dev_env.client.get_workflow_handle(wid).result()
    assert sorted(result["seen"]) == list(range(total))
    assert len(result["seen"]) == total
    assert result["runs"] == 6


async def test_process_upgrade_is_continue_as_new(ts_env, make_app):
    src = """\
    local function main(n)
        if n < 3 then process.upgrade(nil, n + 1) end
        return {n = n}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("up", "up.lua"), {"up.lua": src})
    assert await app.execute(ts_env, "app:up", 0) == {"n": 3}


QUERIED = """\
local workflow = require("workflow")
local funcs = require("funcs")
local function main()
    local status = "waiting"
    local count = 0
    workflow.on_query("status", function(prefix) return {status = (prefix or "") .. status, count = count} end)
    workflow.on_query("bad", function() return funcs.call("app:x") end)
    local ch = process.listen("go")
    while true do
        local v = ch:receive()
        count = count + 1
        if v == "stop" then break end
        status = "got " .. v
    end
    return count
end
return { main = main }
"""


async def test_queries_read_state_and_refuse_commands(dev_env, make_app):
    app = make_app(workflow_entry("q", "q.lua", "[workflow, funcs]"), {"q.lua": QUERIED})
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:q")
        await handle.signal("go", "a")
        await asyncio.sleep(0.5)
        assert await handle.query("status", "> ") == {"status": "> got a", "count": 1}
        with pytest.raises(WorkflowQueryFailedError) as exc:
            await handle.query("bad")
        assert "cannot wait" in str(exc.value)
        stack = await handle.query("__stack_trace")
        assert "q.lua" in stack and "main" in stack
        assert await handle.query("pid") == "{app:temporal_client@app:worker|" + handle.id + "}"
        # The Python API answers the same, and names unknown queries.
        from moonflow import WorkflowFailure
        from moonflow.client import query

        assert (await query(dev_env.client, handle.id, "status"))["count"] == 1
        with pytest.raises(WorkflowFailure) as missing:
            await query(dev_env.client, handle.id, "nope")
        assert missing.value.info.kind == "NotFound"
        await handle.signal("go", "stop")
        # The failed query did not hurt the workflow.
        assert await handle.result() == 2
