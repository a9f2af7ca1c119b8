"""Issue 17 items 11 and 12: query handlers are read-only.

A query is not in the history, so it must not change the workflow: a channel operation, a
command, or anything that would park or wake a task fails the query (never the workflow) and
leaves nothing behind; ``math.random`` in a query draws from a generator of the query's own, so
the workflow's sequence is the one a replay of its history draws.

Every test runs with the worker's workflow cache on (the query runs in the live Lua state, where
a change would stick) and off (every task, and every query, replays the run from history).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowQueryFailedError

from moonflow.replay import replay_history

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

READ_ONLY = "query handlers are read-only"


@pytest.fixture(params=[False, True], ids=["cached", "no-cache"])
def no_cache(request):
    return request.param


async def _assert_running(handle) -> None:
    # the worker has had time to act on anything the query did
    await asyncio.sleep(0.5)
    desc = await handle.describe()
    assert desc.status is not None and desc.status.name == "RUNNING"


async def _assert_replays(app, handle) -> None:
    history = await handle.fetch_history()
    result = await replay_history(app.app, history)
    assert result.kind == "ok", result.message


SEND_FROM_QUERY = """\
local workflow = require("workflow")
local function main()
    local ch = channel.new()
    workflow.on_query("poke", function(v)
        ch:send(v)
        return "sent"
    end)
    workflow.on_query("mail", function(v)
        local ok, err = process.send(process.pid(), "go", v)
        return {ok, err}
    end)
    coroutine.spawn(function()
        local msg = process.inbox():receive()
        ch:send(msg:payload():data())
    end)
    return {got = ch:receive()}
end
return { main = main }
"""


async def test_a_query_that_sends_fails_and_the_workflow_goes_on(dev_env, make_app, no_cache):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": SEND_FROM_QUERY})
    app.no_cache = no_cache
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=f"q-send-{uuid.uuid4()}")
        with pytest.raises(WorkflowQueryFailedError) as exc:
            await asyncio.wait_for(handle.query("poke", "from query"), 30)
        message = str(exc.value)
        assert f"{READ_ONLY}: ch:send would change the workflow" in message, message
        assert "queries are not in the history" in message
        assert "flow.lua:5" in message  # the handler's line
        # nor may a query mail the workflow itself
        with pytest.raises(WorkflowQueryFailedError) as exc:
            await asyncio.wait_for(handle.query("mail", "from query"), 30)
        assert f"{READ_ONLY}: process.send to this workflow would" in str(exc.value)
        # the queries did not complete the workflow with their values
        await _assert_running(handle)
        await handle.signal("go", "real")
        assert await asyncio.wait_for(handle.result(), 30) == {"got": "real"}
    await _assert_replays(app, handle)


SELECT_IN_QUERY = """\
local workflow = require("workflow")
local function main()
    local ch = channel.new()
    local got
    workflow.on_query("wait", function()
        local r = channel.select{ch:case_receive()}
        return r.value
    end)
    local msg = process.inbox():receive()
    coroutine.spawn(function() got = ch:receive() end)
    ch:send(msg:payload():data())
    return {got = got}
end
return { main = main }
"""


async def test_a_query_that_would_block_fails_and_leaves_no_waiter(dev_env, make_app, no_cache):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": SELECT_IN_QUERY})
    app.no_cache = no_cache
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=f"q-select-{uuid.uuid4()}")
        for _ in range(2):
            with pytest.raises(WorkflowQueryFailedError) as exc:
                await asyncio.wait_for(handle.query("wait"), 30)
            assert f"{READ_ONLY}: channel.select would change the workflow" in str(exc.value)
        await _assert_running(handle)
        # the workflow's own send finds its receiver, not a waiter the query left behind
        await handle.signal("go", "real")
        assert await asyncio.wait_for(handle.result(), 30) == {"got": "real"}
    await _assert_replays(app, handle)


RANDOM_IN_QUERY = """\
local funcs = require("funcs")
local workflow = require("workflow")
local function main(seed)
    if seed then
        math.randomseed(seed)
    end
    local r1 = math.random(1, 1000000000)
    workflow.on_query("roll", function()
        local ok, f = pcall(math.random)
        return {math.random(1, 1000000000), ok, f}
    end)
    process.inbox():receive()
    local r2 = math.random(1, 1000000000)
    -- the activity id names the draw: a replay that drew another value issues another command
    local echoed = funcs.new():with_options({["activity.id"] = "echo-" .. r2}):call("app:echo", r2)
    return {r1 = r1, r2 = r2, echoed = echoed}
