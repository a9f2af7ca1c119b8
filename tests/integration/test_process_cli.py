"""`moonflow run` with processes and no Temporal (issue #14, item 5): `-x ENTRY` and command
names on the terminal host (io output, arguments, stdin, exit codes), bad `-x` targets, and
supervised services (restart with backoff, giving up, stopping in reverse order on SIGINT).
App: tests/integration/apps/terminal/."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

APP = Path(__file__).parent / "apps" / "terminal"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(APP), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_command_reads_stdin_writes_stdout_and_its_integer_result_is_the_exit_code() -> None:
    proc = run("echo", "a", "b c", stdin="one\ntwo\n")
    assert proc.returncode == 2, proc.stderr  # two lines read
    assert proc.stdout.splitlines() == ["args\ta\tb c", "first arg: a", "ONE", "TWO"]
    assert "read 2 lines" in proc.stderr


@pytest.mark.parametrize(
    ("what", "code", "stdout"),
    [
        ("0", 0, ""),
        ("7", 7, ""),
        ("nil", 0, ""),
        ("json", 0, '{"list": [1, 2], "ok": true}'),
    ],
)
def test_x_results(what: str, code: int, stdout: str) -> None:
    proc = run("-x", "app:exit_with", what)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.strip() == stdout


@pytest.mark.parametrize(
    ("what", "kind", "message"),
    [("error", "Invalid", "bad thing"), ("raise", "Internal", "exit_with.lua:6: boom")],
)
def test_x_failures_print_the_error_and_exit_1(what: str, kind: str, message: str) -> None:
    proc = run("-x", "app:exit_with", what)
    assert proc.returncode == 1
    error = json.loads(proc.stdout.strip())["error"]
    assert (error["kind"], error["message"]) == (kind, message)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-x", "app:nope"], "-x app:nope: no such entry"),
        (["-x", "app:flaky"], "a process.service entry; -x runs a process.lua or function.lua"),
        (["nosuch"], "unknown command 'nosuch'"),
        (["-x"], "-x needs a value"),
    ],
)
def test_bad_targets_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr


def test_services_restart_with_backoff_give_up_and_stop_in_reverse_order(tmp_path: Path) -> None:
    log = tmp_path / "run.err"
    with open(log, "wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moonflow", "run", str(APP)],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
    try:
        # 4 runs of ~20 ms with 0.1 + 0.2 + 0.4 s between them, then it gives up; Ctrl-C once
        # both services got that far (a fixed wait was too short on a busy machine)
        deadline = time.monotonic() + 120
        while not (
            "giving up" in (text := log.read_text()) and "service app:steady running" in text
        ):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    delays = [float(d) for d in re.findall(r"restarting in ([0-9.]+)s", err)]
    assert delays == [0.1, 0.2, 0.4]
    assert "app:flaky failed 4 times in a row" in err and "giving up" in err
    lines = err.splitlines()
    flaky_first = next(i for i, x in enumerate(lines) if "service app:flaky running" in x)
    steady_first = next(i for i, x in enumerate(lines) if "service app:steady running" in x)
    assert flaky_first < steady_first  # depends_on
    # steady returns when its CANCEL event says why: the supervisor reports that result
    assert 'moonflow: service app:steady stopped: "stopped: moonflow is stopping"' in lines
    assert lines[-1] == "moonflow: stopped"


def test_funcs_async_in_a_process_runs_calls_at_once_and_cancels() -> None:
    proc = run("-x", "app:async_calls")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip()) == {
        "got": ["done a", "done b"],
        "concurrent": True,
        "canceled": True,
        "kind": "Canceled",
    }


def test_process_api_corner_cases() -> None:
    proc = run("-x", "app:review_fixes")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip()) == {
        "late_monitor": True,
        "late_exit": {"kind": "pid.exit", "from_ok": True, "error_kind": "Internal"},
        "canceled": {
            "error_kind": "Canceled",
            "message": "canceled by {moonflow:terminal|0x00003}: no longer needed",
        },
        "self_copy": True,
        "listen_reserved": False,
        "bad_option": "Invalid",
        "bad_scope": "Invalid",
    }


def test_io_passes_bytes_through_and_a_closed_stdin_is_an_error_not_a_crash() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(APP), "-x", "app:bytes"],
        input=b"x\xff\xfeY\r\n",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"x\xff\xfeY|4\n"
    closed = subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(APP), "-x", "app:bytes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert closed.returncode == 1
    assert "Traceback" not in closed.stderr


def test_ctrl_c_gives_the_x_process_a_cancel_event_and_time_to_clean_up() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", "run", str(APP), "-x", "app:interruptible"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err  # it returned 0 by itself: its result decides (not 130)
    assert out.strip() == "cleaned up after pid.cancel (interrupted)"
    assert "got a CANCEL event" in err
