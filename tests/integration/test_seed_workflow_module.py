"""The seed's "Workflow Module", "Determinism" and "Complete Example" blocks, plus driver rules."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

INFO_SNIPPET = """\
local workflow = require("workflow")

-- Get execution information
local info = workflow.info()
print(info.workflow_id)
print(info.run_id)
print(info.task_queue)
print(info.attempt)
print(info.start_time)
"""

VERSION_SNIPPET = """\
local version = workflow.version("payment-v2", 1, 2)

if version == 1 then
    -- Old behavior (for existing executions)
    result = funcs.call("app:old_payment", input)
else
    -- New behavior (version 2)
    result = funcs.call("app:new_payment", input)
end
"""

HISTORY_SNIPPET = """\
local length = workflow.history_length()  -- Number of events
local size = workflow.history_size()      -- Size in bytes

if length > 10000 then
    -- Consider continue-as-new for long-running workflows
end
"""

ATTRS_SNIPPET = """\
workflow.attrs({
    search = {
        status = "processing",
        customer_id = order.customer_id,
        order_total = order.total
    },
    memo = {
        notes = "Priority customer",
        source = "web"
    }
})
"""


async def test_workflow_module_snippets(ts_env, make_app):
    src = (
        'local funcs = require("funcs")\n'
        + INFO_SNIPPET
        + "local function main(input)\n    local order = input\n"
        + "    local info = workflow.info()\n"
        + VERSION_SNIPPET
        + HISTORY_SNIPPET
        + ATTRS_SNIPPET
        + "    return {version = version, result = result, length = length, size = size,\n"
        + "            info = {workflow_id = info.workflow_id, run_id = info.run_id, task_queue = info.task_queue,\n"
        + "                    attempt = info.attempt, start_time = info.start_time, workflow_type = info.workflow_type,\n"
        + "                    namespace = info.namespace}}\n"
        + "end\nreturn { main = main }\n"
    )
    acts = "return {old = function(x) return 'old' end, new = function(x) return 'new:' .. x.customer_id end}"
    app = make_app(
        workflow_entry("flow", "flow.lua")
        + activity_entry("old_payment", "acts.lua", "old")
        + activity_entry("new_payment", "acts.lua", "new"),
        {"flow.lua": src, "acts.lua": acts},
    )
    wid = f"info-{uuid.uuid4()}"
    order = {"customer_id": "c9", "total": 12.5}
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", order, id=wid)
        result = await handle.result()
        desc = await handle.describe()
    assert result["version"] == 2
    assert result["result"] == "new:c9"
    assert result["length"] > 0 and result["size"] > 0
    info = result["info"]
    assert info["workflow_id"] == wid and info["task_queue"] == app.task_queue
    assert info["workflow_type"] == "app:flow" and info["namespace"] == "default"
    assert info["attempt"] == 1 and info["run_id"] == handle.result_run_id
    assert info["start_time"].endswith("Z") and info["start_time"][:4] >= "2024"
    sa = {k.name: v for k, v in ((p.key, p.value) for p in desc.typed_search_attributes)}
    assert sa["status"] == "processing" and sa["customer_id"] == "c9" and sa["order_total"] == 12.5
    memo = await desc.memo()
    assert memo == {"notes": "Priority customer", "source": "web"}


async def test_undeclared_search_attribute_is_invalid_at_call_site(ts_env, make_app):
    src = """\
    local workflow = require("workflow")
    local function main()
        local ok, err = workflow.attrs({search = {not_declared = "x"}})
        local ok2, err2 = workflow.attrs({search = {priority = "high"}})
        return {ok = ok, kind = err:kind(), msg = err:message(), kind2 = err2:kind(), msg2 = err2:message()}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    got = await app.execute(ts_env, "app:flow")
    assert got["kind"] == "Invalid" and got["kind2"] == "Invalid"
    assert "not_declared" in got["msg"] and "search_attributes" in got["msg"]
    assert "declared Int" in got["msg2"]


