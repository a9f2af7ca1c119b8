"""Parsing of the messaging and management commands: ``--signal``, ``--data``, targets, topics."""

from __future__ import annotations

import pytest

from moonflow.cli import build_parser
from moonflow.cli._parser import ArgumentError, parse_args, parse_signal, read_data
from moonflow.client import NO_INPUT, check_topic, workflow_id_of
from moonflow.errors import UsageError

PID = "{app:temporal_client@app:worker|order-1}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("go", ("go", NO_INPUT)),
        ("a=1", ("a", 1)),
        ('b={"x": [1, 2.5, null]}', ("b", {"x": [1, 2.5, None]})),
        ('c="k=v"', ("c", "k=v")),  # split at the first '='
        ("d=null", ("d", None)),  # JSON null is a payload, not "no payload"
        ("e= [1] ", ("e", [1])),
        ("with space=true", ("with space", True)),
        ("ns.topic/x=0", ("ns.topic/x", 0)),
    ],
)
def test_signal_forms(text: str, expected: tuple[str, object]) -> None:
    assert parse_signal(text) == expected


@pytest.mark.parametrize(
    "text, needle",
    [
        ("a=", "no JSON after '='"),
        ("a=  ", "no JSON after '='"),
        ("a={x}", "invalid JSON"),
        ("=1", "the topic is empty"),
        ("", "the topic is empty"),
        ("@pid/events=1", "reserved"),
        ("@x", "reserved"),
    ],
)
def test_bad_signal_forms(text: str, needle: str) -> None:
    with pytest.raises(ArgumentError) as err:
        parse_signal(text)
    message = str(err.value)
    assert needle in message
    assert message.startswith(f"--signal {text}: ")
    assert "\n" not in message


@pytest.mark.parametrize("command", ["execute", "start"])
def test_repeated_signals_keep_their_order(command: str) -> None:
    args = parse_args(
        [command, "a", "app:wf", "--signal", "one=1", "--signal", "two", "--signal", "three=[3]"]
    )
    assert args.signals == [("one", 1), ("two", NO_INPUT), ("three", [3])]


@pytest.mark.parametrize("command", ["execute", "start"])
def test_no_signals_by_default(command: str) -> None:
    assert parse_args([command, "a", "app:wf"]).signals == []


def test_bad_signal_fails_the_command_line() -> None:
    with pytest.raises(ArgumentError, match=r"^--signal x=\{: invalid JSON"):
        parse_args(["execute", "a", "app:wf", "--signal", "x={"])


def test_signal_command() -> None:
    args = parse_args(["signal", "apps/x", PID, "approve", "--data", '{"by": "ada"}'])
    assert (args.command, args.app_dir, args.target, args.topic) == (
        "signal",
        "apps/x",
        PID,
        "approve",
    )
    assert args.data_value == {"by": "ada"}
    assert args.server == "embedded"
    assert parse_args(["signal", "a", "w-1", "go"]).data_value is NO_INPUT


def test_update_command() -> None:
    args = parse_args(["update", "a", "w-1", "increment", "--data", "2", "--server", "h:7233"])
    assert (args.target, args.name, args.data_value, args.server) == (
        "w-1",
        "increment",
        2,
        "h:7233",
    )


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["signal", "a", "w", "t", "--data", "{x"], "--data: invalid JSON"),
        (["update", "a", "w", "t", "--data", "'a'"], "--data: invalid JSON"),
        (["signal", "a", "w", "@t"], "signal: topic '@t' is invalid"),
        (["update", "a", "w", "@t"], "update: topic '@t' is invalid"),
        (["signal", "a", "w", ""], "the topic is empty"),
        (["signal", "a", " ", "t"], "TARGET is empty"),
        (["describe", "a", ""], "TARGET is empty"),
        (["signal", "a", "w"], "TOPIC"),
        (["update", "a", "w"], "NAME"),
        (["describe", "a"], "TARGET"),
        (["history", "a"], "TARGET"),
        (["cancel", "a"], "TARGET"),
        (["terminate", "a"], "TARGET"),
        (["list", "a", "--limit", "0"], "--limit must be a positive number"),
        (["list", "a", "--limit", "x"], "invalid int value"),
    ],
)
def test_bad_command_lines(argv: list[str], needle: str) -> None:
    with pytest.raises(ArgumentError) as err:
        parse_args(argv)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_management_commands() -> None:
    assert parse_args(["describe", "a", PID]).target == PID
    assert parse_args(["history", "a", "w-1"]).target == "w-1"
    args = parse_args(["cancel", "a", "w-1", "--reason", "user asked"])
    assert (args.target, args.reason) == ("w-1", "user asked")
    assert parse_args(["terminate", "a", "w-1"]).reason is None
    args = parse_args(["list", "a"])
    assert (args.query, args.limit) == (None, 100)
    args = parse_args(["list", "a", "--query", "status = 'x'", "--limit", "5"])
    assert (args.query, args.limit) == ("status = 'x'", 5)


@pytest.mark.parametrize(
    "command", ["signal", "update", "describe", "list", "cancel", "terminate", "history"]
)
def test_every_new_command_has_help(command: str) -> None:
    assert command in build_parser().format_help()


def test_read_data() -> None:
    assert read_data(None) is NO_INPUT
    assert read_data("null") is None
    assert read_data('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "target, workflow_id",
    [
        (PID, "order-1"),
        ("  " + PID + "\n", "order-1"),
        ("{a:c@a:w|id|with|pipes}", "id|with|pipes"),
        ("order-1", "order-1"),
        ("{update|abc}", "{update|abc}"),  # not a workflow PID: taken as a workflow id
    ],
)
def test_targets(target: str, workflow_id: str) -> None:
    assert workflow_id_of(target) == workflow_id


@pytest.mark.parametrize("target", ["", "   "])
def test_empty_target(target: str) -> None:
    with pytest.raises(UsageError, match="target is empty"):
        workflow_id_of(target)


def test_check_topic() -> None:
    assert check_topic("approve") == "approve"
    assert check_topic("a@b") == "a@b"
    for bad in ("", "@x", "@"):
        with pytest.raises(UsageError):
            check_topic(bad)
