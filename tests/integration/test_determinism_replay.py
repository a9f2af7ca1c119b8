"""Issue 4's determinism check: a workflow whose commands follow ``pairs`` order over 50 string
keys, and whose result holds ``math.random``, ``uuid.v4`` and ``os.time`` values, replays to the
same commands and the same result in fresh worker processes, 20 times in a row; a run on a
worker with the workflow cache disabled behaves the same as a cached run.

Each replay runs in a new Python process (Lua 5.4 seeds its string hashes per state from
addresses and the clock, so a new process is where raw ``pairs`` order changes). The process
uses ``temporalio.worker.Replayer`` with ``LuaWorkflow`` after binding the app's task queue, and
captures the value the replayed workflow returns through a workflow interceptor.

The negative: with the raw ``pairs`` put back, a run recorded in this process fails to replay in
other processes (with a non-determinism error naming the activity id that differs).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from moonflow.lua import LuaRun

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

REPLAYS = 20

WORKFLOW_LUA = """\
local funcs = require("funcs")
local uuid = require("uuid")

local function main(input)
    local keys = {}
    for i = 1, input.n do
        keys[string.char(97 + (i * 7) % 26) .. "_key_" .. i] = i
    end
    local order, echoed = {}, {}
    for k, v in pairs(keys) do
        -- The activity id names the key: a different order is a different command.
        local r, err = funcs.new():with_options({ ["activity.id"] = "echo-" .. k })
            :call("app:echo", k, v)
        if err then
            return nil, err
        end
        order[#order + 1] = k
        echoed[#echoed + 1] = r
    end
    return {
        order = order,
        echoed = echoed,
        random_int = math.random(1, 1000000000),
        random_float = math.random(),
        uuid = uuid.v4(),
        now = os.time(),
        date = os.date("%Y-%m-%dT%H:%M:%SZ"),
    }
end

return { main = main }
"""

ACTIVITY_LUA = """\
local function echo(k, v)
    return k .. "=" .. tostring(v)
end
return { echo = echo }
"""

# Runs in a fresh process: bind the app, replay each history, print one JSON line per history.
REPLAY_SCRIPT = r"""
import asyncio, json, sys

from temporalio.client import WorkflowHistory
from temporalio.common import RawValue
from temporalio.worker import (
    Interceptor, Replayer, UnsandboxedWorkflowRunner, WorkflowInboundInterceptor,
)

from moonflow.lua import LuaRun
from moonflow.registry import load_app
from moonflow.worker._driver import DriverConfig
from moonflow.worker._messages import MessagesInterceptor
from moonflow.worker._workflow import LuaWorkflow, bind_task_queue

app_dir, mode, *histories = sys.argv[1:]
app = load_app(app_dir)
for spec in app.workers():
    bind_task_queue(app.task_queue(spec.entry.id), app, spec.entry.id, DriverConfig(None, 0))

if mode == "raw":  # put Lua's hash-order pairs/next back (what the sandbox replaces)
    original = LuaRun.__init__

    def raw_init(self, context, *args, **kw):
        original(self, context, *args, **kw)
        if context == "workflow":
            g = self.rt.globals()
            g.pairs, g.next = self.sys.raw.pairs, self.sys.raw.next

    LuaRun.__init__ = raw_init

results = []


class _Inbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input):
        value = await super().execute_workflow(input)
        # the driver hands the SDK its result already encoded (one JSON payload)
        results.append(json.loads(value.payload.data) if isinstance(value, RawValue) else value)
        return value


class Capture(Interceptor):
    def workflow_interceptor_class(self, input):
        return _Inbound


async def main():
    replayer = Replayer(
        workflows=[LuaWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[MessagesInterceptor(), Capture()],
    )
    for path in histories:
        doc = json.loads(open(path).read())
        history = WorkflowHistory.from_json(doc["workflow_id"], doc["history"])
        results.clear()
        res = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = res.replay_failure
        print(json.dumps({
            "failure": None if failure is None else f"{type(failure).__name__}: {failure}",
            "result": results[-1] if results else None,
        }), flush=True)


asyncio.run(main())
import os
os._exit(0)  # no interpreter teardown: the SDK's threads can crash it after the work is done
"""


def _replay_in_fresh_process(app_root: Path, mode: str, *histories: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", REPLAY_SCRIPT, str(app_root), mode, *map(str, histories)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == len(histories), done.stdout + done.stderr[-3000:]
    return [json.loads(ln) for ln in lines]


def _replay_in_fresh_processes(
    times: int, app_root: Path, mode: str, *histories: Path
) -> list[list[dict[str, Any]]]:
    """:func:`_replay_in_fresh_process` ``times`` times, a few processes at once (each is a new
    interpreter with its own hash seed, however many run side by side)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = [
            pool.submit(_replay_in_fresh_process, app_root, mode, *histories) for _ in range(times)
        ]
        return [run.result() for run in runs]


def _app(make_app: Any) -> Any:
    return make_app(
        workflow_entry("det", "det.lua", modules="[funcs, uuid]")
        + activity_entry("echo", "echo.lua", "echo"),
        {"det.lua": WORKFLOW_LUA, "echo.lua": ACTIVITY_LUA},
    )


async def _run(env: Any, app: Any, tmp: Path, label: str) -> tuple[Any, Path]:
    """Run app:det to completion; save its history as JSON; return (result, history path)."""
    workflow_id = f"det-{label}-{uuid.uuid4().hex[:8]}"
    async with app.workers(env):
        handle = await app.start(env, "app:det", {"n": 50}, id=workflow_id)
        result = await handle.result()
        history = await handle.fetch_history()
    path = tmp / f"{label}.json"
    path.write_text(json.dumps({"workflow_id": workflow_id, "history": history.to_json_dict()}))
    return result, path


def _check_result(result: dict[str, Any]) -> None:
    keys = [f"{chr(97 + (i * 7) % 26)}_key_{i}" for i in range(1, 51)]
    order_by_bytes = sorted(keys, key=lambda k: k.encode())
    assert result["order"] == order_by_bytes
    assert result["echoed"] == [f"{k}={keys.index(k) + 1}" for k in order_by_bytes]
    assert 1 <= result["random_int"] <= 1_000_000_000
    assert 0 <= result["random_float"] < 1
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", result["uuid"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result["date"])
    assert abs(result["now"] - time.time()) < 600  # workflow time: now, give or take


async def test_pairs_random_uuid_time_replay_in_fresh_processes(dev_env, make_app, tmp_path):
    app = _app(make_app)
    cached, cached_history = await _run(dev_env, app, tmp_path, "cached")
    app.no_cache = True
    uncached, uncached_history = await _run(dev_env, app, tmp_path, "no-cache")

    _check_result(cached)
    _check_result(uncached)
    # Same code, same input: the same commands in the same order with or without the cache.
    assert uncached["order"] == cached["order"]
    assert uncached["echoed"] == cached["echoed"]

    replayed = _replay_in_fresh_processes(
        REPLAYS, app.root, "det", cached_history, uncached_history
    )
    assert len(replayed) == REPLAYS
    for outcome in replayed:
        for got, want in zip(outcome, (cached, uncached), strict=True):
            assert got["failure"] is None, got["failure"]
            assert got["result"] == want  # random, uuid and time values included
    print(
        f"{REPLAYS} fresh processes x 2 histories replayed without failure; "
        f"result keys: {sorted(cached)}; first keys in order: {cached['order'][:3]}"
    )


async def test_raw_pairs_history_fails_replay_in_other_processes(
    dev_env, make_app, tmp_path, monkeypatch
):
    # Record with Lua's hash-order pairs (the sandbox's deterministic ones removed) ...
    original = LuaRun.__init__
    patched: dict[int, tuple[Any, Any, Any]] = {}  # runs share Lua states: put them back after

    def raw_init(self: LuaRun, context: str, *args: Any, **kw: Any) -> None:
        original(self, context, *args, **kw)
        if context == "workflow":
            g = self.rt.globals()
            patched.setdefault(id(self.vm), (g, g.pairs, g.next))
            g.pairs, g.next = self.sys.raw.pairs, self.sys.raw.next

    app = _app(make_app)
    monkeypatch.setattr(LuaRun, "__init__", raw_init)
    try:
        result, history = await _run(dev_env, app, tmp_path, "raw")
    finally:
        monkeypatch.undo()
        for g, pairs, next_ in patched.values():
            g.pairs, g.next = pairs, next_
    sorted_keys = sorted(result["order"], key=lambda k: k.encode())
    assert result["order"] != sorted_keys  # hash order, not the deterministic one

    # ... and replay it with raw pairs in fresh processes: each has its own hash seed.
    attempts = 5
    failures = [
        outcome["failure"]
        for (outcome,) in _replay_in_fresh_processes(attempts, app.root, "raw", history)
        if outcome["failure"] is not None
    ]
    print(f"raw pairs: {len(failures)} of {attempts} fresh-process replays failed")
    if failures:
        print(f"first failure: {failures[0][:300]}")
    assert failures, "expected raw pairs order to differ in another process"
    assert all("Nondeterminism" in f or "does not match" in f for f in failures), failures
    assert "echo-" in failures[0]  # the activity id names the key replayed out of order
    # With the deterministic pairs, the same history fails too: it was recorded in hash order.
    (outcome,) = _replay_in_fresh_process(app.root, "det", history)
    assert outcome["failure"] is not None
