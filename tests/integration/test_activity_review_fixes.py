"""What a review of issue 16 (activities) found, against a real Temporal dev server:

1. option values Temporal refuses (negative durations, a retry ``maximum_interval`` below its
   ``initial_interval``) are ``nil, err`` kind ``Invalid`` naming the key, and the workflow goes
   on (they used to fail every workflow task: BadScheduleActivityAttributes); a zero
   start-to-close timeout means "not set" (the 10 minute default);
2. a second running activity with one ``activity.id`` is ``Invalid`` naming the id (it used to
   jam the run: ScheduleActivityDuplicateId), and the id is free again once the first finished;
3. an activity without a heartbeat timeout learns of its cancellation in about a second (the
   SDK's default heartbeat throttle, 30 s, used to delay it that long), sleeping or busy;
4. ``funcs.async`` returns ``nil, err`` at once for what is wrong before scheduling, naming
   ``funcs.async``;
5. the unknown-key error lists every key, and two spellings of one retry key are ``Invalid``;
6. a Python activity called with the wrong number of arguments names the entry, the function's
   ``file:line`` and what it takes.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

ACTS = """\
local time = require("time")
local function quick(x) return x end
local function nap(ms) time.sleep(ms * 1000000) return "woke" end
-- pure Lua, never sleeping nor calling out: only the stop check can end it
local function spin()
  local n = 0
  while true do n = n + 1 end
end
return { quick = quick, nap = nap, spin = spin }
"""

PAY_PY = """\
def ret(amount, what):
    return {"amount": amount, "what": what}
"""

OPTIONS_WF = """\
local funcs = require("funcs")
local function main(cases)
  local out = {cases = {}}
  for i, options in ipairs(cases) do
    local v, err = funcs.new():with_options(options):call("app:quick", "ok")
    local f, aerr = funcs.new():with_options(options):async("app:quick", "ok")
    out.cases[i] = {
      value = v,
      kind = err and err:kind(), message = err and err:message(),
      retryable = err and err:retryable(),
      async_future = f ~= nil, async_message = aerr and aerr:message(),
    }
  end
  out.after = funcs.call("app:quick", "still running")
  return out
end
return { main = main }
"""

DUP_WF = """\
local funcs = require("funcs")
local function describe(v, err)
  if err then return {kind = err:kind(), message = err:message()} end
  return {value = v}
end
local function main()
  local same = funcs.new():with_options({["activity.id"] = "same"})
  local f1 = assert(same:async("app:nap", 1500))
  local f2, err2 = same:async("app:nap", 1)
  local out = {second_future = f2 ~= nil, second = describe(nil, err2),
    call_while_running = describe(same:call("app:quick", "x"))}
  f1:response():receive()
  local r1 = f1:result()
  out.first = r1:data()
  -- finished: the id may be used again
  out.reused = describe(same:call("app:quick", "again"))
  -- a cancel that does not wait leaves the id to Temporal until the attempt stops
  local f3 = assert(same:async("app:nap", 60000))
  f3:cancel()
  -- reused in the same step, before the cancel command is even sent
  out.at_once = describe(same:async("app:quick", "y0"))
  require("time").sleep("100ms")
  out.after_cancel = describe(same:async("app:quick", "y"))
  out.other_id = describe(funcs.new():with_options({["activity.id"] = "other"}):call("app:quick", "z"))
  return out
end
return { main = main }
"""

WAIT_WF = """\
local funcs = require("funcs")
local time = require("time")
local function main()
  local w = funcs.new():with_options({["activity.id"] = "w",
    ["activity.wait_for_cancellation"] = true})
  local f = assert(w:async("app:nap", 600000))
  time.sleep("500ms")
  local cancel = f:cancel()
  local pending = not f:is_complete()
  local got = f:channel():receive()
  local _, err = f:result()
  local v, rerr = w:call("app:quick", "again")
  return {cancel = cancel, pending_after_cancel = pending, received = got == nil,
    kind = err and err:kind(), is_canceled = f:is_canceled(),
    reused = v, reuse_error = rerr and rerr:message()}
end
return { main = main }
"""

CANCEL_WF = """\
local funcs = require("funcs")
local time = require("time")
local function main(target)
  local f = assert(funcs.async(target, 600000))
  time.sleep("2s")
  f:cancel()
  process.listen("done"):receive()
  return "ok"
end
return { main = main }
"""

ASYNC_WF = """\
local funcs = require("funcs")
local function main()
  local big = string.rep("x", 3 * 1024 * 1024)
  local out = {}
  for name, call in pairs({
    big = function() return funcs.async("app:quick", big) end,
    not_activity = function() return funcs.async("app:wf_async") end,
    bad_option = function()
      return funcs.new():with_options({["activity.start_to_close_timeout"] = "soon"})
        :async("app:quick", 1)
    end,
  }) do
    local f, err = call()
    out[name] = {future = f ~= nil, kind = err and err:kind(), message = err and err:message()}
  end
  out.after = funcs.call("app:quick", "still running")
  return out
