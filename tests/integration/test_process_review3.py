"""Third review of the process layer (issue 14): what the node keeps of processes that have
ended, after 6b3f9b8 ("the node forgets ended watchers and keeps at most 4 MiB of ended
processes' results"). Each test is a regression test for a finding.

App: tests/integration/apps/process_review3/ (processes only, no server).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest

from moonflow.process import ProcessNode

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "process_review3"


@pytest.fixture(scope="module")
def app() -> Any:
    from moonflow.registry import load_app

    return load_app(APP_DIR)


async def _registered(node: ProcessNode, name: str) -> None:
    while name not in node.registry:
        await asyncio.sleep(0.01)


async def test_a_long_lived_watcher_does_not_keep_the_processes_it_saw_end(app):
    # Finding: ProcessNode.monitor (6b3f9b8) notes each target in _watching[watcher] so that
    # the watcher's end can drop it from monitors[target]; process_exited pops
    # monitors[target] when the TARGET ends but leaves it in _watching[watcher]. A long-lived
    # process that monitors short-lived ones (a supervisor, a pool) then keeps the PID of
    # every process it ever watched, for its whole life: 2,000 here.
    async with ProcessNode(app) as node:
        watcher = node.spawn("app:watcher", [2000])
        await asyncio.wait_for(_registered(node, "watcher_done"), 120)
        live = set(node.processes)
        kept = node._watching.get(watcher.pid, set())
        assert kept <= live, f"{len(kept - live)} ended targets kept for {watcher.pid}"
        node.deliver(watcher.pid, "stop", [], None)
        assert (await asyncio.wait_for(watcher.done, 30)).value == "stopped"


async def test_a_spawn_monitored_parent_that_ended_is_forgotten(app):
    # Finding: Commands (spawn_monitored, _commands.py) adds the parent to
    # monitors[child] without noting it in _watching[parent], so process_exited of the
    # parent never takes it out: a function that spawns a long-lived process monitored and
    # returns stays in that process's monitors for as long as it runs (what 6b3f9b8 fixed
    # for process.monitor only).
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:spawn_monitored_sleeper"), 60)
        assert outcome.ok, outcome.error
        child = outcome.value
        assert child in node.processes
        live = set(node.processes)
        kept = node.monitors.get(child, set())
        assert kept <= live, f"ended watchers {sorted(kept - live)} kept for {child}"
        node.deliver(child, "stop", [], None)
        assert (await asyncio.wait_for(node.processes[child].done, 30)).value == "woken"


async def test_the_node_does_not_keep_the_errors_of_ended_calls(app):
    # Finding: ProcessNode._keep_exited bounds what it keeps by _size_of(outcome.value) only;
    # a failed process's Outcome holds its error (message, details) and counts 16 bytes. 40
    # calls failing with 1 MB messages, errors dropped by the caller, stay held (80 MB of
    # Python memory measured; the last 10,000 such failures would be 10 GB and more), as
    # results did before 6b3f9b8.
    async with ProcessNode(app) as node:
        warm = await asyncio.wait_for(node.run("app:big_failures", [1]), 60)
        assert warm.ok, warm.error
        gc.collect()
        tracemalloc.start()
        try:
            outcome = await asyncio.wait_for(node.run("app:big_failures", [40]), 120)
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcome.ok, outcome.error
        assert outcome.value >= 40 * 1_000_000
    assert held < 8_000_000, f"{held / 1e6:.1f} MB of Python memory held after the calls ended"


async def test_a_big_result_does_not_make_the_node_forget_every_other_end(app):
    # Finding: ProcessNode._keep_exited (6b3f9b8) forgets ended processes oldest first until
    # their results are under EXITED_BYTES (4 MiB) in all, and a result that is alone over
    # that forgets every other end with it. A process that monitors a child after it ended
    # (the race process.monitor allows: EXIT at once with the child's result) then gets
    # NotFound "no process ..." because an unrelated process returned 5 MB meanwhile: here
    # "quick" ended with "small" and its late monitor fails. (Forgetting the big value, not
    # the end, would keep the rule.)
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:late_monitor"), 60)
    assert outcome.ok, outcome.error
    assert outcome.value == {"monitor": True, "from_quick": True, "value": "small"}


async def test_a_message_to_itself_that_is_not_data_says_why(dev_env, make_app):
    # Finding: copy_for_self (modules/process.lua, 6b3f9b8) refuses what sys.copy_values
    # cannot copy and encode_json cannot write with one fixed text: "cannot be converted to
    # JSON (it is or holds a function, a channel or another object that is not data, or a
    # table that is cyclic or nested deeper than 128 levels)". For a sparse array, NaN or a
    # float key none of that is so; the same values sent to any other PID say what is wrong
    # ("sparse array ...", "nan ...", "table key 1.5 ..."), as the conversion rules do.
    from .conftest import workflow_entry

    entries = workflow_entry("self_send_reasons", "self_send_reasons.lua", "[time]")
    app = make_app(
        entries, {"self_send_reasons.lua": (APP_DIR / "self_send_reasons.lua").read_text()}
    )
    async with app.workers(dev_env):
        result = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:self_send_reasons"),
                "{app:processes|0x0ffff}",
                id=f"self-send-reasons-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            90,
        )
    reasons = {"sparse": "sparse array", "nan": "nan", "float_key": "1.5"}
    for name, reason in reasons.items():
        assert reason in result[name]["other"], (name, result[name])  # what the rules say
        assert reason in result[name]["self"], (name, result[name])


async def test_the_results_the_node_keeps_are_bounded_in_memory_not_in_json_text(app):
    # Finding: _keep_exited counts a result by the length of its JSON text (_size_of), but
    # keeps the Python value: 50,000 small tables are 0.5 MB of text and about 10 MB of
    # dicts. After 12 calls returning such a result, dropped by their caller, the node
    # counted 4.1 MB (EXITED_BYTES) and held 77 MB of Python memory (8 results); "at most
    # 4 MiB of ended processes' results" is ~19 times that for table-shaped results.
    async with ProcessNode(app) as node:
        warm = await asyncio.wait_for(node.run("app:table_calls", [1]), 60)
        assert warm.ok, warm.error
        gc.collect()
        tracemalloc.start()
        try:
            outcome = await asyncio.wait_for(node.run("app:table_calls", [12]), 300)
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcome.ok, outcome.error
        assert outcome.value == 12 * 50_000
    assert held < 16_000_000, f"{held / 1e6:.1f} MB of Python memory held after the calls ended"
