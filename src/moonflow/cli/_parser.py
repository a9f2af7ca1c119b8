"""Command-line grammar of ``moonflow`` (argparse) and input decoding.

Parsing never exits the process by itself: a bad command line raises :class:`ArgumentError`
(one line), ``--help`` raises :class:`HelpShown`; :func:`moonflow.cli.main` turns both into exit
codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from moonflow.errors import UsageError

DEFAULT_SERVER = "embedded"

#: Environment variables giving the server when ``--server`` is not given, first one set wins:
#: moonflow's own (any ``--server`` SPEC; ``moonflow run`` prints the ``export`` line), then the
#: ``temporal`` CLI's (``HOST:PORT``). Without either, DEFAULT_SERVER (the app's client address).
SERVER_ENV = ("MOONFLOW_SERVER", "TEMPORAL_ADDRESS")

SERVER_HELP = (
    "embedded (default: the app's client address, starting the bundled dev server there if "
    "nothing listens, state in APP_DIR/.moonflow/), memory (bundled dev server, no persistence, "
    "free port), time-skipping (bundled time-skipping test server) or HOST:PORT"
)


class ArgumentError(UsageError):
    """The command line is invalid (exit code 2). ``str()`` is one line."""


class HelpShown(Exception):  # noqa: N818 - control flow, not an error
    """``--help`` or ``--version`` printed its text; exit with ``code``."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting; every command's
    --help ends with the exit codes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from moonflow.cli._output import EXIT_CODES_HELP

        kwargs.setdefault("epilog", EXIT_CODES_HELP)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("moonflow").strip()
        prefix = f"{command}: " if command else ""
        raise ArgumentError(f"{prefix}{message} (see `{self.prog} --help`)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message.rstrip(), file=sys.stderr)
        raise HelpShown(status)


def _add_common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps a subcommand's default from hiding a `moonflow --debug CMD` given earlier.
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show full tracebacks instead of one-line errors",
    )


def _add_app(p: argparse.ArgumentParser) -> None:
    p.add_argument("app_dir", metavar="APP_DIR", help="directory holding the app's YAML files")


def _add_server(p: argparse.ArgumentParser, default_help: str = "") -> None:
    p.add_argument(
        "--server",
        metavar="SPEC",
        default=None,
        help=(default_help or SERVER_HELP)
        + "; without --server: $MOONFLOW_SERVER, else $TEMPORAL_ADDRESS, else embedded",
    )


def parse_port(flag: str, text: str) -> int:
    """``text`` as a TCP port for ``flag`` (``--ui-port``).

    Raises:
        ArgumentError: not an integer in 1..65535.
    """
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise ArgumentError(f"{flag} must be a port number between 1 and 65535, got {text!r}")
    return int(text)


def _add_ui(p: argparse.ArgumentParser) -> None:
    """``--ui-port N`` and ``--headless``: the Web UI of a dev server moonflow starts."""
    ui = p.add_mutually_exclusive_group()
    ui.add_argument(
        "--ui-port",
        metavar="N",
        type=lambda text: parse_port("--ui-port", text),
        help="Web UI port of the dev server moonflow starts (default: gRPC port + 1000)",
    )
    ui.add_argument(
        "--headless", action="store_true", help="start the dev server without the Web UI"
    )


def server_default(environ: Mapping[str, str] | None = None) -> str:
    """The server SPEC when ``--server`` is not given (see :data:`SERVER_ENV`).

    Raises:
        ArgumentError: the variable holds no valid SPEC (``TEMPORAL_ADDRESS``: ``HOST:PORT``).
    """
    from moonflow.devserver import parse_server_spec

    env = os.environ if environ is None else environ
    for name in SERVER_ENV:
        value = env.get(name, "").strip()
        if not value:
            continue
        try:
            kind, _ = parse_server_spec(value)
        except UsageError:
            kind = ""
        if kind == "" or (name == "TEMPORAL_ADDRESS" and kind != "external"):
            expected = (
                "HOST:PORT"
                if name == "TEMPORAL_ADDRESS"
                else "a --server SPEC: embedded, memory, time-skipping or HOST:PORT"
            )
            raise ArgumentError(
                f"${name}: expected {expected}, got {value!r}: fix it or `unset {name}`"
            )
        return value
    return DEFAULT_SERVER


