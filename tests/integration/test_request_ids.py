"""A top-level start retried with the same ``workflow.request_id`` (issue #13, item 3) after the
run moved on: continued-as-new, or retried by Temporal under its retry policy. The retry gets
the same workflow back and delivers no startup message again; and on the time-skipping server,
which does not deduplicate signals by request id, a retry while the run is running delivers
nothing twice either."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from moonflow.client import start_workflow

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

#: Collects message topics; "next" continues as new (carrying what it got), "fail" fails
#: (retryable), "done" returns.
CHAIN = """\
local workflow = require("workflow")
local function main(got)
  got = got or {}
  local inbox = process.inbox()
  while true do
    local topic = inbox:receive():topic()
    if topic == "done" then return {got = got} end
    if topic == "next" then workflow.continue_as_new(got) end
    if topic == "fail" then
      return nil, errors.new({kind = errors.UNAVAILABLE, message = "try again", retryable = true})
    end
    table.insert(got, topic)
  end
end
return { main = main }
"""


def _app(make_app):
    app = make_app(workflow_entry("chain", "chain.lua", "[workflow]"), {"chain.lua": CHAIN})
    app.no_cache = True
    return app


async def _retried_start(env, app, rid, *, signals, retry_policy=False):
    options = {"workflow.request_id": rid}
    if retry_policy:
        options["workflow.retry_policy"] = {"maximum_attempts": 3, "initial_interval": "10ms"}
    return await start_workflow(env.client, app.app, "app:chain", signals=signals, options=options)


@pytest.mark.parametrize("move_on", ["next", "fail"])
@pytest.mark.parametrize("with_messages", [True, False])
async def test_a_retry_after_the_run_moved_on_starts_and_delivers_nothing(
    dev_env, make_app, move_on, with_messages
):
    app = _app(make_app)
    rid = f"r-{uuid.uuid4().hex[:8]}"
    signals = [("a",), ("b",)] if with_messages else []
    async with app.workers(dev_env):
        first = await _retried_start(dev_env, app, rid, signals=signals, retry_policy=True)
        handle = dev_env.client.get_workflow_handle(first[0])
        await handle.signal(move_on)
        for _ in range(100):  # until the next run of the chain is there
            if (await handle.describe()).run_id != first[1]:
                break
            await asyncio.sleep(0.05)
        again = await _retried_start(dev_env, app, rid, signals=signals, retry_policy=True)
        assert again == first  # the same workflow and first run id, nothing started
        await handle.signal("done")
        result = await asyncio.wait_for(handle.result(), 30)
    # after "next" the new run carries what the first got; after "fail" it starts empty
    expected = (["a", "b"] if with_messages else []) if move_on == "next" else []
    assert result == {"got": expected}


async def test_on_the_time_skipping_server_a_retry_delivers_nothing_twice(ts_env, make_app):
    app = _app(make_app)
    rid = f"r-{uuid.uuid4().hex[:8]}"
    async with app.workers(ts_env):
        first = await _retried_start(ts_env, app, rid, signals=[("a",), ("b",)])
        again = await _retried_start(ts_env, app, rid, signals=[("a",), ("b",)])
        assert again == first
        handle = ts_env.client.get_workflow_handle(first[0])
        await handle.signal("done")
        assert await asyncio.wait_for(handle.result(), 30) == {"got": ["a", "b"]}
