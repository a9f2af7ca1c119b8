"""The ``http_client`` Lua module (activities only, not workflows), lua-api.md §2.10, on httpx.

Requests: ``get/post/put/patch/delete/head(url, opts?)`` and ``request(method, url, opts?)`` ->
``Response, err``; ``request_batch({{method, url, opts?}, ...})`` -> ``responses, errors``
(two arrays of the same length: slot ``i`` of one of them holds request ``i``'s outcome; the
requests run in parallel). ``http_client:get(...)`` (method-call style) works too.

``opts`` (a map table, every key optional):

* ``headers``: map of name -> string (numbers are converted).
* ``body``: request body, a UTF-8 string (encode tables with ``json.encode``).
* ``form``: map of name -> value (or array of values), sent url-encoded; not with ``body``.
* ``query``: map of name -> value (or array of values), added to the URL's query string.
* ``timeout``: a number of **seconds** or a duration string (``"500ms"``, ``"2s"``); default
  30 seconds.
* ``auth``: ``{user = ..., pass = ...}`` for HTTP basic authentication.
* ``cookies``: map of name -> value, sent in the ``Cookie`` header.
* ``max_response_body``: byte limit for the response body (a larger body is an error).

Other documented options (``files``, ``stream``, ``tls``, ``unix_socket``...) are refused with
kind ``Invalid`` rather than ignored. Redirects are followed. There is no address policy
yet: unlike the reference runtime, private and loopback addresses are allowed.

Response: a table with **fields** ``status_code`` (integer), ``body`` (string, the raw bytes),
``body_size`` (bytes), ``headers`` (map; canonical names like ``Content-Type``; repeated headers
joined with ``", "``), ``cookies`` (map of cookies the response set) and ``url`` (final URL), and
**methods** ``resp:status()`` (the status code), ``resp:body()`` (the body string) and
``resp:json()`` -> ``value, err``. ``resp.body`` is a plain string; ``resp:body()`` works because
strings in this Lua state return themselves when called with a response table (and raise the
usual "attempt to call a string value" otherwise). HTTP error statuses (4xx, 5xx) are responses,
not errors.

Errors (``nil, err``): a bad URL, method or option -> kind ``Invalid`` (not retryable); network
failure or timeout -> kind ``Internal`` with ``retryable = true``, the message naming the
method and URL; invalid JSON in ``resp:json()`` -> kind ``Internal``. ``encode_uri(s)`` ->
string (``+`` for spaces); ``decode_uri(s)`` -> ``string, err`` (``Invalid`` for malformed
escapes).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import durations
from ..lua._convert import ConversionError

DEFAULT_TIMEOUT_S = 30.0
_METHOD = re.compile(r"^[A-Za-z]+$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_KNOWN_OPTS = {
    "headers",
    "body",
    "form",
    "query",
    "timeout",
    "auth",
    "cookies",
    "max_response_body",
}
_UNSUPPORTED_OPTS = {"files", "stream", "tls", "unix_socket", "overlay_network"}
_BATCH_WORKERS = 8

_LUA = r"""
local sys, py_request, py_batch, py_json, encode_uri, decode_uri = ...
local raw = sys.raw
local ipairs, type, utf8_len = ipairs, type, utf8.len
-- Responses of every run of the state (weak keys): resp:body() goes through the string
-- metatable's __call, which is state-wide and set by the first run that loads this module.
local responses = sys.base.http_responses
if responses == nil then
    responses = raw.setmetatable({}, { __mode = "k" })
    sys.base.http_responses = responses
end

local Response = {}
Response.__index = Response
Response.__metatable = false
local function check(self, name)
    if not responses[self] then
        raw.error("http_client: call resp:" .. name .. "() with a colon on a response", 3)
    end
end
function Response.status(self)
    check(self, "status")
    return self.status_code
end
function Response.json(self)
    check(self, "json")
    local body = self.body
    if type(body) == "string" and not utf8_len(body) then
        -- binary text cannot cross into Python as a str; it is not JSON anyway
        return nil, sys.make_error("Internal", "http_client: resp:json(): body is not UTF-8", false)
    end
    return py_json(body)
end

-- resp:body() is resp.body(resp): a string called with its response returns itself.
local smt = raw.debug_getmetatable("")
if smt.__call == nil then
    smt.__call = function(s, r)
        if responses[r] then
            return s
        end
        raw.error("attempt to call a string value", 2)
    end
end

local function wrap(r, err)
    if r == nil then
        return nil, err
    end
    responses[r] = true
    return raw.setmetatable(r, Response)
end

local M = {}
local function request(method, url, opts)
    return wrap(py_request(method, url, opts))
end
for _, name in ipairs({ "get", "post", "put", "patch", "delete", "head" }) do
    local method = name:upper()
    M[name] = function(a, b, c)
        if a == M then
            a, b = b, c
        end
        return request(method, a, b)
    end
end
function M.request(a, b, c, d)
    if a == M then
        a, b, c = b, c, d
    end
    return request(a, b, c)
