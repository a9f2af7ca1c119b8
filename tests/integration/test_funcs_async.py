"""funcs.async in workflows (issue #14, item 3): a Future per activity started without waiting,
with the reference runtime's methods (:response()/:channel(), :result(), :error(),
:is_complete(), :is_canceled(), :cancel()). Workflow cache off: every activation replays the
run from its history, so each test also checks that the futures replay."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowExecutionStatus

from moonflow.worker import build_workers

from .conftest import _Workers, activity_entry, workflow_entry

pytestmark = pytest.mark.integration

ACTS = """\
local time = require("time")
local ctx = require("ctx")
local funcs = require("funcs")
local function slow(ms, label)
  time.sleep(ms * time.MILLISECOND)
  return label
end
local function traced(label)
  return {label = label, trace = ctx.get("trace") or "none"}
end
local function fail()
  return nil, errors.new({kind = "Conflict", message = "out of stock", retryable = true,
    details = {sku = "A-1"}})
end
local function probe()
  local f, err = funcs.async("app:slow", 1, "x")
  return {future = f ~= nil, kind = err:kind(), message = err:message()}
end
return { slow = slow, traced = traced, fail = fail, probe = probe }
"""


def _app(make_app: Any, name: str, source: str, modules: str = "[funcs, time]") -> Any:
    app = make_app(
        workflow_entry(name, f"{name}.lua", modules)
        + activity_entry("slow", "acts.lua", "slow", "[time, ctx, funcs]")
        + activity_entry("traced", "acts.lua", "traced", "[time, ctx, funcs]")
        + activity_entry("fail", "acts.lua", "fail", "[time, ctx, funcs]")
        + activity_entry("probe", "acts.lua", "probe", "[time, ctx, funcs]")
        # a function entry that is not registered as an activity
        + """
- name: plain
  kind: function.lua
  source: file://acts.lua
  method: slow
  modules: [time, ctx, funcs]
""",
        {f"{name}.lua": source, "acts.lua": ACTS},
    )
    app.no_cache = True
    return app


def _workers(app: Any, env: Any, **options: Any) -> Any:
    clients = {c.entry.id: env.client for c in app.app.clients()}
    return _Workers(
        build_workers(app.app, clients, worker_options={"max_cached_workflows": 0, **options})
    )


async def _events(handle: Any) -> list[tuple[str, int]]:
    """(event kind, scheduled event id) for the activity events of a run, in history order."""
    out = []
    for e in (await handle.fetch_history()).events:
        for field in (
            "activity_task_scheduled_event_attributes",
            "activity_task_started_event_attributes",
            "activity_task_completed_event_attributes",
            "activity_task_failed_event_attributes",
            "activity_task_cancel_requested_event_attributes",
            "activity_task_canceled_event_attributes",
        ):
            if e.HasField(field):
                attrs = getattr(e, field)
                scheduled = getattr(attrs, "scheduled_event_id", 0) or e.event_id
                out.append(
                    (
                        field.removeprefix("activity_task_").removesuffix("_event_attributes"),
                        scheduled,
                    )
                )
    return out


PARALLEL = """\
local funcs = require("funcs")
local function main()
  local a = funcs.async("app:slow", 1000, "a")
  local b = funcs.new():with_options({["activity.start_to_close_timeout"] = "30s"})
    :async("app:slow", 1000, "b")
  local c = funcs.new():with_context({trace = "t-1"}):async("app:traced", "c")
  local pending_value, pending_err = a:result()
  local pending = {value = pending_value == nil, err = pending_err == nil,
    complete = a:is_complete(), canceled = a:is_canceled(), error = select(2, a:error())}
  -- collected in any order: b first here
  local pb, okb = b:channel():receive()
  local after = channel.select({b:channel():case_receive(), default = true})
  local pa = a:response():receive()
  local pc = c:response():receive()
  local ra, ea = a:result()
  return {
    pending = pending,
    a = pa:data(), b = pb:data(), c = pc:data(), okb = okb,
    b_once = after.default == true,
    result_is_the_payload = ra == pa and ea == nil,
    complete = a:is_complete() and b:is_complete(),
    canceled = a:is_canceled(),
    error = select(2, a:error()),
    cancel_after_done = a:cancel(),
    name = tostring(a),
  }
