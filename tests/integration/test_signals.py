"""The seed's "Signals" and "Timers" sections as written, plus messaging guarantees (issue 3).

Every test runs twice: with the worker's workflow cache, and with the cache disabled so every
workflow task replays the run from history in a fresh Lua state; both must give the same result.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from .conftest import history_events, workflow_entry

pytestmark = pytest.mark.integration


@pytest.fixture(params=[False, True], ids=["cached", "no-cache"])
def no_cache(request):
    return request.param


RECEIVING = """\
local function main(order)
    local inbox = process.inbox()

    -- Wait for approval
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()

        if topic == "approve" then
            local data = msg:payload():data()
            break
        elseif topic == "cancel" then
            local data = msg:payload():data()
            return {status = "cancelled", reason = data.reason}
        end
    end

    -- Continue with approved order
    return process_order(order)
end
"""

# The snippet calls process_order without defining it; the minimal completion defines it.
RECEIVING_APP = (
    'local funcs = require("funcs")\n'
    "local function process_order(order)\n"
    '    return {status = "processed", id = order.id}\n'
    "end\n" + RECEIVING + "return { main = main }\n"
)


@pytest.mark.parametrize(
    "signals, expected",
    [
        (
            [("noise", {"x": 1}), ("approve", {"approved_by": "admin", "comment": "Looks good"})],
            {"status": "processed", "id": "o1"},
        ),
        (
            [("cancel", {"reason": "Customer request"})],
            {"status": "cancelled", "reason": "Customer request"},
        ),
    ],
    ids=["approve", "cancel"],
)
async def test_receiving_signals(ts_env, make_app, no_cache, signals, expected):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": RECEIVING_APP})
    app.no_cache = no_cache
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", {"id": "o1"})
        for topic, data in signals:
            await handle.signal(topic, data)
        assert await handle.result() == expected


NON_BLOCKING = """\
local msg = inbox:try_receive()
if msg then
    -- Handle message
else
    -- No message available
end
"""


async def test_non_blocking_signal_check(ts_env, make_app, no_cache):
    src = (
        'local time = require("time")\n'
        "local function main()\n"
        "    local inbox = process.inbox()\n"
        "    local seen = {}\n"
        "    for round = 1, 2 do\n"
        + NON_BLOCKING.replace(
            "    -- Handle message", "    seen[#seen + 1] = msg:topic()"
        ).replace("    -- No message available", '    seen[#seen + 1] = "none"')
        + '        time.sleep("1s")\n'
        "    end\n"
        "    return seen\n"
        "end\nreturn { main = main }\n"
    )
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    app.no_cache = no_cache
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", start_signal="hello", start_signal_args=[1])
        assert await handle.result() == ["hello", "none"]


WITH_TIMEOUT = """\
local msg = inbox:receive_timeout("30s")
if msg then
    -- Handle message
else
    -- Timeout expired
end
"""


@pytest.mark.parametrize("send", [True, False], ids=["message-arrives", "timeout-expires"])
async def test_signal_with_timeout(ts_env, make_app, no_cache, send):
    src = (
        'local time = require("time")\n'
        "local function main()\n"
        "    local inbox = process.inbox()\n"
        "    local t0 = time.now()\n"
        "    local result\n"
        + WITH_TIMEOUT.replace(
            "    -- Handle message",
            "    result = {got = msg:payload():data(), topic = msg:topic()}",
        ).replace("    -- Timeout expired", '    result = {got = "timeout"}')
        + "    result.waited = time.now():sub(t0):seconds()\n"
        "    return result\n"
        "end\nreturn { main = main }\n"
    )
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    app.no_cache = no_cache
    wid = f"to-{uuid.uuid4()}"
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", id=wid)
        if send:
            await handle.signal("payment", {"amount": 5})
        got = await handle.result()
    events = await history_events(ts_env, wid)
    if send:
        assert got["got"] == {"amount": 5} and got["topic"] == "payment"
        assert got["waited"] < 30
        fired = [e for e in events if "timerFiredEventAttributes" in e]
        assert not fired
    else:
        assert got["got"] == "timeout" and got["waited"] >= 30
        assert [e for e in events if "timerFiredEventAttributes" in e]


RACE = """\
local function wait_for_payment(timeout)
    local inbox = process.inbox()
    local deadline = time.now():add(timeout)

    while time.now() < deadline do
        local msg = inbox:receive_timeout("1m")
        if msg and msg:topic() == "payment_received" then
            return msg:payload():data()
        end
    end

    return nil, errors.new("TIMEOUT", "payment not received")
