"""Connecting to a Temporal server as a ``temporal.client`` entry describes (address, namespace,
TLS, auth), failing fast with one-line errors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow._logging import sdk_runtime
from moonflow.client._messages import with_sender_interceptor
from moonflow.errors import UsageError

if TYPE_CHECKING:
    import temporalio.client
    import temporalio.service

#: Default time allowed for reaching a server (TCP + TLS + ``GetSystemInfo``).
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=5)


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
            moonflow's sender interceptor (see :func:`moonflow.client.signal`) is always added.

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
                interceptors=with_sender_interceptor(interceptors),
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
