"""``http_client`` request options (the ``opts`` table) -> a :class:`Prepared` request.

Every check here runs before anything is sent; a bad option raises :class:`Invalid` (kind
``Invalid``, not retryable) with one line naming the option and the fix.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import durations
from .policy import normalize_allowed

_METHOD = re.compile(r"^[A-Za-z]+$")
KNOWN_OPTS = frozenset(
    {
        "headers",
        "body",
        "form",
        "files",
        "query",
        "timeout",
        "auth",
        "cookies",
        "max_response_body",
        "stream",
        "tls",
        "unix_socket",
        "deny_private",
        "allow_private",
    }
)
_UNSUPPORTED_OPTS = {"overlay_network"}
_TLS_KEYS = {"cert", "key", "ca", "server_name", "insecure_skip_verify"}
_FILE_KEYS = {"name", "filename", "content", "content_type", "reader"}


class Invalid(Exception):
    """A request cannot be built (kind ``Invalid``)."""


class Denied(Exception):
    """The address policy refuses a request before it is built (kind ``PermissionDenied``)."""


@dataclass(frozen=True)
class Tls:
    """``opts.tls``: PEM text or file paths; see :func:`ssl_context`."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Route:
    """What picks the client (connection pool) a request goes through."""

    tls: Tls | None = None
    # A pooled connection is reused by origin alone: requests that check the certificate
    # against another name must not share it (its handshake checked the first name).
    server_name: str | None = None
    unix_socket: str | None = None
    deny_private: bool = False
    allow_private: frozenset[str] = frozenset()


@dataclass
class Prepared:
    method: str
    url: httpx.URL
    timeout: float
    max_body: int | None
    stream: bool = False
    route: Route = Route()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.url}"


