"""``moonflow check`` warns about options that keep activities from being dispatched eagerly
(issue 18, item 1): worker_options that disable it or set an activity rate limit, and a
workflow calling an activity that another task queue serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from moonflow.cli._check import summarize
from moonflow.registry import load_app
from tests._apps import app_index

SRC = str(Path(__file__).resolve().parents[3] / "src")

#: The entries after app:worker (task queue "main"); app:other serves another queue.
ENTRIES = """\
- name: other
  kind: temporal.worker
  client: app:temporal_client
  task_queue: "{other_queue}"
- name: flow
  kind: workflow.lua
  source: file://flow.lua
  method: main
  modules: [funcs]
  meta:
    temporal:
      workflow:
        worker: app:worker
- name: near
  kind: function.lua
  source: file://echo.lua
  method: echo
  meta:
    temporal:
      activity:
        worker: app:worker
- name: far
  kind: function.lua
  source: file://echo.lua
  method: echo
  meta:
    temporal:
      activity:
        worker: app:other
        local: {far_local}
"""

FLOW = """\
local funcs = require("funcs")
local function main(x)
  local a = funcs.call("app:near", x)
  local b = funcs.call("app:far", x)
  return {a, b}
end
return { main = main }
"""


def _app(
    tmp_path: Path, worker_options: str = "", other_queue: str = "side", far_local: str = "false"
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "_index.yaml").write_text(
        app_index(
            "main",
            ENTRIES.format(other_queue=other_queue, far_local=far_local),
            worker_extra=worker_options,
        )
    )
    (tmp_path / "flow.lua").write_text(FLOW)
    (tmp_path / "echo.lua").write_text("return { echo = function(x) return x end }\n")
    return tmp_path


def _warnings(root: Path) -> list[str]:
    return [line for line in summarize(load_app(root)) if "eager" in line or "queue it" in line]


def test_an_activity_on_another_task_queue_is_named_at_the_call(tmp_path: Path) -> None:
    (line,) = _warnings(_app(tmp_path))
    assert line.startswith("warning: flow.lua:4: app:flow: calls activity app:far, which runs on ")
    assert "task queue 'side' (worker app:other), not on the workflow's 'main'" in line
    assert "meta.temporal.activity.worker app:worker, or local: true" in line
    assert "history.transferProcessorMaxPollRPS" in line
    assert "\n" not in line


def test_the_same_queue_or_a_local_activity_is_fine(tmp_path: Path) -> None:
    assert _warnings(_app(tmp_path / "a", other_queue="main")) == []
    assert _warnings(_app(tmp_path / "b", far_local="true")) == []


def test_worker_options_that_turn_eager_dispatch_off(tmp_path: Path) -> None:
    options = (
        "worker_options:\n"
        "  disable_eager_activities: true\n"
        "  task_queue_activities_per_second: 10\n"
        "  worker_activities_per_second: 0\n"
    )
    root = _app(tmp_path, options, other_queue="main")
    lines = _warnings(root)
    assert len(lines) == 2, lines  # a 0 rate is "no limit"
    assert lines[0].startswith(
        "warning: _index.yaml:12: app:worker: worker_options.disable_eager_activities = true "
        "turns eager activity dispatch off: "
    )
    assert lines[1].startswith(
        "warning: _index.yaml:13: app:worker: worker_options.task_queue_activities_per_second "
        "= 10 is a task-queue rate limit"
    )
    assert all(line.endswith("remove it unless the limit is meant") for line in lines)


def test_moonflow_check_prints_them(tmp_path: Path) -> None:
    root = _app(tmp_path, "worker_options:\n  worker_activities_per_second: 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", str(root)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[-1] == "ok"
    assert any("worker_activities_per_second = 5 is a per-worker rate limit" in x for x in out)
    assert any("calls activity app:far" in x for x in out)
