"""A runaway workflow fails its own workflow task, clearly, and the worker keeps serving others
(issue 4: instruction budget and memory cap)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

LOOPS = {
    "spin.lua": "return { main = function() while true do end end }\n",
    "grow.lua": (
        "return { main = function()\n"
        "  local t = {'x'}\n"
        "  while true do local n = #t for i = 1, n do t[n + i] = t[i] .. 'y' end end\n"
        "end }\n"
    ),
    # issue 11: an entry file's top level runs under the budget too (it used to hang the state).
    # `moonflow check` (load_app) already refuses a file whose top level never finishes, so the
    # test writes the loop after the app was loaded, as an edit on disk would.
    "toplevel.lua": "return { main = function() return 1 end }\n",
    "ok.lua": "local time = require('time')\nreturn { main = function() time.sleep('1s') return 'fine' end }\n",
}


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("spin", "Lua instructions"),
        ("grow", "memory cap"),
        ("toplevel", "Lua instructions loading its file"),
    ],
)
async def test_runaway_fails_its_task_not_the_worker(dev_env, make_app, bad, needle):
    app = make_app(
        workflow_entry(bad, f"{bad}.lua", "[]") + workflow_entry("ok", "ok.lua", "[time]"),
        {f"{bad}.lua": LOOPS[f"{bad}.lua"], "ok.lua": LOOPS["ok.lua"]},
    )
    if bad == "toplevel":
        (app.root / "toplevel.lua").write_text(
            "while true do end\nreturn { main = function() return 1 end }\n"
        )
    async with app.workers(dev_env):
        runaway = await app.start(dev_env, f"app:{bad}", id=f"{bad}-{uuid.uuid4()}")
        good = await app.start(dev_env, "app:ok")
        assert await asyncio.wait_for(good.result(), 30) == "fine"
        # The runaway's workflow task failed with a message naming the entry.
        failure = None
        for _ in range(60):
            history = await runaway.fetch_history()
            failed = [
                e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
            ]
            if failed:
                attrs = failed[0].workflow_task_failed_event_attributes
                failure = attrs.failure.message or f"(no message) {attrs}"
                break
            await asyncio.sleep(0.25)
        assert failure is not None, "the runaway workflow task never failed"
        assert f"app:{bad}" in failure and needle in failure, failure
        desc = await runaway.describe()
        assert desc.status.name == "RUNNING"  # the workflow itself is not failed; fix and redeploy
        await runaway.terminate("test done")