end
return { main = main }
"""

PY_WF = """\
local funcs = require("funcs")
local function main()
  local _, err = funcs.call("app:py_ret", 5)
  return {kind = err:kind(), retryable = err:retryable(), message = err:message(),
    ok = funcs.call("app:py_ret", 5, "eur")}
end
return { main = main }
"""


def _app(make_app: Any) -> Any:
    mods = "[time]"
    return make_app(
        workflow_entry("wf_options", "options.lua", "[funcs]")
        + workflow_entry("wf_dup", "dup.lua", "[funcs, time]")
        + workflow_entry("wf_cancel", "cancel.lua", "[funcs, time]")
        + workflow_entry("wf_wait", "wait.lua", "[funcs, time]")
        + workflow_entry("wf_async", "async.lua", "[funcs]")
        + workflow_entry("wf_py", "py.lua", "[funcs]")
        + activity_entry("quick", "acts.lua", "quick", mods)
        + activity_entry("nap", "acts.lua", "nap", mods)
        + activity_entry("spin", "acts.lua", "spin", mods)
        + """
- name: py_ret
  kind: function.py
  source: file://review_arity.py
  method: ret
  meta: {temporal: {activity: {worker: app:worker}}}
""",
        {
            "options.lua": OPTIONS_WF,
            "dup.lua": DUP_WF,
            "cancel.lua": CANCEL_WF,
            "wait.lua": WAIT_WF,
            "async.lua": ASYNC_WF,
            "py.lua": PY_WF,
            "acts.lua": ACTS,
            "review_arity.py": PAY_PY,
        },
    )


async def _execute(env: Any, app: Any, workflow: str, *args: Any) -> Any:
    async with app.workers(env):
        handle = await app.start(env, workflow, *args, id=f"review-{uuid.uuid4()}")
        # a workflow task failing forever would hang here: fail the test instead
        return await asyncio.wait_for(handle.result(), 90)


BAD_OPTIONS = [
    ({"activity.start_to_close_timeout": -5}, "activity.start_to_close_timeout"),
    ({"activity.start_to_close_timeout": "-1s"}, "activity.start_to_close_timeout"),
    ({"activity.heartbeat_timeout": -1}, "activity.heartbeat_timeout"),
    ({"temporal.activity.schedule_to_start_timeout": "-1s"}, "activity.schedule_to_start_timeout"),
    ({"activity.schedule_to_close_timeout": "-2m"}, "activity.schedule_to_close_timeout"),
    ({"activity.retry_policy": {"initial_interval": -1}}, "retry_policy.initial_interval"),
    ({"activity.retry_policy": {"maximum_interval": "-1s"}}, "retry_policy.maximum_interval"),
    (
        {"activity.retry_policy": {"initial_interval": "10s", "maximum_interval": "2s"}},
        "retry_policy.maximum_interval (2s) must not be less than",
    ),
    # without initial_interval: Temporal's default first interval, 1 s
    ({"activity.retry_policy": {"maximumInterval": 500}}, "Temporal's default"),
    (
        {"activity.retry_policy": {"maximum_attempts": 2, "maximumAttempts": 3}},
        "maximumAttempts and maximum_attempts both set maximum_attempts",
    ),
    ({"activity.timeout": "1s"}, "local, priority, retry_policy"),
]


async def test_options_temporal_refuses_are_invalid_and_the_workflow_goes_on(dev_env, make_app):
    app = _app(make_app)
    cases = [options for options, _ in BAD_OPTIONS]
    # 0 (number or string) means "not set": the default start-to-close timeout applies
    cases += [
        {"activity.start_to_close_timeout": 0},
        {"activity.start_to_close_timeout": "0s", "activity.heartbeat_timeout": 0},
        {"activity.retry_policy": {"initial_interval": "2s", "maximum_interval": "2s"}},
    ]
    out = await _execute(dev_env, app, "app:wf_options", cases)
    for i, (options, named) in enumerate(BAD_OPTIONS, 1):
        r = out["cases"][i - 1]
        assert r["kind"] == "Invalid", (options, r)
        assert r["retryable"] is False
        assert named in r["message"], (options, r["message"])
        assert r["message"].startswith("funcs.call(app:quick): invalid activity options: ")
        # funcs.async: the same error at once, naming funcs.async
        assert r["async_future"] is False, r
        assert r["async_message"] == r["message"].replace("funcs.call", "funcs.async", 1)
    for j in range(len(BAD_OPTIONS), len(cases)):
        r = out["cases"][j]
        assert r["value"] == "ok", (cases[j], r)
        assert r["async_future"] is True
    assert "summary" in out["cases"][len(BAD_OPTIONS) - 1]["message"]
    assert out["after"] == "still running"


async def test_a_second_running_activity_with_one_id_is_invalid(dev_env, make_app):
    app = _app(make_app)
    out = await _execute(dev_env, app, "app:wf_dup")
    assert out["second_future"] is False
    for key in ("second", "call_while_running"):
        assert out[key]["kind"] == "Invalid", out
        assert "activity.id 'same' is held by" in out[key]["message"], out[key]
    assert out["second"]["message"].startswith("funcs.async(app:nap): invalid activity options")
    assert out["call_while_running"]["message"].startswith("funcs.call(app:quick)")
    assert out["first"] == "woke"
    # Temporal takes the id again once the first activity closed
    assert out["reused"] == {"value": "again"}
    assert out["after_cancel"]["kind"] == "Invalid", out
    # second review of issue 16, item 3: the refusal names the cancel, also in the same step
    for case in ("at_once", "after_cancel"):
        assert out[case]["kind"] == "Invalid", out
        assert "was cancelled and has not stopped yet" in out[case]["message"], out[case]
        assert "activity.wait_for_cancellation = true" in out[case]["message"], out[case]
    assert out["other_id"] == {"value": "z"}


def _time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("target", ["app:nap", "app:spin"], ids=["sleeping", "busy-lua"])
async def test_a_cancel_reaches_an_activity_without_heartbeat_timeout_in_about_a_second(
    dev_env, make_app, target
):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:wf_cancel", target, id=f"review-{uuid.uuid4()}")
        events: list[dict[str, Any]] = []
        for _ in range(400):
            events = await history_events(dev_env, handle.id)
            if any(e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_CANCELED" for e in events):
                break
            await asyncio.sleep(0.1)
        await handle.signal("done")
        assert await asyncio.wait_for(handle.result(), 60) == "ok"
    (requested,) = [
        e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED"
    ]
    (canceled,) = [e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_CANCELED"]
    took = _time(canceled) - _time(requested)
    print(f"{target}: cancel requested -> activity canceled in {took:.2f} s")
    # ~1 s (the heartbeat throttle); the SDK's default throttle made it ~30 s
    assert took < 10, took


async def test_funcs_async_returns_nil_err_at_once_for_errors_known_before_scheduling(
    dev_env, make_app
):
    app = _app(make_app)
    out = await _execute(dev_env, app, "app:wf_async")
    assert out["big"]["future"] is False
    assert out["big"]["kind"] == "Invalid"
    assert out["big"]["message"].startswith("funcs.async(app:quick) arguments"), out["big"]
    assert out["not_activity"] == {
        "future": False,
        "kind": "NotFound",
        "message": "funcs.async(app:wf_async): app:wf_async is a workflow.lua entry, not an "
        "activity (an activity entry has meta.temporal.activity.worker)",
    }
    assert out["bad_option"]["future"] is False
    assert out["bad_option"]["message"].startswith(
        "funcs.async(app:quick): invalid activity options: activity.start_to_close_timeout"
    )
    assert out["after"] == "still running"


async def test_a_python_activity_with_the_wrong_arguments_names_entry_file_and_arity(
    dev_env, make_app
):
    app = _app(make_app)
    out = await _execute(dev_env, app, "app:wf_py")
    assert out["kind"] == "Invalid"
    assert out["retryable"] is False
    assert out["message"].startswith(
        "app:py_ret: ret (review_arity.py:1) takes 2 arguments (amount, what), called with 1: "
    ), out["message"]
    assert "missing a required argument: 'what'" in out["message"]
    assert out["ok"] == {"amount": 5, "what": "eur"}


async def test_wait_for_cancellation_resolves_the_future_once_the_activity_stopped(
    dev_env, make_app
):
    # second review of issue 16, item 3: the future resolved at f:cancel(), and reusing the
    # id was then refused as "still running" until the activity really stopped
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:wf_wait", id=f"review-wait-{uuid.uuid4()}")
        out = await asyncio.wait_for(handle.result(), 90)
        events = await history_events(dev_env, handle.id)
    assert out == {
        "cancel": True,
        "pending_after_cancel": True,
        "received": True,
        "kind": "Canceled",
        "is_canceled": True,
        "reused": "again",
    }, out
    types = [e["eventType"] for e in events]
    canceled = types.index("EVENT_TYPE_ACTIVITY_TASK_CANCELED")
    scheduled = [i for i, t in enumerate(types) if t == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert len(scheduled) == 2 and scheduled[1] > canceled, types
