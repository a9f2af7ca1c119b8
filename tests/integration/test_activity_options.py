"""Activity call options from Lua workflows (issue 16 items 1 and 5): ``funcs.new():with_options``
with the ``activity.*`` keys, their ``temporal.activity.*`` aliases (the plain key wins), retry
policies in snake or camel case, durations as strings or milliseconds; an invalid option is
``nil, err`` (Invalid, naming the key) and the workflow goes on; local activities are markers
in the history and follow the same options and error model.

Attempts are counted by the activity itself, on a loopback HTTP server (``_hit_counter.py``).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ._hit_counter import ATTEMPT_LUA, hit_counter
from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

ACTS = (
    ATTEMPT_LUA
    + """\
local function flaky(url, key, kind)
  local n = attempt(url, key)
  return nil, errors.new({kind = kind or errors.UNAVAILABLE, message = "attempt " .. n .. " failed",
    retryable = true, details = {attempt = n}})
end
local function quick(x) return x end
local time = require("time")
local function nap(_, _, ms) time.sleep(ms * 1000000) return "woke" end
return { flaky = flaky, quick = quick, nap = nap }
"""
)

WF = """\
local funcs = require("funcs")
local function describe(value, err)
  if err then
    return {kind = err:kind(), message = err:message(), retryable = err:retryable(),
      details = err:details()}
  end
  return {value = value}
end
local function main(url, key, options, target, ...)
  local exec = funcs.new():with_options(options)
  local out = describe(exec:call(target or "app:flaky", url, key, ...))
  -- the executor is immutable and reusable: a second call with the same options
  out.again = describe(exec:call("app:quick", "same executor"))
  out.after = funcs.call("app:quick", "still running")
  return out