end
function M.request_batch(a, b)
    if a == M then
        a = b
    end
    local rs, errs, n = py_batch(a)
    if rs == nil then
        return nil, errs
    end
    for i = 1, n do
        if rs[i] ~= nil then
            wrap(rs[i])
        end
    end
    return rs, errs
end
function M.encode_uri(a, b)
    if a == M then
        a = b
    end
    return encode_uri(a)
end
function M.decode_uri(a, b)
    if a == M then
        a = b
    end
    return decode_uri(a)
end
return M
"""


class _Invalid(Exception):
    """A request cannot be built (kind ``Invalid``)."""


@dataclass
class _Prepared:
    method: str
    url: httpx.URL
    timeout: float
    max_body: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.url}"


@dataclass
class _Failure:
    kind: str
    message: str
    retryable: bool


def _map_opt(opts: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = opts.get(name)
    if value is None or value == []:  # an empty Lua table converts to []
        return None
    if not isinstance(value, dict):
        raise _Invalid(f"opts.{name} must be a map table like {{name = value}}")
    return value


def _text(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Invalid(f"{path} must be a string or a number")


def _params(values: dict[str, Any], what: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in values.items():
        for item in v if isinstance(v, list) else [v]:
            out.append((k, _text(item, f"opts.{what}.{k}")))
    return out


def _prepare(method: Any, url: Any, opts: dict[str, Any]) -> _Prepared:
    if not isinstance(method, str) or not _METHOD.match(method):
        raise _Invalid(f"invalid HTTP method {method!r}")
    if not isinstance(url, str) or not url:
        raise _Invalid('url must be a non-empty string like "https://example.com/path"')
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise _Invalid(f"invalid URL {url!r}: {e}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _Invalid(f"invalid URL {url!r}: use an absolute http:// or https:// URL")
    for key in opts:
        if key in _UNSUPPORTED_OPTS:
            raise _Invalid(f"option {key!r} is not supported by moonflow's http_client")
        if key not in _KNOWN_OPTS:
            raise _Invalid(f"unknown option {key!r}: known options are {sorted(_KNOWN_OPTS)}")
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
    if body is not None and form is not None:
        raise _Invalid("give either opts.body or opts.form, not both")
    if body is not None:
        if not isinstance(body, str):
            raise _Invalid("opts.body must be a string: encode tables with json.encode(value)")
        kwargs["content"] = body.encode("utf-8")
    elif form is not None:
        kwargs["data"] = dict(_group(_params(form, "form")))
    auth = opts.get("auth")
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("user"), str):
            raise _Invalid('opts.auth must be {user = "name", pass = "secret"}')
        kwargs["auth"] = (auth["user"], _text(auth.get("pass", ""), "opts.auth.pass"))
    timeout = DEFAULT_TIMEOUT_S
    if opts.get("timeout") is not None:
        try:
            timeout = durations.seconds_duration(opts["timeout"], "opts.timeout")
        except durations.DurationError as e:
            raise _Invalid(str(e)) from None
        if timeout <= 0:
            raise _Invalid("opts.timeout must be positive")
    max_body = opts.get("max_response_body")
    if max_body is not None and (not isinstance(max_body, int) or max_body < 0):
        raise _Invalid("opts.max_response_body must be a non-negative integer (bytes)")
    return _Prepared(method.upper(), parsed, timeout, max_body, kwargs)


def _group(pairs: list[tuple[str, Any]]) -> dict[str, list[str] | str]:
    out: dict[str, list[str] | str] = {}
    for k, v in pairs:
        prev = out.get(k)
        out[k] = v if prev is None else [*([prev] if isinstance(prev, str) else prev), v]
    return out


@dataclass
class _Result:
    status: int
    headers: list[tuple[str, str]]
    cookies: dict[str, str]
    url: str
    content: bytes


def _send(client: httpx.Client, p: _Prepared) -> _Result | _Failure:
    """Perform one request (thread-safe: touches no Lua state)."""
    try:
        with client.stream(p.method, p.url, timeout=p.timeout, **p.kwargs) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if p.max_body is not None and size > p.max_body:
                    return _Failure(
                        "Invalid",
                        f"{p.label}: response body larger than max_response_body "
                        f"({p.max_body} bytes)",
                        False,
                    )
                chunks.append(chunk)
            return _Result(
                resp.status_code,
                resp.headers.multi_items(),
                dict(resp.cookies.items()),
                str(resp.url),
                b"".join(chunks),
            )
    except httpx.TimeoutException:
        return _Failure("Internal", f"{p.label}: timed out after {p.timeout:g}s", True)
    except httpx.TooManyRedirects as e:
        return _Failure("Internal", f"{p.label}: {e}", False)
    except httpx.TransportError as e:
        return _Failure("Internal", f"{p.label}: network error: {_reason(e)}", True)
    except Exception as e:  # noqa: BLE001 - anything else still becomes nil, err
        return _Failure("Internal", f"{p.label}: {type(e).__name__}: {e}", False)


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text


def canonical_header(name: str) -> str:
    """Go's canonical header form: ``content-type`` -> ``Content-Type``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _response_table(state: Any, r: _Result) -> Any:
    headers: dict[str, str] = {}
    for k, v in r.headers:
        key = canonical_header(k)
        headers[key] = f"{headers[key]}, {v}" if key in headers else v
    t = state.rt.table_from(
        {"status_code": r.status, "body": r.content, "body_size": len(r.content), "url": r.url}
    )
    t["headers"] = state.to_lua(headers)
    t["cookies"] = state.to_lua(r.cookies)
    return t


