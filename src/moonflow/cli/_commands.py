"""The ``moonflow`` subcommands. Each is ``async (args, streams, stop) -> exit code``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from moonflow.cli._check import cmd_check
from moonflow.cli._output import (
    EXIT_FAILED,
    EXIT_OK,
    Streams,
    output_format,
    print_failure,
    print_records,
    print_result,
)
from moonflow.cli._parser import read_input
from moonflow.errors import MoonflowError, UsageError, WorkflowFailure

#: Seconds a stopping worker gets beyond its worker_stop_timeout: for the activities the SDK
#: cancelled then to report their (retryable) failure, and for the SDK's own shutdown.
WORKER_SHUTDOWN_MARGIN = 15.0


def shutdown_wait(workers: Sequence[Any]) -> float:
    """Seconds to wait for ``workers`` to stop: the longest ``worker_stop_timeout`` among them
    (the SDK's ``graceful_shutdown_timeout``) plus :data:`WORKER_SHUTDOWN_MARGIN`, so that a
    stop timeout of any length is waited out (it was cut at 30 s)."""
    grace = 0.0
    for w in workers:
        config = w.config() if hasattr(w, "config") else {}
        timeout = config.get("graceful_shutdown_timeout")
        if timeout is not None:
            grace = max(grace, timeout.total_seconds())
    return grace + WORKER_SHUTDOWN_MARGIN


class Stop:
    """Set when SIGINT/SIGTERM asks a long-running command to stop."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signum: int | None = None

    async def wait(self) -> None:
        await self.event.wait()


class WorkerFailed(MoonflowError):
    """A worker stopped with a fatal error (bad registration, lost server...)."""


def _load(app_dir: str, streams: Streams | None = None, *, strict: bool = False) -> Any:
    """Load the app. With ``streams`` (``run``, ``execute``, ``start``), print each key no
    field of its entry's kind declares on stderr, once (``check`` lists them with the rest;
    ``strict``: such a key is an error)."""
    from moonflow.registry import load_app

    if not Path(app_dir).is_dir():
        raise UsageError(f"APP_DIR {app_dir!r} is not a directory")
    app = load_app(app_dir, strict=strict)
    if streams is not None:
        from moonflow.cli._output import rebase_warning
        from moonflow.kinds._fields import field_warnings

        for warning in field_warnings(app.entries.values()):
            streams.note(f"moonflow: {rebase_warning(str(warning), app_dir)}")
    return app


@contextlib.asynccontextmanager
async def running_workers(workers: Sequence[Any]) -> AsyncIterator[asyncio.Future[None]]:
    """Run Temporal workers in the background; shut them all down on exit.

    Yields:
        A future that fails with :class:`WorkerFailed` as soon as one worker stops by itself
        (a fatal error); race it against what the command waits for.
    """
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[None] = loop.create_future()
    tasks = [asyncio.create_task(w.run(), name=f"worker {i}") for i, w in enumerate(workers)]

    def on_done(task: asyncio.Task[None]) -> None:
        if failed.done() or task.cancelled():
            return
        exc = task.exception()
        reason = f"{type(exc).__name__}: {exc}" if exc else "it stopped unexpectedly"
        if exc is not None and exc.__cause__ is not None:
            reason += f" ({exc.__cause__})"
        failed.set_exception(WorkerFailed(f"a worker stopped: {reason}"))

    for task in tasks:
        task.add_done_callback(on_done)
    try:
        yield failed
    finally:
        for task in tasks:
            task.remove_done_callback(on_done)
        if not failed.done():
            failed.cancel()
        else:
            failed.exception()  # mark retrieved
        live = [w for w, t in zip(workers, tasks, strict=True) if not t.done()]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(w.shutdown() for w in live), return_exceptions=True),
                shutdown_wait(live),
            )
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _race(work: Any, failed: asyncio.Future[None]) -> Any:
    """Await ``work`` unless a worker fails first (then raise that failure)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, failed}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    failed.result()  # raises WorkerFailed
    raise AssertionError("unreachable")


def _build_workers(app: Any, clients: dict[str, Any]) -> list[Any]:
    from moonflow.worker import build_workers

    return list(build_workers(app, clients))


def _client_for(server: Any, client_id: str) -> Any:
    try:
        return server.clients[client_id]
    except KeyError:
        raise UsageError(f"no temporal.client entry {client_id!r} in the app") from None


async def cmd_execute(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow execute APP_DIR ENTRY_ID``: workers in-process, start, wait, print result."""
    from moonflow.cli._exec import ui_options_of
    from moonflow.cli._progress import Display, wait_for_result
    from moonflow.client import NO_INPUT, resolve_workflow_entry, start_workflow
    from moonflow.client._values import check_value
    from moonflow.devserver import open_server

    value = read_input(args)
    if value is not NO_INPUT:  # a bad or oversized input: one line before any server starts
        check_value(value, "input")
    app = _load(args.app_dir, streams)
    entry_id, _worker_id, client_id = resolve_workflow_entry(
        app, args.entry_id, app_dir=args.app_dir
    )
    async with open_server(args.server, app, log=streams.note, **ui_options_of(args)) as server:
        if server.kind == "memory" and not args.quiet:
            # (embedded says where it started a server; memory's own line, as run prints it)
            ui = f"Web UI {server.ui_url}" if server.ui_url else "no Web UI"
            streams.note(
                f"moonflow: started a Temporal dev server in memory on {server.address} ({ui}); "
                "it stops when execute ends"
            )
        client = _client_for(server, client_id)
        workers = _build_workers(app, server.clients)
        async with running_workers(workers) as failed:
            start = start_workflow(
                client,
                app,
                entry_id,
                value,
                workflow_id=args.id,
                signals=getattr(args, "signals", []),
                options=getattr(args, "options", None) or None,
                context=getattr(args, "context_values", None) or None,
            )
            wf_id, run_id, pid = await _race(start, failed)
            display = Display(streams, quiet=args.quiet)
            if not args.quiet:
                after = "cancels it" if args.cancel_on_interrupt else "leaves it running"
                streams.note(
                    f"moonflow: started workflow {wf_id} (PID {pid}); waiting for its result "
                    f"(Ctrl-C {after})"
                )
            wait = wait_for_result(
                client, wf_id, display, address=server.address, run_id=run_id, local_workers=True
            )
            try:
                result = await _race(wait, failed)
            except WorkflowFailure as exc:
                print_failure(streams, exc.info, f"workflow {entry_id} ({wf_id})")
                return EXIT_FAILED
            except asyncio.CancelledError:
                # Ctrl-C (cli/_main.py cancels the command): say where the workflow is.
                if stop.signum is None:
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                display.hide()
                return await _interrupted(args, streams, stop, server, client, wf_id, failed)
    print_result(streams, result)
    return EXIT_OK