end
return { main = main }
"""


def _app(make_app, local: bool = False):
    mods = "[http_client, errors, time]"
    return make_app(
        workflow_entry("wf", "wf.lua", "[funcs]")
        + activity_entry("flaky", "acts.lua", "flaky", mods, local=local)
        + activity_entry("quick", "acts.lua", "quick", mods)
        + activity_entry("nap", "acts.lua", "nap", mods, local=local),
        {"wf.lua": WF, "acts.lua": ACTS},
    )


async def _run(env, app, *args):
    async with app.workers(env):
        return await asyncio.wait_for(
            env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=list(args),
                id=f"opts-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            120,
        )


@pytest.mark.parametrize(
    "options",
    [
        {"activity.retry_policy": {"maximum_attempts": 3, "initial_interval": "10ms"}},
        # the legacy alias and camelCase retry keys; an interval in milliseconds
        {"temporal.activity.retry_policy": {"maximumAttempts": 3, "initialInterval": 10}},
        # the plain key wins over its alias
        {
            "activity.retry_policy": {"MaximumAttempts": 3, "InitialInterval": "10ms"},
            "temporal.activity.retry_policy": {"maximum_attempts": 7},
        },
    ],
    ids=["canonical", "temporal-prefix-camel", "plain-key-wins"],
)
async def test_maximum_attempts_3_runs_a_flaky_activity_exactly_3_times(dev_env, make_app, options):
    app = _app(make_app)
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "k", options)
        assert counter.hits["k"] == 3, counter.hits
    # the last attempt's error, kind, message, retryable flag and details intact
    assert out["kind"] == "Unavailable"
    assert out["message"] == "attempt 3 failed"
    assert out["retryable"] is True
    assert out["details"] == {"attempt": 3}
    assert out["again"] == {"value": "same executor"}
    assert out["after"] == "still running"


async def test_a_non_retryable_error_types_match_stops_after_one_attempt(dev_env, make_app):
    app = _app(make_app)
    options = {
        "activity.retry_policy": {
            "maximum_attempts": 5,
            "initial_interval": "10ms",
            "non_retryable_error_types": ["Conflict"],
        }
    }
    with hit_counter() as counter:
        out = await _run(dev_env, app, counter.url, "c", options, "app:flaky", "Conflict")
        assert counter.hits["c"] == 1, counter.hits
    # the error keeps its own flag: retryable by itself, stopped by the policy
    assert (out["kind"], out["message"], out["retryable"]) == ("Conflict", "attempt 1 failed", True)
    assert out["details"] == {"attempt": 1}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"activity.start_to_close_timeout": "soon"}, "activity.start_to_close_timeout"),
        ({"temporal.activity.heartbeat_timeout": True}, "activity.heartbeat_timeout"),
        ({"activity.retry_policy": {"maximum_attempts": -1}}, "retry_policy.maximum_attempts"),
        ({"activity.retry_policy": {"backoff": 2}}, "'backoff'"),
        ({"activity.retry_policy": "3 times"}, "retry_policy"),
        ({"activity.start_to_close": "1m"}, "'activity.start_to_close'"),
    ],
)
async def test_an_invalid_option_is_nil_err_invalid_and_the_workflow_goes_on(
    ts_env, make_app, options, named
):
    app = _app(make_app)
    out = await _run(ts_env, app, "http://unused", "x", options, "app:quick")
    assert out["kind"] == "Invalid", out
    assert out["retryable"] is False
    assert named in out["message"], out["message"]
    assert out["message"].startswith("funcs.call(app:quick): invalid activity options: ")
    assert out["after"] == "still running"


async def test_durations_in_milliseconds_and_strings(dev_env, make_app):
    app = _app(make_app)
    once = {"maximum_attempts": 1}
    # a number is milliseconds: 300 ms is too short for a 3 s nap
    out = await _run(
        dev_env,
        app,
        None,
        None,
        {"activity.start_to_close_timeout": 300, "activity.retry_policy": once},
        "app:nap",
        3000,
    )
    assert out["kind"] == "Timeout" and out["details"] == {"timeout_type": "start_to_close"}, out
    out = await _run(
        dev_env,
        app,
        None,
        None,
        {"temporal.activity.start_to_close_timeout": "5s", "activity.id": "my-activity"},
        "app:nap",
        10,
    )
    assert out["value"] == "woke"


async def test_a_local_activity_is_a_marker_with_the_same_options_and_errors(dev_env, make_app):
    app = _app(make_app, local=True)
    wid = f"local-{uuid.uuid4()}"
    options = {"temporal.activity.retry_policy": {"maximumAttempts": 3, "initialInterval": 10}}
    with hit_counter() as counter:
        async with app.workers(dev_env):
            out = await asyncio.wait_for(
                dev_env.client.execute_workflow(
                    app.app.workflow_type("app:wf"),
                    args=[counter.url, "l", options],
                    id=wid,
                    task_queue=app.task_queue,
                ),
                120,
            )
        assert counter.hits["l"] == 3, counter.hits
    assert (out["kind"], out["message"], out["retryable"]) == (
        "Unavailable",
        "attempt 3 failed",
        True,
    )
    assert out["details"] == {"attempt": 3}
    events = await history_events(dev_env, wid)
    markers = [e for e in events if "markerRecordedEventAttributes" in e]
    assert markers and all(
        m["markerRecordedEventAttributes"]["markerName"] == "core_local_activity" for m in markers
    )
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    # only the two app:quick calls (not local) are scheduled activities
    assert scheduled == ["app:quick", "app:quick"], scheduled


async def test_a_local_activity_timeout_is_kind_timeout(dev_env, make_app):
    app = _app(make_app, local=True)
    out = await _run(
        dev_env,
        app,
        None,
        None,
        {
            "activity.start_to_close_timeout": "300ms",
            "activity.retry_policy": {"maximum_attempts": 1},
        },
        "app:nap",
        3000,
    )
    assert out["kind"] == "Timeout", out
    assert out["details"] == {"timeout_type": "start_to_close"}
    assert out["retryable"] is False


async def test_the_local_option_makes_any_activity_call_local(dev_env, make_app):
    app = _app(make_app)  # app:quick is a normal activity entry
    wid = f"local-opt-{uuid.uuid4()}"
    async with app.workers(dev_env):
        out = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[None, None, {"temporal.activity.local": True}, "app:quick", "x"],
                id=wid,
                task_queue=app.task_queue,
            ),
            120,
        )
    assert out == {"again": {"value": "same executor"}, "after": "still running"}
    events = await history_events(dev_env, wid)
    assert len([e for e in events if "markerRecordedEventAttributes" in e]) == 2
    scheduled = [e for e in events if "activityTaskScheduledEventAttributes" in e]
    assert len(scheduled) == 1  # only funcs.call without options


ALL_KEYS = {
    "activity.start_to_close_timeout": "30s",
    "temporal.activity.schedule_to_close_timeout": 60_000,
    "activity.schedule_to_start_timeout": "20s",
    "activity.heartbeat_timeout": "10s",
    "activity.id": "every-key",
    "temporal.activity.wait_for_cancellation": True,
    "activity.disable_eager_execution": True,
    "activity.summary": "charge the card",
    "activity.priority": {"priority_key": 2, "fairness_key": "tenant-a", "fairness_weight": 1.5},
    "activity.retry_policy": {
        "initial_interval": "100ms",
        "backoff_coefficient": 1.5,
        "maximum_interval": "1s",
        "maximum_attempts": 2,
        "non_retryable_error_types": ["Invalid"],
    },
}


@pytest.mark.parametrize("local", [False, True], ids=["activity", "local"])
async def test_every_key_at_once(dev_env, make_app, local):
    app = _app(make_app, local=local)
    wid = f"every-{uuid.uuid4()}"
    async with app.workers(dev_env):
        out = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[None, None, ALL_KEYS, "app:nap", 1],
                id=wid,
                task_queue=app.task_queue,
            ),
            120,
        )
    assert out["value"] == "woke", out
    if not local:
        events = await history_events(dev_env, wid)
        attrs = next(
            e["activityTaskScheduledEventAttributes"]
            for e in events
            if "activityTaskScheduledEventAttributes" in e
        )
        assert attrs["activityId"] == "every-key"
        assert attrs["heartbeatTimeout"] == "10s"
        assert attrs["scheduleToStartTimeout"] == "20s"
        assert attrs["retryPolicy"]["maximumAttempts"] == 2
        assert attrs["retryPolicy"]["nonRetryableErrorTypes"] == ["Invalid"]