end
return { main = main }
"""

ECHO = """\
local function echo(v)
    return v
end
return { echo = echo }
"""


async def test_query_randomness_does_not_move_the_workflows(dev_env, make_app, no_cache):
    app = make_app(
        workflow_entry("flow", "flow.lua") + activity_entry("echo", "echo.lua", "echo"),
        {"flow.lua": RANDOM_IN_QUERY, "echo.lua": ECHO},
    )
    app.no_cache = no_cache

    async def run(seed: int | None, queries: int) -> tuple[dict, list, object]:
        handle = await app.start(dev_env, "app:flow", seed, id=f"q-random-{uuid.uuid4()}")
        answers = [await asyncio.wait_for(handle.query("roll"), 30) for _ in range(queries)]
        await handle.signal("go", None)
        result = await asyncio.wait_for(handle.result(), 30)
        assert result["echoed"] == result["r2"]
        return result, answers, handle

    async with app.workers(dev_env):
        # with the same seed, a run with queries draws what a run without any draws
        plain, _, _ = await run(7, 0)
        queried, answers, handle = await run(7, 3)
        assert queried == plain
        # each query starts its own generator afresh: the same query answers the same
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][1] is True and 0 <= answers[0][2] < 1
        # the workflow's own seed (Temporal's deterministic randomness): its history replays
        unseeded, _, unseeded_handle = await run(None, 2)
    await _assert_replays(app, handle)
    await _assert_replays(app, unseeded_handle)


UUID_IN_QUERY = """\
local workflow = require("workflow")
local uuid = require("uuid")
local crypto = require("crypto")
local function main()
    workflow.on_query("ids", function(kind)
        local v, err
        if kind == "v4" then v, err = uuid.v4()
        elseif kind == "v7" then v, err = uuid.v7()
        else v, err = crypto.random.string(8) end
        return v or tostring(err)
    end)
    local ch = process.listen("go")
    local before = uuid.v4()
    uuid.v7()  -- its generator exists before the queries: they must not draw from it
    ch:receive()
    return {before = before, after = uuid.v4(), v7 = uuid.v7()}
end
return { main = main }
"""


async def test_uuid_and_crypto_random_in_a_query_fail_and_move_nothing(dev_env, make_app, no_cache):
    """A query drawing a uuid or random bytes gets nil, err (it would move the workflow's
    randomness); the workflow's own draws then replay exactly."""
    app = make_app(
        workflow_entry("flow", "flow.lua", "[workflow, uuid, crypto]"), {"flow.lua": UUID_IN_QUERY}
    )
    app.no_cache = no_cache
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=f"q-uuid-{uuid.uuid4()}")
        await asyncio.sleep(0.3)
        for kind in ("v4", "v7"):
            # uuid returns nil, err (as for its other failures); nothing was drawn
            said = await asyncio.wait_for(handle.query("ids", kind), 30)
            assert READ_ONLY in said and "would move the workflow's randomness" in said, said
        # crypto.random raises: the query fails, the workflow does not
        with pytest.raises(WorkflowQueryFailedError) as exc:
            await asyncio.wait_for(handle.query("ids", "bytes"), 30)
        assert f"{READ_ONLY}: crypto.random would move" in str(exc.value)
        await _assert_running(handle)
        await handle.signal("go")
        result = await asyncio.wait_for(handle.result(), 30)
    assert result["before"] != result["after"]
    await _assert_replays(app, handle)
