"""Open the server an app runs on for the CLI's ``--server SPEC``.

The one entry point is :func:`open_server`:

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
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow.client import ConnectionFailed, connect, connect_entry
from moonflow.client._time_skipping import time_skipping_interceptor
from moonflow.devserver._launch import (
    DevServer,
    ServerError,
    TestServer,
    _ChildServer,
    is_listening,
    is_local_host,
    split_address,
)
from moonflow.devserver._search_attributes import register_search_attributes
from moonflow.errors import UsageError

if TYPE_CHECKING:
    import temporalio.client

    from moonflow.registry import App

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
        interceptors = [time_skipping_interceptor()] if self.time_skipping else []
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
    ui: bool = True,
    ui_port: int | None = None,
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
        ui: False starts dev servers without the Web UI (``--headless``).
        ui_port: the Web UI's port of the (first) dev server moonflow starts (``--ui-port``);
            None = gRPC port + 1000.

    Raises:
        UsageError: bad spec, unreachable server, an address embedded mode cannot serve, or
            ``ui``/``ui_port`` given for a server moonflow does not start (time-skipping,
            HOST:PORT).
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
    if (not ui or ui_port is not None) and kind in ("time-skipping", "external"):
        flag = "--headless" if not ui else "--ui-port"
        what = "has no Web UI" if kind == "time-skipping" else "is not started by moonflow"
        raise UsageError(
            f"{flag} applies to a dev server moonflow starts (--server embedded or memory); "
            f"the server of --server {spec} {what}: drop {flag}"
        )
    root = Path(app_dir) if app_dir is not None else (Path(app.root) if app is not None else None)
    server: Server
    async with contextlib.AsyncExitStack() as stack:
        if kind in ("memory", "time-skipping"):
            child: _ChildServer
            if kind == "memory":
                child = DevServer(namespaces=namespaces, ui=ui, ui_port=ui_port)
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
            server = await _embedded(entries, root, allow_start, stack, log, ui, ui_port)
        await _prepare_namespaces(server, entries, log)
        yield server


async def _connect_or_hint(entry: Any, address: str | None, hint: str, retry: float = 0) -> Any:
    """Connect as ``entry`` says; for ``retry`` seconds keep trying while nothing answers (a
    server still starting). A server that answered and failed the connection (certificate,
    credentials, not Temporal: ``reachable``) is reported at once with its own advice."""
    deadline = time.monotonic() + retry
    while True:
        try:
            return await connect_entry(entry, address=address)
        except ConnectionFailed as exc:
            if exc.reachable or time.monotonic() >= deadline:
                raise exc.with_hint(hint) from None
        await asyncio.sleep(0.2)


async def _embedded(
    entries: list[Any],
    root: Path | None,
    allow_start: bool,
    stack: contextlib.AsyncExitStack,
    log: Callable[[str], None],
    ui: bool = True,
    ui_port: int | None = None,
) -> Server:
    """``--server embedded``: per distinct client address, connect or start a dev server.

    ``ui_port`` goes to the first dev server started (the others: gRPC port + 1000); when a
    server already listens there, ``ui``/``ui_port`` cannot apply and a notice says so.
    """
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
            dev = DevServer(
                ip=_bind_ip(host), port=port, namespaces=ns, db_file=db, ui=ui, ui_port=ui_port
            )
            ui_port = None
            await stack.enter_async_context(dev)
            ui_url = dev.ui_url
            where = f"Web UI {ui_url}" if ui_url else "no Web UI"
            log(f"moonflow: started the Temporal dev server on {address} (state {db}); {where}")
            kind = "dev"
        else:
            dev = None
            kind = "external"
            if local and allow_start and (not ui or ui_port is not None):
                flag = "--headless" if not ui else f"--ui-port {ui_port}"
                log(
                    f"moonflow: note: a server already listens on {address}; {flag} applies "
                    "only to a server moonflow starts (its Web UI stays as it was started)"
                )
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