DO_SNIPPET = """\
-- Use deterministic time
local start = workflow.info().start_time

-- Use durable sleep
time.sleep("1h")

-- Use activities for I/O
local data = funcs.call("app:fetch_data", id)

-- Use versioning for code changes
local v = workflow.version("change-1", 1, 2)
"""

DONT_SNIPPET = """\
-- Don't use wall clock time
local now = os.time()  -- Non-deterministic

-- Don't use random directly
local r = math.random()  -- Non-deterministic

-- Don't do I/O in workflow code
local file = io.open("data.txt")  -- Non-deterministic

-- Don't use global mutable state
counter = counter + 1  -- Non-deterministic across replays
"""


async def test_determinism_do(ts_env, make_app):
    # The snippet never defines `id`; the minimal completion passes it in.
    src = (
        'local funcs = require("funcs")\nlocal time = require("time")\nlocal workflow = require("workflow")\n'
        "local function main(id)\n"
        + DO_SNIPPET
        + "    return {start = start, data = data, v = v, after = time.now():sub(start):seconds() >= 3600}\n"
        "end\nreturn { main = main }\n"
    )
    app = make_app(
        workflow_entry("flow", "flow.lua") + activity_entry("fetch_data", "acts.lua", "fetch"),
        {
            "flow.lua": src,
            "acts.lua": "return {fetch = function(id) return {id = id, value = 7} end}",
        },
    )
    got = await app.execute(ts_env, "app:flow", "k1")
    assert got["data"] == {"id": "k1", "value": 7}
    assert got["v"] == 2 and got["after"] is True


async def test_determinism_dont_is_refused_where_unsafe(ts_env, make_app):
    # os.time and math.random are made deterministic; io.open is refused with a clear error
    # naming the line; the snippet never gets to the global counter.
    src = (
        "local function main()\n"
        + DONT_SNIPPET
        + "    return {now = now}\nend\nreturn { main = main }\n"
    )
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:flow")
    msg = exc.value.cause.message
    assert "flow.lua:9:" in msg and "io.open is not supported in workflow context" in msg, msg


async def test_determinism_dont_global_counter(ts_env, make_app):
    src = (
        "local function main()\n"
        + "\n".join(DONT_SNIPPET.splitlines()[-2:])
        + "\nend\nreturn { main = main }\n"
    )
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:flow")
    assert "flow.lua:3:" in exc.value.cause.message and "counter" in exc.value.cause.message


async def test_os_time_and_random_are_replay_safe(ts_env, make_app):
    src = """\
    local time = require("time")
    local function main()
        local a = {os.time(), math.random(1000000), math.random()}
        time.sleep("10m")
        return {a = a, t2 = os.time(), diff = os.time() - a[1]}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    wid = f"det-{uuid.uuid4()}"
    got = await app.execute(ts_env, "app:flow", id=wid)
    assert got["diff"] >= 600
    # Replaying the recorded history in a fresh worker gives the same commands (no NDE).
    from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

    from moonflow.worker._workflow import LuaWorkflow

    history = await ts_env.client.get_workflow_handle(wid).fetch_history()
    replay = await Replayer(
        workflows=[LuaWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None


# --- Driver rules ----------------------------------------------------------------------
async def test_return_nil_err_fails_with_kind(ts_env, make_app):
    src = """\
    local errors = require("errors")
    local function main()
        return nil, errors.new({kind = errors.CONFLICT, message = "already shipped", retryable = false})
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:flow")
    cause = exc.value.cause
    assert (cause.type, cause.message, cause.non_retryable) == ("Conflict", "already shipped", True)


