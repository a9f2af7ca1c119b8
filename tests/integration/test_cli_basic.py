"""The ``moonflow`` command end to end on a tiny app, as a user runs it (subprocesses).

Every command must return its own exit code every time (the SDK core can abort the interpreter
at exit), so the success and failure paths run several times each.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._cli import SRC, moonflow_run

pytestmark = pytest.mark.integration

REPEAT = 5


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 1000 < 65536 and not _port_open(port + 1000):
            return port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def moonflow_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def write_tiny_app(root: Path, port: int) -> Path:
    """app:ok returns {ok = true, n = input.n + 1}; app:fail returns nil, an Invalid error."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(
        textwrap.dedent(f"""\
        version: "1.0"
        namespace: app
        entries:
          - name: temporal_client
            kind: temporal.client
            address: "127.0.0.1:{port}"
            namespace: "default"
            search_attributes:
              status: Keyword
          - name: worker
            kind: temporal.worker
            client: app:temporal_client
            task_queue: "tiny-{uuid.uuid4().hex[:8]}"
          - name: ok
            kind: workflow.lua
            source: file://workflow.lua
            method: main
            modules: [time, workflow]
            meta:
              temporal:
                workflow:
                  worker: app:worker
          - name: fail
            kind: workflow.lua
            source: file://fail.lua
            method: main
            modules: [errors]
            meta:
              temporal:
                workflow:
                  worker: app:worker
        """)
    )
    (root / "workflow.lua").write_text(
        textwrap.dedent("""\
        local time = require("time")
        local workflow = require("workflow")

        local function main(input)
            if input.sleep then time.sleep(input.sleep) end
            if input.status then workflow.attrs({search = {status = input.status}}) end
            return {ok = true, n = input.n + 1}
        end

        return { main = main }
        """)
    )
    (root / "fail.lua").write_text(
        textwrap.dedent("""\
        local errors = require("errors")

        local function main(input)
            return nil, errors.new({kind = errors.INVALID, message = "n is bad: " .. input.n,
                                    retryable = false})
        end

        return { main = main }
        """)
    )
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, int]:
    port = _free_port()
    return write_tiny_app(tmp_path / "tiny", port), port


def _one_json_line(out: str) -> object:
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_check(tiny: tuple[Path, int]) -> None:
    app, port = tiny
    done = moonflow_cli("check", str(app))
    assert done.returncode == 0, done.stderr
    assert "workflow app:ok: type app:ok, worker app:worker" in done.stdout
    assert "workflow app:fail: type app:fail, worker app:worker" in done.stdout
    assert f"127.0.0.1:{port}" in done.stdout


def test_execute_success_exit_0_every_time(tiny: tuple[Path, int]) -> None:
    app, _ = tiny
    for i in range(REPEAT):
        done = moonflow_cli(
            "execute",
            str(app),
            "app:ok",
            "--input",
            json.dumps({"n": i}),
            "--server",
            "time-skipping",
        )
        assert done.returncode == 0, (i, done.stdout, done.stderr)
        assert _one_json_line(done.stdout) == {"ok": True, "n": i + 1}
        assert "Fatal Python error" not in done.stderr


def test_execute_failure_exit_1_every_time(tiny: tuple[Path, int]) -> None:
    app, _ = tiny
    for i in range(REPEAT):
        done = moonflow_cli(
            "execute",
            str(app),
            "fail",
            "--input",
            json.dumps({"n": i}),
            "--server",
            "time-skipping",
        )
        assert done.returncode == 1, (i, done.stdout, done.stderr)
        assert _one_json_line(done.stdout) == {
            "error": {"kind": "Invalid", "message": f"n is bad: {i}", "retryable": False}
        }
        lines = done.stderr.splitlines()
        # the workflow's id as it starts (issue 17 item 3), then the failure in one line
        assert len(lines) == 2, done.stderr
        assert lines[0].startswith("moonflow: started workflow fail-"), done.stderr
        assert "failed: Invalid: n is bad" in lines[1]


def test_execute_one_hour_sleep_on_time_skipping(tiny: tuple[Path, int], tmp_path: Path) -> None:
    app, _ = tiny
    input_file = tmp_path / "in.json"
    input_file.write_text(json.dumps({"n": 41, "sleep": "1h", "status": "waiting"}))
    t0 = time.monotonic()
    done = moonflow_cli(
        "execute",
        str(app),
        "app:ok",
        "--input-file",
        str(input_file),
        "--id",
        "tiny-sleep",
        "--server",
        "time-skipping",
    )
    assert done.returncode == 0, done.stderr
    assert _one_json_line(done.stdout) == {"ok": True, "n": 42}
    assert time.monotonic() - t0 < 30