def server_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The name of the variable :func:`server_default` took the SPEC from, or None (errors
    then name it: ``$MOONFLOW_SERVER=localhost:27233``, not a ``--server`` never given)."""
    env = os.environ if environ is None else environ
    return next((name for name in SERVER_ENV if env.get(name, "").strip()), None)


def _add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "entry_id", metavar="ENTRY_ID", help="workflow entry id, e.g. app:order_workflow"
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--input", metavar="JSON", help="input value as JSON, e.g. '{\"n\": 1}'")
    group.add_argument(
        "--input-file", metavar="PATH", help="file holding the input as JSON ('-' for stdin)"
    )
    p.add_argument("--id", metavar="WORKFLOW_ID", help="workflow id (default <name>-<random>)")
    p.add_argument(
        "--signal",
        action="append",
        default=[],
        dest="signal",
        metavar="TOPIC[=JSON]",
        help="a startup message (repeatable, delivered in order before any other; the first "
        "with signal-with-start): TOPIC=JSON, or TOPIC alone for no payload",
    )
    p.add_argument(
        "--context",
        action="append",
        default=[],
        dest="context",
        metavar="KEY=VALUE",
        help="a context value the workflow reads with ctx.get(KEY) (repeatable): VALUE is JSON "
        "when it parses, else a string, e.g. --context tenant=acme",
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        dest="option",
        metavar="KEY=VALUE",
        help="a workflow start option, as Lua names it (repeatable; the last of a KEY wins): "
        "VALUE is JSON when it parses, else a string, e.g. workflow.execution_timeout=72h, "
        "workflow.id_conflict_policy=fail, 'workflow.retry_policy={\"maximum_attempts\": 3}', "
        '\'workflow.memo={"note": "x"}\'',
    )


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        metavar="TARGET",
        help="the workflow's id or PID {client@worker|id}",
    )


def _add_data(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--data",
        metavar="JSON",
        help=f'the {what}\'s payload as JSON, e.g. \'{{"by": "ada"}}\' (default: none)',
    )


def _add_reason(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", metavar="TEXT", help="recorded in the workflow's history")


def _add_wait(p: argparse.ArgumentParser, *, execute: bool = False) -> None:
    """Flags of the commands that wait for a result (cli/_progress.py)."""
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="show no progress on stderr while waiting (no status line, no event lines"
        + ("; no 'started workflow' line" if execute else "")
        + "); stdout carries the result either way",
    )
    if execute:
        p.add_argument(
            "--cancel-on-interrupt",
            action="store_true",
            help="on Ctrl-C, cancel the workflow and wait for it to end (default: leave it "
            "running and print how to get its result later); Ctrl-C again exits at once",
        )


class _VersionAction(argparse.Action):
    """``-V`` / ``--version``: the versions of moonflow and what it runs on (computed only
    when asked: it runs the bundled server binary)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from moonflow.cli._output import versions_text

        print(versions_text())
        parser.exit()