async def test_uncaught_error_is_internal_with_line(ts_env, make_app):
    src = """\
    local function main(input)
        local x = input.missing.field
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:flow", {})
    assert exc.value.cause.type == "Internal"
    assert exc.value.cause.message.startswith("flow.lua:2:"), exc.value.cause.message


async def test_pcall_and_user_coroutines_around_waiting_calls(ts_env, make_app):
    src = """\
    local funcs = require("funcs")
    local time = require("time")
    local function main()
        local ok, v, err = pcall(funcs.call, "app:double", 4)
        local ok2, e2 = pcall(function() time.sleep("1s"); error("after sleep") end)
        local co = coroutine.create(function(a)
            local x = funcs.call("app:double", a)
            local y = coroutine.yield(x)
            time.sleep("2s")
            return funcs.call("app:double", y)
        end)
        local _, first = coroutine.resume(co, 10)
        local _, second = coroutine.resume(co, 100)
        local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(funcs.call("app:double", i)) end end)
        return {ok = ok, v = v, ok2 = ok2, e2 = tostring(e2), first = first, second = second,
                gen = {gen(), gen(), gen()}, status = coroutine.status(co)}
    end
    return { main = main }
    """
    app = make_app(
        workflow_entry("flow", "flow.lua") + activity_entry("double", "acts.lua", "double"),
        {"flow.lua": src, "acts.lua": "return {double = function(n) return n * 2 end}"},
    )
    got = await app.execute(ts_env, "app:flow")
    assert got == {
        "ok": True,
        "v": 8,
        "ok2": False,
        "e2": "flow.lua:5: after sleep",
        "first": 20,
        "second": 200,
        "gen": [2, 4, 6],
        "status": "dead",
    }


async def test_local_activity_runs_as_local_activity(ts_env, make_app):
    src = """\
    local funcs = require("funcs")
    local function main(x) return funcs.call("app:check", x) end
    return { main = main }
    """
    app = make_app(
        workflow_entry("flow", "flow.lua")
        + activity_entry("check", "acts.lua", "check", local=True),
        {"flow.lua": src, "acts.lua": "return {check = function(x) return {checked = x} end}"},
    )
    wid = f"la-{uuid.uuid4()}"
    assert await app.execute(ts_env, "app:flow", "v", id=wid) == {"checked": "v"}
    events = await history_events(ts_env, wid)
    assert not [e for e in events if "activityTaskScheduledEventAttributes" in e]
    markers = [e for e in events if "markerRecordedEventAttributes" in e]
    assert (
        markers
        and markers[0]["markerRecordedEventAttributes"]["markerName"] == "core_local_activity"
    )


async def test_activity_errors_keep_kind_message_retryable(ts_env, make_app):
    src = """\
    local funcs = require("funcs")
    local function main()
        local _, e1 = funcs.call("app:nf")
        local _, e2 = funcs.call("app:boom")
        local _, e3 = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 2,
            initial_interval = "10ms"}}):call("app:flaky")
        local _, e4 = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 1}})
            :call("app:not_registered_anywhere")
        return {
          {e1:kind(), e1:message(), e1:retryable()},
          {e2:kind(), e2:retryable()}, e2:message(),
          {e3:kind(), e3:message(), e3:retryable()},
          {e4:kind(), e4:retryable()},
        }
    end
    return { main = main }
    """
    acts = """\
    local function nf() return nil, errors.new({kind = errors.NOT_FOUND, message = "no such user", retryable = false}) end
    local function boom() local t = nil; return t.x end
    local function flaky() return nil, errors.new({kind = errors.UNAVAILABLE, message = "try later"}) end
    return {nf = nf, boom = boom, flaky = flaky}
    """
    app = make_app(
        workflow_entry("flow", "flow.lua")
        + activity_entry("nf", "acts.lua", "nf")
        + activity_entry("boom", "acts.lua", "boom")
        + activity_entry("flaky", "acts.lua", "flaky"),
        {"flow.lua": src, "acts.lua": acts},
    )
    wid = f"errs-{uuid.uuid4()}"
    got = await app.execute(ts_env, "app:flow", id=wid)
    assert got[0] == ["NotFound", "no such user", False]
    assert got[1] == ["Internal", False] and got[2].startswith("acts.lua:2:")
    assert got[3] == ["Unavailable", "try later", True]
    assert got[4] == ["NotFound", True]  # scheduled: another deployment might serve it
    events = await history_events(ts_env, wid)
    flaky = [e for e in events if "activityTaskFailedEventAttributes" in e]
    assert flaky  # the failures are recorded in history