end
"""

RACE_APP = (
    'local time = require("time")\nlocal errors = require("errors")\n'
    + RACE
    + "local function main(input)\n"
    "    local payment, err = wait_for_payment(input.timeout)\n"
    "    if err then\n"
    '        return {status = "expired", kind = err:kind(), error = tostring(err)}\n'
    "    end\n"
    '    return {status = "paid", payment = payment}\n'
    "end\nreturn { main = main }\n"
)


@pytest.mark.parametrize("pay", [True, False], ids=["paid", "expired"])
async def test_timer_with_signal_race(ts_env, make_app, no_cache, pay):
    app = make_app(workflow_entry("flow", "flow.lua", "[time, errors]"), {"flow.lua": RACE_APP})
    app.no_cache = no_cache
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", {"timeout": "5m"})
        await handle.signal("other", "ignored")
        if pay:
            await handle.signal("payment_received", {"tx": "t1"})
        got = await handle.result()
    if pay:
        assert got == {"status": "paid", "payment": {"tx": "t1"}}
    else:
        assert got == {"status": "expired", "kind": "Timeout", "error": "payment not received"}


async def test_startup_signals_arrive_in_order_before_listening(ts_env, make_app, no_cache):
    src = """\
    local time = require("time")
    local function main()
        time.sleep("10s")   -- messages arrive while nobody listens: they are kept, in order
        local ch = process.listen("step")
        return {ch:receive(), ch:receive(), (ch:receive())}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    app.no_cache = no_cache
    async with app.workers(ts_env):
        handle = await app.start(ts_env, "app:flow", start_signal="step", start_signal_args=[1])
        await handle.signal("step", 2)
        await handle.signal("step", 3)
        assert await handle.result() == [1, 2, 3]


COUNTER = """\
local time = require("time")
local function main()
    local total = 0
    local done = channel.new()
    local function handler(topic, delta)
        local ch = process.listen(topic, {message = true})
        coroutine.spawn(function()
            while true do
                local msg = ch:receive()
                local n = msg:payload():data()
                if topic == "finish" then
                    process.send(msg:from(), "ok", total)
                    done:send(true)
                    return
                end
                if type(n) ~= "number" then
                    process.send(msg:from(), "nak", "not a number")
                else
                    total = total + delta * n
                    process.send(msg:from(), "ack")
                    process.send(msg:from(), "ok", total)
                end
            end
        end)
    end
    handler("increment", 1)
    handler("decrement", -1)
    handler("finish", 0)
    done:receive()
    return {total = total}
end
return { main = main }
"""

DRIVER = """\
local function main(target)
    local replies = process.listen("ok", {message = true})
    local last
    for _, step in ipairs({{"increment", 5}, {"increment", 7}, {"decrement", 2}, {"finish", 0}}) do
        local ok, err = process.send(target, step[1], step[2])
        if not ok then return nil, err end
        last = replies:receive()   -- request/reply: wait for the counter's answer
    end
    return {final = last:payload():data(), from = last:from(), me = process.pid()}
end
return { main = main }
"""


async def test_counter_driven_from_workflow_and_python(dev_env, make_app, no_cache):
    # On the dev server: the time-skipping server jumps to the run timeout while two
    # workflows wait on each other's signals with no timer pending.
    ts_env = dev_env
    app = make_app(
        workflow_entry("counter", "counter.lua") + workflow_entry("driver", "driver.lua"),
        {"counter.lua": COUNTER, "driver.lua": DRIVER},
    )
    app.no_cache = no_cache
    async with app.workers(ts_env):
        counter = await app.start(ts_env, "app:counter")
        # From Python: updates get ack/ok replies and rejections.
        assert await counter.execute_update("increment", 10) == 10
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await counter.execute_update("decrement", "x")
        assert exc.value.cause.message == "not a number"
        # From a second workflow: signals, the counter replies to the sender's PID.
        pid = await counter.query("pid")
        assert pid == "{app:temporal_client@app:worker|" + counter.id + "}"
        driver = await app.start(ts_env, "app:driver", pid)
        got = await driver.result()
        assert got["final"] == 20 and got["from"] == pid
        assert got["me"] == "{app:temporal_client@app:worker|" + driver.id + "}"
        assert await counter.result() == {"total": 20}


