"""What ``moonflow execute`` / ``result`` show while they wait, Ctrl-C on ``execute``, and the
lost/back connection notices (issue 17 items 3, 4, 5), through the real command in a subprocess.

The app's activity ``app:charge`` fails with a retryable error ("card declined") until the
attempt its input names.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._apps import app_index
from tests.integration.test_cli_basic import SRC, _free_port, _port_open

pytestmark = pytest.mark.integration

TIMEOUT = 180.0  # seconds for one command on a busy 2-core machine


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MOONFLOW_SERVER", "TEMPORAL_ADDRESS")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TERM", None)
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "moonflow", *args]


def _moonflow(*args: str) -> subprocess.CompletedProcess[str]:
    """``moonflow ARGS`` run to its end (output captured as text)."""
    return subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(), timeout=TIMEOUT)


LUA_FILES = {
    "flaky.lua": """\
local funcs = require("funcs")
local time = require("time")

local function main(input)
    if input.sleep then time.sleep(input.sleep) end
    -- a short start-to-close timeout: an attempt whose answer is lost while the server
    -- is down is tried again in seconds, not after the default 10 minutes
    local exec = funcs.new():with_options({
        ["activity.start_to_close_timeout"] = 5000,
        ["activity.retry_policy"] = {
            initial_interval = 1000, backoff_coefficient = 1.0,
            maximum_attempts = input.attempts or 0,
        },
    })
    local out, err = exec:call("app:charge", input.ok_at or 0)
    if err then return nil, err end
    return {charged = out}
end

return { main = main }
""",
    "parent.lua": """\
local workflow = require("workflow")

local function main(input)
    local out, err = workflow.exec("app:flaky", input)
    if err then return nil, err end
    return {child = out}
end

return { main = main }
""",
    "charge.lua": """\
local activity = require("activity")
local errors = require("errors")

local function main(ok_at)
    if ok_at == 0 or activity.info().attempt < ok_at then
        return nil, errors.new({kind = errors.UNAVAILABLE, message = "card declined",
                                retryable = true})
    end
    return "ok at " .. activity.info().attempt
end

return { main = main }
""",
}


def write_app(root: Path, port: int) -> Path:
    """app:flaky (after ``input.sleep``, if any) calls app:charge, retried every second up to
    ``input.attempts`` times (0: no limit); charge fails with a retryable error ("card declined")
    until its attempt ``input.ok_at`` (0: never). app:parent runs app:flaky as its child."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(
        app_index(
            f"progress-{uuid.uuid4().hex[:8]}",
            """\
          - name: flaky
            kind: workflow.lua
            source: file://flaky.lua
            method: main
            modules: [funcs, time]
            meta:
              temporal:
                workflow:
                  worker: app:worker
          - name: parent
            kind: workflow.lua
            source: file://parent.lua
            method: main
            modules: [workflow]
            meta:
              temporal:
                workflow:
                  worker: app:worker
          - name: charge
            kind: function.lua
            source: file://charge.lua
            method: main
            modules: [activity, errors]
            meta:
              temporal:
                activity:
                  worker: app:worker
        """,
            address=f"127.0.0.1:{port}",
        )
    )
    for name, src in LUA_FILES.items():
        (root / name).write_text(src)
    return root


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", _free_port())