def _add_output(p: argparse.ArgumentParser) -> None:
    """``-o text|json|jsonl`` (cli/_output.py print_records)."""
    from moonflow.cli._output import OUTPUT_FORMATS

    p.add_argument(
        "-o",
        "--output",
        choices=OUTPUT_FORMATS,
        default=None,
        help="text: a readable table (default on a terminal); json: one indented JSON "
        "document; jsonl: one JSON line per record (default when piped)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``moonflow`` argument parser (subcommands ``execute run start result signal update
    describe list cancel terminate history replay test check server``)."""
    parser = _Parser(
        prog="moonflow",
        description="Run apps written as YAML registry entries + Lua code durably on Temporal.",
    )
    _add_common(parser)
    parser.add_argument(
        "-V",
        "--version",
        action=_VersionAction,
        help="print the versions of moonflow, temporalio, lupa, Lua and the bundled servers",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "execute",
        help="run a workflow to completion with in-process workers; print its result as JSON",
        description="Start the app's workers in this process, start the workflow, wait, and "
        "print its result as one line of JSON. Exit 0 completed, 1 failed, 2 bad app/arguments.",
    )
    _add_common(p)
    _add_app(p)
    _add_input(p)
    _add_server(p)
    _add_ui(p)
    _add_wait(p, execute=True)

    p = sub.add_parser(
        "run",
        help="run the app's workers (and embedded server) until Ctrl-C, or one entry with -x",
        description="Run the app's workers until SIGINT/SIGTERM, then shut down gracefully. "
        "With -x ENTRY (or COMMAND, an entry's meta.command.name): run that process.lua or "
        "function.lua entry on the terminal host, the workers beside it, and exit with its "
        "result (an integer result is the exit code).",
    )
    _add_common(p)
    _add_app(p)
    _add_server(p)
    _add_ui(p)
    from moonflow.cli._exec import add_exec_arguments

    add_exec_arguments(p)

    p = sub.add_parser(
        "start",
        help="start a workflow on a running server and workers; print its id and PID",
        description="Start a workflow on an already running server and workers (e.g. "
        "`moonflow run`) without waiting; print {workflow_id, run_id, pid} as JSON.",
    )
    _add_common(p)
    _add_app(p)
    _add_input(p)
    _add_server(
        p, "embedded (default: the app's client address; never starts a server) or HOST:PORT"
    )

    p = sub.add_parser(
        "result",
        help="wait for a workflow's result and print it as JSON (exit codes as execute)",
        description="Wait for a workflow started earlier and print its result as one line of "
        "JSON. Exit 0 completed, 1 failed, 2 bad app/arguments or unknown workflow.",
    )
    _add_common(p)
    _add_app(p)
    p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="workflow id or PID")
    _add_wait(p)
    _add_server(
        p, "embedded (default: the app's client address; never starts a server) or HOST:PORT"
    )

    connect_help = (
        "embedded (default: the app's client address; never starts a server) or HOST:PORT"
    )
    p = sub.add_parser(
        "signal",
        help="send a message (a Temporal signal) to a running workflow",
        description="Send a message with topic TOPIC to a running workflow, without a sender. "
        "Exit 0 sent; 2 bad arguments, unknown or closed workflow.",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    p.add_argument("topic", metavar="TOPIC", help="the message topic, e.g. approve")
    _add_data(p, "message")
    _add_server(p, connect_help)

    p = sub.add_parser(
        "update",
        help="send an update to a running workflow; print its answer as JSON",
        description="Send a Temporal update NAME to a running workflow, wait for the answer and "
        "print it as one line of JSON. Exit 0 answered; 1 rejected or failed (prints "
        '{"error": {...}}); 2 bad arguments, unknown or closed workflow.',
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    p.add_argument("name", metavar="NAME", help="the update name (the message topic)")
    _add_data(p, "update")
    p.add_argument(
        "--update-id",
        metavar="ID",
        help="the update's id (default: a new one); the same id again waits for the same "
        "update instead of sending another (what Ctrl-C prints)",
    )
    _add_server(p, connect_help)

    p = sub.add_parser(
        "query",
        help="ask a workflow a read-only question; print the answer (-o text|json|jsonl)",
        description="Send the Temporal query NAME to a workflow and print the answer as one line "
        "of JSON. Built-in queries: pid, __stack_trace (where each coroutine is waiting); others "
        "are registered by the workflow with workflow.on_query. Exit 0 answered; 1 the query "
        "failed; 2 bad arguments or unknown workflow.",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    p.add_argument("name", metavar="NAME", help="the query name, e.g. status")
    _add_data(p, "query")
    _add_output(p)
    _add_server(p, connect_help)

    p = sub.add_parser(
        "describe",
        help="print a workflow's status, type, times, search attributes and memo "
        "(-o text|json|jsonl)",
        description="Describe a workflow's latest run as one line of JSON: workflow_id, run_id, "
        "workflow_type, status, task_queue, start/execution/close time (RFC 3339), "
        "history_length, parent_workflow_id, search_attributes, memo.",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    _add_output(p)
    _add_server(p, connect_help)

    p = sub.add_parser(
        "list",
        help="list workflows, newest first: a table on a terminal, JSON lines when piped (-o)",
        description="List the workflows of the app's client namespace, newest first, one line "
        "of JSON each (the shape of `moonflow describe`).",
    )
    _add_common(p)
    _add_app(p)
    p.add_argument(
        "--query",
        metavar="VISIBILITY_QUERY",
        help="a Temporal visibility query, e.g. \"status = 'waiting'\" or "
        "\"WorkflowType = 'app:order' AND ExecutionStatus = 'Running'\"",
    )
    p.add_argument(
        "--limit", metavar="N", type=int, default=100, help="at most N workflows (default 100)"
    )
    _add_output(p)
    _add_server(p, connect_help)

    p = sub.add_parser(
        "cancel",
        help="ask a running workflow to cancel",
        description="Request cancellation of a running workflow (its code may clean up; its "
        "result becomes kind Canceled). Exit 0 requested; 2 unknown or closed workflow.",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    _add_reason(p)
    _add_server(p, connect_help)

    p = sub.add_parser(
        "terminate",
        help="terminate a running workflow at once",
        description="Terminate a running workflow at once (no cleanup runs). Exit 0 "
        "terminated; 2 unknown or closed workflow.",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    _add_reason(p)
    _add_server(p, connect_help)

    p = sub.add_parser(
        "history",
        help="print a workflow's event history: a table on a terminal, one JSON line per event "
        "when piped (-o)",
        description="Print the event history of a workflow's latest run, one line of JSON per "
        "event (Temporal's proto JSON form, as `temporal workflow show -o json` has it).",
    )
    _add_common(p)
    _add_app(p)
    _add_target(p)
    _add_output(p)
    _add_server(p, connect_help)

    from moonflow.cli._replay import add_parser as add_replay

    add_replay(sub, _add_common, _add_app, _add_server, connect_help)

    from moonflow.cli._test import add_test_parser

    add_test_parser(sub, _add_common, _add_app)

    p = sub.add_parser(
        "check",
        help="load and validate an app; print what it holds",
        description="Load and validate the app; print its entries, workers, task queues, "
        "workflows and activities. Exit 0 valid, 2 invalid.",
    )
    _add_common(p)
    _add_app(p)
    p.add_argument(
        "--determinism",
        action="store_true",
        help="instead of the summary, scan every workflow's Lua code (and the libraries it "
        "imports) for calls replaced or refused at run time and for global state; one line per "
        "finding (FILE:LINE: ENTRY: note|warning: ...), then a summary. Findings do not change "
        "the exit code",
    )
    p.add_argument(
        "--json", action="store_true", help="with --determinism: print the report as JSON"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="every warning of check is an error (the first one, same line, exit 2): a key no "
        "field of its entry's kind declares (taskqueue:), a mistyped global (inptu), a workflow "
        "no worker runs, options that cost latency",
    )

    p = sub.add_parser(
        "server",
        help="run the bundled Temporal dev server in the foreground",
        description="Run the bundled Temporal dev server until Ctrl-C. State goes to "
        ".moonflow/temporal.db in the current directory unless --db or --memory is given.",
    )
    _add_common(p)
    store = p.add_mutually_exclusive_group()
    store.add_argument("--db", metavar="FILE", help="SQLite file for persistent state")
    store.add_argument("--memory", action="store_true", help="keep all state in memory")
    p.add_argument("--port", type=int, default=7233, help="gRPC port (default 7233; UI +1000)")
    p.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="extra namespace to create (repeatable; 'default' always exists)",
    )
    _add_ui(p)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL. Load it with, e.g., "
        "`source <(moonflow completion bash)` in ~/.bashrc, `moonflow completion zsh > "
        '"${fpath[1]}/_moonflow"`, or `moonflow completion fish > '
        "~/.config/fish/completions/moonflow.fish`.",
    )
    _add_common(p)
    p.add_argument(
        "shell", metavar="SHELL", choices=("bash", "zsh", "fish"), help="bash, zsh or fish"
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse a command line (without the program name).

    Raises:
        ArgumentError: invalid arguments (one-line message).
        HelpShown: ``--help``/``--version`` was printed.
    """
    words = sys.argv[1:] if argv is None else argv
    if not words:  # bare `moonflow`: the help, as for --help
        build_parser().print_help()
        raise HelpShown(0)
    args = build_parser().parse_args(words)
    if not hasattr(args, "debug"):
        args.debug = False
    if getattr(args, "server", "") is None:
        # (run reads its own --server among the words after APP_DIR: cli/_exec.py)
        explicit = "--server" in _run_flags(getattr(args, "exec_args", None) or [])
        args.server = DEFAULT_SERVER if explicit else server_default()
        args.server_env = None if explicit else server_env()
    if args.command == "server" and not 0 < args.port < 65536:
        raise ArgumentError("server: --port must be between 1 and 65535")
    if args.command == "check" and args.json and not args.determinism:
        raise ArgumentError("check: --json goes with --determinism")
    if args.command == "list" and args.limit < 1:
        raise ArgumentError(f"list: --limit must be a positive number, got {args.limit}")
    if hasattr(args, "signal") and isinstance(args.signal, list):
        args.signals = [parse_signal(text) for text in args.signal]
    if hasattr(args, "context") and isinstance(args.context, list):
        try:
            args.context_values = dict(
                parse_option(text, "--context", "tenant=acme") for text in args.context
            )
        except ArgumentError as exc:
            raise ArgumentError(f"{args.command}: {exc}") from None
    if hasattr(args, "option") and isinstance(args.option, list):
        args.options = parse_options(args.option, args.command)
        if args.options and getattr(args, "id", None) is not None:
            for key in args.options:
                if key.replace("-", "_").lower() in ("workflow.id", "temporal.workflow.id"):
                    raise ArgumentError(
                        f"{args.command}: --id and --option {key}=... both set the workflow "
                        "id; give one"
                    )
    if args.command in ("signal", "update"):
        _check_topic(args.topic if args.command == "signal" else args.name, args.command)
        args.data_value = read_data(args.data)
    if args.command == "query":
        args.data_value = read_data(args.data)
    if hasattr(args, "target") and not args.target.strip():
        raise ArgumentError(f"{args.command}: TARGET is empty: give a workflow id or PID")
    return args


