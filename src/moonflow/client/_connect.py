"""Connecting to a Temporal server as a ``temporal.client`` entry describes (address, namespace,
TLS, auth, connection timings), failing fast with one-line errors that say what failed and
which key fixes it (:mod:`moonflow.client._connect_errors`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow._logging import sdk_runtime
from moonflow.client._connect_errors import Setup, diagnose, pem_problem, refine
from moonflow.client._messages import with_sender_interceptor
from moonflow.errors import UsageError
from moonflow.kinds._connection import (
    CONNECTION_DURATIONS,
    ConnectionSettingError,
    check_connection_settings,
    connection_timings,
)

if TYPE_CHECKING:
    import temporalio.client
    import temporalio.service

#: Default time allowed for reaching a server (TCP + TLS + ``GetSystemInfo``).
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=5)


class ConnectionFailed(UsageError):
    """Connecting to a Temporal server failed. ``str()`` is one line.

    Two families: nothing answered (``reachable`` False: refused, unknown host, timed out;
    ``cannot reach Temporal at ADDRESS: REASON; HINT``), or a server answered and the
    connection failed anyway (``reachable`` True: certificate, TLS, client certificate, API
    key, not a Temporal server; ``[ENTRY: ]cannot connect to Temporal at ADDRESS: REASON``,
    where REASON ends with the key to fix). Only the first family is worth retrying or
    answering with "start a server".

    Attributes:
        address: the ``host:port`` that was tried.
        reason: what failed (``"Connection refused"``, ``"timed out after 5 s"``, ``"the
            server's certificate is not trusted ...: set tls.ca_file ..."``).
        hint: how to fix an unreachable server (added by the caller), or "".
        reachable: a server answered.
        where: the ``temporal.client`` entry id the settings come from, or "".
    """

    def __init__(
        self,
        address: str,
        reason: str,
        hint: str = "",
        *,
        reachable: bool = False,
        where: str = "",
    ) -> None:
        self.address = address
        self.reason = reason
        self.hint = hint
        self.reachable = reachable
        self.where = where
        if reachable:
            prefix = f"{where}: " if where else ""
            message = f"{prefix}cannot connect to Temporal at {address}: {reason}"
        else:
            message = f"cannot reach Temporal at {address}: {reason}"
            if hint:
                message = f"{message}; {hint}"
        super().__init__(message)

    def with_hint(self, hint: str) -> ConnectionFailed:
        """A copy whose message ends with ``hint`` (how to get a server there); a server that
        answered (``reachable``) keeps its own advice."""
        if self.reachable:
            return self
        return ConnectionFailed(self.address, self.reason, hint, where=self.where)

    def located(self, where: str) -> ConnectionFailed:
        """A copy naming the entry whose settings were used (for ``reachable`` failures)."""
        return ConnectionFailed(
            self.address, self.reason, self.hint, reachable=self.reachable, where=where
        )


class SettingUnreadable(UsageError):
    """A file or environment variable a ``tls:``/``auth:`` key names cannot be read;
    :func:`connect_entry` locates it at ``key`` (``"tls.ca_file"``) of the entry's YAML."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _read_file(path: str, base_dir: Path | None, what: str) -> bytes:
    if not str(path).strip():
        raise SettingUnreadable(what, f"{what} is empty: give the path of a PEM file")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    # the path as written (relative to the YAML file's folder) when there is one: the error
    # names that file and line
    shown = str(path) if base_dir is not None else str(p)
    if p.is_dir():
        raise SettingUnreadable(
            what, f"{what} {shown!r} is a directory: give the path of a PEM file"
        )
    try:
        return p.read_bytes()
    except OSError as exc:
        raise SettingUnreadable(
            what, f"cannot read {what} {shown!r}: {exc.strerror or exc}"
        ) from exc


def _env_value(name: str, what: str) -> str:
    value = os.environ.get(str(name), "")
    if not value.strip():
        raise SettingUnreadable(
            what,
            f"{what}: the environment variable {name} is not set (or empty): "
            f"export {name}=... before starting moonflow",
        )
    return value


def _tls_and_key(
    tls: Mapping[str, Any] | bool | None,
    auth: Mapping[str, Any] | None,
    base_dir: Path | None,
) -> tuple[bool | temporalio.service.TLSConfig | None, str | None]:
    """Map the raw ``tls:`` / ``auth:`` blocks of a ``temporal.client`` entry onto SDK options.

    Raises:
        UsageError: a setting is refused (see :mod:`moonflow.kinds._connection`), or a file or
            environment variable it names cannot be read.
    """
    import temporalio.service

    try:
        check_connection_settings(tls, auth)
    except ConnectionSettingError as exc:
        raise UsageError(str(exc)) from None
    api_key: str | None = None
    cert: bytes | None = None
    key: bytes | None = None
    auth = dict(auth or {})
    kind = auth.get("type") or "none"
    if kind == "api_key":
        if auth.get("api_key"):
            api_key = str(auth["api_key"])
        elif auth.get("api_key_file"):
            api_key = _read_file(auth["api_key_file"], base_dir, "auth.api_key_file").decode()
            api_key = api_key.strip()
        else:
            api_key = _env_value(auth["api_key_env"], "auth.api_key_env").strip()
        if not api_key:
            raise UsageError("auth.type is api_key but the API key is empty")
    elif kind == "mtls":
        cert = (
            str(auth["cert_pem"]).encode()
            if auth.get("cert_pem")
            else _read_file(str(auth["cert_file"]), base_dir, "auth.cert_file")
        )
        if auth.get("key_pem"):
            key = str(auth["key_pem"]).encode()
        elif auth.get("key_file"):
            key = _read_file(str(auth["key_file"]), base_dir, "auth.key_file")
        else:
            key = _env_value(auth["key_pem_env"], "auth.key_pem_env").encode()

    if isinstance(tls, bool):
        tls_opts: dict[str, Any] = {"enabled": tls}
    else:
        tls_opts = dict(tls or {})
    enabled = tls_opts.get("enabled")
    wants_tls = (
        bool(enabled)
        or cert is not None
        or bool(tls_opts.get("ca_file"))
        or bool(tls_opts.get("server_name"))
    )
    if enabled is False:
        return False, api_key
    if not wants_tls:
        # None lets the SDK turn TLS on by itself when an API key is given.
        return None, api_key
    ca = (
        _read_file(tls_opts["ca_file"], base_dir, "tls.ca_file")
        if tls_opts.get("ca_file")
        else None
    )
    # a key or anything else given as a certificate: say so here, not as an untrusted server
    for what, data, path in (
        ("tls.ca_file", ca, tls_opts.get("ca_file")),
        ("auth.cert_file", cert, None if auth.get("cert_pem") else auth.get("cert_file")),
    ):
        problem = pem_problem(data, what, str(path)) if data and path else None
        if problem:
            raise SettingUnreadable(what, problem)
    config = temporalio.service.TLSConfig(
        server_root_ca_cert=ca,
        domain=tls_opts.get("server_name") or None,
        client_cert=cert,
        client_private_key=key,
    )
    return config, api_key


def check_certificate_files(
    tls: Mapping[str, Any] | bool | None,
    auth: Mapping[str, Any] | None,
    base_dir: Path | None,
) -> None:
    """Read ``tls.ca_file`` and ``auth.cert_file`` (paths relative to ``base_dir``, the YAML
    file's folder) and check that each holds a PEM certificate, as connecting does; lets
    ``moonflow check`` (which does not connect) report the same line as ``list``/``execute``.

    Raises:
        SettingUnreadable: a file cannot be read, or holds no certificate (``.key`` names it).
    """
    tls_opts = tls if isinstance(tls, Mapping) else {}
    auth_opts = auth if isinstance(auth, Mapping) else {}
    if tls_opts.get("enabled") is False:
        return  # TLS off: connecting reads neither file
    for what, path in (
        ("tls.ca_file", tls_opts.get("ca_file")),
        ("auth.cert_file", None if auth_opts.get("cert_pem") else auth_opts.get("cert_file")),
    ):
        if not isinstance(path, str) or not path.strip():
            continue
        problem = pem_problem(_read_file(path, base_dir, what), what, path)
        if problem:
            raise SettingUnreadable(what, problem)


async def connect(
    address: str,
    *,
    namespace: str = "default",
    tls: Mapping[str, Any] | bool | None = None,
    auth: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
    timeout: timedelta = DEFAULT_CONNECT_TIMEOUT,
    interceptors: Sequence[temporalio.client.Interceptor] = (),
    keep_alive_time: timedelta | None = None,
    keep_alive_timeout: timedelta | None = None,
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
        interceptors: client interceptors (e.g. the time-skipping one of
            :mod:`moonflow.client._time_skipping`). moonflow's sender interceptor (see
            :func:`moonflow.client.signal`) is always added.
        keep_alive_time: interval of HTTP/2 keep-alive pings on the connection; None = the
            SDK's (30 s).
        keep_alive_timeout: how long a ping's answer may take before the connection counts as
            dead (the SDK reconnects); None = the SDK's (15 s).

    Returns:
        A connected client using the SDK's default (JSON) data converter.

    Raises:
        ConnectionFailed: nothing answered in time or the connection was refused
            (``reachable`` False), or a server answered and the connection failed: TLS,
            certificates, credentials, not a Temporal server (``reachable`` True; the message
            names the setting to fix).
        UsageError: a setting is refused, or a certificate, key or API key file cannot be read.
    """
    import asyncio

    import temporalio.client
    import temporalio.service

    base = Path(base_dir) if base_dir is not None else None
    tls_config, api_key = _tls_and_key(tls, auth, base)
    kwargs: dict[str, Any] = {}
    if tls_config is not None:
        kwargs["tls"] = tls_config
    if api_key is not None:
        kwargs["api_key"] = api_key
    if keep_alive_time is not None or keep_alive_timeout is not None:
        default = temporalio.service.KeepAliveConfig()
        kwargs["keep_alive_config"] = temporalio.service.KeepAliveConfig(
            interval_millis=_millis(keep_alive_time, default.interval_millis),
            timeout_millis=_millis(keep_alive_timeout, default.timeout_millis),
        )
    setup = _setup(tls_config, api_key, auth, tls, namespace)
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
        reason = f"timed out after {seconds:g} s"
        if setup.tls:
            reason += " (with TLS on: is it a TLS port?)"
        raise ConnectionFailed(address, reason) from None
    except (RuntimeError, OSError, ValueError) as exc:
        found = diagnose(str(exc) or type(exc).__name__, setup)
        found = await refine(found, address, tls_config, setup)  # ambiguous: ask the port
        raise ConnectionFailed(address, found.reason, reachable=found.reachable) from exc


def _millis(value: timedelta | None, default: int) -> int:
    return default if value is None else max(1, round(value.total_seconds() * 1000))


def _setup(
    tls_config: Any,
    api_key: str | None,
    auth: Mapping[str, Any] | None,
    tls: Mapping[str, Any] | bool | None,
    namespace: str,
) -> Setup:
    """What the advice of a failed connect may refer to (see :func:`diagnose`)."""
    tls_opts = tls if isinstance(tls, Mapping) else {}
    auth = auth or {}
    client_cert = None
    if getattr(tls_config, "client_cert", None):
        client_cert = "auth.cert_pem" if auth.get("cert_pem") else "auth.cert_file"
    return Setup(
        # the SDK turns TLS on by itself when an API key is given and tls is not set
        tls=bool(tls_config) or (tls_config is None and api_key is not None),
        ca_file=tls_opts.get("ca_file"),
        server_name=tls_opts.get("server_name"),
        client_cert=client_cert,
        api_key=api_key is not None,
        namespace=namespace,
    )


async def connect_entry(
    entry: Any,
    *,
    address: str | None = None,
    timeout: timedelta | None = None,
    interceptors: Sequence[temporalio.client.Interceptor] = (),
) -> temporalio.client.Client:
    """Connect as a ``temporal.client`` entry describes (address, namespace, tls, auth,
    ``connection_timeout``, ``keep_alive_time``, ``keep_alive_timeout``).

    Args:
        entry: a :class:`moonflow.registry.TemporalClient`.
        address: use this ``host:port`` instead of the entry's address (tls/auth still apply).
        timeout: how long reaching the server may take; None = the entry's
            ``connection_timeout``, else :data:`DEFAULT_CONNECT_TIMEOUT` (5 s).
        interceptors: see :func:`connect`.

    Raises:
        ConnectionFailed, UsageError: see :func:`connect`; a ``reachable`` failure names the
            entry.
    """
    base_dir = None
    where = getattr(getattr(entry, "entry", None), "id", None) or ""
    source = getattr(getattr(entry, "entry", None), "file", None)
    if source:
        base_dir = Path(source).parent
    try:
        values = {name: getattr(entry, name, None) for name in CONNECTION_DURATIONS}
        timings = connection_timings(values)
    except ConnectionSettingError as exc:
        raise UsageError(f"{where}: {exc}" if where else str(exc)) from None
    try:
        return await connect(
            address or entry.address,
            namespace=getattr(entry, "namespace", None) or "default",
            tls=getattr(entry, "tls", None),
            auth=getattr(entry, "auth", None),
            base_dir=base_dir,
            timeout=timeout or timings.get("connection_timeout", DEFAULT_CONNECT_TIMEOUT),
            interceptors=interceptors,
            keep_alive_time=timings.get("keep_alive_time"),
            keep_alive_timeout=timings.get("keep_alive_timeout"),
        )
    except ConnectionFailed as exc:
        raise exc.located(where) if where and exc.reachable else exc from None
    except SettingUnreadable as exc:
        located = getattr(entry, "entry", None)
        if located is None or not hasattr(located, "error"):
            raise
        raise located.error(str(exc), exc.key) from None