class Server:
    """``moonflow server`` on a fixed port with its state in a file (restartable)."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db = tmp_path / "server.db"
        self.log = tmp_path / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            _cmd("server", "--port", str(self.port), "--headless", "--db", str(self.db)),
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            env=_env(),
        )
        deadline = time.monotonic() + TIMEOUT
        while not _port_open(self.port):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            assert self.proc.wait(timeout=60) == 0, self.log.read_text()
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests of this module that only need one running (each test's app
    has a task queue of its own)."""
    srv = Server(tmp_path_factory.mktemp("server"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server for one test, which may stop and start it."""
    srv = Server(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Background:
    """A ``moonflow`` command in the background; stdout and stderr collected in files (both in
    the stderr file for ``run``, which prints its notices on stdout)."""

    def __init__(self, tmp_path: Path, name: str, *args: str) -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        err = open(self.err, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            _cmd(*args),
            stdout=err if args[0] == "run" else open(self.out, "wb"),  # noqa: SIM115
            stderr=err,
            env=_env(),
        )

    def stderr(self) -> str:
        return self.err.read_text()

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Wait until stderr matches ``pattern`` (a regex); return stderr."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.stderr()):
            assert self.proc.poll() is None or re.search(pattern, self.stderr()), (
                pattern,
                self.proc.returncode,
                self.stderr(),
            )
            assert time.monotonic() < deadline, (pattern, self.stderr())
            time.sleep(0.2)
        return self.stderr()

    def finish(self, timeout: float = TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Any]:
    started: list[Background] = []

    def start(name: str, *args: str) -> Background:
        bg = Background(tmp_path, name, *args)
        started.append(bg)
        return bg

    yield start
    for bg in started:
        if bg.proc.poll() is None:
            bg.proc.send_signal(signal.SIGINT)
            try:
                bg.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                bg.kill()


def _started_id(stderr: str) -> str:
    found = re.search(r"^moonflow: started workflow (\S+) \(PID \{[^}]+\}\)", stderr, re.M)
    assert found, stderr
    return found.group(1)


def _failed_attempts(stderr: str, label: str = "") -> list[tuple[str, str]]:
    """The (failed, next) attempt numbers of the lines about app:charge (each next = failed + 1)."""
    found = re.findall(
        rf"^moonflow: {re.escape(label)}activity app:charge attempt (\d+) failed: card declined; "
        r"attempt (\d+) at [0-9:]+$",
        stderr,
        re.M,
    )
    assert all(int(b) == int(a) + 1 for a, b in found), stderr
    return found


def test_non_tty_logs_each_failed_attempt_and_stdout_is_only_the_result(
    app: Path, tmp_path: Path, background: Any
) -> None:
    run = background(
        "execute", "execute", str(app), "app:flaky", "--input", '{"ok_at": 3}', "--server", "memory"
    )
    err = run.wait_for(r"activity app:charge attempt \d failed: card declined; attempt \d at ")
    assert run.out.read_text() == ""  # nothing on stdout before the result
    assert run.finish() == 0, run.stderr()
    assert run.out.read_text() == '{"charged": "ok at 3"}\n'
    err = run.stderr()
    wf_id = _started_id(err)
    assert wf_id.startswith("flaky-")
    assert "waiting for its result (Ctrl-C leaves it running)" in err
    assert _failed_attempts(err), err
    # no terminal: plain lines, no status line or escape sequences
    assert "\x1b" not in err and "\r" not in err
    assert "attempt 3 failed" not in err


def test_result_waits_the_same_way(server: Server, app: Path, background: Any) -> None:
    addr = ["--server", server.address]
    background("run", "run", str(app), *addr).wait_for("Ctrl-C to stop")
    started = _moonflow("start", str(app), "app:flaky", "--input", '{"ok_at": 6}', *addr)
    assert started.returncode == 0, started.stderr
    wf_id = json.loads(started.stdout)["workflow_id"]
    done = _moonflow("result", str(app), wf_id, *addr)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"charged": "ok at 6"}\n'
    assert _failed_attempts(done.stderr), done.stderr


def test_quiet_prints_nothing_on_stderr(app: Path) -> None:
    for flag in ("--quiet", "-q"):
        done = _moonflow(
            "execute", str(app), "app:flaky", "--input", '{"ok_at": 2}', "--server", "memory", flag
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == '{"charged": "ok at 2"}\n'
        assert done.stderr == ""


def _execute_on_terminal(app: Path, columns: int) -> str:
    """``execute app:flaky`` with stderr on a pseudo-terminal ``columns`` wide; what the
    terminal received (stdout, a pipe, is checked to be only the result)."""
    import fcntl
    import struct
    import termios

    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = _env()
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        _cmd("execute", str(app), "app:flaky", "--input", '{"ok_at": 4}', "--server", "memory"),
        stdin=sub,
        stderr=sub,
        stdout=subprocess.PIPE,
        env=env,
    )
    os.close(sub)
    screen = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the command exited: the terminal is closed
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    assert proc.wait(timeout=TIMEOUT) == 0, screen
    assert proc.stdout is not None
    assert proc.stdout.read() == b'{"charged": "ok at 4"}\n'
    return screen.decode("utf-8", "replace")


def test_terminal_shows_a_status_line(app: Path) -> None:
    """stderr on a pseudo-terminal: one status line redrawn in place (activity, attempt, last
    failure), gone at the end; stdout (a pipe) is still only the result."""
    text = _execute_on_terminal(app, 200)
    wf_id = _started_id(text)
    # redrawn in place: carriage returns and erase-line, never a new line per update
    status = re.findall(
        rf"\d+s {re.escape(wf_id)}: waiting on activity app:charge attempt (\d+), next try "
        r"[0-9:]+.*?; last failure: card declined",
        text,
    )
    assert any(int(attempt) >= 2 for attempt in status), text
    assert "\x1b[2K" in text
    assert "attempt 1 failed" not in text  # the event lines are for logs, not the terminal
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if "waiting on" in line]
    assert len(lines) == 1, lines  # one line, redrawn


def test_a_narrow_terminal_keeps_the_failure_message(app: Path) -> None:
    """At 80 columns the status line drops the workflow id and the next-try time and
    abbreviates, so that the last failure (what a person can act on) is shown whole."""
    text = _execute_on_terminal(app, 80)
    status = re.findall(
        r"\d+s waiting on app:charge try (\d+)(?:/\d+)?; failed: card declined", text
    )
    assert any(int(attempt) >= 2 for attempt in status), text
    assert "next try" not in text and "…" not in text, text


def test_ctrl_c_leaves_the_workflow_running_and_says_how_to_get_its_result(
    server: Server, app: Path, background: Any
) -> None:
    addr = ["--server", server.address]
    run = background("execute", "execute", str(app), "app:flaky", "--input", '{"ok_at": 5}', *addr)
    run.wait_for(r"activity app:charge attempt \d+ failed")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.stderr()
    assert run.out.read_text() == ""
    err = run.stderr()
    wf_id = _started_id(err)
    assert f"moonflow: interrupted; workflow {wf_id} is still running on {server.address}" in err
    assert f"moonflow result {app} {wf_id} --server {server.address}" in err
    # it is still running: workers of `moonflow run` finish it, `moonflow result` prints it
    background("run", "run", str(app), *addr).wait_for("Ctrl-C to stop")
    done = _moonflow("result", str(app), wf_id, *addr, "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"charged": "ok at 5"}\n'


def test_cancel_on_interrupt_cancels_it(server: Server, app: Path, background: Any) -> None:
    addr = ["--server", server.address]
    run = background(
        "execute",
        "execute",
        str(app),
        "app:flaky",
        "--input",
        '{"ok_at": 0}',
        "--cancel-on-interrupt",
        *addr,
    )
    assert "(Ctrl-C cancels it)" in run.wait_for(r"activity app:charge attempt \d+ failed")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.stderr()
    assert run.out.read_text() == ""
    err = run.stderr()
    wf_id = _started_id(err)
    assert f"moonflow: interrupted; cancelling workflow {wf_id}" in err
    assert f"moonflow: workflow {wf_id} canceled" in err
    described = _moonflow("describe", str(app), wf_id, *addr)
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["status"] == "CANCELED"


def test_lost_and_back_connection_is_said_once_by_run_execute_and_result(
    own_server: Server, app: Path, background: Any
) -> None:
    """The server process stops and starts again on the same port and state file: each waiting
    command says so once each way, with the address, and execute/result still get the result."""
    server = own_server
    addr = ["--server", server.address]
    run = background("run", "run", str(app), *addr)
    run.wait_for("Ctrl-C to stop")
    execute = background(
        "execute", "execute", str(app), "app:flaky", "--input", '{"ok_at": 12}', *addr
    )
    # attempts come one a second: the 12th comes after the outage
    execute.wait_for(r"activity app:charge attempt \d+ failed")
    wf_id = _started_id(execute.stderr())
    result = background("result", "result", str(app), wf_id, *addr)
    # result is waiting too: it follows the workflow (its log shows the failed attempts)
    result.wait_for(r"activity app:charge attempt \d+ failed")
    server.stop()
    lost = f"lost the connection to the Temporal server at {server.address}"
    back = f"the connection to the Temporal server at {server.address} is back"
    for command in (run, execute, result):
        command.wait_for(re.escape(lost))
    time.sleep(3)  # still down: no more lines about it
    server.start()
    for command in (run, execute, result):
        command.wait_for(re.escape(back))
    assert execute.finish() == 0, execute.stderr()
    assert result.finish() == 0, result.stderr()
    assert execute.out.read_text() == result.out.read_text() == '{"charged": "ok at 12"}\n'
    for command in (run, execute, result):
        err = command.stderr()
        assert err.count(lost) == 1 and err.count(back) == 1, err
    assert run.proc.poll() is None  # run's workers stayed up through the outage


def test_a_child_and_what_it_waits_on(app: Path) -> None:
    done = _moonflow(
        "execute", str(app), "app:parent", "--input", '{"ok_at": 3}', "--server", "memory"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"child": {"charged": "ok at 3"}}\n'
    found = re.search(r"^moonflow: child workflow app:flaky started \((\S+)\)$", done.stderr, re.M)
    assert found, done.stderr
    child = found.group(1)
    assert _failed_attempts(done.stderr, f"child workflow app:flaky ({child}): "), done.stderr