end
return { main = main }
"""


async def test_two_activities_run_at_once_and_their_results_are_collected(dev_env, make_app):
    app = _app(make_app, "parallel", PARALLEL, "[funcs]")
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:parallel")
        result = await asyncio.wait_for(handle.result(), 60)
    assert result == {
        "pending": {
            "value": True,
            "err": True,
            "complete": False,
            "canceled": False,
            "error": False,
        },
        "a": "a",
        "b": "b",
        "c": {"label": "c", "trace": "t-1"},
        "okb": True,
        "b_once": True,
        "result_is_the_payload": True,
        "complete": True,
        "canceled": False,
        "error": False,
        "cancel_after_done": False,
        "name": "future app:slow (done)",
    }
    # From the history: the three were scheduled in one workflow task, before any completed,
    # and the two 1 s calls ran side by side (the later one ended < 1.8 s after scheduling).
    history = (await handle.fetch_history()).events
    scheduled = [e for e in history if e.HasField("activity_task_scheduled_event_attributes")]
    completed = [e for e in history if e.HasField("activity_task_completed_event_attributes")]
    assert len(scheduled) == 3 and len(completed) == 3
    assert scheduled[-1].event_id < completed[0].event_id
    batches = {
        e.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
        for e in scheduled
    }
    assert len(batches) == 1
    slow_ids = {scheduled[0].event_id, scheduled[1].event_id}
    slow_done = [
        e
        for e in completed
        if e.activity_task_completed_event_attributes.scheduled_event_id in slow_ids
    ]
    span = slow_done[-1].event_time.ToDatetime() - scheduled[0].event_time.ToDatetime()
    print(
        f"two 1 s activities took {span.total_seconds():.2f} s from scheduling to the last result"
    )
    assert span.total_seconds() < 1.8


CANCEL = """\
local funcs = require("funcs")
local function main()
  local f = funcs.async("app:slow", 600000, "never")
  local go = process.listen("go")
  go:receive()
  local was_complete = f:is_complete()
  local ok = f:cancel()
  local r, err = f:result()
  local e2, has = f:error()
  local v, open = f:response():receive()
  -- the activity's thread is free again once the cancellation reached its Lua code
  local after = funcs.call("app:slow", 1, "after")
  return {
    was_complete = was_complete, ok = ok, again = f:cancel(),
    result_nil = r == nil, kind = err:kind(), retryable = err:retryable(),
    message = err:message(), same = e2 == err, has = has,
    canceled = f:is_canceled(), complete = f:is_complete(),
    channel = {value_nil = v == nil, open = open},
    after = after,
  }
end
return { main = main }
"""


async def test_cancel_stops_a_running_activity_and_result_is_canceled(dev_env, make_app):
    app = _app(make_app, "cancel", CANCEL)
    # One activity thread: the call after the cancel can only run once the cancelled call's
    # Lua code was stopped.
    async with _workers(app, dev_env, activity_threads=1):
        handle = await app.start(dev_env, "app:cancel")
        for _ in range(200):
            desc = await handle.describe()
            pending = desc.raw_description.pending_activities
            if pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the activity never started")
        t0 = time.monotonic()
        await handle.signal("go")
        result = await asyncio.wait_for(handle.result(), 60)
        took = time.monotonic() - t0
    print(f"cancelled activity's thread free again after {took:.2f} s")
    assert result == {
        "was_complete": False,
        "ok": True,
        "again": True,
        "result_nil": True,
        "kind": "Canceled",
        "retryable": False,
        "message": "funcs.async(app:slow): canceled",
        "same": True,
        "has": True,
        "canceled": True,
        "complete": True,
        "channel": {"value_nil": True, "open": False},
        "after": "after",
    }
    events = await _events(handle)
    first = events[0][1]
    # The cancel request is recorded (the SDK writes it after the schedule of the call that
    # followed it in the same activation: it cancels through the activity's asyncio task).
    assert [k for k, s in events if s == first][:2] == ["scheduled", "cancel_requested"]


SELECT = """\
local funcs = require("funcs")
local time = require("time")
local function main()
  local slow = funcs.async("app:slow", 600000, "slow")
  local fast = funcs.async("app:slow", 10, "fast")
  local timer = time.after("1500ms")
  local first = channel.select({slow:channel():case_receive(), timer:case_receive(),
    fast:response():case_receive()})
  local second = channel.select({slow:channel():case_receive(), timer:case_receive()})
  local cancelled = slow:cancel()
  local third = channel.select({slow:channel():case_receive(), default = true})
  return {
    first = first.channel == fast:channel() and first.value:data() or "other",
    first_ok = first.ok,
    second = second.channel == timer and "timer" or "future",
    cancelled = cancelled,
    third = {closed = third.channel == slow:channel(), ok = third.ok},
  }
