"""W5: replay a long history with the Replayer; resume workflows on a restarted worker with an
empty cache and record the longest single workflow activation.

Activation time is measured by wrapping ``UnsandboxedWorkflowRunner.create_instance`` so each
workflow instance's ``activate`` is timed; both sides use that runner.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from ._apps import NATIVE, Side

ACTIVATIONS: list[float] = []


class _Timed:
    def __init__(self, inner: Any) -> None:  # a temporalio WorkflowInstance
        self._inner = inner

    def activate(self, act: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner.activate(act)
        finally:
            ACTIVATIONS.append(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_orig_create = UnsandboxedWorkflowRunner.create_instance


def _create(self: Any, det: Any) -> Any:
    return _Timed(_orig_create(self, det))


UnsandboxedWorkflowRunner.create_instance = _create  # type: ignore[method-assign]

# ~6 history events per sequential activity (3 activity + 3 workflow-task events)
_EVENTS_PER_ACTIVITY = 6


async def record_and_replay(
    side: Side, events: int, resume_n: int, resume_events: int
) -> dict[str, float]:
    side.fresh()
    k_long = max(1, events // _EVENTS_PER_ACTIVITY)
    k_resume = max(1, resume_events // _EVENTS_PER_ACTIVITY)
    wf = side.wf_type("w5")
    async with side.worker():
        long_h = await side.client.start_workflow(
            wf, args=[k_long, False], id=f"w5-long-{uuid.uuid4()}", task_queue=side.tq
        )
        resume_hs = await asyncio.gather(
            *(
                side.client.start_workflow(
                    wf, args=[k_resume, True], id=f"w5-r{i}-{uuid.uuid4()}", task_queue=side.tq
                )
                for i in range(resume_n)
            )
        )
        await long_h.result()
        # wait until every resumable workflow is parked on its signal (describe, not
        # fetch_history: fetching 50 long histories twice a second kept the server busy)
        while True:
            infos = await asyncio.gather(*(h.describe() for h in resume_hs))
            if all(i.history_length >= k_resume * _EVENTS_PER_ACTIVITY for i in infos):
                break
            await asyncio.sleep(0.5)
    history = await long_h.fetch_history()
    # replay with the Replayer
    if side.kind == "lua":
        from moonflow.worker._messages import MessagesInterceptor
        from moonflow.worker._workflow import LuaWorkflow

        replayer = Replayer(
            workflows=[LuaWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
            interceptors=[MessagesInterceptor()],
        )
    else:
        replayer = Replayer(
            workflows=list(NATIVE.values()), workflow_runner=UnsandboxedWorkflowRunner()
        )
    ACTIVATIONS.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    res = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    c1, t1 = time.process_time(), time.perf_counter()
    assert res.replay_failure is None
    replay_longest = max(ACTIVATIONS) if ACTIVATIONS else 0.0
    # resume on a fresh worker (empty cache): one signal each, every one replays its history
    ACTIVATIONS.clear()
    async with side.worker():
        c2, t2 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(h.signal("go", None) for h in resume_hs))
        await asyncio.gather(*(h.result() for h in resume_hs))
        c3, t3 = time.process_time(), time.perf_counter()
    resume_longest = max(ACTIVATIONS) if ACTIVATIONS else 0.0
    return {
        "history_events": float(len(history.events)),
        "replay_cpu_ms": (c1 - c0) * 1000,
        "replay_wall_ms": (t1 - t0) * 1000,
        "replay_longest_activation_ms": replay_longest * 1000,
        "resume_cpu_ms_per_wf": (c3 - c2) * 1000 / max(1, len(resume_hs)),
        "resume_wall_s": t3 - t2,
        "longest_activation_ms": resume_longest * 1000,
    }
