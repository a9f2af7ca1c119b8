"""A pattern bomb in workflow code (string.find with a backtracking pattern, which C would run
for hours) is stopped by the instruction budget like any runaway loop: its workflow task fails,
naming the entry, while other workflows on the same worker keep completing."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

BOMB = """\
local function has_b(s)
  local at = string.find(s, string.rep("a-", 3) .. "b")
  return at ~= nil
end
return { main = function() return has_b(string.rep("a", 2000)) end }
"""
TRIVIAL = "return { main = function(n) return n + 1 end }\n"


async def test_a_pattern_bomb_fails_its_task_and_other_runs_keep_completing(dev_env, make_app):
    app = make_app(
        workflow_entry("bomb", "bomb.lua", "[]") + workflow_entry("trivial", "trivial.lua", "[]"),
        {"bomb.lua": BOMB, "trivial.lua": TRIVIAL},
    )
    client = dev_env.client
    async with app.workers(dev_env):
        bomb = await app.start(dev_env, "app:bomb", id=f"bomb-{uuid.uuid4()}")
        latencies = []
        started = time.perf_counter()
        while time.perf_counter() - started < 8 or len(latencies) < 10:
            t = time.perf_counter()
            result = await asyncio.wait_for(
                client.execute_workflow(
                    app.app.workflow_type("app:trivial"),
                    args=[len(latencies)],
                    id=f"trivial-{uuid.uuid4()}",
                    task_queue=app.task_queue,
                ),
                30,
            )
            latencies.append(time.perf_counter() - t)
            assert result == len(latencies)
        history = await bomb.fetch_history()
        failures = [
            e.workflow_task_failed_event_attributes.failure.message
            for e in history.events
            if e.HasField("workflow_task_failed_event_attributes")
        ]
        print(
            f"\n{len(latencies)} trivial workflows while the bomb's task failed {len(failures)} "
            f"times: latency max {max(latencies) * 1000:.0f} ms, median "
            f"{sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"
        )
        assert failures, "the bomb's workflow task never failed"
        assert "app:bomb" in failures[0] and "Lua instructions" in failures[0], failures[0]
        assert "at bomb.lua:2" in failures[0], failures[0]  # the line of the string.find
        # Each failed attempt held a Lua state for the budget's time (~0.3 s here), not hours:
        # a run sharing that state waits at most about that long.
        assert max(latencies) < 5, latencies
        desc = await bomb.describe()
        assert desc.status.name == "RUNNING"  # the task is retried: fix the code and redeploy
        await bomb.terminate("test done")
