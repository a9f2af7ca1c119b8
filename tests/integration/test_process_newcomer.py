"""What a newcomer's first process apps ran into, through `moonflow run APP -x app:values MODE`
(no Temporal): values that are not data (a coroutine, a channel, a table with a boolean key) sent
to a process or returned must fail naming what they are, in Lua's words; a payload object
forwarded with `process.send` reaches the receiver as the value it holds (the reference runtime
passes payloads through); `-x` prints an unspecified `retryable` as `moonflow execute` does; and
SIGTERM gives a `-x` process a CANCEL event (exit 143 only when it does not return by itself).
App: tests/integration/apps/process_newcomer/."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ._cli import cli_env, moonflow

pytestmark = pytest.mark.integration

APP = Path(__file__).parent / "apps" / "process_newcomer"


def run_values(mode: str, *args: str) -> tuple[int, str, str]:
    """`moonflow run APP -x app:values MODE ARGS...`: (exit code, stdout stripped, stderr)."""
    proc = moonflow("run", str(APP), "-x", "app:values", mode, *args, timeout=60)
    return proc.returncode, proc.stdout.strip(), proc.stderr


def failure(mode: str, *args: str) -> dict[str, object]:
    """The `{"error": {...}}` a failing MODE prints (it must exit 1)."""
    code, out, err = run_values(mode, *args)
    assert code == 1, (out, err)
    return json.loads(out)["error"]


def test_a_boolean_table_key_is_named_as_lua_writes_it() -> None:
    message = str(failure("send_bool_key")["message"])
    assert "table key true" in message, message
    assert "True" not in message, message  # Python's spelling of the key leaked out


def test_a_coroutine_sent_is_named_a_coroutine_not_a_function() -> None:
    message = str(failure("send_coroutine")["message"])
    assert "a function" not in message, message
    assert "coroutine" in message or "thread" in message, message


@pytest.mark.parametrize("mode", ["send_channel", "return_channel", "json_channel"])
def test_a_channel_is_not_data_it_fails_naming_its_path(mode: str) -> None:
    code, out, err = run_values(mode)
    assert "_buf" not in out and "_recvq" not in out, out  # the channel's insides leaked
    assert code == 1, (out, err)
    error = json.loads(out)["error"]
    assert ".c" in str(error["message"]) and "channel" in str(error["message"]), error


@pytest.mark.parametrize(
    "name, what",
    [
        ("inbox", "a channel"),
        ("events", "a channel"),
        ("listen", "a channel"),
        ("after", "a channel"),
        ("timer", "a timer"),
        ("ticker", "a ticker"),
        ("case", "a select case"),
        ("message", "a message"),
    ],
)
@pytest.mark.parametrize(
    "mode, path",
    [("send_object", 'process.send(topic "t") value 1.o'), ("return_object", "result.o")],
)
def test_other_objects_are_not_data_either(name: str, what: str, mode: str, path: str) -> None:
    message = str(failure(mode, name)["message"])
    assert f"{path}: {what} cannot be converted to JSON (" in message, message
    assert "._" not in message, message  # no internal field named


def test_a_forwarded_payload_arrives_as_the_value_it_holds() -> None:
    code, out, err = run_values("forward_payload")
    assert code == 0, err
    assert json.loads(out) == {"a": 1}


def test_forwarded_payloads_of_two_values_arrive_as_those_values() -> None:
    code, out, err = run_values("forward_payloads")
    assert code == 0, err
    assert json.loads(out) == [1, {"b": 2}]


def test_a_payload_encodes_and_returns_as_the_value_it_holds() -> None:
    code, out, err = run_values("encode_payload")
    assert code == 0, err
    got = json.loads(out)
    assert json.loads(got["json"]) == {"p": {"a": [1, 2]}}
    assert got["result"] == {"a": [1, 2]}


def test_an_unspecified_retryable_prints_false_as_execute_does() -> None:
    error = failure("unspecified_retryable")
    assert error["kind"] == "Invalid"
    assert error["retryable"] is False, error


def test_sigterm_on_an_x_process_exits_with_its_result_after_its_cleanup() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", "run", str(APP), "-x", "app:values", "wait_cancel"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert out.strip() == "cleaned up after pid.cancel", err
    # it returned 0 by itself: its result decides, as for a normal end (143 only when it does
    # not return: tests/integration/test_process_messages.py)
    assert proc.returncode == 0, err
