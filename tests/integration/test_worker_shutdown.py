"""Worker shutdown is not the activity's failure (issue 16 item 4b).

Real ``moonflow run`` worker processes against one dev server: SIGTERM lets a running Lua
activity finish within ``worker_stop_timeout``; one the stop timeout cuts short is reported as
retryable and runs again at once on a second worker (not after its start-to-close timeout).
Also: a stop timeout over 30 s is waited out in full, and worker options moonflow cannot
honour are refused when the app loads.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from moonflow.cli._commands import WORKER_SHUTDOWN_MARGIN, shutdown_wait
from moonflow.errors import AppError
from moonflow.registry import load_app
from moonflow.worker import build_workers
from tests._apps import app_index
from tests.integration._hit_counter import loopback_http

pytestmark = pytest.mark.integration

ACT = """\
local time = require("time")
local http_client = require("http_client")
local activity = require("activity")
local function work(url, seconds, later_seconds)
  local attempt = activity.info().attempt
  http_client.get(url .. "/start/" .. attempt)
  time.sleep((attempt == 1 and seconds or later_seconds) * time.SECOND)
  http_client.get(url .. "/done/" .. attempt)
  return attempt
end
return { work = work }
"""

WF = """\
local funcs = require("funcs")
local function main(url, seconds, later_seconds)
  local attempt, err = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "2m",
    ["activity.retry_policy"] = { maximum_attempts = 3, initial_interval = "100ms" },
  }):call("app:work", url, seconds, later_seconds)
  if err then
    return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
  end
  return { attempt = attempt }
end
return { main = main }
"""


# The same activity as a function.py entry (a sync function in the worker's thread pool).
# Both take ``seconds`` on the first attempt and ``later_seconds`` on the others.
ACT_PY = """\
import time
import urllib.request

from temporalio import activity


def work(url, seconds, later_seconds):
    attempt = activity.info().attempt
    urllib.request.urlopen(f"{url}/start/{attempt}").read()
    end = time.monotonic() + (seconds if attempt == 1 else later_seconds)
    while time.monotonic() < end:
        time.sleep(0.05)
    urllib.request.urlopen(f"{url}/done/{attempt}").read()
    return attempt
"""

LUA_WORK = """\
          - name: work
            kind: function.lua
            source: file://act.lua
            method: work
            modules: [time, http_client, activity]
            meta: {temporal: {activity: {worker: app:worker}}}
"""

PY_WORK = """\
          - name: work
            kind: function.py
            source: file://act.py
            method: work
            meta: {temporal: {activity: {worker: app:worker}}}
"""


WF_ENTRY = """\
- name: wf
  kind: workflow.lua
  source: file://wf.lua
  method: main
  modules: [funcs]
  meta: {temporal: {workflow: {worker: app:worker}}}
