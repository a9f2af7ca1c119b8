"""``workflow.version(change_id, min, max)`` on a real server (time-skipping), including code
changes while a run is in flight.

A code change mid-run is played out for real: a worker runs stage A of the code (with the
workflow cache disabled, so every task replays the run from history), the run blocks on a
message, the worker stops, the Lua file is rewritten to stage B, a new worker starts, and the
message lets the run continue on stage B. The recorded-history side of the same rules is in
``tests/replay/test_replay.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import uuid
from base64 import b64decode
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from moonflow.registry import load_app
from moonflow.testing import time_skipping_env
from moonflow.worker import build_workers

from .conftest import activity_entry, history_events, workflow_entry

if TYPE_CHECKING:
    from .conftest import TestApp  # not imported at run time: pytest would try to collect it

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def ts_env() -> AsyncIterator[Any]:
    """A time-skipping server of this module's own (shadows the session-wide ``ts_env``).

    The session server's clock only moves forward: each time a test waits on a result while
    workflows left running by earlier tests hold far timers (the server's default run timeout
    is 10 years), time skips to them. Late in a full run it is past 2262, where nanosecond
    workflow time no longer fits a Lua integer and every new workflow task fails.
    """
    async with time_skipping_env() as env:
        yield env


MODULES = "[funcs, workflow, process]"
PAYMENTS = """\
return {
    old = function(order) return "old:" .. order.id end,
    new = function(order) return "new:" .. order.id end,
    third = function(order) return "third:" .. order.id end,
}
"""
ENTRIES = (
    workflow_entry("checkout", "checkout.lua", MODULES)
    + activity_entry("old_payment", "payments.lua", "old")
    + activity_entry("new_payment", "payments.lua", "new")
    + activity_entry("third_payment", "payments.lua", "third")
)


def checkout(pay: str, *, wait: bool = False) -> str:
    """A checkout workflow: Lua statements ``pay`` set ``v`` and ``receipt``; with ``wait``
    the run then blocks until a ``go`` message arrives."""
    body = "\n".join("    " + line for line in pay.strip().splitlines())
    wait_code = "    process.inbox():receive()\n" if wait else ""
    return (
        'local funcs = require("funcs")\n'
        'local workflow = require("workflow")\n'
        'local process = require("process")\n'
        "local function main(order)\n"
        "    local v, receipt = nil, nil\n"
        f"{body}\n"
        f"{wait_code}"
        "    return {version = v, receipt = receipt}\n"
        "end\n"
        "return { main = main }\n"
    )


STAGE_0 = checkout('v = "none"\nreceipt = funcs.call("app:old_payment", order)', wait=True)
UNGUARDED = checkout('v = "none"\nreceipt = funcs.call("app:new_payment", order)', wait=True)
SEED_GUARD = checkout(
    """
v = workflow.version("payment-v2", 1, 2)
if v == 1 then
    receipt = funcs.call("app:old_payment", order)
else
    receipt = funcs.call("app:new_payment", order)
end
""",
    wait=True,
)
COMPAT_GUARD = checkout(
    """
v = workflow.version("payment-v2", workflow.DEFAULT_VERSION, 2)
if v == 2 then
    receipt = funcs.call("app:new_payment", order)
else
    receipt = funcs.call("app:old_payment", order)
end
""",
    wait=True,
)
MAX_3 = checkout(
    """
v = workflow.version("payment-v2", 1, 3)
if v == 1 then
    receipt = funcs.call("app:old_payment", order)
elseif v == 2 then
    receipt = funcs.call("app:new_payment", order)
else
    receipt = funcs.call("app:third_payment", order)
