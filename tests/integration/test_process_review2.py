"""Second review of the process layer (issue 14): what a user of processes and workflows can
observe after the scheduler, Message/Payload and conversion changes. Each test is a regression
test for a finding, or pins behaviour the review checked (named so in its comment).

Apps: tests/integration/apps/process_review2/ (processes only, no server) and, for the tests
with workflows, entries made with ``make_app`` from the same sources against the dev server
with the workflow cache off (every workflow task replays).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowQueryFailedError

from moonflow.process import ProcessNode

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

N_ECHO = 100
SOURCES = Path(__file__).parent / "apps" / "process_review2"


def _function_entry(name: str, source: str) -> str:
    return f"""
- name: {name}
  kind: function.lua
  source: file://{source}
  method: main
  modules: [time]
"""


def _workflow_app(make_app: Any) -> Any:
    entries = workflow_entry("echo_workflow", "echo_workflow.lua", "[time]")
    entries += _function_entry("drive_echo", "drive_echo.lua")
    entries += workflow_entry("collect_workflow", "collect_workflow.lua", "[time]")
    entries += _function_entry("drive_collect", "drive_collect.lua")
    entries += workflow_entry("self_send", "self_send.lua", "[time]")
    entries += _function_entry("self_send_process", "self_send.lua")
    entries += workflow_entry("self_send_not_data", "self_send_not_data.lua", "[time]")
    entries += workflow_entry("query_messages", "query_messages.lua", "[time, workflow]")
    entries += _function_entry("self_send_not_data_process", "self_send_not_data.lua")
    names = (
        "echo_workflow.lua",
        "drive_echo.lua",
        "collect_workflow.lua",
        "drive_collect.lua",
        "self_send.lua",
        "self_send_not_data.lua",
        "query_messages.lua",
    )
    files = {n: (SOURCES / n).read_text() for n in names}
    app = make_app(entries, files)
    app.no_cache = True
    return app


async def test_workflow_messages_to_a_process_keep_order_and_payloads_forward(dev_env, make_app):
    # checked, fine: one workflow's sends from 20 coroutines arrive in the order sent, a
    # forwarded Payload (array and single) is its value, a message of no value is a Payload
    # of nil, with every workflow task replayed
    app = _workflow_app(make_app)
    clients = {c.entry.id: dev_env.client for c in app.app.clients()}
    async with app.workers(dev_env), ProcessNode(app.app, clients) as node:
        outcome = await asyncio.wait_for(node.run("app:drive_echo", [N_ECHO]), 120)
    assert outcome.ok, outcome.error
    assert outcome.value == {
        "seq": list(range(1, N_ECHO + 1)),
        "fwd": [[{"a": [1, 2]}, "b"], "b", "two"],
        "none": [True, True],
        "result": {"value": "done"},
    }


async def test_a_processs_messages_to_a_workflow_from_its_coroutines_keep_their_order(
    dev_env, make_app
):
    # Finding: process.send is per-sender FIFO (lua-api.md 2.1, issue 14 item 2), but a
    # process's messages to a workflow are each a signal task of their own
    # (process/_commands.py Commands.send: asyncio.ensure_future(signal(...)) per command), so
    # the sends of 20 coroutines, made one after another in one step, race each other to the
    # server: the workflow got e.g. [5, 11, 18, 1, 19, ...] (3 runs of 3)
    app = _workflow_app(make_app)
    clients = {c.entry.id: dev_env.client for c in app.app.clients()}
    async with app.workers(dev_env), ProcessNode(app.app, clients) as node:
        outcome = await asyncio.wait_for(node.run("app:drive_collect", [20]), 120)
    assert outcome.ok, outcome.error
    assert outcome.value == list(range(1, 21))


SELF_SENT = {"n": 11, "first": 1, "same": False, "t_n": 2}


async def test_a_message_to_itself_carries_the_values_as_sent(dev_env, make_app):
    # Finding: a process that sends itself a table, changes it, then reads the message gets
    # the values as sent (its message takes the Python path, which copies them); the same
    # code as a workflow got the sender's own table, changes included (process.lua M.send:
    # `elseif pid == host.pid() then sys.kernel.deliver(topic, values, pid)` hands over the
    # packed values as they are; older than the scheduler). Same code, two semantics.
    app = _workflow_app(make_app)
    clients = {c.entry.id: dev_env.client for c in app.app.clients()}
    async with app.workers(dev_env), ProcessNode(app.app, clients) as node:
        outcome = await asyncio.wait_for(node.run("app:self_send_process"), 60)
        assert outcome.ok, outcome.error
        assert outcome.value == SELF_SENT
        result = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:self_send"),
                id=f"self-send-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            60,
        )
    assert result == SELF_SENT


async def test_a_message_to_itself_refuses_what_is_not_data(dev_env, make_app):
    # Finding (same place as above): a process's process.send of a channel or a function to
    # itself is (nil, err), as to any PID; a workflow's went through (the values are not
    # converted at all), so the workflow read a channel or a function out of its inbox
    app = _workflow_app(make_app)
    clients = {c.entry.id: dev_env.client for c in app.app.clients()}
    async with app.workers(dev_env), ProcessNode(app.app, clients) as node:
        outcome = await asyncio.wait_for(node.run("app:self_send_not_data_process"), 60)
        assert outcome.ok, outcome.error
        assert outcome.value == [False, False, True, True]
        result = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:self_send_not_data"),
                id=f"self-send-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            60,
        )
    assert result == [False, False, True, True]


async def test_a_query_reads_a_kept_message(dev_env, make_app):
    # checked, fine: a query handler reads a message the workflow kept (its Payload leaves as
    # its value; the message itself is refused in one line), cached and replayed alike
    for no_cache in (False, True):
        app = _workflow_app(make_app)
        app.no_cache = no_cache
        async with app.workers(dev_env):
            handle = await app.start(dev_env, "app:query_messages", id=f"qm-{uuid.uuid4()}")
            await handle.signal("order", {"id": 7})
            got = await asyncio.wait_for(handle.query("last"), 30)
            assert got == {"topic": "order", "payload": {"id": 7}, "data": {"id": 7}}, got
            with pytest.raises(WorkflowQueryFailedError) as exc:
                await asyncio.wait_for(handle.query("message"), 30)
            assert "a message cannot be converted" in str(exc.value), str(exc.value)
            await handle.signal("stop")
            assert await asyncio.wait_for(handle.result(), 30) == "stop"


# ---- processes of one node, no server ---------------------------------------------------------
APP_DIR = SOURCES


@pytest.fixture(scope="module")
def app() -> Any:
    from moonflow.registry import load_app

    return load_app(APP_DIR)


async def test_a_process_cannot_rewire_the_messages_of_another_process(app):
    # Finding: process.lua makes the Message and Payload classes once per Lua state (1ce18ab)
    # and each is its own metatable's __index, so `msg.__index` / `payload.__index` hand any
    # process the node-wide classes: the tamperer's methods then ran for the victim's message
    # ("HIJACKED", "PWNED") and kept the victim's values ("secret") in the tamperer's table.
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:tamper_then_victim"), 60)
    assert outcome.ok, outcome.error
    assert outcome.value == {"seen": ["secret_topic", "secret"], "stolen": []}


async def test_the_node_forgets_the_monitors_of_processes_that_ended(app):
    # Finding: ProcessNode.monitor adds the watcher to monitors[target]; process_exited only
    # drops the set of the process that ended, never the ended watcher from the sets of the
    # processes it watched. A long-lived service monitored by short-lived clients (the usual
    # request pattern) keeps every client's PID for its whole life: 2,000 here.
    async with ProcessNode(app) as node:
        server = node.spawn("app:server")
        outcome = await asyncio.wait_for(node.run("app:monitoring_clients", [2000]), 120)
        assert outcome.ok, outcome.error
        live = set(node.processes)
        kept = node.monitors.get(server.pid, set())
        assert kept <= live, f"{len(kept - live)} ended watchers kept for {server.pid}"
        node.deliver(server.pid, "stop", [], None)
        assert (await asyncio.wait_for(server.done, 30)).value == "stopped"


async def test_the_node_does_not_keep_the_results_of_ended_calls(app):
    # Finding: ProcessNode.process_exited keeps the Outcome of the last EXITED_KEPT (10,000)
    # ended processes, result value included, "for a monitor or link that comes late"; every
    # funcs.call from a process is such a process. 40 calls returning 1 MB each, results
    # dropped by the caller: the node still held 40 MB of Python strings (10,000 such calls
    # would hold 10 GB).
    async with ProcessNode(app) as node:
        warm = await asyncio.wait_for(node.run("app:big_calls", [1]), 60)
        assert warm.ok, warm.error
        gc.collect()
        tracemalloc.start()
        try:
            outcome = await asyncio.wait_for(node.run("app:big_calls", [40]), 120)
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcome.ok, outcome.error
        assert outcome.value == 40 * 1_000_000 + 71  # 1..40 add 71 digits
    assert held < 8_000_000, f"{held / 1e6:.1f} MB of Python memory held after the calls ended"


@pytest.mark.parametrize("how", ["return", "raise"])
async def test_a_value_the_step_could_hold_leaves_the_process_or_fails_saying_why(app, how):
    # Finding: the memory cap ProcessNode._pump arms for a pump is still armed while
    # Process.stepped converts the step's result (or error value) to Python; the conversion's
    # own Lua allocations (convert.lua sys.encode_json: the JSON text of the value) then raise
    # LuaMemoryError, whose text is empty, and the process ends with kind Internal and the
    # message "internal error: " and nothing else. Here a 25 MB string, which the step built
    # under the default 64 MiB cap, returned or raised in a table. (Not new with the Lua
    # scheduler: before it, the LuaMemoryError escaped the loop callback Process._step.)
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:big_value", [how, 25_000_000]), 120)
    if how == "return" and outcome.ok:
        assert len(outcome.value["s"]) == 25_000_000
        return
    assert not outcome.ok
    message = outcome.error.message
    if how == "raise" and message.startswith('error value {"s": "yyy'):
        return  # the raised table, as error_text shows one
    assert "memory" in message and outcome.error.kind == "ResourceExhausted", outcome.error


async def test_messages_no_channel_takes_yet_do_not_make_each_receive_slower(app):
    # Finding: process.lua's take_for walks the mailbox from its head on every receive and
    # routes each message again; messages of a topic nobody listens to yet (here 2,000
    # "data" before any process.inbox()) are walked over by every receive on another channel.
    # Taking 2,000 "ctl" messages that are all there is then 4 million route calls in one
    # step: the reader ended with "instruction budget exceeded at review2.lua:... let a long
    # loop wait now and then" though each receive had its message at hand. (Not new with the
    # scheduler: 4f25dd2 did the same; a workflow's mailbox is the same code.)
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:backlog_behind", [2000, 2000]), 120)
    assert outcome.ok, outcome.error
    assert outcome.value == {"ctl": 2000, "data": 2000}