def _map_opt(opts: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = opts.get(name)
    if value is None or value == []:  # an empty Lua table converts to []
        return None
    if not isinstance(value, dict):
        raise Invalid(f"opts.{name} must be a map table like {{name = value}}")
    return value


def _text(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Invalid(f"{path} must be a string or a number")


def _params(values: dict[str, Any], what: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in values.items():
        for item in v if isinstance(v, list) else [v]:
            out.append((k, _text(item, f"opts.{what}.{k}")))
    return out


def _group(pairs: list[tuple[str, Any]]) -> dict[str, list[str] | str]:
    out: dict[str, list[str] | str] = {}
    for k, v in pairs:
        prev = out.get(k)
        out[k] = v if prev is None else [*([prev] if isinstance(prev, str) else prev), v]
    return out


def _flag(opts: dict[str, Any], name: str) -> bool:
    value = opts.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(f"opts.{name} must be true or false")
    return value


_File = tuple[str, tuple[str | None, bytes, str | None]]


def _files(value: Any) -> list[_File]:
    if not isinstance(value, list) or not value:
        raise Invalid('opts.files must be an array like {{name = "doc", content = "..."}}')
    out: list[_File] = []
    for i, f in enumerate(value, 1):
        path = f"opts.files[{i}]"
        if not isinstance(f, dict):
            raise Invalid(f'{path} must be a table like {{name = "doc", content = "..."}}')
        unknown = set(f) - _FILE_KEYS
        if unknown:
            raise Invalid(
                f"{path}: unknown key {sorted(unknown)[0]!r}: keys are name, "
                "filename, content, content_type"
            )
        if "reader" in f:
            raise Invalid(f"{path}.reader is not supported: read the data and give content")
        if not isinstance(f.get("name"), str) or not f["name"]:
            raise Invalid(f"{path}.name must be the form field name (a non-empty string)")
        content = f.get("content")
        if not isinstance(content, str):
            raise Invalid(f"{path}.content must be a string (the file's data)")
        filename = f.get("filename", f["name"])
        content_type = f.get("content_type")
        if not isinstance(filename, str) or not (
            content_type is None or isinstance(content_type, str)
        ):
            raise Invalid(f"{path}.filename and .content_type must be strings")
        out.append((f["name"], (filename, content.encode("utf-8"), content_type)))
    return out


def _tls(value: Any) -> tuple[Tls | None, str | None]:
    """opts.tls -> (Tls or None when it changes nothing, server_name or None)."""
    if value == [] or value is None:
        return None, None
    if not isinstance(value, dict):
        raise Invalid("opts.tls must be a table like {ca = PEM_or_path, server_name = ...}")
    unknown = set(value) - _TLS_KEYS
    if unknown:
        raise Invalid(
            f"opts.tls: unknown key {sorted(unknown)[0]!r}: keys are {', '.join(sorted(_TLS_KEYS))}"
        )
    for key in ("cert", "key", "ca", "server_name"):
        if key in value and (not isinstance(value[key], str) or not value[key]):
            raise Invalid(f"opts.tls.{key} must be a non-empty string")
    insecure = value.get("insecure_skip_verify", False)
    if not isinstance(insecure, bool):
        raise Invalid("opts.tls.insecure_skip_verify must be true or false")
    if ("cert" in value) != ("key" in value):
        raise Invalid("opts.tls: give cert and key together (a client certificate and its key)")
    tls = Tls(value.get("cert"), value.get("key"), value.get("ca"), insecure)
    return (None if tls == Tls() else tls), value.get("server_name")


def prepare(method: Any, url: Any, opts: dict[str, Any], default_timeout: float) -> Prepared:
    """Check and convert one request (the options: see ``modules/_http_client.py``)."""
    if not isinstance(method, str) or not _METHOD.match(method):
        raise Invalid(f"invalid HTTP method {method!r}")
    if not isinstance(url, str) or not url:
        raise Invalid('url must be a non-empty string like "https://example.com/path"')
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise Invalid(f"invalid URL {url!r}: {e}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Invalid(f"invalid URL {url!r}: use an absolute http:// or https:// URL")
    for key in opts:
        if key in _UNSUPPORTED_OPTS:
            raise Invalid(f"option {key!r} is not supported by moonflow's http_client")
        if key not in KNOWN_OPTS:
            raise Invalid(f"unknown option {key!r}: known options are {sorted(KNOWN_OPTS)}")
    kwargs: dict[str, Any] = {}
    given = _map_opt(opts, "headers") or {}
    headers = [(k, _text(v, f"opts.headers.{k}")) for k, v in given.items()]
    cookies = _map_opt(opts, "cookies")
    if cookies:
        jar = "; ".join(f"{k}={_text(v, f'opts.cookies.{k}')}" for k, v in cookies.items())
        headers.append(("Cookie", jar))
    if headers:
        kwargs["headers"] = headers
    query = _map_opt(opts, "query")
    if query:
        parsed = parsed.copy_merge_params(_params(query, "query"))
    body, form = opts.get("body"), _map_opt(opts, "form")
    files = _files(opts["files"]) if opts.get("files") not in (None, []) else None
    if body is not None and (form is not None or files is not None):
        raise Invalid("give either opts.body or opts.form/opts.files, not both")
    if body is not None:
        if not isinstance(body, str):
            raise Invalid("opts.body must be a string: encode tables with json.encode(value)")
        kwargs["content"] = body.encode("utf-8")
    if form is not None:
        kwargs["data"] = dict(_group(_params(form, "form")))
    if files is not None:
        kwargs["files"] = files  # multipart/form-data, with the form's fields
    auth = opts.get("auth")
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("user"), str):
            raise Invalid('opts.auth must be {user = "name", pass = "secret"}')
        kwargs["auth"] = (auth["user"], _text(auth.get("pass", ""), "opts.auth.pass"))
    timeout = default_timeout
    if opts.get("timeout") is not None:
        try:
            timeout = durations.seconds_duration(opts["timeout"], "opts.timeout")
        except durations.DurationError as e:
            raise Invalid(str(e)) from None
        if timeout <= 0:
            raise Invalid("opts.timeout must be positive")
    max_body = opts.get("max_response_body")
    if max_body is not None and (
        not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 0
    ):
        raise Invalid("opts.max_response_body must be a non-negative integer (bytes)")
    tls, server_name = _tls(opts.get("tls"))
    if server_name is not None:
        kwargs["extensions"] = {"sni_hostname": server_name}
    uds = opts.get("unix_socket")
    if uds is not None and (not isinstance(uds, str) or not uds):
        raise Invalid("opts.unix_socket must be the socket's path (a string)")
    deny = _flag(opts, "deny_private")
    allowed = opts.get("allow_private")
    if allowed in (None, []):
        allowed = []
    elif not isinstance(allowed, list) or not all(isinstance(h, str) and h for h in allowed):
        raise Invalid('opts.allow_private must be an array of hosts like {"api.internal:8443"}')
    if deny and uds is not None:
        raise Denied(
            "refused opts.unix_socket: a unix socket reaches a local service, and the request "
            "has deny_private = true"
        )
    route = Route(tls, server_name, uds, deny, normalize_allowed(allowed) if deny else frozenset())
    return Prepared(method.upper(), parsed, timeout, max_body, _flag(opts, "stream"), route, kwargs)


_default_context: ssl.SSLContext | None = None
_lock = threading.Lock()


def default_ssl_context() -> ssl.SSLContext:
    """The process's one default TLS context (loading the CA bundle takes milliseconds; a
    context is safe to share between threads and clients)."""
    global _default_context
    with _lock:
        if _default_context is None:
            _default_context = httpx.create_ssl_context()
        return _default_context


def _is_pem(text: str) -> bool:
    return "-----BEGIN " in text


def ssl_context(tls: Tls | None) -> ssl.SSLContext:
    """The TLS context for ``opts.tls``.

    ``ca``: the certificate authorities to trust **instead of** the default bundle (PEM
    text, or a file path); ``cert``/``key``: a client certificate and its private key (PEM
    text or file paths); ``insecure_skip_verify = true``: no certificate or host name check.

    Raises:
        Invalid: a file is missing or a PEM does not load.
    """
    if tls is None:
        return default_ssl_context()
    try:
        if tls.ca is None:
            ctx = httpx.create_ssl_context()
        elif _is_pem(tls.ca):
            ctx = ssl.create_default_context(cadata=tls.ca)
        else:
            ctx = ssl.create_default_context(cafile=tls.ca)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise Invalid(f"opts.tls.ca does not load: {e}") from None
    if tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert is not None and tls.key is not None:
        _load_client_cert(ctx, tls.cert, tls.key)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    # ssl loads certificate chains from files only: PEM text goes through private temp
    # files, removed as soon as it is loaded.
    made: list[str] = []
    try:
        paths = []
        for text in (cert, key):
            if _is_pem(text):
                fd, path = tempfile.mkstemp(suffix=".pem")
                made.append(path)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                paths.append(path)
            else:
                paths.append(text)
        ctx.load_cert_chain(paths[0], paths[1])
    except (OSError, ssl.SSLError, ValueError) as e:
        raise Invalid(f"opts.tls.cert/key do not load: {e}") from None
    finally:
        for path in made:
            os.unlink(path)