end
return { main = main }
"""


async def test_a_future_channel_in_select_with_a_timer(dev_env, make_app):
    app = _app(make_app, "sel", SELECT)
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:sel")
        result = await asyncio.wait_for(handle.result(), 60)
    assert result == {
        "first": "fast",
        "first_ok": True,
        "second": "timer",
        "cancelled": True,
        "third": {"closed": True, "ok": False},
    }


FAILING = """\
local funcs = require("funcs")
local function main()
  local once = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 1}})
  local f = once:async("app:fail")
  local delivered, ok = f:response():receive()
  local r, err = f:result()
  local e2, has = f:error()
  local _, call_err = once:call("app:fail")
  return {
    delivered = {is_error = errors.is_error(delivered), ok = ok, same = delivered == err},
    result_nil = r == nil,
    kind = err:kind(), message = err:message(), retryable = err:retryable(),
    details = err:details(),
    same_as_error = e2 == err, has = has,
    complete = f:is_complete(), canceled = f:is_canceled(),
    call = {kind = call_err:kind(), message = call_err:message(),
      retryable = call_err:retryable(), details = call_err:details()},
  }
end
return { main = main }
"""


async def test_a_failing_activity_keeps_kind_message_and_retryable(dev_env, make_app):
    app = _app(make_app, "failing", FAILING, "[funcs, errors]")
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:failing")
        result = await asyncio.wait_for(handle.result(), 60)
    call = result.pop("call")
    assert result == {
        "delivered": {"is_error": True, "ok": True, "same": True},
        "result_nil": True,
        "kind": "Conflict",
        "message": "out of stock",
        "retryable": True,
        "details": {"sku": "A-1"},
        "same_as_error": True,
        "has": True,
        "complete": True,
        "canceled": False,
    }
    # exactly what funcs.call returns for the same failure
    assert call == {
        "kind": "Conflict",
        "message": "out of stock",
        "retryable": True,
        "details": {"sku": "A-1"},
    }


BAD_IDS = """\
local funcs = require("funcs")
local once = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 1}})
local function pair(id)
  local f, err = once:async(id)
  local _, call_err = once:call(id)
  local out = {future = f ~= nil, call_kind = call_err:kind(), call_message = call_err:message()}
  if err then
    out.kind, out.message = err:kind(), err:message()
  else
    local v, ok = f:response():receive()
    local _, ferr = f:result()
    out.kind, out.message, out.delivered_ok = ferr:kind(), ferr:message(), ok
  end
  return out
end
local function main()
  return {
    no_namespace = pair("charge"),
    empty = pair(""),
    number = pair(42),
    unknown = pair("app:missing"),
    not_an_activity = pair("app:plain"),
    a_workflow = pair("app:bad"),
    bad_option = (function()
      local f, err = funcs.new():with_options({["activity.start_to_close_timeout"] = "soon"})
        :async("app:slow", 1, "x")
      return {future = f ~= nil, kind = err:kind(), message = err:message()}
    end)(),
    in_activity = funcs.call("app:probe"),
  }
end
return { main = main }
"""


async def test_bad_targets_give_the_errors_funcs_call_gives(dev_env, make_app):
    app = _app(make_app, "bad", BAD_IDS)
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:bad")
        result = await asyncio.wait_for(handle.result(), 60)
    # Not an "ns:name" string: nil, err from funcs.async itself, at once (as from funcs.call;
    # the message names the call).
    for key in ("no_namespace", "empty", "number"):
        r = result[key]
        assert r["future"] is False
        assert r["kind"] == r["call_kind"] == "Invalid"
        assert r["message"] == r["call_message"].replace("funcs.call", "funcs.async", 1)
    assert "has no namespace" in result["no_namespace"]["message"]
    # An app entry that is not an activity: known before scheduling, so nil, err at once too.
    for key in ("not_an_activity", "a_workflow"):
        r = result[key]
        assert r["future"] is False
        assert r["kind"] == r["call_kind"] == "NotFound", r
        assert r["message"] == r["call_message"].replace("funcs.call", "funcs.async", 1), r
    # An id no entry has is scheduled (another deployment may serve it): the future's error,
    # the same as funcs.call's.
    r = result["unknown"]
    assert r["future"] is True
    assert r["kind"] == r["call_kind"] == "NotFound", r
    assert r["message"] == r["call_message"], r
    assert r["delivered_ok"] is True
    assert result["bad_option"]["future"] is False
    assert result["bad_option"]["kind"] == "Invalid"
    assert result["bad_option"]["message"].startswith("funcs.async(app:slow): invalid activity")
    assert result["in_activity"] == {
        "future": False,
        "kind": "Unavailable",
        "message": "funcs.async: not available in activity code",
    }


ABANDONED = """\
local funcs = require("funcs")
local function main(wait)
  local f = funcs.async("app:slow", 600000, "never awaited")
  if wait then
    process.listen("go"):receive()
  end
  return "done"