async def _interrupted(
    args: argparse.Namespace,
    streams: Streams,
    stop: Stop,
    server: Any,
    client: Any,
    wf_id: str,
    failed: asyncio.Future[None],
) -> int:
    """After Ctrl-C on ``execute``: say where the workflow is and how to get its result, or
    (``--cancel-on-interrupt``) cancel it and wait for it to end. Returns 130 (143 for SIGTERM);
    stdout stays empty. A second Ctrl-C exits at once (cli/_main.py)."""
    import shlex

    from moonflow.cli._output import one_line
    from moonflow.client import cancel, get_result
    from moonflow.errors import CANCELED

    code = 128 + (stop.signum or 2)
    if args.cancel_on_interrupt:
        streams.note(
            f"moonflow: interrupted; cancelling workflow {wf_id} and waiting for it to end "
            "(Ctrl-C again to exit at once)"
        )
        await cancel(client, wf_id, "interrupted: moonflow execute --cancel-on-interrupt")
        try:
            await _race(get_result(client, wf_id), failed)
        except WorkflowFailure as exc:
            info = exc.info
            if info.kind == CANCELED:
                streams.note(f"moonflow: workflow {wf_id} canceled")
            else:
                streams.note(
                    f"moonflow: workflow {wf_id} ended: {info.kind}: {one_line(info.message)}"
                )
        else:
            streams.note(f"moonflow: workflow {wf_id} completed before it could be canceled")
        return code
    app = shlex.quote(args.app_dir)
    if server.kind in ("memory", "time-skipping"):
        streams.note(
            f"moonflow: interrupted; workflow {wf_id} ends with the {server.kind} server this "
            "command started (--server embedded or HOST:PORT keeps workflows)"
        )
        return code
    if server.kind == "dev":  # embedded, started here: it stops with this command
        streams.note(
            f"moonflow: interrupted; workflow {wf_id} is still running, kept in "
            f"{shlex.quote(str(Path(args.app_dir) / '.moonflow'))} (this command's server and "
            f"workers stop now): `moonflow run {app}` continues it"
        )
        streams.note(f"moonflow: its result, later: moonflow result {app} {shlex.quote(wf_id)}")
        return code
    server_flag = ""
    if args.server not in (None, "embedded"):
        server_flag = f" --server {shlex.quote(args.server)}"
    streams.note(
        f"moonflow: interrupted; workflow {wf_id} is still running on {server.address} "
        "(this command's workers stop now; the app's other workers, e.g. `moonflow run`, go on)"
    )
    streams.note(
        f"moonflow: its result, later: moonflow result {app} {shlex.quote(wf_id)}{server_flag}"
    )
    return code


