"""How the CLI prints results and errors.

* A result is one line of JSON on stdout.
* A failed workflow prints ``{"error": {"kind", "message", "retryable"}}`` on stdout and one line
  on stderr (exit 1).
* Every other error is one line on stderr (``moonflow: error: ...``), or a traceback with
  ``--debug``.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any, TextIO

from moonflow.errors import AppError, ErrorInfo, MoonflowError, WorkflowFailure

EXIT_OK = 0
EXIT_FAILED = 1  # the workflow failed
EXIT_USAGE = 2  # bad app, bad arguments, unreachable or unusable server
EXIT_INTERNAL = 3  # a bug in moonflow (an unexpected exception)


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