end
return { main = main }
"""

NEXT = """\
local funcs = require("funcs")
local function main()
  return funcs.call("app:slow", 1, "next")
end
return { main = main }
"""


async def test_a_future_nobody_awaits_does_not_hold_the_workflow(dev_env, make_app):
    app = _app(make_app, "abandon", ABANDONED)
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:abandon", False)
        t0 = time.monotonic()
        assert await asyncio.wait_for(handle.result(), 30) == "done"
        assert time.monotonic() - t0 < 10
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    kinds = [k for k, _ in await _events(handle)]
    assert kinds == ["scheduled"]  # scheduled with the completion, then dropped


async def test_an_abandoned_running_activity_is_stopped(dev_env, make_app):
    app = make_app(
        workflow_entry("abandon", "abandon.lua", "[funcs]")
        + workflow_entry("next", "next.lua", "[funcs]")
        + activity_entry("slow", "acts.lua", "slow", "[time, ctx, funcs]"),
        {"abandon.lua": ABANDONED, "next.lua": NEXT, "acts.lua": ACTS},
    )
    app.no_cache = True
    # One activity thread: the next workflow's call runs once the abandoned call stopped.
    async with _workers(app, dev_env, activity_threads=1):
        handle = await app.start(dev_env, "app:abandon", True)
        for _ in range(200):
            desc = await handle.describe()
            pending = desc.raw_description.pending_activities
            if pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the activity never started")
        await handle.signal("go")
        assert await asyncio.wait_for(handle.result(), 30) == "done"
        t0 = time.monotonic()
        nxt = await app.start(dev_env, "app:next")
        assert await asyncio.wait_for(nxt.result(), 90) == "next"
        took = time.monotonic() - t0
    print(f"the abandoned activity's thread was free again after {took:.2f} s")


WORKFLOW_CANCEL = """\
local funcs = require("funcs")
local function main()
  local f = funcs.async("app:slow", 600000, "never")
  local v, ok = f:response():receive()
  local _, err = f:result()
  return {delivered = errors.is_error(v), ok = ok, kind = err:kind(), canceled = f:is_canceled()}
end
return { main = main }
"""


async def test_cancelling_the_workflow_cancels_its_async_activities(dev_env, make_app):
    app = _app(make_app, "wfcancel", WORKFLOW_CANCEL, "[funcs, errors]")
    async with _workers(app, dev_env):
        handle = await app.start(dev_env, "app:wfcancel")
        for _ in range(200):
            if (await handle.describe()).raw_description.pending_activities:
                break
            await asyncio.sleep(0.05)
        await handle.cancel()
        result = await asyncio.wait_for(handle.result(), 30)
    # the code saw the cancellation through its future and returned normally
    assert result == {"delivered": True, "ok": True, "kind": "Canceled", "canceled": True}
    kinds = [k for k, _ in await _events(handle)]
    assert kinds[:2] == ["scheduled", "cancel_requested"]


AT_ONCE = """\
local funcs = require("funcs")
local function main()
  local f = funcs.async("app:slow", 600000, "never")
  local ok = f:cancel()
  local _, err = f:result()
  local after = funcs.call("app:slow", 1, "after")
  return {ok = ok, kind = err:kind(), canceled = f:is_canceled(), after = after}
end
return { main = main }
"""


async def test_cancel_in_the_activation_that_started_it(dev_env, make_app):
    app = _app(make_app, "atonce", AT_ONCE)
    async with _workers(app, dev_env, activity_threads=1):
        handle = await app.start(dev_env, "app:atonce")
        result = await asyncio.wait_for(handle.result(), 60)
    assert result == {"ok": True, "kind": "Canceled", "canceled": True, "after": "after"}
    # cancelled before its schedule command went out: never scheduled at all
    assert [k for k, _ in await _events(handle)] == ["scheduled", "started", "completed"]
