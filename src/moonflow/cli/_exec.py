"""``moonflow run APP -x ENTRY [ARGS...]`` and ``moonflow run APP COMMAND [ARGS...]``: one
``process.lua`` / ``function.lua`` entry run as a process on the terminal host.

The app's workers run beside it on the server ``--server`` names (the embedded one by default,
as for ``run``), so the process can start and drive workflows; an app without Temporal entries
needs no server. The process's ``io`` output goes to stdout (``io.eprint``: stderr). Its result
decides the exit: an integer is the exit code (0-255), nil exits 0 silently, another value is
printed as one JSON line (exit 0), a failure prints ``{"error": {...}}`` and exits 1 (the
reference runtime's ``wippy run -x``, lua-api.md §2.14b).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from moonflow.cli._output import EXIT_FAILED, EXIT_OK, Streams, print_failure, print_result
from moonflow.errors import ErrorInfo, UsageError, is_non_retryable

#: Seconds a -x process has to return after the CANCEL event of a Ctrl-C.
INTERRUPT_GRACE_S = 10.0
RUNNABLE = ("process.lua", "function.lua")


def command_entries(app: Any) -> dict[str, str]:
    """``meta.command.name`` -> entry id, for the app's process/function entries."""
    out: dict[str, str] = {}
    for entry in app.entries.values():
        command = entry.meta.get("command") if isinstance(entry.meta, dict) else None
        name = command.get("name") if isinstance(command, dict) else None
        if isinstance(name, str) and name and entry.kind in RUNNABLE:
            if name in out:
                raise UsageError(
                    f"{entry.where()}: {entry.id}: command name {name!r} is taken by "
                    f"{out[name]}: give each entry its own meta.command.name"
                )
            out[name] = entry.id
    return out


#: ``run``'s own options: one of them among an entry's arguments is probably misplaced.
RUN_OPTIONS = ("-x", "--exec", "--server", "--ui-port", "--debug", "--headless", "-h", "--help")


def exec_target(
    app: Any, args: argparse.Namespace, note: Any = None
) -> tuple[str, list[str]] | None:
    """``(entry id, its arguments)`` of a ``run`` that executes one entry, or None for a plain
    ``run`` (workers and services until Ctrl-C).

    A ``--`` right after the entry (or command name) is dropped: it ends moonflow's options,
    as usual, so ``-x app:e -- --server`` passes ``--server`` (without a note). An argument
    that is exactly one of ``run``'s own options (``--server``, ``--server=...``) is still
    passed to the entry, with one line to ``note`` (``note(text)``, e.g. ``Streams.note``;
    None: no note) saying it is not read by moonflow.

    Raises:
        UsageError: ``-x`` names no runnable entry (or is empty), or the first argument is no
            command.
    """
    rest = list(getattr(args, "exec_args", None) or [])
    entry_id = getattr(args, "exec_entry", None)
    # argparse hands everything after APP_DIR to the trailing arguments: read run's own
    # options there until -x ENTRY or the first word (a command name).
    while rest and rest[0].startswith("-") and entry_id is None:
        flag, eq, value = rest[0].partition("=")
        if flag in ("-x", "--exec", "--server", "--ui-port"):
            if not eq:
                if len(rest) < 2:
                    raise UsageError(f"{flag} needs a value")
                value = rest[1]
                rest = rest[2:]
            else:
                rest = rest[1:]
            if flag == "--server":
                args.server = value
            elif flag == "--ui-port":
                from moonflow.cli._parser import parse_port

                args.ui_port = parse_port("--ui-port", value)
            else:
                entry_id = value
        elif flag in ("--debug", "--headless"):
            setattr(args, flag[2:], True)
            rest = rest[1:]
        elif flag == "--":
            rest = rest[1:]
            break
        else:
            raise UsageError(
                f"run: unknown option {rest[0]!r} (options: -x ENTRY, --server SPEC, "
                "--ui-port N, --headless)"
            )
    if entry_id is not None:
        if not entry_id.strip():
            raise UsageError(
                "-x needs an entry id (ns:name), e.g. `moonflow run APP -x app:main ARGS...`; "
                f"got {entry_id!r}"
            )
        return _runnable(app, entry_id), _entry_args(rest, f"-x {entry_id}", note)
    if not rest:
        return None
    commands = command_entries(app)
    name = rest[0]
    if name not in commands:
        known = ", ".join(sorted(commands)) or "none (set meta.command.name on an entry)"
        raise UsageError(f"unknown command {name!r} for {app.root}: commands are {known}")
    return commands[name], _entry_args(rest[1:], name, note)