end
""",
    wait=True,
)


def new_app(make_app: Callable[..., TestApp], code: str) -> TestApp:
    app = make_app(ENTRIES, {"checkout.lua": code, "payments.lua": PAYMENTS})
    app.no_cache = True  # every workflow task replays the run from history
    return app


@contextlib.asynccontextmanager
async def worker_on(env: Any, app: TestApp, code: str) -> AsyncIterator[None]:
    """Point the workflow entry at ``code``, reload the app and run a fresh worker (no
    workflow cache) on its task queue for the block.

    Each stage gets a file of its own: a Lua state reads a source file once per process
    (``moonflow.lua._run._read`` caches by path), so rewriting one file in place would keep
    running the first text.
    """
    name = f"checkout_{hashlib.sha1(code.encode()).hexdigest()[:10]}.lua"
    (app.root / name).write_text(code)
    index = app.root / "_index.yaml"
    index.write_text(re.sub(r"file://checkout\S*\.lua", f"file://{name}", index.read_text()))
    loaded = load_app(app.root)
    clients = {c.entry.id: env.client for c in loaded.clients()}
    [worker] = build_workers(loaded, clients, worker_options={"max_cached_workflows": 0})
    async with worker:
        yield


async def wait_for_event(
    env: Any, workflow_id: str, event_type: str, timeout: float = 10.0
) -> dict[str, Any]:
    """The first event of ``event_type`` (e.g. ``EVENT_TYPE_WORKFLOW_TASK_FAILED``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await history_events(env, workflow_id)
        for event in events:
            if event["eventType"] == event_type:
                return event
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {event_type} in the history of {workflow_id}: {events}")
        await asyncio.sleep(0.05)


def patch_ids(events: list[dict[str, Any]]) -> list[str]:
    """Patch ids of the version markers in a history (``change_id@version``)."""
    ids = []
    for e in events:
        attrs = e.get("markerRecordedEventAttributes")
        if attrs and attrs["markerName"] == "core_patch":
            payload = attrs["details"]["patch-data"]["payloads"][0]
            ids.append(json.loads(b64decode(payload["data"]))["id"])
    return ids


async def start_on_stage(env: Any, app: TestApp, code: str, order_id: str) -> Any:
    """Start a checkout on stage ``code`` and return its handle once it waits for ``go``.

    The workflow task timeout is 1 s: a task that a stopping worker polled but never answered
    goes back to the queue after that long instead of the default 10 s.
    """
    workflow_id = f"checkout-{uuid.uuid4().hex[:8]}"
    async with worker_on(env, app, code):
        handle = await app.start(
            env,
            "app:checkout",
            {"id": order_id},
            id=workflow_id,
            task_timeout=timedelta(seconds=1),
        )
        await wait_for_event(env, workflow_id, "EVENT_TYPE_ACTIVITY_TASK_COMPLETED")
        await wait_for_event(env, workflow_id, "EVENT_TYPE_WORKFLOW_TASK_COMPLETED")
    return handle


# ---------------------------------------------------------------------------------------------
# New runs


async def test_new_run_records_max_and_replays_it(ts_env, make_app):
    # (f) a new run records and returns max; every task replays (no cache) and keeps it.
    app = new_app(make_app, SEED_GUARD.replace("    process.inbox():receive()\n", ""))
    workflow_id = f"new-run-{uuid.uuid4()}"
    result = await app.execute(ts_env, "app:checkout", {"id": "o1"}, id=workflow_id)
    assert result == {"version": 2, "receipt": "new:o1"}
    assert patch_ids(await history_events(ts_env, workflow_id)) == ["payment-v2@2"]


async def test_same_change_id_twice_returns_the_same_value(ts_env, make_app):
    # (d) the first call decides; later calls with the same id (any range containing it) agree,
    # also on replay after the activity (no cache), and record no second marker.
    code = checkout(
        """
local a = workflow.version("step", 1, 2)
receipt = funcs.call("app:old_payment", order)
local b = workflow.version("step", 1, 2)
local c = workflow.version("step", 1, 5)
local d = workflow.version("other", workflow.DEFAULT_VERSION, 3)
v = {a = a, b = b, c = c, d = d, again = workflow.version("other", 1, 3)}
"""
    )
    app = new_app(make_app, code)
    workflow_id = f"twice-{uuid.uuid4()}"
    result = await app.execute(ts_env, "app:checkout", {"id": "o2"}, id=workflow_id)
    assert result["version"] == {"a": 2, "b": 2, "c": 2, "d": 3, "again": 3}
    assert patch_ids(await history_events(ts_env, workflow_id)) == ["step@2", "other@3"]


async def test_min_greater_than_max_is_invalid(ts_env, make_app):
    # (e) caught: an Invalid error at the call site; uncaught: the workflow fails with kind
    # Invalid (the workflow's own error, not a task failure). No marker either way.
    caught = checkout(
        """
local ok, err = pcall(workflow.version, "payment-v2", 3, 1)
v = {ok = ok, kind = err:kind(), message = err:message()}
"""
    )
    app = new_app(make_app, caught)
    result = await app.execute(ts_env, "app:checkout", {"id": "o3"})
    assert result["version"] == {
        "ok": False,
        "kind": "Invalid",
        "message": "workflow.version(payment-v2): min 3 is greater than max 1",
    }

    uncaught = checkout('v = workflow.version("payment-v2", 3, 1)')
    app = new_app(make_app, uncaught)
    workflow_id = f"invalid-{uuid.uuid4()}"
    with pytest.raises(WorkflowFailureError) as info:
        await app.execute(ts_env, "app:checkout", {"id": "o4"}, id=workflow_id)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "Invalid"
    assert "min 3 is greater than max 1" in cause.message
    assert patch_ids(await history_events(ts_env, workflow_id)) == []


# ---------------------------------------------------------------------------------------------
# Code changes while a run is in flight


async def test_unguarded_change_fails_the_running_workflow_task(ts_env, make_app):
    # (a) live: the run scheduled old_payment; the changed code schedules new_payment.
    app = new_app(make_app, STAGE_0)
    handle = await start_on_stage(ts_env, app, STAGE_0, "o5")
    async with worker_on(ts_env, app, UNGUARDED):
        await handle.signal("go")
        failed = await wait_for_event(ts_env, handle.id, "EVENT_TYPE_WORKFLOW_TASK_FAILED")
    message = failed["workflowTaskFailedEventAttributes"]["failure"]["message"]
    assert (
        "Activity type of scheduled event 'app:old_payment' does not match activity type of "
        "activity command 'app:new_payment'" in message
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate("test over")


async def test_seed_guard_fails_the_task_of_an_older_run_until_code_supports_it(ts_env, make_app):
    # (b) the seed's version("payment-v2", 1, 2) on a run from before the call: -1 < min, so
    # the workflow *task* fails with an error naming the change id; the run stays open and
    # completes on the old branch once the code accepts -1 (min = DEFAULT_VERSION).
    app = new_app(make_app, STAGE_0)
    handle = await start_on_stage(ts_env, app, STAGE_0, "o6")
    async with worker_on(ts_env, app, SEED_GUARD):
        await handle.signal("go")
        failed = await wait_for_event(ts_env, handle.id, "EVENT_TYPE_WORKFLOW_TASK_FAILED")
    failure = failed["workflowTaskFailedEventAttributes"]["failure"]
    assert failure["message"].startswith(
        "workflow.version('payment-v2', 1, 2): version -1 for this run"
    )
    assert "below the minimum 1" in failure["message"]
    assert failure["applicationFailureInfo"]["type"] == "VersionBelowMinimum"
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    async with worker_on(ts_env, app, COMPAT_GUARD):
        assert await handle.result() == {"version": -1, "receipt": "old:o6"}
    assert patch_ids(await history_events(ts_env, handle.id)) == []


async def test_guarded_change_keeps_old_run_on_old_branch_and_new_runs_on_new(ts_env, make_app):
    # (b) the guard with min = -1: the run from before it keeps old_payment; a new run
    # records 2 and takes new_payment.
    app = new_app(make_app, STAGE_0)
    handle = await start_on_stage(ts_env, app, STAGE_0, "o7")
    async with worker_on(ts_env, app, COMPAT_GUARD):
        await handle.signal("go")
        assert await handle.result() == {"version": -1, "receipt": "old:o7"}
        fresh = await app.start(ts_env, "app:checkout", {"id": "o8"})
        await fresh.signal("go")
        assert await fresh.result() == {"version": 2, "receipt": "new:o8"}


async def test_run_recorded_with_max_2_keeps_2_under_max_3(ts_env, make_app):
    # (c) the run recorded 2; the code now says max = 3; the run still gets 2 (new_payment),
    # while a new run records 3.
    app = new_app(make_app, SEED_GUARD)
    handle = await start_on_stage(ts_env, app, SEED_GUARD, "o9")
    async with worker_on(ts_env, app, MAX_3):
        await handle.signal("go")
        assert await handle.result() == {"version": 2, "receipt": "new:o9"}
        fresh = await app.start(ts_env, "app:checkout", {"id": "o10"})
        await fresh.signal("go")
        assert await fresh.result() == {"version": 3, "receipt": "third:o10"}
    assert patch_ids(await history_events(ts_env, handle.id)) == ["payment-v2@2"]
    assert patch_ids(await history_events(ts_env, fresh.id)) == ["payment-v2@3"]
