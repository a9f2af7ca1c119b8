"""The process layer's messages a newcomer found unclear (issue 14, newcomer findings 1-6 and 8):
each bad input is one line naming the call, the place and the fix. The cases are modes of the
``app:msgs`` process (apps/process_messages/), run on a :class:`ProcessNode` (no Temporal, or
the dev server where a connected client is needed) and through ``moonflow run -x`` for what
the command line decides (an empty ``-x``, options after the entry, ``--``, Ctrl-C exit codes).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from moonflow.process import ProcessNode
from moonflow.registry import load_app

from ._cli import cli_env, moonflow

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "process_messages"
MSGS = (APP_DIR / "msgs.lua").read_text()
MSGS_ENTRY = """
- name: msgs
  kind: process.lua
  source: file://msgs.lua
  method: main
  modules: [io, time]
"""


@pytest.fixture(scope="module")
def app() -> Any:
    return load_app(APP_DIR)


async def run(app: Any, *args: str, clients: dict[str, Any] | None = None) -> Any:
    """``app:msgs ARGS`` on a fresh node (with ``clients``: entry id -> connected client);
    its value (the test fails when it fails or takes over 30 s)."""
    async with ProcessNode(app, clients or {}) as node:
        outcome = await asyncio.wait_for(node.run("app:msgs", list(args)), 30)
    assert outcome.ok, outcome.error
    return outcome.value


# ---- 1. process.send names the topic and counts the values from 1 ---------------------------
async def test_a_function_sent_is_named_by_topic_and_value_number(app) -> None:
    assert await run(app, "send_function") == {
        "kind": "Invalid",
        "message": 'process.send(topic "t") value 1.f: a function cannot be converted to JSON',
    }


async def test_a_value_over_the_limit_sent_to_a_workflow_names_process_send(
    dev_env, make_app
) -> None:
    test_app = make_app(MSGS_ENTRY, {"msgs.lua": MSGS})
    clients = {"app:temporal_client": dev_env.client}
    pid = "{app:temporal_client@app:worker|nobody-here}"
    value = await run(test_app.app, "send_big", pid, clients=clients)
    assert value["kind"] == "Invalid", value
    message = value["message"]
    # the second value after the topic is the big one (the first, 1, is fine)
    assert message.startswith('process.send(topic "t") value 2: 31457'), message
    assert "values[" not in message, message
    assert "\n" not in message


# ---- 2. an unresolvable target names the call -------------------------------------------------
@pytest.mark.parametrize(
    "call, target",
    [
        ("monitor", "xyz"),
        ("link", "xyz"),
        ("terminate", "{xyz}"),
        ("cancel", "{xyz}"),
    ],
)
async def test_an_unresolvable_target_names_the_call(app, call: str, target: str) -> None:
    assert await run(app, "call", call, target) == {
        "kind": "NotFound",
        # the reference runtime's words stay whole after the call's name
        "message": f"process.{call}: could not resolve '{target}' as PID or registered name",
    }


async def test_an_unresolvable_send_target_names_process_send(app) -> None:
    assert await run(app, "send_to", "{xyz}") == {
        "kind": "NotFound",
        "message": "process.send: could not resolve '{xyz}' as PID or registered name",
    }


# ---- 3. a workflow PID naming a client the app does not have ---------------------------------
@pytest.mark.parametrize("mode, call", [("send_to", None), ("call", "monitor")])
async def test_a_client_that_is_no_entry_is_said_to_be_none(app, mode: str, call: str) -> None:
    args = [mode, call, "{nope@nope|x}"] if call else [mode, "{nope@nope|x}"]
    value = await run(app, *args)
    assert value == {
        "kind": "NotFound",
        "message": f"process.{call or 'send'}: {{nope@nope|x}} names Temporal client nope, "
        "which is not a temporal.client entry of this app (the app's clients: none); a "
        "workflow PID is {client@worker|workflow id}",
    }


async def test_a_client_name_close_to_an_entry_gets_a_did_you_mean(make_app) -> None:
    test_app = make_app(MSGS_ENTRY, {"msgs.lua": MSGS})
    value = await run(test_app.app, "send_to", "{app:temporal_clinet@app:worker|x}")
    assert value["kind"] == "NotFound"
    assert value["message"] == (
        "process.send: {app:temporal_clinet@app:worker|x} names Temporal client "
        "app:temporal_clinet, which is not a temporal.client entry of this app (did you mean "
        "app:temporal_client? the app's clients: app:temporal_client); a workflow PID is "
        "{client@worker|workflow id}"
    )


async def test_a_client_entry_not_connected_keeps_its_message(make_app) -> None:
    test_app = make_app(MSGS_ENTRY, {"msgs.lua": MSGS})
    value = await run(test_app.app, "send_to", "{app:temporal_client@app:worker|x}")
    assert value == {
        "kind": "NotFound",
        "message": "process.send: {app:temporal_client@app:worker|x}: no connection to Temporal "
        "client app:temporal_client in this process (run the app with `moonflow run`, which "
        "connects its clients)",
    }


# ---- 8. a too-deep value: the path is cut, not 128 levels long ------------------------------
@pytest.mark.parametrize(
    "mode, array, path",
    [
        ("send_deep", "map", 'process.send(topic "t") value 1.n.n.n.n... (128 levels)'),
        ("send_deep", "array", 'process.send(topic "t") value 1[1][1][1][1]... (128 levels)'),
    ],
)
async def test_a_too_deep_value_sent_has_a_short_path(
    app, mode: str, array: str, path: str
) -> None:
    value = await run(app, mode, array)
    assert value == {"kind": "Invalid", "message": f"{path}: tables nested deeper than 128 levels"}


def test_a_too_deep_result_has_a_short_path() -> None:
    proc = moonflow("run", str(APP_DIR), "-x", "app:msgs", "return_deep", timeout=60)
    assert proc.returncode == 1, proc.stderr
    message = json.loads(proc.stdout)["error"]["message"]
    assert message.endswith(
        "result.n.n.n.n... (128 levels): tables nested deeper than 128 levels"
    ), message


# ---- 4, 5. -x and the words after it -----------------------------------------------------------
def test_an_empty_x_says_it_needs_an_entry_id() -> None:
    proc = moonflow("run", str(APP_DIR), "-x", "", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "moonflow: error: -x needs an entry id (ns:name), e.g. `moonflow run APP -x app:main "
        "ARGS...`; got ''"
    )


def test_a_run_option_after_the_entry_is_passed_with_a_note() -> None:
    proc = moonflow(
        "run", str(APP_DIR), "-x", "app:msgs", "args", "--server", "memory", "--headless=1"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["--server", "memory", "--headless=1"]
    notes = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert notes == [
        f"moonflow: note: {flag} after -x app:msgs is passed to it as an argument; put "
        "moonflow's options before -x (or write -- after the entry to silence this)"
        for flag in ("--server", "--headless=1")
    ]


def test_a_double_dash_after_the_entry_ends_moonflows_options() -> None:
    proc = moonflow("run", str(APP_DIR), "-x", "app:msgs", "--", "args", "--server", "--")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["--server", "--"]  # only the leading -- is dropped
    assert "note:" not in proc.stderr


# ---- 6. Ctrl-C: a process that returns decides its exit code ----------------------------------
def _interrupted(*args: str, sig: int = signal.SIGINT) -> tuple[int, str, str]:
    """``moonflow run APP -x app:msgs ARGS``, ``sig`` once it printed ``ready``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", "run", str(APP_DIR), "-x", "app:msgs", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.strip(), err


def test_ctrl_c_handled_and_returning_7_exits_7() -> None:
    code, out, err = _interrupted("cancel_returns", "7")
    assert out == "got pid.cancel", err
    assert code == 7, err


def test_sigterm_handled_and_returning_a_table_prints_it_and_exits_0() -> None:
    code, out, err = _interrupted("cancel_returns", "cleanly", sig=signal.SIGTERM)
    assert out.splitlines() == ["got pid.cancel", '{"stopped": "cleanly"}'], err
    assert code == 0, err


def test_ctrl_c_on_a_process_that_reads_no_events_exits_130() -> None:
    code, out, err = _interrupted("sleeps")
    assert code == 130, (out, err)
    assert "got a CANCEL event" in err
