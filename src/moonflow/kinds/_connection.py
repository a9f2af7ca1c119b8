"""The connection settings of a ``temporal.client`` entry: ``tls``, ``auth``, ``health_check``
and the connection durations (lua-api.md §1.5), checked the same way whether they come from a
YAML entry (``moonflow check``) or from the Python API (:func:`moonflow.client.connect`).

Every key either does something or is refused with one line saying why and what to do:

* ``tls``: ``enabled``, ``ca_file``, ``server_name``; ``insecure_skip_verify: true`` is refused
  (the Temporal SDK always verifies the server's certificate, it has no switch to skip that).
* ``auth``: ``type`` (``none``, ``api_key``, ``mtls``) and the keys of that type; a key of
  another type (``cert_file`` with ``type: api_key``) is refused, as is a type without its keys.
* ``connection_timeout`` (time allowed to reach the server), ``keep_alive_time`` and
  ``keep_alive_timeout`` (HTTP/2 keep-alive pings: interval, and how long an answer may take):
  Go duration strings (``"10s"``) or a number of seconds.
* ``health_check``: ``enabled: true`` is refused: the SDK reconnects by itself, and keep-alive
  pings (``keep_alive_time``) are what notices a dead connection.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from moonflow.durations import DurationError, parse_go_duration

#: Keys of the ``tls`` block.
TLS_KEYS: tuple[str, ...] = ("enabled", "ca_file", "server_name", "insecure_skip_verify")

#: Keys of the ``auth`` block for each ``auth.type`` (the ``*_env`` ones are deprecated
#: directives naming an environment variable).
AUTH_KEYS: dict[str, tuple[str, ...]] = {
    "none": (),
    "api_key": ("api_key", "api_key_file", "api_key_env"),
    "mtls": ("cert_file", "key_file", "cert_pem", "key_pem", "key_pem_env"),
}
ALL_AUTH_KEYS: tuple[str, ...] = ("type", *(k for keys in AUTH_KEYS.values() for k in keys))

HEALTH_CHECK_KEYS: tuple[str, ...] = ("enabled", "interval")

#: Entry fields holding connection durations.
CONNECTION_DURATIONS: tuple[str, ...] = (
    "connection_timeout",
    "keep_alive_time",
    "keep_alive_timeout",
)


class ConnectionSettingError(ValueError):
    """A connection setting is wrong. ``str()`` is one line with the fix.

    Attributes:
        path: the dotted key (``"tls.ca_path"``, ``"auth.type"``).
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _unknown(block: str, key: Any, allowed: tuple[str, ...]) -> ConnectionSettingError:
    # a low cutoff: these vocabularies are small, and ca_path -> ca_file is only 0.43 alike
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.4)
    hint = f"did you mean {close[0]}? " if close else ""
    return ConnectionSettingError(
        f"{block}.{key}",
        f"unknown {block} key {str(key)!r}: {hint}{block} keys are {', '.join(allowed)}",
    )