def _run_flags(words: list[str]) -> list[str]:
    """The option names ``run`` reads before its command (as cli/_exec.py's exec_target)."""
    flags, i = [], 0
    while i < len(words) and words[i].startswith("-") and words[i] != "--":
        flag, eq, _ = words[i].partition("=")
        flags.append(flag)
        if flag in ("-x", "--exec"):
            break
        i += 1 if eq or flag not in ("--server", "--ui-port") else 2
    return flags


def _check_topic(topic: str, what: str) -> str:
    from moonflow.client import check_topic

    try:
        return check_topic(topic, what)
    except UsageError as exc:
        raise ArgumentError(str(exc)) from None


def parse_signal(text: str) -> tuple[str, Any]:
    """Decode one ``--signal TOPIC[=JSON]`` value.

    ``TOPIC=JSON`` is a message with the JSON value as its payload (split at the first ``=``),
    ``TOPIC`` alone a message without payload.

    Returns:
        ``(topic, value)``; value is :data:`moonflow.client.NO_INPUT` for no payload.

    Raises:
        ArgumentError: empty or reserved topic (``@...``), or invalid JSON after ``=``.
    """
    from moonflow.client import NO_INPUT

    topic, sep, data = text.partition("=")
    _check_topic(topic, f"--signal {text}")
    if not sep:
        return topic, NO_INPUT
    if not data.strip():
        raise ArgumentError(
            f"--signal {text}: no JSON after '='; write {topic}=JSON, or {topic} for no payload"
        )
    try:
        value = _loads(data, f"--signal {topic}")
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"--signal {text}: invalid JSON: {exc}") from None
    check_json_value(value, f"--signal {topic}")
    return topic, value


