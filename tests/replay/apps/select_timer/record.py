"""Record a history of ``app:approval`` (this folder) for the select-timer replay tests.

Run from the repository root (takes about ten seconds; starts the bundled dev server)::

    .venv/bin/python tests/replay/apps/select_timer/record.py select-after-v1

The run gets an ``approve`` message once its select waits (its 2 s timer is in the history), so
the message wins the select and the ``time.after`` timer loses. The history is written to ``histories/<name>.json``. Only re-record
on purpose: ``select-after-v0.json`` must stay a history of the code from before the change.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from moonflow import testing
from moonflow.registry import load_app

HERE = Path(__file__).resolve().parent


async def _timer_started(env: testing.ServerEnv, workflow_id: str) -> None:
    for _ in range(300):
        history = await env.history(workflow_id)
        if any(e.HasField("timer_started_event_attributes") for e in history.events):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{workflow_id}: no timer started in 30 s")


async def record(name: str) -> Path:
    app = load_app(HERE)
    async with testing.dev_env(app) as env, env.workers():
        ref = await env.start("app:approval", workflow_id=name)
        await _timer_started(env, name)
        await ref.signal("approve", "ana")
        await asyncio.wait_for(ref.result(), 60)
        history = await env.history(name)
    path = HERE / "histories" / f"{name}.json"
    path.write_text(history.to_json().rstrip("\n") + "\n")
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(asyncio.run(record(arg)))