"""


def _index(tq: str, worker_options: str, work: str = LUA_WORK) -> str:
    return app_index(tq, WF_ENTRY + textwrap.dedent(work), f"worker_options: {worker_options}")


def _write_app(root: Path, worker_options: str, lang: str = "lua") -> tuple[Path, str]:
    tq = f"tq-{uuid.uuid4().hex[:12]}"
    root.mkdir()
    (root / "_index.yaml").write_text(
        _index(tq, worker_options, PY_WORK if lang == "python" else LUA_WORK)
    )
    (root / "act.lua").write_text(ACT)
    (root / "act.py").write_text(ACT_PY)
    (root / "wf.lua").write_text(WF)
    return root, tq


@pytest.fixture
def hits() -> Iterator[tuple[str, list[tuple[str, float]]]]:
    seen: list[tuple[str, float]] = []

    def record(request: BaseHTTPRequestHandler) -> bytes:
        seen.append((request.path, time.monotonic()))
        return b"ok"

    with loopback_http(record) as url:
        yield url, seen


class _Worker:
    """One ``moonflow run APP --server ADDRESS`` process (output in a file)."""

    def __init__(self, app: Path, address: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moonflow", "run", str(app), "--server", address],
            stdout=open(log, "wb"),  # noqa: SIM115 - owned by the child
            stderr=subprocess.STDOUT,
        )
        _wait(lambda: "running on" in self.output(), 60, f"{log.name} to start")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _paths(hits: list[tuple[str, float]]) -> list[str]:
    return [p for p, _ in hits]


def _address(env: Any) -> str:
    return env.client.service_client.config.target_host


async def _start(
    env: Any, app: Path, tq: str, url: str, seconds: int, later_seconds: int | None = None
) -> Any:
    """Start app:wf: its activity takes ``seconds`` on its first attempt, ``later_seconds``
    (default: the same) on the others."""
    loaded = load_app(app)
    return await env.client.start_workflow(
        loaded.workflow_type("app:wf"),
        args=[url, seconds, seconds if later_seconds is None else later_seconds],
        id=f"shutdown-{uuid.uuid4().hex[:8]}",
        task_queue=tq,
    )


async def test_sigterm_lets_a_running_activity_finish_within_the_stop_timeout(
    dev_env, tmp_path, hits
):
    url, seen = hits
    app, tq = _write_app(tmp_path / "app", '{worker_stop_timeout: "20s"}')
    first = _Worker(app, _address(dev_env), tmp_path / "first.log")
    second = None
    try:
        handle = await _start(dev_env, app, tq, url, 4)
        _wait(lambda: "/start/1" in _paths(seen), 60, "the activity to start")
        t0 = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        code = first.proc.wait(60)
        exited = time.monotonic()
        print(f"worker exited {exited - t0:.2f} s after SIGTERM; hits {_paths(seen)}")
        assert code == 0, first.output()
        assert "/done/1" in _paths(seen), first.output()
        done_at = dict(seen)["/done/1"]
        assert done_at < exited  # it finished before the worker went away
        # the workflow goes on on another worker with the first attempt's result
        second = _Worker(app, _address(dev_env), tmp_path / "second.log")
        assert await handle.result() == {"attempt": 1}
        assert _paths(seen).count("/start/1") == 1 and "/start/2" not in _paths(seen)
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.parametrize("lang", ["lua", "python"])
async def test_an_activity_cut_short_by_shutdown_runs_again_on_another_worker_at_once(
    dev_env, tmp_path, hits, lang
):
    url, seen = hits
    app, tq = _write_app(tmp_path / "app", '{worker_stop_timeout: "1s"}', lang)
    first = _Worker(app, _address(dev_env), tmp_path / "first.log")
    second = None
    try:
        # the first attempt outlasts the second worker's start and is cut short; the second
        # runs 1 s
        handle = await _start(dev_env, app, tq, url, 30, 1)
        _wait(lambda: "/start/1" in _paths(seen), 60, "the activity to start")
        second = _Worker(app, _address(dev_env), tmp_path / "second.log")
        t0 = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(60) == 0, first.output()
        _wait(lambda: "/start/2" in _paths(seen), 60, "the second attempt")
        restarted = dict(seen)["/start/2"] - t0
        result = await handle.result()
        print(f"attempt 2 started {restarted:.2f} s after SIGTERM; hits {_paths(seen)}")
        assert result == {"attempt": 2}, result
        assert "/done/1" not in _paths(seen)  # the first attempt was stopped, not finished
        # at once: not after the 2 m start-to-close timeout of the lost attempt
        assert restarted < 30, restarted
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_stop_timeout_over_30_s_is_waited_out(dev_env, tmp_path) -> None:
    app, _tq = _write_app(tmp_path / "app", '{worker_stop_timeout: "45s"}')
    loaded = load_app(app)
    clients = {c.entry.id: dev_env.client for c in loaded.clients()}
    assert shutdown_wait(build_workers(loaded, clients)) == 45 + WORKER_SHUTDOWN_MARGIN
    app0, _ = _write_app(tmp_path / "app0", "{}")
    loaded0 = load_app(app0)
    # the default: a few seconds, not 0
    assert shutdown_wait(build_workers(loaded0, clients)) == 5 + WORKER_SHUTDOWN_MARGIN


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ('{deadlock_detection_timeout: "5s"}', "fixes deadlock detection at 2 s"),
        ("{enable_session_worker: true}", "no Temporal sessions"),
        ("{max_concurrent_session_execution_size: 100}", "no Temporal sessions"),
        ("{max_concurrent_eager_activity_execution_size: 5}", "no separate cap"),
        ("{worker_local_activities_per_second: 10}", "no rate limit for local activities"),
        ("{enable_logging_in_replay: true}", "never again while the workflow replays"),
        ('{deployment_name: "orders"}', "Worker Deployments"),
        ("{default_versioning_behavior: auto_upgrade}", "by build id"),
    ],
)
def test_worker_options_moonflow_cannot_honour_are_refused(
    tmp_path: Path, option: str, says: str
) -> None:
    app, _ = _write_app(tmp_path / "app", option)
    with pytest.raises(AppError, match=says):
        load_app(app)
    check = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", str(app)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 2
    assert "is not supported" in check.stderr and says in check.stderr, check.stderr


def test_their_defaults_are_accepted(tmp_path: Path) -> None:
    app, _ = _write_app(
        tmp_path / "app",
        '{deadlock_detection_timeout: "0s", enable_session_worker: false, '
        "enable_logging_in_replay: false, worker_local_activities_per_second: 0, "
        "default_versioning_behavior: pinned, disable_registration_aliasing: true}",
    )
    load_app(app)
