"""Light processes (issue 14, P1): a process spawned by another process of the node is made in
Lua inside the spawner's step (``process/scheduler.lua`` N.spawn) and, while it needs nothing of
Python, runs and ends there; Python makes its side the first time either side needs it. These
tests hold the light path to what the Python path does: the same EXIT events, errors, late
monitors, messages, names, cancellation and isolation between processes. The first spawn of
an entry always takes the Python path (N.learn), so each scenario spawns at least twice and
compares.

App: tests/integration/apps/process_light/ (processes only, no server).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from pathlib import Path
from typing import Any

import pytest

from moonflow.process import ProcessNode

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "process_light"


@pytest.fixture(scope="module")
def app() -> Any:
    from moonflow.registry import load_app

    return load_app(APP_DIR)


async def _run(node: ProcessNode, entry: str, *args: Any, **kw: Any) -> Any:
    outcome = await asyncio.wait_for(node.run(entry, list(args), **kw), 60)
    assert outcome.ok, outcome.error
    return outcome.value


def _without_pid(exit_: dict[str, Any]) -> dict[str, Any]:
    out = dict(exit_)
    out.pop("from", None)
    if "error" in out:
        out["error"] = {
            **out["error"],
            "message": out["error"]["message"].replace(exit_["from"], "PID"),
        }
    return out


async def test_children_returning_values_end_in_lua_with_the_same_exit(app):
    async with ProcessNode(app) as node:
        first = await _run(node, "app:collect", "app:value", 5)
        # The entry's first spawn has a Python side (and so have the children that end after
        # it in the same pump: their EXITs then follow its own, in the order they ended): it
        # is among the ends the Python half of the node remembers ...
        assert first["pids"][0] in node.exited
        got = await _run(node, "app:collect", "app:value", 5)
        exits = got["exits"]
        assert [e["value"] for e in exits] == [1, 2, 3, 4, 5]
        assert all(e["from"] == pid for e, pid in zip(exits, got["pids"], strict=True))
        # ... and none of the next five had one: they ended in Lua
        assert [pid for pid in got["pids"] if pid in node.exited] == []

        shaped = (await _run(node, "app:collect", "app:shaped", 3))["exits"]
        for i, e in enumerate(shaped, 1):
            expected = {"n": i, "list": [1, 2, i], "name": f"child {i}", "nested": {"deep": [i]}}
            assert e["value"] == expected


async def test_false_nil_and_strings_as_results(app):
    async with ProcessNode(app) as node:
        falses = (await _run(node, "app:collect", "app:value", 3, False))["exits"]
        assert [(e["value"], e["is_nil"]) for e in falses] == [(False, False)] * 3
        texts = (await _run(node, "app:collect", "app:value", 3, "héllo"))["exits"]
        assert [e["value"] for e in texts] == ["héllo"] * 3
        for _ in range(3):
            e = await _run(node, "app:spawn_one", "app:value", "app:processes", None)
            assert e["is_nil"] is True and "value" not in e


@pytest.mark.parametrize(
    ("entry", "arg", "kind", "text"),
    [
        ("app:fails", "boom", "Internal", "children.lua:14: boom"),
        ("app:nil_err", "oops", "Internal", "oops"),
        ("app:not_data", None, "Internal", "result cannot be encoded"),
    ],
)
async def test_failures_read_the_same_on_both_paths(app, entry, arg, kind, text):
    async with ProcessNode(app) as node:
        exits = (await _run(node, "app:collect", entry, 3, arg))["exits"]
        assert exits[0]["error"]["kind"] == kind
        assert text in exits[0]["error"]["message"]
        shapes = [_without_pid(e) for e in exits]
        assert shapes[1] == shapes[0] and shapes[2] == shapes[0]


@pytest.mark.parametrize("arg", [False, 0, "text", 2.5, None])
async def test_a_late_monitor_gets_the_value_of_a_light_process(app, arg):
    async with ProcessNode(app) as node:
        rounds = await _run(node, "app:late_monitor", "app:value", arg)
        for r in rounds:
            assert r["same"] is True and "error" not in r
            assert r.get("value") == arg and r["is_nil"] is (arg is None)
            assert r.get("result_value") == arg


async def test_a_late_monitor_of_a_table_result(app):
    async with ProcessNode(app) as node:
        rounds = await _run(node, "app:late_monitor", "app:shaped", 7)
        expected = {"n": 7, "list": [1, 2, 7], "name": "child 7", "nested": {"deep": [7]}}
        assert [r["value"] for r in rounds] == [expected, expected]


async def test_reused_runs_carry_nothing_from_one_process_to_the_next(app):
    async with ProcessNode(app) as node:
        await _run(node, "app:collect", "app:leaky", 1)  # the entry's first spawn
        exits = (await _run(node, "app:collect", "app:leaky", 40))["exits"]
        assert [e.get("value") for e in exits] == ["clean"] * 40
        bad, kept = node.vm.sys.node.check_shells()
        assert kept > 0, "no run was kept for reuse: the test did not exercise reuse"
        assert list(bad.values()) == []


async def test_a_light_process_that_needs_python_gets_its_side(app):
    async with ProcessNode(app) as node:
        got = await _run(node, "app:collect", "app:own_pid", 4)
        assert [e["value"] for e in got["exits"]] == got["pids"]


async def test_a_message_to_a_light_process_before_it_ran(app):
    async with ProcessNode(app) as node:
        rounds = await _run(node, "app:message_then_exit", {"x": [1, 2]})
        assert [r["value"] for r in rounds] == [{"x": [1, 2]}, {"x": [1, 2]}]


@pytest.mark.parametrize(
    ("how", "kind", "text"),
    [("terminate", "Terminated", "terminated by"), ("cancel", "Canceled", "canceled by")],
)
async def test_stopping_a_light_process(app, how, kind, text):
    async with ProcessNode(app) as node:
        rounds = await _run(node, "app:stop_it", how)
        assert "failed" not in rounds, rounds
        for r in rounds:
            assert r["error"]["kind"] == kind
            assert text in r["error"]["message"] and "enough" in r["error"]["message"]


async def test_unmonitor_before_a_light_process_ends(app):
    async with ProcessNode(app) as node:
        assert await _run(node, "app:unmonitored", "app:value") == []


async def test_monitoring_a_light_process_twice_gives_one_exit(app):
    async with ProcessNode(app) as node:
        assert await _run(node, "app:monitor_twice", "app:value") == 2


async def test_a_name_for_a_light_process(app):
    async with ProcessNode(app) as node:
        rounds = await _run(node, "app:by_name", "hi")
        assert [(r["value"], r["name_released"]) for r in rounds] == [("hi", True)] * 2
        assert not node.registry


async def test_many_spawns_in_one_loop(app):
    async with ProcessNode(app) as node:
        assert await _run(node, "app:tight_loop", 5000) == 5000 * 5001 // 2


async def test_a_light_process_out_of_budget(app):
    async with ProcessNode(app, instruction_budget=200_000) as node:
        exits = [await _run(node, "app:spawn_one", "app:spins", None, None) for _ in range(3)]
        for e in exits:
            assert e["error"]["kind"] == "ResourceExhausted"
            assert "instruction budget" in e["error"]["message"]
        assert len({_without_pid(e)["error"]["message"] for e in exits}) == 1


async def test_a_top_level_that_needs_python_spawns_every_time(app):
    async with ProcessNode(app) as node:
        for i in range(3):
            e = await _run(node, "app:spawn_one", "app:requires_at_top", None, i)
            assert e["value"] == f'{{"v":{i}}}'


async def test_a_spawner_with_context_values_passes_them_on(app):
    async with ProcessNode(app) as node:
        for _ in range(3):
            e = await _run(
                node, "app:spawn_one", "app:context_value", None, "k", context={"k": "v"}
            )
            assert e["value"] == "v"


@pytest.mark.parametrize("host", ["app:other_host", "app:console", None])
async def test_hosts_of_light_processes(app, host):
    async with ProcessNode(app) as node:
        for i in range(3):
            e = await _run(node, "app:spawn_one", "app:value", host, i)
            assert e["value"] == i
            assert e["pid"].startswith("{" + (host or "app:processes") + "|0x")


async def test_a_top_level_that_catches_its_need_for_python_still_gets_it(app):
    async with ProcessNode(app) as node:
        for _ in range(3):
            e = await _run(node, "app:spawn_one", "app:catches_at_top", None, None)
            assert e["value"] == "true table"


async def test_a_light_process_that_got_its_python_side_spawns_light_children(app):
    async with ProcessNode(app) as node:
        await _run(node, "app:collect", "app:value", 1)  # the value entry's first spawn
        await _run(node, "app:collect", "app:relay", 1, 1)  # the relay entry's
        before = len(node.exited)
        exits = (await _run(node, "app:collect", "app:relay", 2, 5))["exits"]
        assert [e["value"] for e in exits] == [15, 15]
        # ended with a Python side: the collector and both relays (light until process.pid);
        # their ten children ended in Lua
        assert len(node.exited) == before + 3


# ---- review findings (each test failed before its fix) -----------------------------------------


async def test_a_process_cannot_reach_an_earlier_one_through_its_reused_run(app):
    # Finding: getmetatable(_G) is the run's environment metatable; a reused run kept what the
    # process before had put there (a __newindex copying every global write, an __index).
    async with ProcessNode(app) as node:
        got = await _run(node, "app:alternate", "app:poisoner", "app:thief", 4)
        assert got == [{"loot": False, "unknown": True, "has_mt": True}] * 4
        bad, kept = node.vm.sys.node.check_shells()
        assert kept > 0 and list(bad.values()) == []


@pytest.mark.parametrize("how", ["monitor", "link"])
async def test_monitor_or_link_of_a_process_that_never_ran(app, how):
    # Finding: N.ended answered a miss with one value where Python unpacked two (a TypeError
    # inside process.monitor instead of nil, NotFound).
    async with ProcessNode(app) as node:
        got = await _run(node, "app:monitor_pid", "{app:processes|0x00999}", how)
        assert got == "NotFound: no process {app:processes|0x00999}"


async def test_a_late_monitor_takes_the_pid_as_printed_only(app):
    # Finding: the remembered ends were looked up by the number Python parsed, so
    # {app:processes|0x4} and {app:processes|0x_4} found {app:processes|0x00004}.
    async with ProcessNode(app) as node:
        pid = await _run(node, "app:returns_pid", "app:value")
        assert await _run(node, "app:monitor_pid", pid, "monitor") == "ok"
        number = int(pid.rsplit("|0x", 1)[1][:-1], 16)
        for alias in (f"{{app:processes|0x{number:x}}}", f"{{app:processes|0x_{number:x}}}"):
            got = await _run(node, "app:monitor_pid", alias, "monitor")
            assert got == f"NotFound: no process {alias}"


async def test_remembered_results_are_held_to_their_size(app):
    # Finding: a result's size was what the state grew by while copying it, and strings are
    # shared, not copied: 1,500 results of 1 MB were all kept (1.5 GB).
    async with ProcessNode(app) as node:
        assert await _run(node, "app:lengths", "app:big_string", 1) == 1_000_000
        node.vm.collectgarbage("collect")
        before = node.vm.memory_used()
        assert await _run(node, "app:lengths", "app:big_string", 40) == 40_000_000
        node.vm.collectgarbage("collect")
        grown = node.vm.memory_used() - before
        assert grown < 8_000_000, f"the Lua state kept {grown} bytes of 40 MB of results"


async def test_a_spawner_does_not_pay_for_its_childrens_top_level(app):
    # Finding: a light child's file top level runs in its spawner's step, under that step's
    # memory cap: children keeping 4 MB each at their top level left the spawner (16 MiB cap)
    # no room for 8 MB of its own.
    async with ProcessNode(app, max_memory=16 * 1024 * 1024) as node:
        assert await _run(node, "app:spawn_then_allocate", "app:top_alloc", 5, 8192) == 524_288


async def test_spawns_inside_a_c_callback(app):
    # Finding: every 64th light spawn let the others run by waiting, which cannot happen in a
    # function C calls (a string.gsub callback): the 64th spawn failed after making its child.
    async with ProcessNode(app) as node:
        assert await _run(node, "app:spawn_in_gsub", 100) == {"pids": 100, "exits": 100}


async def test_a_failure_nobody_watches_is_logged(app, caplog):
    # A newcomer's finding: workers spawned with plain process.spawn that raised left no trace.
    async with ProcessNode(app) as node:
        with caplog.at_level(logging.WARNING, logger="moonflow.process"):
            assert await _run(node, "app:fire_and_forget", "app:fails", 3, "lost") == 3
            assert await _run(node, "app:fire_and_forget", "app:value", 2, 1) == 2
            await _run(node, "app:collect", "app:fails", 2, "seen")  # monitored: not logged
            await _run(node, "app:stop_it", "terminate")  # stopped on purpose: not logged
        lines = [r.getMessage() for r in caplog.records if "nothing monitors" in r.getMessage()]
        assert len(lines) == 3, lines
        assert all("(app:fails, spawned by {app:" in line and "lost" in line for line in lines)


async def test_unwatched_failures_are_not_logged_without_bound(app, caplog):
    # A third review's finding: an app failing thousands of unwatched workers printed a line
    # for each (3,900 lines after Ctrl-C).
    with caplog.at_level(logging.WARNING, logger="moonflow.process"):
        async with ProcessNode(app) as node:
            assert await _run(node, "app:fire_and_forget", "app:fails", 30, "many") == 30
        messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "nothing monitors" in m]) == 10
    assert "20 more processes failed unwatched (not shown)" in messages


async def test_a_process_reading_math_stays_light(app):
    # A third review's finding: reading `math` seeded its random generator from the host at
    # once (a Python call), so any use of math.floor gave a spawned process a Python side.
    async with ProcessNode(app) as node:
        await _run(node, "app:collect", "app:floors", 1, 2.5)  # the entry's first spawn
        got = await _run(node, "app:collect", "app:floors", 20, 2.5)
        assert [e["value"] for e in got["exits"]] == [4] * 20
        assert [pid for pid in got["pids"] if pid in node.exited] == []


# ---- second review ------------------------------------------------------------------------------


async def test_a_closed_node_is_freed(app):
    # Finding: the scheduler held the node's own methods (Lua -> Python -> Lua: a cycle
    # Python's collector cannot see): every closed node stayed in memory with its Lua state.
    refs = []
    for _ in range(3):
        async with ProcessNode(app) as node:
            await _run(node, "app:collect", "app:value", 3)
            refs.append(weakref.ref(node))
        del node
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


async def test_exits_arrive_in_the_order_the_processes_ended(app):
    # Finding: a light child's EXIT went into its watcher's events during the pump, and a child
    # ended on the Python path (a failure, an entry's first spawn) got its EXIT after it: the
    # watcher saw [2, 4, 1, 3] for children that ended 1, 2, 3, 4.
    async with ProcessNode(app) as node:
        items = [["app:fails", "x"], ["app:value", 2], ["app:fails", "y"], ["app:value", 4]]
        assert await _run(node, "app:arrival_order", items) == [1, 2, 3, 4]
        assert await _run(node, "app:arrival_order", items * 3) == list(range(1, 13))


async def test_the_ends_remembered_are_the_latest_ones(app):
    # Finding: ended light processes were kept by PID number, so a light process that ended
    # 10,000 spawns later took an earlier one's place although only two had ended. (Ends of
    # processes with a Python side are remembered apart, by ProcessNode._keep_exited: at
    # least the last 10,000 ends are, as the README says.)
    async with ProcessNode(app) as node:
        assert await _run(node, "app:late_after_many", 9_999) == "A"


async def test_a_node_runs_the_files_it_first_read(tmp_path):
    # Finding: a node kept an entry's file from its first spawn (light spawns run from that
    # copy) but read a library it requires anew when it changed: an old main file with a new
    # library. Every file a node runs is now read once.
    from moonflow.registry import load_app

    (tmp_path / "app.yaml").write_text(
        """version: "1.0"
namespace: app
entries:
  - name: processes
    kind: process.host
  - name: fmt
    kind: library.lua
    source: file://fmt.lua
  - name: child
    kind: function.lua
    source: file://child.lua
    method: main
    imports: {fmt: app:fmt}
"""
    )
    (tmp_path / "fmt.lua").write_text('return { version = "v1" }\n')
    child = (
        'local fmt = require("fmt")\nreturn { main = function() return "%s " .. fmt.version end }\n'
    )
    (tmp_path / "child.lua").write_text(child % "v1")
    app = load_app(tmp_path)
    async with ProcessNode(app) as node:
        assert await _run(node, "app:child") == "v1 v1"
        (tmp_path / "fmt.lua").write_text('return { version = "v2" }\n')
        (tmp_path / "child.lua").write_text(child % "v2")
        assert await _run(node, "app:child") == "v1 v1"