def _entry_args(rest: list[str], after: str, note: Any) -> list[str]:
    """The entry's arguments: ``rest`` without a leading ``--``; a note for each argument that
    is one of run's own options (they would otherwise reach Lua silently)."""
    if rest[:1] == ["--"]:
        return rest[1:]
    if note is not None:
        for arg in rest:
            flag = arg.partition("=")[0] if arg.startswith("--") else arg
            if flag in RUN_OPTIONS:
                note(
                    f"moonflow: note: {arg} after {after} is passed to it as an argument; put "
                    f"moonflow's options before {after.split()[0]} (or write -- after the "
                    "entry to silence this)"
                )
    return rest


def _runnable(app: Any, entry_id: str) -> str:
    if entry_id not in app.entries and ":" not in entry_id:
        matches = [i for i in app.entries if i.rpartition(":")[2] == entry_id]
        if len(matches) == 1:
            entry_id = matches[0]
    entry = app.entries.get(entry_id)
    runnable = sorted(e.id for e in app.entries.values() if e.kind in RUNNABLE)
    if entry is None:
        known = ", ".join(runnable) or "none"
        raise UsageError(f"-x {entry_id}: no such entry in {app.root} (runnable: {known})")
    if entry.kind not in RUNNABLE:
        hint = " (run workflows with `moonflow execute`)" if entry.kind == "workflow.lua" else ""
        raise UsageError(
            f"-x {entry_id}: a {entry.kind} entry; -x runs a process.lua or function.lua "
            f"entry{hint}"
        )
    return entry_id


@contextlib.asynccontextmanager
async def app_with_processes(
    app: Any,
    server_spec: str,
    streams: Streams,
    *,
    terminal: Any = None,
    ui_options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Any, asyncio.Future[None] | None]]:
    """The app running beside a process node: its server (``server_spec``; none for an app
    without a ``temporal.client``), its workers and its auto-start services.

    Yields:
        ``(node, failed)``: the :class:`~moonflow.process.ProcessNode`, and a future that fails
        when a worker stops by itself (None without workers), once the auto-start services
        have run until every process waits (at most ``process._services.SETTLE_S`` seconds).
        On exit the services stop (in reverse order), then the node, the workers and the
        server.
    """
    from moonflow.cli._commands import _build_workers, running_workers
    from moonflow.cli._progress import watching_connections
    from moonflow.devserver import open_server
    from moonflow.process import ProcessNode, Supervisor

    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Any] = {}
        failed: asyncio.Future[None] | None = None
        if app.clients():
            server = await stack.enter_async_context(
                open_server(server_spec, app, log=streams.note, **(ui_options or {}))
            )
            clients = server.clients
            # a lost (and regained) server connection is said once each, with its address
            await stack.enter_async_context(watching_connections(clients.values(), streams.note))
            workers = _build_workers(app, clients)
            if workers:
                failed = await stack.enter_async_context(running_workers(workers))
        node = await stack.enter_async_context(ProcessNode(app, clients, terminal=terminal))
        supervisor = Supervisor(node, streams.note)
        stack.push_async_callback(supervisor.stop)
        # the services' first steps run before the entry starts (a name they register is
        # there when it first sends to it), at most SETTLE_S for services that never wait
        await supervisor.settle(supervisor.start_auto())
        yield node, failed


