"""Review of the process node's scheduler (``process/scheduler.lua``, ``ProcessNode._pump``):
what a user of the process API can observe when ready processes step inside one pump and
local messages are copied in Lua. Each test is a regression test for a review finding:

* per-sender FIFO order must hold when a message copied in Lua follows, from another
  coroutine of the same sender, one that went the Python path;
* a process that ended in a pump (an error, its instruction budget) must not be stepped again
  in that pump: its coroutines must not run, and its EXIT must carry its own error;
* a message to a process that returned earlier in the same pump is NotFound (by PID or by
  its registered name), not accepted and lost;
* a process that sends itself a message and then receives it waits for a new step (as it did),
  so a loop of small chunks continued by messages to itself is never one step over its
  instruction budget;
* a process killed inside its own step (a link to a process that has already failed) must not
  go on sending messages;
* a pair of processes whose steps are slow must not keep a timer of another process waiting
  for a hundred of their steps.

No Temporal server is involved. App: tests/integration/apps/scheduler_review/.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from moonflow.registry import load_app

from ._nodes import run_entry

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "scheduler_review"


@pytest.fixture(scope="module")
def app() -> Any:
    return load_app(APP_DIR)


run = functools.partial(run_entry, timeout=120.0)


async def test_order_holds_between_coroutines_of_one_sender(app):
    # main sends a 2,000-element table (Python path) before a coroutine it spawned sends a
    # string (copied in Lua): the string overtook the table
    assert await run(app, "app:order_across_coroutines") == ["table #2000", "sent second"]


@pytest.mark.parametrize(
    ("mode", "kind", "says"),
    [
        ("error", "Internal", "boom"),
        ("budget", "ResourceExhausted", "instruction budget"),
        ("twice", "Internal", "boom"),
    ],
)
async def test_an_ended_process_runs_no_more_code_in_the_same_pump(app, mode, kind, says):
    # the observer answers "poke_me" with "again" in the same pump, after the failer ended;
    # the failer's parked coroutine then ran ("zombie") and, in mode "twice", its error
    # replaced the process's own in the EXIT
    got = await run(app, "app:poke_after_failure", mode, instruction_budget=2_000_000)
    assert got[0] == "poke_me", got
    assert "zombie" not in got, got
    assert len(got) == 2 and got[1].startswith(f"EXIT {kind}: "), got
    assert says in got[1], got


@pytest.mark.parametrize("by_name", [False, True])
async def test_a_message_to_a_process_that_returned_in_the_same_pump_is_not_found(app, by_name):
    # the returner returned a step earlier in the same pump; the send said true and the
    # message was dropped
    got = await run(app, "app:send_to_one_that_returned", by_name)
    assert got == {"ok": False, "kind": "NotFound"}


async def test_a_loop_continued_by_messages_to_itself_is_many_steps(app):
    # 20,000 chunks of ~1,000 instructions each under a 2,000,000-instruction step budget:
    # the message to itself was received inside the same step, and the process ended with
    # ResourceExhausted (with the default budget it also held the event loop for that long)
    assert await run(app, "app:self_continuation", 20_000, instruction_budget=2_000_000) == 20_000


async def test_a_process_killed_by_a_link_in_its_step_sends_nothing_more(app):
    # linking to a process that already failed ends the linker inside process.link; its
    # next process.send was still delivered
    got = await run(app, "app:link_to_the_failed")
    assert got == ["before_link", "EXIT Internal"], got


async def test_a_timer_beside_a_pair_with_slow_steps_fires_within_a_few_of_their_steps(app):
    # each step of the pair computes for a while (a million loop turns: tens of ms); the
    # driver's 1 ms timer waited for a whole pump of 100 steps (about 50 balls each)
    passed = await run(app, "app:timer_beside_slow_pair", 1_000_000)
    assert passed <= 10, f"the first bouncer passed {passed} balls before a 1 ms timer fired"