_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """The process's one TLS context (loading the CA bundle takes milliseconds; a context is
    safe to share between threads and clients)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def build(state: Any) -> Any:
    """Build the module table for one run (see the module docstring for the API).

    Each run (one activity call) has its own client and connections, closed with the run: a
    cookie a response sets, or a connection a server left in a bad state, never reaches
    another call. The TLS context is shared.
    """
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not clients:  # made on first use
            c = httpx.Client(follow_redirects=True, timeout=DEFAULT_TIMEOUT_S, verify=_tls())
            clients.append(c)
            state.on_close(c.close)
        return clients[0]

    def error(kind: str, message: str, retryable: bool) -> Any:
        return state.new_error(kind, "http_client: " + message, retryable)

    def prepare(method: Any, url: Any, opts: Any, path: str) -> _Prepared | Any:
        try:
            o = state.to_python(opts, path) if opts is not None else {}
            if o == []:
                o = {}
            if not isinstance(o, dict):
                raise _Invalid(f"{path} must be a map table like {{headers = {{...}}}}")
            p = _prepare(method, url, o)
            left = state.host.time_left()
            if left is not None:
                # each wait of the request ends by the activity's deadline (httpx timeouts are
                # per connect/read/write, so a server trickling bytes can still run past it)
                p.timeout = max(0.001, min(p.timeout, left))
            return p
        except (_Invalid, ConversionError) as e:
            return error("Invalid", str(e), False)

    def outcome(result: _Result | _Failure) -> tuple[Any, Any]:
        if isinstance(result, _Failure):
            return None, error(result.kind, result.message, result.retryable)
        return _response_table(state, result), None

    def request(method: Any = None, url: Any = None, opts: Any = None) -> Any:
        try:
            p = prepare(method, url, opts, "opts")
            if not isinstance(p, _Prepared):
                return None, p
            return outcome(_send(client(), p))
        except Exception as e:  # noqa: BLE001 - never let a Python error reach Lua
            return None, error("Internal", f"{type(e).__name__}: {e}", False)

    def batch(requests: Any = None) -> Any:
        try:
            return run_batch(requests)
        except Exception as e:  # noqa: BLE001 - never let a Python error reach Lua
            return None, error("Internal", f"request_batch: {type(e).__name__}: {e}", False)

    def run_batch(requests: Any) -> Any:
        try:
            items = state.to_python(requests, "requests") if requests is not None else None
        except ConversionError:
            items = None
        if not isinstance(items, list):
            message = "request_batch expects an array of {method, url, opts?}"
            return None, error("Invalid", message, False)
        prepared: list[Any] = []
        for i, _ in enumerate(items, 1):
            spec = requests[i]
            prepared.append(
                prepare(spec[1], spec[2], spec[3], f"requests[{i}][3]")
                if isinstance(items[i - 1], list)
                else error("Invalid", f"requests[{i}] must be {{method, url, opts?}}", False)
            )
        todo = [p for p in prepared if isinstance(p, _Prepared)]
        http = client()
        with ThreadPoolExecutor(max_workers=min(_BATCH_WORKERS, max(1, len(todo)))) as pool:
            sent = pool.map(lambda p: _send(http, p), todo)
            results = dict(zip(map(id, todo), sent, strict=True))
        responses, errors = state.rt.table(), state.rt.table()
        for i, p in enumerate(prepared, 1):
            r, err = outcome(results[id(p)]) if isinstance(p, _Prepared) else (None, p)
            if r is not None:
                responses[i] = r
            if err is not None:
                errors[i] = err
        return responses, errors, len(prepared)

    def decode_json(body: Any = None) -> Any:
        if not isinstance(body, (str, bytes)):
            return None, error("Invalid", "resp:json(): the response has no body string", False)
        try:
            return state.to_lua(json.loads(body)), None
        except ValueError as e:
            return None, error("Internal", f"resp:json(): invalid JSON: {e}", False)

    def encode_uri(s: Any = None) -> Any:
        if not isinstance(s, (str, int, float)) or isinstance(s, bool):
            return None, error("Invalid", "encode_uri expects a string", False)
        return urllib.parse.quote_plus(str(s))

    def decode_uri(s: Any = None) -> Any:
        if not isinstance(s, str):
            return None, error("Invalid", "decode_uri expects a string", False)
        if _BAD_ESCAPE.search(s):
            return None, error("Invalid", f"decode_uri: invalid escape in {s!r}", False)
        try:
            return urllib.parse.unquote_plus(s, errors="strict"), None
        except UnicodeDecodeError:
            return None, error("Invalid", f"decode_uri: {s!r} does not decode to UTF-8", False)

    return state.load_lua_module(
        _LUA,
        "=moonflow/http_client",
        state.sys,
        request,
        batch,
        decode_json,
        encode_uri,
        decode_uri,
    )