async def test_select_over_signal_and_timer(ts_env, make_app, no_cache):
    src = """\
    local time = require("time")
    local function main(input)
        local approved = process.listen("approved")
        local timer = time.timer(input.wait)
        local r = channel.select{approved:case_receive(), timer:channel():case_receive()}
        if r.channel == timer:channel() then
            return {state = "expired"}
        end
        local stopped = timer:stop()
        time.sleep("2h")   -- the stopped timer must not fire into anything meanwhile
        local late = timer:channel():try_receive()
        return {state = "approved", by = r.value.user, stopped = stopped, late = late == nil}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    app.no_cache = no_cache
    async with app.workers(ts_env):
        h1 = await app.start(ts_env, "app:flow", {"wait": "1h"})
        assert await h1.result() == {"state": "expired"}
        h2 = await app.start(ts_env, "app:flow", {"wait": "1h"})
        await h2.signal("approved", {"user": "ann"})
        assert await h2.result() == {
            "state": "approved",
            "by": "ann",
            "stopped": True,
            "late": True,
        }
    events = await history_events(ts_env, h2.id)
    assert [e for e in events if "timerCanceledEventAttributes" in e]


async def test_thousand_concurrent_signals_counted_once(dev_env, make_app, no_cache):
    src = """\
    local function main(n)
        local ch = process.listen("tick")
        local seen, total = {}, 0
        while total < n do
            local v = ch:receive()
            if seen[v] then return nil, errors.new("Conflict", "duplicate " .. v) end
            seen[v] = true
            total = total + 1
        end
        return {count = total}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    app.no_cache = no_cache
    n = 1000
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", n, id=f"ticks-{uuid.uuid4()}")
        sem = asyncio.Semaphore(100)

        async def send(i):
            async with sem:
                await handle.signal("tick", i)

        await asyncio.gather(*(send(i) for i in range(n)))
        assert await handle.result() == {"count": n}


async def test_send_to_unknown_target_and_reserved_topic(ts_env, make_app):
    src = """\
    local function main()
        local ok, err = process.send("{app:temporal_client@app:worker|no-such-workflow}", "x", 1)
        local ok2, err2 = process.send(process.pid(), "@internal", 1)
        local ok3, err3 = process.send("not a pid {", "x")
        return {err:kind(), err2:kind(), ok3 == nil and err3:kind() or "sent"}
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    got = await app.execute(ts_env, "app:flow")
    assert got[0] == "NotFound" and got[1] == "Invalid"


async def test_signal_with_timeout_as_written_needs_no_time_module(ts_env, make_app):
    # The seed's block uses receive_timeout without ever requiring "time".
    src = (
        "local function main()\n"
        "    local inbox = process.inbox()\n"
        "    local result\n"
        + WITH_TIMEOUT.replace("    -- Handle message", '    result = "message"').replace(
            "    -- Timeout expired", '    result = "timeout"'
        )
        + "    return result\n"
        "end\nreturn { main = main }\n"
    )
    app = make_app(workflow_entry("flow", "flow.lua", "[]"), {"flow.lua": src})
    assert await app.execute(ts_env, "app:flow") == "timeout"


async def test_ticker_keeps_ticking(ts_env, make_app, no_cache):
    src = """\
    local time = require("time")
    local function main(n)
        local tk = time.ticker("1m")
        local t0 = time.now()
        for i = 1, n do tk:channel():receive() end
        tk:stop()
        return time.now():sub(t0):minutes()
    end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua", "[time]"), {"flow.lua": src})
    app.no_cache = no_cache
    assert await app.execute(ts_env, "app:flow", 3) >= 3