async def cmd_start(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow start APP_DIR ENTRY_ID``: start on a running server; print id and PID."""
    from moonflow.cli._output import dumps
    from moonflow.client import resolve_workflow_entry, start_workflow
    from moonflow.devserver import open_server

    value = read_input(args)
    app = _load(args.app_dir, streams)
    entry_id, _worker_id, client_id = resolve_workflow_entry(
        app, args.entry_id, app_dir=args.app_dir
    )
    async with open_server(args.server, app, allow_start=False, log=streams.note) as server:
        client = _client_for(server, client_id)
        wf_id, run_id, pid = await start_workflow(
            client,
            app,
            entry_id,
            value,
            workflow_id=args.id,
            signals=getattr(args, "signals", []),
            options=getattr(args, "options", None) or None,
            context=getattr(args, "context_values", None) or None,
        )
    streams.print(dumps({"workflow_id": wf_id, "run_id": run_id, "pid": pid}))
    return EXIT_OK


@contextlib.asynccontextmanager
async def _connected(
    args: argparse.Namespace, streams: Streams, target: str | None = None
) -> AsyncIterator[Any]:
    """A client of the app's server for ``target`` (never starting a server).

    The client is the one of the PID's client entry when ``target`` is a PID, else the app's
    first ``temporal.client`` entry. A :class:`WorkflowNotFound` raised inside names the app
    directory in its hint.
    """
    from moonflow.client import WorkflowNotFound, parse_pid
    from moonflow.devserver import open_server

    app = _load(args.app_dir)
    pid = parse_pid(target) if target is not None else None
    async with open_server(args.server, app, allow_start=False, log=streams.note) as server:
        if not server.clients:
            raise UsageError(f"{args.app_dir} has no temporal.client entry")
        client_id = pid[0] if pid else next(iter(server.clients))
        try:
            yield _client_for(server, client_id)
        except WorkflowNotFound as exc:
            raise exc.for_app(args.app_dir) from None


async def cmd_result(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow result APP_DIR WORKFLOW_ID``: wait for a result; exit codes as execute."""
    from moonflow.cli._progress import Display, wait_for_result
    from moonflow.client import workflow_id_of

    wf_id = workflow_id_of(args.workflow_id)
    async with _connected(args, streams, args.workflow_id) as client:
        address = client.service_client.config.target_host
        display = Display(streams, quiet=args.quiet)
        try:
            result = await wait_for_result(client, wf_id, display, address=address)
        except WorkflowFailure as exc:
            print_failure(streams, exc.info, f"workflow {wf_id}")
            return EXIT_FAILED
    print_result(streams, result)
    return EXIT_OK


async def cmd_signal(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow signal APP_DIR TARGET TOPIC [--data JSON]``: send one message, no sender."""
    from moonflow.client import NO_INPUT, signal, workflow_id_of

    values = [] if args.data_value is NO_INPUT else [args.data_value]
    async with _connected(args, streams, args.target) as client:
        await signal(client, args.target, args.topic, *values)
    streams.note(f"moonflow: sent {args.topic!r} to workflow {workflow_id_of(args.target)}")
    return EXIT_OK


#: Seconds ``moonflow update`` waits in silence before saying what it waits for.
UPDATE_QUIET_SECONDS = 3.0


async def cmd_update(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow update APP_DIR TARGET NAME [--data JSON] [--update-id ID]``: print the
    answer (exit 1 if not). Waiting longer than :data:`UPDATE_QUIET_SECONDS` prints one line
    naming the update id; Ctrl-C prints how far the update got (Temporal's stages: admitted,
    accepted) and the command that waits for the same update again; exit 130."""
    import uuid

    from moonflow.client import NO_INPUT, update, workflow_id_of

    values = [] if args.data_value is NO_INPUT else [args.data_value]
    wf_id = workflow_id_of(args.target)
    update_id = getattr(args, "update_id", None) or str(uuid.uuid4())
    async with _connected(args, streams, args.target) as client:
        if getattr(args, "update_id", None):
            await _note_existing_update(args, streams, client, update_id, values)
        sending = asyncio.ensure_future(
            update(client, args.target, args.name, *values, update_id=update_id)
        )
        try:
            done, _ = await asyncio.wait({sending}, timeout=UPDATE_QUIET_SECONDS)
            if not done:
                streams.note(
                    f"moonflow: waiting for workflow {wf_id} to accept and complete update "
                    f"{args.name!r} (update id {update_id}; Ctrl-C stops waiting, the update "
                    "stays with the workflow)"
                )
            result = await asyncio.shield(sending)
        except WorkflowFailure as exc:
            print_failure(streams, exc.info, f"update {args.name!r} of workflow {wf_id}")
            return EXIT_FAILED
        except asyncio.CancelledError:
            if stop.signum is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return await _update_interrupted(args, streams, stop, client, update_id, sending)
    print_result(streams, result)
    return EXIT_OK


async def _note_existing_update(
    args: argparse.Namespace, streams: Streams, client: Any, update_id: str, values: list[Any]
) -> None:
    """``--update-id`` of an update the workflow already has: Temporal dedupes by id and waits
    on that update with its original arguments, so say so on stderr when ``--data`` differs
    from them (or they are not known yet), and keep them for the "wait for it again" hint
    (``args.original_data``: the JSON text, "" for no --data, None when not known)."""
    from moonflow.cli._output import dumps
    from moonflow.client import workflow_id_of
    from moonflow.client._messages import UPDATE_NOT_ADMITTED, update_original

    stage, original = await update_original(client, args.target, update_id)
    if stage == UPDATE_NOT_ADMITTED:
        return  # a new update
    if original is not None and len(original) <= 1:
        args.original_data = dumps(original[0]) if original else ""
    else:
        args.original_data = None
    if original == values or (original is None and not values):
        return
    shown = (
        "not known until the workflow accepts it"
        if original is None
        else (f"--data {args.original_data}" if original else "no --data")
    )
    streams.note(
        f"moonflow: an update with id {update_id} already exists for workflow "
        f"{workflow_id_of(args.target)} ({stage}); Temporal dedupes updates by id, so its "
        f"original arguments are used ({shown}), not the --data given here"
    )


async def _update_interrupted(
    args: argparse.Namespace,
    streams: Streams,
    stop: Stop,
    client: Any,
    update_id: str,
    sending: asyncio.Future[Any],
) -> int:
    """After Ctrl-C on ``update``: stop waiting, say how far the update got and how to wait
    for it again. Returns 130 (143 for SIGTERM)."""
    import shlex

    from moonflow.client import workflow_id_of
    from moonflow.client._messages import (
        UPDATE_ACCEPTED,
        UPDATE_ADMITTED,
        UPDATE_COMPLETED,
        update_stage,
    )

    sending.cancel()
    with contextlib.suppress(BaseException):
        await sending
    wf_id = workflow_id_of(args.target)
    stage = await update_stage(client, args.target, update_id)
    state = {
        UPDATE_ADMITTED: "admitted by the server, not yet accepted by the workflow (no worker "
        "has taken it: is a worker for the workflow running?)",
        UPDATE_ACCEPTED: "accepted by the workflow, not answered yet (it answers when its "
        "code reads the message and replies)",
        UPDATE_COMPLETED: "completed: ask again for its answer",
    }.get(stage, "not admitted: the server does not hold it (send it again)")
    streams.note(
        f"moonflow: interrupted; update {args.name!r} of workflow {wf_id} (update id "
        f"{update_id}): {state}"
    )
    words = ["moonflow", "update", args.app_dir, args.target, args.name]
    # an update that existed before this command: its own data (Temporal dedupes by id)
    data = getattr(args, "original_data", args.data)
    if data:
        words += ["--data", data]
    words += ["--update-id", update_id]
    if getattr(args, "server", None):
        words += ["--server", args.server]
    streams.note(f"moonflow: to wait for it again: {shlex.join(words)}")
    return 128 + (stop.signum or 2)


async def cmd_query(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow query APP_DIR TARGET NAME [--data JSON]``: print the answer (exit 1 if none)."""
    from moonflow.client import NO_INPUT, query, workflow_id_of

    values = [] if args.data_value is NO_INPUT else [args.data_value]
    async with _connected(args, streams, args.target) as client:
        try:
            result = await query(client, args.target, args.name, *values)
        except WorkflowFailure as exc:
            wf_id = workflow_id_of(args.target)
            print_failure(streams, exc.info, f"query {args.name!r} of workflow {wf_id}")
            return EXIT_FAILED
        if args.name == "__stack_trace" and result in ("", None):
            # A closed workflow is replayed to answer and has no task left: no stack to show.
            from moonflow.client import describe

            status = (await describe(client, args.target)).get("status")
            if status not in (None, "RUNNING"):
                wf_id = workflow_id_of(args.target)
                raise UsageError(
                    f"workflow {wf_id} is {status}: a closed workflow has no stack "
                    "(__stack_trace shows where a running one waits)"
                )
    # -o text shows a string answer as text (the __stack_trace query's tracebacks read as
    # they are); json and jsonl print every answer as JSON, __stack_trace included
    fmt = output_format(args.output, streams.out)
    print_records(streams, fmt, [result], single=True)
    return EXIT_OK


async def cmd_describe(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow describe APP_DIR TARGET``: one JSON object."""
    from moonflow.client import describe

    async with _connected(args, streams, args.target) as client:
        info = await describe(client, args.target)
    fmt = output_format(args.output, streams.out)
    print_records(streams, fmt, [info], single=True)
    return EXIT_OK


async def cmd_list(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow list APP_DIR [--query Q] [--limit N]``: one JSON line per workflow."""
    from moonflow.client import list_workflows

    async with _connected(args, streams) as client:
        found = await list_workflows(client, args.query, limit=args.limit)
    fmt = output_format(args.output, streams.out)
    print_records(streams, fmt, found, columns=LIST_COLUMNS)
    return EXIT_OK


#: ``moonflow list -o text``: (key of the describe map, column header).
LIST_COLUMNS = [
    ("workflow_id", "WORKFLOW ID"),
    ("workflow_type", "TYPE"),
    ("status", "STATUS"),
    ("start_time", "STARTED"),
    ("close_time", "CLOSED"),
    ("history_length", "EVENTS"),
]


async def cmd_cancel(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow cancel APP_DIR TARGET [--reason TEXT]``: request cancellation."""
    from moonflow.client import cancel, workflow_id_of

    async with _connected(args, streams, args.target) as client:
        await cancel(client, args.target, args.reason)
    streams.note(f"moonflow: requested cancellation of workflow {workflow_id_of(args.target)}")
    return EXIT_OK


async def cmd_terminate(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow terminate APP_DIR TARGET [--reason TEXT]``: terminate at once."""
    from moonflow.client import terminate, workflow_id_of

    async with _connected(args, streams, args.target) as client:
        await terminate(client, args.target, args.reason)
    streams.note(f"moonflow: terminated workflow {workflow_id_of(args.target)}")
    return EXIT_OK


async def cmd_history(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow history APP_DIR TARGET``: one JSON line per event."""
    from moonflow.client import history

    async with _connected(args, streams, args.target) as client:
        events = await history(client, args.target)
    fmt = output_format(args.output, streams.out)
    if fmt == "text":
        from moonflow.cli._output import history_rows

        print_records(streams, fmt, history_rows(events), columns=HISTORY_COLUMNS)
    else:
        print_records(streams, fmt, events)
    return EXIT_OK


#: ``moonflow history -o text``: event id, time, type and the event's attributes.
HISTORY_COLUMNS = [("id", "ID"), ("time", "TIME"), ("type", "EVENT"), ("details", "DETAILS")]


async def cmd_run(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow run APP_DIR``: workers (and embedded server) and the auto-start services
    until SIGINT/SIGTERM; with ``-x ENTRY`` / a command name, one entry (``_exec.py``)."""
    from moonflow.cli._exec import exec_target, run_exec, ui_options_of
    from moonflow.cli._progress import watching_connections
    from moonflow.devserver import open_server
    from moonflow.process import ProcessNode, Supervisor

    app = _load(args.app_dir, streams)
    target = exec_target(app, args, streams.note)
    if target is not None:
        return await run_exec(app, args, streams, stop, *target)
    services = app.services()
    if not list(app.workers()) and not services:
        raise UsageError(
            f"{args.app_dir} has no temporal.worker or process.service entries: nothing to run "
            "(run one process.lua or function.lua entry with -x ENTRY)"
        )
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Any] = {}
        watched: set[asyncio.Future[Any]] = set()
        where = "no Temporal server (the app has no temporal.client)"
        export = ""
        if app.clients():
            server = await stack.enter_async_context(
                open_server(args.server, app, log=streams.note, **ui_options_of(args))
            )
            clients = server.clients
            # The workers' pollers retry a lost server in silence: say when it goes and comes
            # back (issue 17 item 5).
            await stack.enter_async_context(watching_connections(clients.values(), streams.note))
            workers = _build_workers(app, clients)
            if workers:
                watched.add(await stack.enter_async_context(running_workers(workers)))
            where = f"{server.address} ({server.kind} server"
            where += f", Web UI {server.ui_url})" if server.ui_url else ")"
            # A line other shells can paste (or eval): their commands then reach this server.
            export = f"export MOONFLOW_SERVER={server.address}  # other shells: use this server"
        node = await stack.enter_async_context(ProcessNode(app, clients))
        supervisor = Supervisor(node, streams.note)
        for line in [*describe_workers(app), *app.skipped_notes()]:
            streams.print(f"moonflow: {line}")
        supervisor.start_auto()
        if export:
            streams.print(export)
        streams.print(f"moonflow: running on {where}; Ctrl-C to stop")
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, *watched}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        for failed in watched:
            if failed.done():
                failed.result()
        if services:
            streams.note("moonflow: stopping services...")
            await supervisor.stop()
        streams.note("moonflow: stopping workers...")
    streams.note("moonflow: stopped")
    return EXIT_OK


def describe_workers(app: Any) -> list[str]:
    """One line per worker: task queue, workflow types, activity count."""
    lines = []
    for w in app.workers():
        wid = w.entry.id
        types = [app.workflow_type(c.entry.id) for c in app.workflows(wid)]
        acts = list(app.all_activities(wid))
        lines.append(
            f"worker {wid} on task queue {app.task_queue(wid)!r}: "
            f"workflows {', '.join(types) or 'none'}; {len(acts)} activities"
        )
    return lines


async def cmd_server(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow server``: the bundled dev server in the foreground until Ctrl-C."""
    from moonflow.devserver import DevServer

    db = None if args.memory else Path(args.db or Path(".moonflow") / "temporal.db")
    dev = DevServer(
        ip=args.ip,
        port=args.port,
        namespaces=args.namespace,
        db_file=db,
        ui=not args.headless,
        ui_port=args.ui_port,
    )
    await dev.start()
    try:
        state = f"state {db}" if db else "in memory"
        ui = f"Web UI {dev.ui_url}" if dev.ui_url else "no Web UI"
        streams.print(
            f"moonflow: Temporal dev server on {dev.address} ({state}); {ui}; Ctrl-C to stop"
        )
        waiter = asyncio.ensure_future(stop.wait())
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=0.5)
            if dev.process is not None and dev.process.poll() is not None and not waiter.done():
                waiter.cancel()
                raise MoonflowError(
                    f"the dev server exited with code {dev.process.returncode}: "
                    f"{dev.log_tail() or 'no output'}"
                )
        streams.note("moonflow: stopping the dev server...")
    finally:
        await dev.stop()
    streams.note("moonflow: stopped")
    return EXIT_OK


COMMANDS = {
    "execute": cmd_execute,
    "run": cmd_run,
    "start": cmd_start,
    "result": cmd_result,
    "signal": cmd_signal,
    "update": cmd_update,
    "query": cmd_query,
    "describe": cmd_describe,
    "list": cmd_list,
    "cancel": cmd_cancel,
    "terminate": cmd_terminate,
    "history": cmd_history,
    "check": cmd_check,
    "server": cmd_server,
}

#: Commands that wait for SIGINT/SIGTERM as their normal way to end (exit 0).
LONG_RUNNING = frozenset({"run", "server"})
