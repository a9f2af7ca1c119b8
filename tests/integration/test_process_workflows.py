"""Workflows driven from processes (issue #14, item 4): a function entry run as a process starts
workflows, messages them, receives their replies, monitors, links and terminates them, and
receives messages a workflow sends to its PID exactly once. The scenarios are Lua function
entries (apps/process_workflows/); each runs as a process on a ProcessNode against the real dev
server, with the app's worker replaying every workflow task from history (cache off), and one
runs through `moonflow run -x`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moonflow.process import ProcessNode

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

SOURCES = Path(__file__).parent / "apps" / "process_workflows"
WORKFLOWS = ("counter", "sleeper", "failing", "asker")
SCENARIOS = (
    "drive_counter",
    "exec_failing",
    "terminate_monitor_link",
    "answer_workflow",
    "exec_running_id",
)


def function_entry(name: str, modules: str = "[time]") -> str:
    return f"""
- name: {name}
  kind: function.lua
  source: file://{name}.lua
  method: main
  modules: {modules}
"""


def _app(make_app):
    entries = "".join(workflow_entry(w, f"{w}.lua", "[time]") for w in WORKFLOWS)
    entries += "".join(function_entry(s) for s in SCENARIOS)
    files = {f"{n}.lua": (SOURCES / f"{n}.lua").read_text() for n in (*WORKFLOWS, *SCENARIOS)}
    app = make_app(entries, files)
    app.no_cache = True
    return app


async def _run(dev_env, app, entry: str):
    clients = {c.entry.id: dev_env.client for c in app.app.clients()}
    async with app.workers(dev_env), ProcessNode(app.app, clients) as node:
        return await node.run(entry)


async def test_a_function_drives_a_workflow_with_messages_replies_and_exit(dev_env, make_app):
    outcome = await _run(dev_env, _app(make_app), "app:drive_counter")
    assert outcome.ok, outcome.error
    assert outcome.value == {
        "status": {"total": 22},
        "kind": "pid.exit",
        "from_is_pid": True,
        "result": {"total": 22},
        "value": {"total": 22},
    }


async def test_exec_of_a_failing_workflow_returns_its_error(dev_env, make_app):
    outcome = await _run(dev_env, _app(make_app), "app:exec_failing")
    assert outcome.ok, outcome.error
    assert outcome.value == {"kind": "NotFound", "message": "no such order", "retryable": False}


async def test_monitor_after_start_terminate_unmonitor_and_trapped_link(dev_env, make_app):
    outcome = await _run(dev_env, _app(make_app), "app:terminate_monitor_link")
    assert outcome.ok, outcome.error
    value = outcome.value
    assert value["terminated"]["kind"] == "pid.exit"
    assert value["terminated"]["from_ok"] is True
    assert value["terminated"]["error_kind"] == "Terminated"
    assert "enough" in value["terminated"]["message"]
    assert value["after_unmonitor"] == "nothing"
    assert value["link_down"] == {
        "kind": "pid.link_down",
        "is_link_down": True,
        "from_ok": True,
        "error_kind": "Terminated",
    }


async def test_a_workflow_message_to_a_process_arrives_exactly_once(dev_env, make_app):
    outcome = await _run(dev_env, _app(make_app), "app:answer_workflow")
    assert outcome.ok, outcome.error
    assert outcome.value == {
        "question": "what is 6 x 7?",
        "from_is_pid": True,
        "result": {"value": 42},
        "extra": 0,
    }


async def test_exec_of_a_running_explicit_id_is_already_exists(dev_env, make_app):
    outcome = await _run(dev_env, _app(make_app), "app:exec_running_id")
    assert outcome.ok, outcome.error
    assert outcome.value == {"joined": True, "kind": "AlreadyExists"}


def test_moonflow_run_x_drives_a_workflow(make_app) -> None:
    """The same scenario through the command line, on an in-memory server moonflow starts."""
    app = _app(make_app)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "moonflow",
            "run",
            str(app.root),
            "--server",
            "memory",
            "-x",
            "app:exec_failing",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "kind": "NotFound",
        "message": "no such order",
        "retryable": False,
    }
