"""Issue 17 item 13: a select's losing time.after timer is cancelled, not left to fire.

The rule (modules/time.lua): an ``after`` channel whose first select returned with another case
is abandoned; once every task waits and nothing used it again, its Temporal timer is cancelled
(TimerCanceled in the history). A channel used again after that has its timer started again
for what was left, so a stored deadline still arrives on time. Each run's history replays.
Histories from before the change: tests/replay/test_select_timer_replay.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from moonflow.replay import replay_history

from .conftest import workflow_entry

pytestmark = pytest.mark.integration


def _timers(history) -> list[tuple[str, str, str]]:
    """(kind, timer id, start_to_fire_timeout seconds or "") for each timer event."""
    out = []
    for e in history.events:
        if e.HasField("timer_started_event_attributes"):
            a = e.timer_started_event_attributes
            out.append(
                ("started", a.timer_id, f"{a.start_to_fire_timeout.ToNanoseconds() / 1e9:g}")
            )
        elif e.HasField("timer_fired_event_attributes"):
            out.append(("fired", e.timer_fired_event_attributes.timer_id, ""))
        elif e.HasField("timer_canceled_event_attributes"):
            out.append(("canceled", e.timer_canceled_event_attributes.timer_id, ""))
    return out


async def _wait_for_timers(handle, count: int) -> None:
    """Until the run's history holds ``count`` started timers (so its select waits)."""
    for _ in range(300):
        history = await handle.fetch_history()
        if sum(e.HasField("timer_started_event_attributes") for e in history.events) >= count:
            await asyncio.sleep(0.3)  # the workflow task after it has completed
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} timers started in 30 s")


@contextlib.asynccontextmanager
async def _first_timer_started(env, make_app, src: str, tag: str) -> AsyncIterator[tuple[Any, Any]]:
    """Workers up and app:flow (Lua ``src``) started with its first timer in the history: yields
    ``(app, handle)``."""
    app = make_app(workflow_entry("flow", "flow.lua", "[time]"), {"flow.lua": src})
    async with app.workers(env):
        handle = await app.start(env, "app:flow", id=f"sel-{tag}-{uuid.uuid4()}")
        await _wait_for_timers(handle, 1)
        yield app, handle


async def _finish(app, handle):
    result = await asyncio.wait_for(handle.result(), 60)
    history = await handle.fetch_history()
    replayed = await replay_history(app.app, history)
    assert replayed.kind == "ok", replayed.message
    return result, history


INLINE = """\
local time = require("time")
local function main()
    local approvals = process.listen("approve")
    local r = channel.select{ approvals:case_receive(), time.after("2s"):case_receive() }
    time.sleep("4s")  -- longer than the losing timer: it would fire here if left running
    return r.channel == approvals and r.value or "timed out"
end
return { main = main }
"""


async def test_an_inline_after_that_loses_is_cancelled(dev_env, make_app):
    async with _first_timer_started(dev_env, make_app, INLINE, "inline") as (app, handle):
        await handle.signal("approve", "ana")
        result, history = await _finish(app, handle)
    assert result == "ana"
    assert _timers(history) == [
        ("started", "1", "2"),
        ("started", "2", "4"),
        ("canceled", "1", ""),
        ("fired", "2", ""),
    ]
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert len(markers) == 1  # the patch that keeps older runs replaying (one per run)


LOOP = """\
local time = require("time")
local function main()
    local msgs = process.listen("item")
    local limit = time.after("3s")
    local got = {}
    while true do
        local r = channel.select{ msgs:case_receive(), limit:case_receive() }
        if r.channel == limit then
            break
        end
        got[#got + 1] = r.value
    end
    return got
end
return { main = main }
"""


async def test_a_stored_deadline_in_a_loop_keeps_its_timer(dev_env, make_app):
    async with _first_timer_started(dev_env, make_app, LOOP, "loop") as (app, handle):
        await handle.signal("item", "a")
        await asyncio.sleep(0.3)
        await handle.signal("item", "b")
        result, history = await _finish(app, handle)
    assert result == ["a", "b"]
    assert _timers(history) == [("started", "1", "3"), ("fired", "1", "")]


REUSED = """\
local time = require("time")
local function main()
    local start = time.now()
    local approvals = process.listen("approve")
    local limit = time.after("6s")
    local r = channel.select{ approvals:case_receive(), limit:case_receive() }
    time.sleep("1s")  -- every task waits: the abandoned timer is cancelled here
    local at = limit:receive()  -- ... and started again for what is left of the 6 s
    return {won = r.value, waited_ms = at:sub(start):milliseconds()}
end
return { main = main }
"""


async def test_an_abandoned_after_used_again_still_arrives_at_its_deadline(dev_env, make_app):
    async with _first_timer_started(dev_env, make_app, REUSED, "reuse") as (app, handle):
        await handle.signal("approve", "ana")
        result, history = await _finish(app, handle)
    assert result["won"] == "ana"
    assert result["waited_ms"] >= 6000, result  # never earlier than the original deadline
    timers = _timers(history)
    assert [t[:2] for t in timers] == [
        ("started", "1"),
        ("started", "2"),
        ("canceled", "1"),
        ("fired", "2"),
        ("started", "3"),
        ("fired", "3"),
    ], timers
    assert timers[0][2] == "6" and timers[1][2] == "1"
    assert 0 < float(timers[4][2]) < 6  # the rest of the deadline, not 6 s again