def test_execute_on_memory_server(tiny: tuple[Path, int]) -> None:
    app, port = tiny
    done = moonflow_cli(
        "execute", str(app), "app:ok", "--input", '{"n": 1, "status": "x"}', "--server", "memory"
    )
    assert done.returncode == 0, done.stderr
    assert _one_json_line(done.stdout) == {"ok": True, "n": 2}
    assert not (app / ".moonflow").exists()  # memory: nothing written under the app
    assert not _port_open(port)


def test_execute_bad_input_is_exit_2(tiny: tuple[Path, int]) -> None:
    app, _ = tiny
    done = moonflow_cli("execute", str(app), "app:ok", "--input", "{n: 1}")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("moonflow: error: --input: invalid JSON: ")
    assert len(done.stderr.splitlines()) == 1


def test_execute_embedded_starts_and_stops_its_server(tiny: tuple[Path, int]) -> None:
    app, port = tiny
    done = moonflow_cli("execute", str(app), "app:ok", "--input", '{"n": 9}')
    assert done.returncode == 0, done.stderr
    assert _one_json_line(done.stdout) == {"ok": True, "n": 10}
    assert f"http://localhost:{port + 1000}" in done.stderr  # the Web UI address
    assert (app / ".moonflow" / "temporal.db").is_file()
    assert not _port_open(port)


@pytest.fixture
def running(
    tiny: tuple[Path, int], tmp_path: Path
) -> Iterator[tuple[Path, subprocess.Popen[bytes], Path]]:
    """``moonflow run`` on the embedded server, stopped with SIGINT at the end (must exit 0)."""
    app, port = tiny
    log = tmp_path / "run.log"
    with moonflow_run(str(app), log=log, env=_env()) as proc:
        yield app, proc, log
    deadline = time.monotonic() + 10
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _port_open(port)


def test_run_start_result(running: tuple[Path, subprocess.Popen[bytes], Path]) -> None:
    app, proc, log = running
    text = log.read_text()
    assert "worker app:worker on task queue 'tiny-" in text
    assert "workflows app:ok, app:fail" in text or "workflows app:fail, app:ok" in text
    assert "Web UI http://localhost:" in text

    started = moonflow_cli("start", str(app), "app:ok", "--input", '{"n": 5}', "--id", "t-1")
    assert started.returncode == 0, started.stderr
    info = _one_json_line(started.stdout)
    assert info["workflow_id"] == "t-1" and info["run_id"]
    assert info["pid"] == "{app:temporal_client@app:worker|t-1}"

    for ref in ("t-1", info["pid"]):
        result = moonflow_cli("result", str(app), ref)
        assert result.returncode == 0, result.stderr
        assert _one_json_line(result.stdout) == {"ok": True, "n": 6}

    started = moonflow_cli("start", str(app), "app:fail", "--input", '{"n": 3}')
    assert started.returncode == 0, started.stderr
    wid = _one_json_line(started.stdout)["workflow_id"]
    assert wid.startswith("fail-")
    result = moonflow_cli("result", str(app), wid)
    assert result.returncode == 1
    assert _one_json_line(result.stdout)["error"]["kind"] == "Invalid"

    missing = moonflow_cli("result", str(app), "no-such-workflow")
    assert missing.returncode == 2
    assert len(missing.stderr.splitlines()) == 1 and "no-such-workflow" in missing.stderr


def test_start_without_a_running_server_is_exit_2(tiny: tuple[Path, int]) -> None:
    app, port = tiny
    done = moonflow_cli("start", str(app), "app:ok", "--input", '{"n": 1}')
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in done.stderr
    assert "moonflow run" in done.stderr
    assert not _port_open(port)  # start never launches a server


def test_execute_without_input_runs_the_workflow_with_none(tiny: tuple[Path, int]) -> None:
    # no --input: the workflow gets no argument (Lua nil), and execute still starts it
    app, _port = tiny
    done = moonflow_cli("execute", str(app), "app:fail", "--server", "time-skipping", "-q")
    assert done.returncode == 1, done.stderr
    error = _one_json_line(done.stdout)["error"]  # type: ignore[index]
    assert error["kind"] == "Internal" and "attempt to" in error["message"], error
    assert "input" in error["message"], error