def parse_option(
    text: str, flag: str = "--option", example: str = "workflow.execution_timeout=72h"
) -> tuple[str, Any]:
    """Decode one ``--option KEY=VALUE`` (or ``--context``: ``flag``; split at the first ``=``).

    VALUE is decoded as JSON when it is valid JSON (``3``, ``true``, ``{"a": 1}``,
    ``"quoted"``), otherwise kept as the string itself (``72h``, ``fail``).

    Returns:
        ``(key, value)``.

    Raises:
        ArgumentError: no ``=``, an empty KEY, or a JSON value Lua cannot hold.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ArgumentError(f"{flag}: the argument is not valid UTF-8 text") from None
    key, sep, data = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ArgumentError(f"{flag} {text}: expected KEY=VALUE, e.g. {flag} {example}")
    try:
        value: Any = _loads(data, f"{flag} {key}")
    except json.JSONDecodeError:
        return key, data
    check_json_value(value, f"{flag} {key}")
    return key, value


def parse_options(texts: list[str], command: str = "") -> dict[str, Any]:
    """Decode every ``--option KEY=VALUE`` into an option table and check it.

    Returns:
        ``{key: value}`` (the last value of a repeated KEY wins); empty without ``--option``.

    Raises:
        ArgumentError: bad ``KEY=VALUE`` syntax, or an invalid option (unknown key, bad
            value), one line naming the key.
    """
    prefix = f"{command}: " if command else ""
    try:
        options = dict(parse_option(text) for text in texts)
    except ArgumentError as exc:
        raise ArgumentError(f"{prefix}{exc}") from None
    if options:
        from moonflow.client._run import start_options

        try:
            start_options(options)
        except UsageError as exc:
            raise ArgumentError(f"{prefix}--option: {str(exc).removeprefix('options: ')}") from None
    return options


def read_data(text: str | None) -> Any:
    """Decode ``--data JSON``.

    Returns:
        The value, or :data:`moonflow.client.NO_INPUT` when ``--data`` was not given.

    Raises:
        ArgumentError: the text is not valid JSON.
    """
    from moonflow.client import NO_INPUT

    if text is None:
        return NO_INPUT
    try:
        value = _loads(text, "--data")
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"--data: invalid JSON: {exc}") from None
    check_json_value(value, "--data")
    return value


def read_input(args: argparse.Namespace) -> Any:
    """Decode ``--input`` / ``--input-file`` into a JSON value.

    Returns:
        The decoded value, or :data:`moonflow.client.NO_INPUT` when neither option is given.

    Raises:
        ArgumentError: the text is not valid JSON (``--input: invalid JSON: ...``) or the file
            cannot be read.
    """
    from moonflow.client import NO_INPUT

    if getattr(args, "input", None) is not None:
        text, what = args.input, "--input"
    elif getattr(args, "input_file", None) is not None:
        path = args.input_file
        what = f"--input-file {path}"
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ArgumentError(f"{what}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ArgumentError(f"{what}: not UTF-8 text: {exc.reason}") from None
    else:
        return NO_INPUT
    try:
        value = _loads(text, what)
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"{what}: invalid JSON: {exc}") from None
    check_json_value(value, what)
    return value


#: What the CLI says of JSON nested deeper than Python's reader or checker can follow.
_TOO_DEEP = "the JSON is nested too deeply (Python stops near 1,000 levels; keep data flatter)"


def _loads(text: str, what: str) -> Any:
    """``json.loads``; nesting too deep to read is an ArgumentError naming ``what`` (an invalid
    text still raises ``json.JSONDecodeError``, which each option words its own way)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ArgumentError(f"{what}: {_TOO_DEEP}") from None


