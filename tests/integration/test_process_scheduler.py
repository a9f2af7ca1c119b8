"""The process node's scheduler (``process/scheduler.lua``): messages between processes of one
node go straight from the sender's run into the receiver's mailbox when their values can be
copied exactly, and ready processes step inside one pump. These tests hold what that must not
change: per-sender order when some messages take the Python path, no table shared between
runs, other processes and the event loop keep running beside a busy pair, a step's memory cap,
and NotFound for an exited process. No Temporal server is involved.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from moonflow.process import ProcessNode
from moonflow.registry import load_app

from ._nodes import run_entry

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "scheduler"


@pytest.fixture(scope="module")
def app() -> Any:
    return load_app(APP_DIR)


run = run_entry


async def test_order_holds_across_the_lua_and_the_python_path(app):
    # every third message is a 2,000-element table, which the Lua copier leaves to the
    # conversion in Python; the others are copied in Lua
    got = await run(app, "app:order", 30, 2000)
    assert got == [("big 2000" if i % 3 == 0 else i) for i in range(1, 31)]


async def test_the_receiver_gets_a_copy_taken_at_send_time(app):
    value = await run(app, "app:isolation")
    assert value == {
        "sender_kept": {"name": "original", "first": 1, "second": 20, "x": "original"},
        "receiver_saw": {"name": "changed", "first": 99, "second": 2, "x": "changed"},
        "same_table": False,
    }


async def test_a_busy_pair_leaves_timers_and_other_processes_running(app):
    value = await run(app, "app:fairness", 50)
    assert value["slept"] is True
    # the pair kept passing the ball while the sleeper's 50 ms timer ran
    assert value["passed"] > 10, value


async def test_a_step_over_its_memory_cap_stops_only_that_process(app):
    value = await run(app, "app:hog_beside_pingpong", 200, max_memory=16 * 1024 * 1024)
    assert value["rounds"] == 200
    assert value["hog_error"]["kind"] == "ResourceExhausted"
    assert "out of memory" in value["hog_error"]["message"]


async def test_a_message_to_an_exited_process_is_not_found_and_to_itself_arrives(app):
    value = await run(app, "app:to_the_dead_and_self")
    assert value == {
        "reader_got": 7,  # sent before the reader had a mailbox: kept until it reads
        "dead_ok": False,
        "dead_kind": "NotFound",
        "self_topic": "self",
        "self_a": 1,
        "self_from_me": True,
    }


async def _fails(app: Any, entry: str) -> Any:
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run(entry, []), 60)
    assert not outcome.ok, outcome
    return outcome.error


async def test_a_deadlock_says_where_each_coroutine_waits(app):
    error = await _fails(app, "app:dead_pair")
    assert error.kind == "Internal"
    assert error.message == (
        "deadlock: every coroutine of the process is blocked and nothing it waits for is "
        "pending (main waits at stuck.lua:7; coroutine 2 at stuck.lua:5)"
    )


async def test_a_bare_yield_names_its_line(app):
    error = await _fails(app, "app:bare_yield")
    assert error.message.startswith("stuck.lua:13: coroutine.yield called outside a coroutine")


async def test_a_pump_that_fails_still_ends_the_processes_it_stepped(app):
    # The pump itself failing (out of memory past a step's own checks; here a process whose
    # kernel.listening raises, which nothing of moonflow does) must not lose what the steps
    # before it did: the process that returned earlier in the same pump still ends with its
    # value, the one being stepped ends with an internal error, and the node goes on.
    async with ProcessNode(app) as node:
        echo = node.spawn("app:echo")
        while not node.settled:  # its first step made its inbox (and its listening)
            await asyncio.sleep(0.001)
        assert echo.state is not None
        echo.state.kernel["listening"] = node.vm.rt.eval("function() error('rigged') end")
        first = node.spawn("app:quitter")  # queued before echo wakes: stepped first
        node.deliver(echo.pid, "n", [1], None)
        done = await asyncio.wait_for(first.done, 30)
        broken = await asyncio.wait_for(echo.done, 30)
        after = await asyncio.wait_for(node.run("app:quitter"), 30)
    assert done.ok and done.value is True
    assert not broken.ok and broken.error.kind == "Internal"
    assert "rigged" in broken.error.message
    assert after.ok