async def run_exec(
    app: Any,
    args: argparse.Namespace,
    streams: Streams,
    stop: Any,
    entry_id: str,
    argv: list[str],
) -> int:
    """Run ``entry_id`` on the terminal host with its app beside it; return the exit code."""
    from moonflow.process import Terminal

    stdin = getattr(sys.stdin, "buffer", None)  # None when stdin is closed (`<&-`)
    terminal = Terminal(out=streams.out, err=streams.err, inp=stdin, args=argv)
    ui_options = ui_options_of(args)
    async with app_with_processes(
        app, args.server, streams, terminal=terminal, ui_options=ui_options
    ) as (node, failed):
        process = node.spawn(entry_id, argv, host_id=node.terminal_host)
        waiter = asyncio.ensure_future(stop.wait())
        watched: set[asyncio.Future[Any]] = {process.done, waiter}
        if failed is not None:
            watched.add(failed)
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if failed is not None and failed.done() and not process.done.done():
            failed.result()  # raises WorkerFailed
        if not process.done.done():
            # Ctrl-C or SIGTERM: the process gets a CANCEL event (reason "interrupted") and up
            # to INTERRUPT_GRACE_S to return; one that reads no events ends at once. A second
            # signal exits at once (cli/_main.py). A process that returns decides the exit as
            # for a normal end; one that ended at once or did not return in time exits 130 for
            # Ctrl-C, 143 for SIGTERM, as `execute` (128 + the signal number).
            signum = getattr(stop, "signum", None) or signal.SIGINT
            again = (
                "Ctrl-C again to stop at once"
                if signum == signal.SIGINT
                else "a second SIGTERM or Ctrl-C stops it at once"
            )
            said = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
            streams.note(f"moonflow: {said}; {process.pid} got a CANCEL event ({again})")
            node.cancel(process, "interrupted", None)
            if process.done.done():  # it reads no events: it ended at once (kind Canceled)
                return 128 + int(signum)
            try:
                await asyncio.wait_for(asyncio.shield(process.done), INTERRUPT_GRACE_S)
            except TimeoutError:
                streams.note(f"moonflow: {process.pid} did not return in time; stopping it")
                return 128 + int(signum)
            # it handled the CANCEL and returned by itself: its result decides the exit code,
            # as for a normal end (a process that returns 7 on Ctrl-C exits 7)
        outcome = process.done.result()
    with contextlib.suppress(OSError, ValueError):
        streams.out.flush()
    if not outcome.ok:
        assert outcome.error is not None
        print_failure(streams, _as_execute_prints(outcome.error), f"{entry_id} ({process.pid})")
        return EXIT_FAILED
    value = outcome.value
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0xFF if value >= 0 else EXIT_FAILED
    if value is not None:
        print_result(streams, value)
    return EXIT_OK


def _as_execute_prints(info: ErrorInfo) -> ErrorInfo:
    """``info`` with an unspecified ``retryable`` made what ``moonflow execute`` prints for
    the same error: a workflow's failure crosses Temporal as ``non_retryable``
    (:func:`moonflow.errors.is_non_retryable`: by kind), so execute never prints null."""
    if info.retryable is not None:
        return info
    return dataclasses.replace(info, retryable=not is_non_retryable(info))


def ui_options_of(args: argparse.Namespace) -> dict[str, Any]:
    """``open_server``'s ``ui``/``ui_port`` from ``--headless`` / ``--ui-port N``.

    Raises:
        UsageError: a UI flag with a server moonflow does not start taken from
            ``$MOONFLOW_SERVER``/``$TEMPORAL_ADDRESS`` (the message names the variable; with an
            explicit ``--server`` :func:`open_server` says it).
    """
    headless = getattr(args, "headless", False)
    ui_port = getattr(args, "ui_port", None)
    name = getattr(args, "server_env", None)
    if name and (headless or ui_port is not None):
        from moonflow.devserver import parse_server_spec

        kind, _ = parse_server_spec(args.server)
        if kind in ("time-skipping", "external"):
            flag = "--headless" if headless else "--ui-port"
            what = "has no Web UI" if kind == "time-skipping" else "is not started by moonflow"
            raise UsageError(
                f"{flag} applies to a dev server moonflow starts (--server embedded or memory); "
                f"the server of ${name}={args.server} {what}: drop {flag}, or `unset {name}`"
            )
    return {"ui": not headless, "ui_port": ui_port}


def add_exec_arguments(p: argparse.ArgumentParser) -> None:
    """``-x ENTRY`` and the trailing arguments of ``run``."""
    p.add_argument(
        "-x",
        "--exec",
        dest="exec_entry",
        metavar="ENTRY",
        help="run this process.lua or function.lua entry on the terminal host (the app's "
        "workers beside it) and exit with its result, also when it returns after Ctrl-C or "
        "SIGTERM (a CANCEL event; 130/143 only when it does not return); the arguments after "
        "it reach it as strings (and io.args())",
    )
    p.add_argument(
        "exec_args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="with -x: the entry's arguments, passed as given (moonflow's own options go "
        "before -x; a -- right after the entry is dropped, so `-x app:e -- --server` passes "
        "--server); without: COMMAND ARGS... runs the entry whose meta.command.name is COMMAND",
    )
