"""``moonflow`` entry point: parse, run one command on an event loop, return its exit code.

:func:`main` ends the process with ``os._exit`` after everything was shut down and flushed: the
Temporal SDK core can otherwise abort the interpreter at exit (``Fatal Python error:
PyGILState_Release``, exit 134) after the command already printed its output, and a command must
return its own exit code every time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import NoReturn, TextIO

from moonflow.cli._commands import COMMANDS, LONG_RUNNING, Stop
from moonflow.cli._completion import cmd_completion
from moonflow.cli._output import EXIT_USAGE, Streams, print_error, rebase_app_paths
from moonflow.cli._parser import ArgumentError, HelpShown, parse_args
from moonflow.cli._replay import cmd_replay
from moonflow.cli._test import cmd_test

COMMANDS = {**COMMANDS, "replay": cmd_replay, "test": cmd_test, "completion": cmd_completion}

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def run(
    argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one ``moonflow`` command line and return its exit code (never exits the process).

    Args:
        argv: arguments without the program name; default ``sys.argv[1:]``.
        out: stream for results (default stdout).
        err: stream for notices and errors (default stderr).

    Returns:
        0 success; 1 the workflow failed; 2 bad app, arguments or server; 3 internal error;
        130/143 interrupted by SIGINT/SIGTERM (except ``run``/``server``, which stop with 0).
    """
    streams = Streams(out or sys.stdout, err or sys.stderr)
    try:
        args = parse_args(argv)
    except HelpShown as exc:
        return exc.code
    except ArgumentError as exc:
        return print_error(streams, exc) if str(exc) else EXIT_USAGE
    streams.debug = bool(args.debug)
    from moonflow import _logging

    _logging.configure(debug=streams.debug)
    try:
        return asyncio.run(_amain(args, streams))
    except KeyboardInterrupt:
        return SIGNAL_EXIT[signal.SIGINT]
    except Exception as exc:
        server, env_name = getattr(args, "server", None), getattr(args, "server_env", None)
        exc = _name_server_env(exc, server, env_name)
        return print_error(streams, rebase_app_paths(exc, getattr(args, "app_dir", None)))


def _name_server_env(exc: Exception, spec: str | None, name: str | None) -> Exception:
    """An unreachable server whose address came from ``$MOONFLOW_SERVER`` /
    ``$TEMPORAL_ADDRESS`` (``name``): say so and give fixes that work (start a server on that
    port, or unset the variable), not "use --server" to someone who never typed one."""
    from moonflow.client._connect import ConnectionFailed

    if not name or not isinstance(exc, ConnectionFailed) or exc.reachable:
        return exc
    if spec is None or exc.address != spec.strip():
        return exc  # the app's own address (embedded), not the variable's
    host, _, port = exc.address.rpartition(":")
    fixes = f"`unset {name}`"
    if host.strip("[]") in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
        fixes = f"start one there with `moonflow server --port {port}`, or {fixes}"
    return ConnectionFailed(f"${name}={exc.address}", exc.reason, fixes, where=exc.where)


async def _amain(args: object, streams: Streams) -> int:
    command = getattr(args, "command")  # noqa: B009 - argparse namespace
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    stop = Stop()

    def on_signal(signum: int) -> None:
        if stop.signum is not None:  # second signal: give up on a graceful stop
            streams.note("moonflow: interrupted again, exiting now")
            _flush(streams)
            os._exit(SIGNAL_EXIT.get(signal.Signals(signum), 128 + signum))
        stop.signum = signum
        stop.event.set()
        if command not in LONG_RUNNING and main_task is not None:
            main_task.cancel()

    for sig in SIGNAL_EXIT:
        try:
            loop.add_signal_handler(sig, on_signal, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    early, _EARLY_SIGNALS[:] = list(_EARLY_SIGNALS), []
    for signum in early[:1]:
        on_signal(signum)
    try:
        return await COMMANDS[command](args, streams, stop)  # type: ignore[arg-type]
    except BrokenPipeError:
        # stdout closed early (`moonflow history ... | head`): not an error.
        _quiet_stdout()
        return 0
    except Exception as exc:
        # Some SDK calls turn the cancellation of an interrupted command into their own error
        # (an update's WorkflowUpdateRPCTimeoutOrCancelledError): still an interruption.
        if stop.signum is None:
            raise
        del exc
        streams.note("moonflow: interrupted")
        return SIGNAL_EXIT.get(signal.Signals(stop.signum), 128 + stop.signum)
    except asyncio.CancelledError:
        if stop.signum is None:
            raise
        streams.note("moonflow: interrupted")
        return SIGNAL_EXIT.get(signal.Signals(stop.signum), 128 + stop.signum)
    finally:
        for sig in SIGNAL_EXIT:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass


def _quiet_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _flush(streams: Streams | None = None) -> None:
    for stream in (
        *(s for s in ((streams.out, streams.err) if streams else ())),
        sys.stdout,
        sys.stderr,
    ):
        try:
            stream.flush()
        except Exception:
            pass


#: Signals that arrived before the command's event loop took over (replayed there).
_EARLY_SIGNALS: list[int] = []


def _note_early_signal(signum: int, _frame: object) -> None:
    _EARLY_SIGNALS.append(signum)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point: run the command, flush, and ``os._exit`` with its code."""
    code = EXIT_USAGE
    # From the start, a Ctrl-C is recorded rather than raised wherever Python happens to be
    # (an import, a C call, a thread of the SDK, where it could be lost): the command's loop
    # handles it as soon as it runs.
    for sig in SIGNAL_EXIT:
        signal.signal(sig, _note_early_signal)
    try:
        code = run(argv)
    finally:
        _flush()
        os._exit(code)
