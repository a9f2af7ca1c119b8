"""The Python API for talking to Temporal about an app: connect, start, wait for a result.

Everything here takes a :class:`temporalio.client.Client` (from :func:`connect`, or from
``moonflow.devserver.open_server(...).clients``) and, where an entry is named, the loaded
:class:`moonflow.registry.App`.

Wire contracts (shared with the reference runtime, so both can work on one namespace):

* Workflow type = ``app.workflow_type(entry_id)`` (the entry id ``ns:name`` unless
  ``meta.temporal.workflow.name`` overrides it); task queue = ``app.task_queue(worker_id)``.
* Input: exactly one payload holding the JSON value when an input is given, no payload otherwise.
  Payloads use the SDK's default converter (``json/plain``; ``None`` -> ``binary/null``).
* A workflow's PID is ``{<client entry id>@<worker entry id>|<workflow id>}``.
* A failed run becomes :class:`moonflow.errors.WorkflowFailure`: kind from the failure's
  ``ApplicationError.type`` (through :func:`moonflow.errors.kind_from_type`), retryable =
  ``not non_retryable``; a timeout is kind ``Timeout``, a cancel or terminate kind ``Canceled``.

Example::

    client = await connect("localhost:7233")
    wf_id, run_id, pid = await start_workflow(client, app, "app:order_workflow", {"id": 1})
    result = await get_result(client, wf_id)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow._logging import sdk_runtime
from moonflow.errors import (
    CANCELED,
    TIMEOUT,
    UNKNOWN,
    ErrorInfo,
    UsageError,
    WorkflowFailure,
    kind_from_type,
)

if TYPE_CHECKING:
    import temporalio.client
    import temporalio.service

    from moonflow.registry import App

__all__ = [
    "NO_INPUT",
    "ConnectionFailed",
    "connect",
    "connect_entry",
    "failure_info",
    "format_pid",
    "get_result",
    "parse_pid",
    "resolve_workflow_entry",
    "start_workflow",
]

#: Default time allowed for reaching a server (TCP + TLS + ``GetSystemInfo``).
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=5)


class _NoInput:
    def __repr__(self) -> str:
        return "NO_INPUT"


#: Sentinel for "start the workflow with no input payload" (``None`` sends a JSON null payload).
NO_INPUT: Any = _NoInput()


class ConnectionFailed(UsageError):
    """A Temporal server could not be reached. ``str()`` is one line.

    Attributes:
        address: the ``host:port`` that was tried.
        reason: a short reason (``"Connection refused"``, ``"timed out after 5 s"``...).
    """

    def __init__(self, address: str, reason: str, hint: str = "") -> None:
        self.address = address
        self.reason = reason
        self.hint = hint
        message = f"cannot reach Temporal at {address}: {reason}"
        super().__init__(f"{message}; {hint}" if hint else message)

    def with_hint(self, hint: str) -> ConnectionFailed:
        """Return a copy whose message ends with ``hint`` (how to fix it)."""
        return ConnectionFailed(self.address, self.reason, hint)


# --------------------------------------------------------------------------------------------
# PIDs


def format_pid(client_id: str, worker_id: str, workflow_id: str) -> str:
    """Format a workflow PID.

    Args:
        client_id: the ``temporal.client`` entry id, e.g. ``"app:temporal_client"``.
        worker_id: the ``temporal.worker`` entry id, e.g. ``"app:worker"``.
        workflow_id: the Temporal workflow id.

    Returns:
        ``"{app:temporal_client@app:worker|<workflow id>}"``.
    """
    return f"{{{client_id}@{worker_id}|{workflow_id}}}"


def parse_pid(text: str) -> tuple[str, str, str] | None:
    """Parse a workflow PID made by :func:`format_pid`.

    Args:
        text: a string such as ``"{app:client@app:worker|order-1}"``. Surrounding white space
            is ignored. The workflow id may contain any character (``|``, ``}`` included).

    Returns:
        ``(client_id, worker_id, workflow_id)``, or None when ``text`` is not a workflow PID
        (for example a bare workflow id, or a non-workflow PID like ``{update|id}``).
    """
    s = text.strip()
    if len(s) < 2 or s[0] != "{" or s[-1] != "}":
        return None
    head, sep, workflow_id = s[1:-1].partition("|")
    if not sep or not workflow_id:
        return None
    client_id, at, worker_id = head.partition("@")
    if not at or not client_id or not worker_id or "{" in head:
        return None
    return client_id, worker_id, workflow_id


# --------------------------------------------------------------------------------------------
# Connecting

_OS_MESSAGE = re.compile(r'message: "([^"]+)"')


def _short_reason(exc: BaseException) -> str:
    """Reduce an SDK connection error (often a Rust debug dump) to a short reason."""
    text = str(exc) or type(exc).__name__
    m = _OS_MESSAGE.search(text)
    if m:
        return m.group(1)
    text = text.removeprefix("Failed client connect: ")
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _read_file(path: str, base_dir: Path | None, what: str) -> bytes:
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from exc


def _tls_and_key(
    tls: Mapping[str, Any] | bool | None,
    auth: Mapping[str, Any] | None,
    base_dir: Path | None,
) -> tuple[bool | temporalio.service.TLSConfig | None, str | None]:
    """Map the raw ``tls:`` / ``auth:`` blocks of a ``temporal.client`` entry onto SDK options."""
    import temporalio.service

    api_key: str | None = None
    cert: bytes | None = None
    key: bytes | None = None
    auth = dict(auth or {})
    kind = str(auth.get("type") or "none").lower()
    if kind == "api_key":
        if auth.get("api_key"):
            api_key = str(auth["api_key"])
        elif auth.get("api_key_file"):
            api_key = _read_file(auth["api_key_file"], base_dir, "auth.api_key_file").decode()
            api_key = api_key.strip()
        elif auth.get("api_key_env"):
            import os

            api_key = os.environ.get(str(auth["api_key_env"]))
        if not api_key:
            raise UsageError("auth.type is api_key but no api_key, api_key_file or api_key_env")
    elif kind == "mtls":
        cert = (
            str(auth["cert_pem"]).encode()
            if auth.get("cert_pem")
            else _read_file(str(auth.get("cert_file") or ""), base_dir, "auth.cert_file")
        )
        key = (
            str(auth["key_pem"]).encode()
            if auth.get("key_pem")
            else _read_file(str(auth.get("key_file") or ""), base_dir, "auth.key_file")
        )
    elif kind != "none":
        raise UsageError(f"auth.type {kind!r} is not supported: use none, api_key or mtls")

    if isinstance(tls, bool):
        tls_opts: dict[str, Any] = {"enabled": tls}
    else:
        tls_opts = dict(tls or {})
    enabled = tls_opts.get("enabled")
    wants_tls = bool(enabled) or cert is not None or bool(tls_opts.get("ca_file"))
    if enabled is False and cert is None:
        return False, api_key
    if not wants_tls:
        # None lets the SDK turn TLS on by itself when an API key is given.
        return None, api_key
    ca = (
        _read_file(tls_opts["ca_file"], base_dir, "tls.ca_file")
        if tls_opts.get("ca_file")
        else None
    )
    config = temporalio.service.TLSConfig(
        server_root_ca_cert=ca,
        domain=tls_opts.get("server_name") or None,
        client_cert=cert,
        client_private_key=key,
    )
    return config, api_key


async def connect(
    address: str,
    *,
    namespace: str = "default",
    tls: Mapping[str, Any] | bool | None = None,
    auth: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
    timeout: timedelta = DEFAULT_CONNECT_TIMEOUT,
    interceptors: Sequence[temporalio.client.Interceptor] = (),
) -> temporalio.client.Client:
    """Connect to a Temporal server, failing fast with a one-line error.

    Args:
        address: ``host:port`` of the frontend (``"localhost:7233"``).
        namespace: Temporal namespace the client works in.
        tls: the ``tls:`` block of a ``temporal.client`` entry (``enabled``, ``ca_file``,
            ``server_name``), or a bool; None = plain, or TLS when an API key is used.
        auth: the ``auth:`` block (``type``: ``none`` | ``api_key`` | ``mtls``; ``api_key`` /
            ``api_key_file``; ``cert_file``/``key_file`` or ``cert_pem``/``key_pem``).
        base_dir: directory that relative certificate/key paths are resolved against.
        timeout: how long reaching the server may take in total.
        interceptors: client interceptors (e.g. the time-skipping one from ``devserver``).

    Returns:
        A connected client using the SDK's default (JSON) data converter.

    Raises:
        ConnectionFailed: the server did not answer in time or refused the connection.
        UsageError: a certificate or key file cannot be read, or ``auth`` is malformed.
    """
    import asyncio

    import temporalio.client

    base = Path(base_dir) if base_dir is not None else None
    tls_config, api_key = _tls_and_key(tls, auth, base)
    kwargs: dict[str, Any] = {}
    if tls_config is not None:
        kwargs["tls"] = tls_config
    if api_key is not None:
        kwargs["api_key"] = api_key
    seconds = timeout.total_seconds()
    try:
        return await asyncio.wait_for(
            temporalio.client.Client.connect(
                address,
                namespace=namespace,
                runtime=sdk_runtime(),
                connect_timeout=timeout,
                interceptors=list(interceptors),
                **kwargs,
            ),
            timeout=seconds + 1.0,
        )
    except TimeoutError:
        raise ConnectionFailed(address, f"timed out after {seconds:g} s") from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise ConnectionFailed(address, _short_reason(exc)) from exc


async def connect_entry(
    entry: Any,
    *,
    address: str | None = None,
    timeout: timedelta = DEFAULT_CONNECT_TIMEOUT,
    interceptors: Sequence[temporalio.client.Interceptor] = (),
) -> temporalio.client.Client:
    """Connect as a ``temporal.client`` entry describes (address, namespace, tls, auth).

    Args:
        entry: a :class:`moonflow.registry.TemporalClient`.
        address: use this ``host:port`` instead of the entry's address (tls/auth still apply).
        timeout: see :func:`connect`.
        interceptors: see :func:`connect`.

    Raises:
        ConnectionFailed, UsageError: see :func:`connect`.
    """
    base_dir = None
    source = getattr(getattr(entry, "entry", None), "file", None)
    if source:
        base_dir = Path(source).parent
    return await connect(
        address or entry.address,
        namespace=getattr(entry, "namespace", None) or "default",
        tls=getattr(entry, "tls", None),
        auth=getattr(entry, "auth", None),
        base_dir=base_dir,
        timeout=timeout,
        interceptors=interceptors,
    )


# --------------------------------------------------------------------------------------------
# Starting workflows and reading results


def resolve_workflow_entry(app: App, entry_id: str) -> tuple[str, str, str]:
    """Find a ``workflow.lua`` entry and where it runs.

    Args:
        app: the loaded app.
        entry_id: ``"ns:name"``, or a bare ``"name"`` when exactly one entry has that name.

    Returns:
        ``(entry_id, worker_id, client_id)`` with full ids.

    Raises:
        UsageError: no such workflow entry, or it names no ``meta.temporal.workflow.worker``.
    """
    codes = {code.entry.id: code for code in app.workflows()}
    if entry_id not in codes and ":" not in entry_id:
        matches = [i for i in codes if i.rpartition(":")[2] == entry_id]
        if len(matches) == 1:
            entry_id = matches[0]
    code = codes.get(entry_id)
    if code is None:
        known = ", ".join(sorted(codes)) or "none"
        if entry_id in app.entries:
            kind = app.entries[entry_id].kind
            raise UsageError(f"{entry_id} is a {kind} entry, not a workflow (workflows: {known})")
        raise UsageError(f"no workflow entry {entry_id!r} in {app.root} (workflows: {known})")
    worker_id = code.workflow_worker
    if not worker_id:
        raise UsageError(
            f"{code.entry.where()}: {entry_id} has no meta.temporal.workflow.worker; "
            "add one naming a temporal.worker entry"
        )
    client_id = app.client_of(worker_id).entry.id
    return entry_id, worker_id, client_id


async def start_workflow(
    client: temporalio.client.Client,
    app: App,
    entry_id: str,
    input: Any = NO_INPUT,
    *,
    workflow_id: str | None = None,
    task_queue: str | None = None,
) -> tuple[str, str, str]:
    """Start a ``workflow.lua`` entry of ``app`` as a Temporal workflow (does not wait).

    Args:
        client: a client of the namespace the workflow's worker polls.
        app: the loaded app.
        entry_id: workflow entry id (``"app:order_workflow"``; a unique bare name also works).
        input: JSON-safe value passed as the one argument of the Lua method; leave out
            (:data:`NO_INPUT`) to send no argument, ``None`` sends JSON null.
        workflow_id: Temporal workflow id; default ``"<entry name>-<12 hex chars>"``.
        task_queue: override the task queue (default: the worker entry's, with the client's
            ``tq_prefix``).

    Returns:
        ``(workflow_id, run_id, pid)``; ``pid`` is ``"{client@worker|workflow_id}"``.

    Raises:
        UsageError: unknown entry, or the workflow id is already running.
    """
    import temporalio.exceptions

    entry_id, worker_id, client_id = resolve_workflow_entry(app, entry_id)
    wf_id = workflow_id or f"{entry_id.rpartition(':')[2]}-{uuid.uuid4().hex[:12]}"
    args = [] if input is NO_INPUT else [input]
    try:
        handle = await client.start_workflow(
            app.workflow_type(entry_id),
            args=args,
            id=wf_id,
            task_queue=task_queue or app.task_queue(worker_id),
        )
    except temporalio.exceptions.WorkflowAlreadyStartedError:
        raise UsageError(
            f"a workflow with id {wf_id!r} is already running; pick another --id"
        ) from None
    run_id = handle.first_execution_run_id or handle.result_run_id or ""
    return wf_id, run_id, format_pid(client_id, worker_id, wf_id)


def _application_info(err: Any) -> ErrorInfo:
    """ErrorInfo of an ``ApplicationError``, reading moonflow's error chain when present.

    moonflow (like the reference runtime) sends details ``[chain]``, chain a list of
    ``{"msg", "kind", "retry", "details"}`` items, outermost first; the first item wins.
    """
    chain = err.details[0] if err.details else None
    if isinstance(chain, list) and chain and isinstance(chain[0], dict) and "msg" in chain[0]:
        top = chain[0]
        retry = top.get("retry")
        return ErrorInfo(
            kind=str(top.get("kind") or kind_from_type(err.type)),
            message=str(top.get("msg", err.message)),
            retryable=retry if isinstance(retry, bool) else not err.non_retryable,
            details=top.get("details"),
        )
    details: Any = None
    if err.details:
        details = err.details[0] if len(err.details) == 1 else list(err.details)
    return ErrorInfo(
        kind=kind_from_type(err.type),
        message=err.message,
        retryable=not err.non_retryable,
        details=details,
    )


def failure_info(exc: BaseException) -> ErrorInfo:
    """Reduce a workflow failure (``WorkflowFailureError`` or its cause chain) to an ErrorInfo.

    The first ``ApplicationError`` in the chain gives kind, message, retryable and details:
    from moonflow's error chain in its details when present (see :func:`_application_info`),
    else kind ``kind_from_type(type)``, retryable ``not non_retryable`` and the single detail
    value (a list when there are several). A ``TimeoutError`` gives kind ``Timeout``
    (retryable); ``CancelledError`` and ``TerminatedError`` give kind ``Canceled`` (not
    retryable).
    """
    import temporalio.client
    import temporalio.exceptions as tex

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 32:
        chain.append(current)
        current = getattr(current, "cause", None) or current.__cause__
    for err in chain:
        if isinstance(err, tex.ApplicationError):
            return _application_info(err)
        if isinstance(err, tex.TimeoutError):
            return ErrorInfo(TIMEOUT, err.message or "workflow timed out", True)
        if isinstance(err, tex.CancelledError):
            return ErrorInfo(CANCELED, err.message or "workflow canceled", False)
        if isinstance(err, tex.TerminatedError):
            reason = err.message or "terminated"
            return ErrorInfo(CANCELED, f"workflow terminated: {reason}", False)
    last = chain[-1]
    if isinstance(last, temporalio.client.WorkflowFailureError):
        return ErrorInfo(UNKNOWN, str(last) or "workflow failed", None)
    message = getattr(last, "message", None) or str(last) or type(last).__name__
    return ErrorInfo(UNKNOWN, message, None)


async def get_result(
    client: temporalio.client.Client,
    workflow_id: str,
    *,
    run_id: str | None = None,
) -> Any:
    """Wait for a workflow and return its result.

    Follows continue-as-new runs. On a time-skipping server (a client from
    ``devserver.open_server("time-skipping")``) time is skipped while waiting.

    Args:
        client: a client of the workflow's namespace.
        workflow_id: Temporal workflow id (a PID is accepted too).
        run_id: a specific run; default the latest.

    Returns:
        The decoded JSON result (None for a nil result).

    Raises:
        WorkflowFailure: the run failed, timed out, was canceled or terminated.
        UsageError: no workflow with that id exists in the client's namespace.
    """
    import temporalio.client
    import temporalio.service

    from moonflow.devserver import time_skipping_unlocked

    pid = parse_pid(workflow_id)
    if pid is not None:
        workflow_id = pid[2]
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        async with time_skipping_unlocked(client):
            return await handle.result()
    except temporalio.client.WorkflowFailureError as exc:
        raise WorkflowFailure(failure_info(exc)) from exc
    except temporalio.service.RPCError as exc:
        if exc.status == temporalio.service.RPCStatusCode.NOT_FOUND:
            raise UsageError(
                f"no workflow {workflow_id!r} in namespace {client.namespace!r}: {exc.message}"
            ) from None
        raise