def check_json_value(value: Any, what: str, path: str = "") -> None:
    """Refuse values that Lua cannot hold exactly: integers outside 64 bits, infinities, NaN,
    strings with a lone UTF-16 surrogate (a JSON ``\\ud800`` escape without its pair).

    Raises:
        ArgumentError: naming the option and the path (``--input: .items[2]: ...``), or saying
            the value is nested too deeply to check.
    """
    try:
        _check_json(value, what, path)
    except RecursionError:
        raise ArgumentError(f"{what}: {_TOO_DEEP}") from None


def _check_json(value: Any, what: str, path: str) -> None:
    """:func:`check_json_value`, recursive."""
    if isinstance(value, str):
        from moonflow.client._values import lone_surrogate

        problem = lone_surrogate(value)
        if problem:
            raise ArgumentError(f"{what}: {path or 'value'}: {problem}")
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ArgumentError(
                f"{what}: {path or 'value'}: integer {value} does not fit in 64 bits "
                "(Lua integers are 64-bit); pass it as a string"
            )
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ArgumentError(
                f"{what}: {path or 'value'}: {text_of(value)} is not a finite number"
            )
        return
    if isinstance(value, list):
        for i, item in enumerate(value, 1):
            _check_json(item, what, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_json(k, what, f"{path}[<key>]")
            _check_json(item, what, f"{path}.{k}")


def text_of(value: float) -> str:
    return "Infinity" if value > 0 else "-Infinity" if value < 0 else "NaN"
