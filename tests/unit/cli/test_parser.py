"""Argument parsing and input decoding of the ``moonflow`` command line (no server)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from moonflow.cli import build_parser
from moonflow.cli._parser import ArgumentError, HelpShown, parse_args, read_input
from moonflow.client import NO_INPUT


def test_execute_defaults() -> None:
    args = parse_args(["execute", "apps/x", "app:wf"])
    assert args.command == "execute"
    assert args.app_dir == "apps/x"
    assert args.entry_id == "app:wf"
    assert args.server == "embedded"
    assert args.input is None and args.input_file is None and args.id is None
    assert args.debug is False


def test_execute_all_options() -> None:
    args = parse_args(
        ["execute", "a", "app:wf", "--input", '{"n": 1}', "--id", "w-1", "--server", "memory"]
    )
    assert (args.input, args.id, args.server) == ('{"n": 1}', "w-1", "memory")


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "check", "a"],
        ["check", "a", "--debug"],
        ["check", "--debug", "a"],
    ],
)
def test_debug_anywhere(argv: list[str]) -> None:
    assert parse_args(argv).debug is True


def test_input_and_input_file_are_exclusive() -> None:
    with pytest.raises(ArgumentError) as err:
        parse_args(["execute", "a", "app:wf", "--input", "1", "--input-file", "x.json"])
    message = str(err.value)
    assert "not allowed with argument" in message
    assert "\n" not in message
    assert message.startswith("execute: ")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--debug"], "COMMAND"),  # bare `moonflow` prints the help instead (issue 17 item 10)
        (["bogus"], "invalid choice"),
        (["execute", "a"], "ENTRY_ID"),
        (["result", "a"], "WORKFLOW_ID"),
        (["server", "--port", "x"], "invalid int value"),
        (["server", "--port", "0"], "--port"),
        (["server", "--port", "70000"], "--port"),
        (["server", "--db", "f", "--memory"], "not allowed"),
        (["check"], "APP_DIR"),
    ],
)
def test_bad_command_lines_raise_one_line(argv: list[str], needle: str) -> None:
    with pytest.raises(ArgumentError) as err:
        parse_args(argv)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_help_does_not_exit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HelpShown) as shown:
        parse_args(["execute", "--help"])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    assert "--input-file" in out and "--server" in out


def test_bare_moonflow_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HelpShown) as shown:
        parse_args([])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: moonflow") and "exit codes: 0 success" in out


def test_server_command() -> None:
    args = parse_args(
        ["server", "--memory", "--port", "7400", "--namespace", "a", "--namespace", "b"]
    )
    assert args.memory is True and args.db is None
    assert args.port == 7400 and args.ip == "127.0.0.1"
    assert args.namespace == ["a", "b"]
    assert parse_args(["server"]).port == 7233


@pytest.mark.parametrize("command", ["execute", "run", "start", "result", "check", "server"])
def test_every_command_has_help(command: str) -> None:
    parser = build_parser()
    assert command in parser.format_help()


def test_read_input_inline() -> None:
    args = parse_args(["execute", "a", "app:wf", "--input", '{"n": [1, 2.5, null]}'])
    assert read_input(args) == {"n": [1, 2.5, None]}


def test_read_input_absent_is_no_input() -> None:
    assert read_input(parse_args(["execute", "a", "app:wf"])) is NO_INPUT


def test_read_input_null_is_none_not_absent() -> None:
    assert read_input(parse_args(["execute", "a", "app:wf", "--input", "null"])) is None


def test_read_input_invalid_json() -> None:
    args = parse_args(["execute", "a", "app:wf", "--input", "{n: 1}"])
    with pytest.raises(ArgumentError) as err:
        read_input(args)
    assert str(err.value).startswith("--input: invalid JSON: ")


def test_read_input_file(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"id": "é"}), encoding="utf-8")
    args = parse_args(["execute", "a", "app:wf", "--input-file", str(path)])
    assert read_input(args) == {"id": "é"}


def test_read_input_file_invalid_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ArgumentError, match=r"^--input-file .*bad.json: invalid JSON: "):
        read_input(parse_args(["execute", "a", "w", "--input-file", str(bad)]))
    with pytest.raises(ArgumentError, match="cannot read"):
        read_input(parse_args(["execute", "a", "w", "--input-file", str(tmp_path / "nope")]))


def test_read_input_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("[1, 2]"))
    assert read_input(parse_args(["execute", "a", "w", "--input-file", "-"])) == [1, 2]


def test_read_input_too_deep_or_with_lone_surrogates_is_one_line(tmp_path: Path) -> None:
    # a review found: 990 nested arrays were "internal error: RecursionError" (exit 3), and a
    # lone surrogate (JSON "\ud800" without its pair) started a workflow that then failed
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(ArgumentError, match=r"^--input-file .*deep\.json: the JSON is nested too"):
        read_input(parse_args(["execute", "a", "w", "--input-file", str(deep)]))
    args = parse_args(["execute", "a", "w", "--input", '{"a": ["ok", "\\ud800"]}'])
    with pytest.raises(ArgumentError, match=r"^--input: \.a\[2\]: the string holds a lone UTF-16 "):
        read_input(args)
    args = parse_args(["execute", "a", "w", "--input", '{"\\udfff": 1}'])
    with pytest.raises(ArgumentError, match=r"^--input: \[<key>\]: the string holds a lone"):
        read_input(args)
    # a surrogate pair is one character, as valid as any other
    args = parse_args(["execute", "a", "w", "--input", '["\\ud83d\\ude00"]'])
    assert read_input(args) == ["\U0001f600"]