def _mapping(block: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConnectionSettingError(
            block, f"{block} must be a mapping (key: value lines), not {type(value).__name__}"
        )
    return value


def _bool(block: Mapping[str, Any], path: str) -> bool | None:
    value = block.get(path.rpartition(".")[2])
    if value is not None and not isinstance(value, bool):
        raise ConnectionSettingError(path, f"{path} must be true or false, got {value!r}")
    return value


def _text(block: Mapping[str, Any], path: str) -> str | None:
    value = block.get(path.rpartition(".")[2])
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConnectionSettingError(path, f"{path} must be a non-empty string, got {value!r}")
    return value


def check_connection_settings(
    tls: Mapping[str, Any] | bool | None,
    auth: Mapping[str, Any] | None,
    health_check: Mapping[str, Any] | None = None,
) -> None:
    """Check the ``tls``, ``auth`` and ``health_check`` blocks of a ``temporal.client``.

    Args:
        tls: the ``tls`` mapping, or a bool (Python API: TLS on/off), or None.
        auth: the ``auth`` mapping or None.
        health_check: the ``health_check`` mapping or None.

    Raises:
        ConnectionSettingError: an unknown key (with a did-you-mean), a value of the wrong
            type, ``tls.insecure_skip_verify: true``, ``health_check.enabled: true``, an auth
            key of another ``auth.type``, a type without its credentials, or TLS settings
            with ``tls.enabled: false``.
    """
    tls_map = {} if isinstance(tls, bool) else _mapping("tls", tls)
    for key in tls_map:
        if key not in TLS_KEYS:
            raise _unknown("tls", key, TLS_KEYS)
    enabled = tls if isinstance(tls, bool) else _bool(tls_map, "tls.enabled")
    ca_file = _text(tls_map, "tls.ca_file")
    server_name = _text(tls_map, "tls.server_name")
    if _bool(tls_map, "tls.insecure_skip_verify"):
        raise ConnectionSettingError(
            "tls.insecure_skip_verify",
            "tls.insecure_skip_verify is not supported: the Temporal SDK always verifies the "
            "server's certificate; set tls.ca_file to the CA that signed it (and "
            "tls.server_name to the name it was issued for), or tls.enabled: false for a "
            "plaintext server",
        )

    auth_map = _mapping("auth", auth)
    for key in auth_map:
        if key not in ALL_AUTH_KEYS:
            raise _unknown("auth", key, ALL_AUTH_KEYS)
    kind = auth_map.get("type")
    kind = "none" if kind is None else kind
    if kind not in AUTH_KEYS:
        raise ConnectionSettingError(
            "auth.type", f"auth.type {kind!r} is unknown: use one of {', '.join(AUTH_KEYS)}"
        )
    for key in auth_map:
        if key != "type" and key not in AUTH_KEYS[kind]:
            owner = next(t for t, keys in AUTH_KEYS.items() if key in keys)
            raise ConnectionSettingError(
                f"auth.{key}",
                f"auth.{key} is for auth.type {owner} but auth.type is {kind}: set auth.type: "
                f"{owner} or remove auth.{key}",
            )
        if key != "type":
            _text(auth_map, f"auth.{key}")
    if kind == "api_key" and not any(auth_map.get(k) for k in AUTH_KEYS["api_key"]):
        raise ConnectionSettingError(
            "auth.type", "auth.type is api_key but no auth.api_key, api_key_file or api_key_env"
        )
    if kind == "mtls":
        if not (auth_map.get("cert_file") or auth_map.get("cert_pem")):
            raise ConnectionSettingError(
                "auth.type",
                "auth.type is mtls but no client certificate is given: set auth.cert_file (a "
                "PEM file) or auth.cert_pem",
            )
        if not (auth_map.get("key_file") or auth_map.get("key_pem") or auth_map.get("key_pem_env")):
            raise ConnectionSettingError(
                "auth.type",
                "auth.type is mtls but no client key is given: set auth.key_file (a PEM file) "
                "or auth.key_pem",
            )
    if enabled is False:
        needs = (
            "tls.ca_file"
            if ca_file
            else "tls.server_name"
            if server_name
            else "auth.type mtls"
            if kind == "mtls"
            else None
        )
        if needs:
            raise ConnectionSettingError(
                "tls.enabled",
                f"tls.enabled is false but {needs} needs TLS: remove tls.enabled: false (or "
                f"{needs})",
            )

    hc = _mapping("health_check", health_check)
    for key in hc:
        if key not in HEALTH_CHECK_KEYS:
            raise _unknown("health_check", key, HEALTH_CHECK_KEYS)
    if hc.get("interval") is not None:
        connection_duration(hc["interval"], "health_check.interval")
    if _bool(hc, "health_check.enabled"):
        raise ConnectionSettingError(
            "health_check.enabled",
            "health_check is not supported: the Temporal SDK reconnects by itself and its "
            "keep-alive pings notice a dead connection (tune keep_alive_time and "
            "keep_alive_timeout); remove health_check or set health_check.enabled: false",
        )


def connection_duration(value: Any, path: str) -> timedelta:
    """A connection duration: a Go duration string (``"10s"``, ``"1m30s"``) or a number of
    seconds; it must be above zero.

    Raises:
        ConnectionSettingError: anything else (one line naming ``path``).
    """
    try:
        if isinstance(value, bool):
            raise DurationError("a boolean")
        if isinstance(value, str):
            seconds = parse_go_duration(value) / 1e9
        elif isinstance(value, (int, float)):
            seconds = float(value)
        else:
            raise DurationError(type(value).__name__)
    except DurationError:
        raise ConnectionSettingError(
            path, f'{path} must be a duration like "10s" or a number of seconds, got {value!r}'
        ) from None
    if not 0 < seconds < 10**9:
        raise ConnectionSettingError(path, f"{path} must be above zero, got {value!r}")
    return timedelta(seconds=seconds)


def connection_timings(values: Mapping[str, Any]) -> dict[str, timedelta]:
    """The durations among ``values`` (an entry's fields): ``{"connection_timeout": timedelta,
    ...}`` for those given (absent or None ones are left out: the defaults apply).

    Raises:
        ConnectionSettingError: a value is not a duration above zero.
    """
    out = {}
    for name in CONNECTION_DURATIONS:
        value = values.get(name)
        if value is not None:
            out[name] = connection_duration(value, name)
    return out
