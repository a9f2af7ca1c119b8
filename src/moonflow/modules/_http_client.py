"""The ``http_client`` Lua module (activity code only, not workflows), lua-api.md §2.10, on
httpx.

Requests: ``get/post/put/patch/delete/head(url, opts?)`` and ``request(method, url, opts?)`` ->
``Response, err``; ``request_batch({{method, url, opts?}, ...})`` -> ``responses, errors``
(two arrays of the same length: slot ``i`` of one of them holds request ``i``'s outcome; the
requests run in parallel; ``stream`` is refused there). ``http_client:get(...)`` (method-call
style) works too.

``opts`` (a map table, every key optional):

* ``headers``: map of name -> string (numbers are converted).
* ``body``: request body, a UTF-8 string (encode tables with ``json.encode``).
* ``form``: map of name -> value (or array of values), sent url-encoded; with ``files``, sent
  as fields of a multipart/form-data body. Not with ``body``.
* ``files``: array of ``{name = field, content = data, filename? (default: name),
  content_type?}``: a multipart/form-data upload (``reader`` is refused: read the data first).
* ``query``: map of name -> value (or array of values), added to the URL's query string.
* ``timeout``: a number of **seconds** or a duration string (``"500ms"``, ``"2s"``); default
  30 seconds; every wait also ends by the activity's deadline.
* ``auth``: ``{user = ..., pass = ...}`` for HTTP basic authentication.
* ``cookies``: map of name -> value, sent in the ``Cookie`` header.
* ``max_response_body``: byte limit for the response body (a larger body is an ``Invalid``
  error, also when streamed).
* ``stream = true``: the body is not read into ``resp.body`` (nil; ``body_size`` is -1) but
  through ``resp.stream``: ``stream:read(n?)`` -> up to ``n`` bytes (default 65536) as a
  string, ``nil`` at the end, ``nil, err`` on a failure; ``stream:close()`` -> true. An
  unclosed stream is closed when the activity call ends.
* ``tls = {ca, cert, key, server_name, insecure_skip_verify}``: ``ca`` replaces the default
  certificate authorities (PEM text or a file path); ``cert``/``key`` a client certificate
  (PEM text or file paths, given together); ``server_name`` the name sent in SNI and checked
  against the certificate; ``insecure_skip_verify = true`` checks nothing.
* ``unix_socket``: path of a unix socket to send the request through (the URL still gives
  the Host header and path).
* ``deny_private = true``: refuse private, loopback and link-local addresses, for URLs a user
  supplied (see ``_http/policy.py``): the host name is resolved and checked before connecting, at
  every redirect hop too; a refusal is kind ``PermissionDenied``, nothing is sent. With it
  ``unix_socket`` is refused too. ``allow_private = {"api.internal", "api.internal:8443"}``
  exempts hosts (with a port: that port only).

``overlay_network`` (the reference runtime's) is refused with kind ``Invalid``. Redirects are
followed (up to 20). Without ``deny_private`` every address is allowed: unlike the reference
runtime, which refuses private addresses unless an entry holds a permission, moonflow has no
permissions, so the policy is asked for where untrusted URLs are fetched.

Response: a table with **fields** ``status_code`` (integer), ``body`` (string, the raw bytes),
``body_size`` (bytes), ``headers`` (map; canonical names like ``Content-Type``; repeated headers
joined with ``", "``), ``cookies`` (map of cookies the response set), ``url`` (final URL) and
``stream`` (with ``stream = true``), and **methods** ``resp:status()`` (the status code),
``resp:body()`` (the body string) and ``resp:json()`` -> ``value, err``. ``resp.body`` is a
plain string; ``resp:body()`` works because strings in this Lua state return themselves when
called with a response table (and raise the usual "attempt to call a string value"
otherwise). HTTP error statuses (4xx, 5xx) are responses, not errors.

Errors (``nil, err``): a bad URL, method or option -> kind ``Invalid`` (not retryable); an
address the policy refuses -> kind ``PermissionDenied`` (not retryable); network failure or
timeout -> kind ``Internal`` with ``retryable = true``, the message naming the method and URL
(too many redirects: ``Internal``, not retryable); invalid JSON in ``resp:json()`` -> kind
``Internal``. ``encode_uri(s)`` -> string (``+`` for spaces); ``decode_uri(s)`` -> ``string,
err`` (``Invalid`` for malformed escapes).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lupa.lua54 as lupa

from ..lua._convert import ConversionError
from ._http.options import Denied, Invalid, Prepared, prepare
from ._http.transfer import Clients, Failure, Result, Stream, StreamError, send

#: Seconds a request may wait (connect, each read, each write) without ``opts.timeout``.
DEFAULT_TIMEOUT_S = 30.0
#: Bytes ``stream:read()`` returns at most without a count.
DEFAULT_READ = 65536
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
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


def canonical_header(name: str) -> str:
    """Go's canonical header form: ``content-type`` -> ``Content-Type``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def build(state: Any) -> Any:
    """Build the module table for one run (see the module docstring for the API).

    Each run (one activity call) has its own clients and connections, closed with the run: a
    cookie a response sets, or a connection a server left in a bad state, never reaches
    another call. The default TLS context is shared.
    """
    clients = Clients(DEFAULT_TIMEOUT_S)
    streams: list[Stream] = []

    def close() -> None:
        try:
            for s in streams:  # a stream the code left open
                s.close()
        finally:
            clients.close()

    state.on_close(close)

    def error(kind: str, message: str, retryable: bool) -> Any:
        return state.new_error(kind, "http_client: " + message, retryable)

    def prepare_one(method: Any, url: Any, opts: Any, path: str) -> Prepared | Any:
        try:
            o = state.to_python(opts, path) if opts is not None else {}
            if o == []:
                o = {}
            if not isinstance(o, dict):
                raise Invalid(f"{path} must be a map table like {{headers = {{...}}}}")
            p = prepare(method, url, o, DEFAULT_TIMEOUT_S)
            left = state.host.time_left()
            if left is not None:
                # each wait of the request ends by the activity's deadline (httpx timeouts are
                # per connect/read/write, so a server trickling bytes can still run past it)
                p.timeout = max(0.001, min(p.timeout, left))
            return p
        except (Invalid, ConversionError) as e:
            return error("Invalid", str(e), False)
        except Denied as e:
            return error("PermissionDenied", str(e), False)

    def stream_table(s: Stream) -> Any:
        streams.append(s)

        def read(a: Any = None, b: Any = None) -> Any:
            n = b if lupa.lua_type(a) == "table" else a
            if n is None:
                n = DEFAULT_READ
            if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                return None, error("Invalid", "stream:read(n): n must be a positive integer", False)
            try:
                data = s.read(n)
            except StreamError as e:
                f = e.failure
                return None, error(f.kind, f.message, f.retryable)
            return (data, None) if data else (None, None)

        def close(*_: Any) -> bool:
            s.close()
            return True

        return state.rt.table_from(
            {
                "read": state.lua_function(read, "http_client: stream:read"),
                "close": state.lua_function(close, "http_client: stream:close"),
            }
        )

    def response_table(r: Result) -> Any:
        headers: dict[str, str] = {}
        for k, v in r.headers:
            key = canonical_header(k)
            headers[key] = f"{headers[key]}, {v}" if key in headers else v
        size = -1 if r.content is None else len(r.content)
        t = state.rt.table_from(
            {"status_code": r.status, "body": r.content, "body_size": size, "url": r.url}
        )
        t["headers"] = state.to_lua(headers)
        t["cookies"] = state.to_lua(r.cookies)
        if r.stream is not None:
            t["stream"] = stream_table(r.stream)
        return t

    def outcome(result: Result | Failure) -> tuple[Any, Any]:
        if isinstance(result, Failure):
            return None, error(result.kind, result.message, result.retryable)
        return response_table(result), None

    def request(method: Any = None, url: Any = None, opts: Any = None) -> Any:
        try:
            p = prepare_one(method, url, opts, "opts")
            if not isinstance(p, Prepared):
                return None, p
            return outcome(send(clients.get(p.route), p))
        except Invalid as e:  # a TLS file that does not load (the client is made on use)
            return None, error("Invalid", str(e), False)
        except Exception as e:  # noqa: BLE001 - never let a Python error reach Lua
            return None, error("Internal", f"{type(e).__name__}: {e}", False)

    def batch(requests: Any = None) -> Any:
        try:
            return run_batch(requests)
        except Exception as e:  # noqa: BLE001 - never let a Python error reach Lua
            return None, error("Internal", f"request_batch: {type(e).__name__}: {e}", False)

    def one_of_batch(spec: Any, item: Any, i: int) -> Prepared | Any:
        if not isinstance(item, list):
            return error("Invalid", f"requests[{i}] must be {{method, url, opts?}}", False)
        p = prepare_one(spec[1], spec[2], spec[3], f"requests[{i}][3]")
        if isinstance(p, Prepared) and p.stream:
            return error("Invalid", f"requests[{i}][3]: stream is not supported in a batch", False)
        return p

    def run_batch(requests: Any) -> Any:
        try:
            items = state.to_python(requests, "requests") if requests is not None else None
        except ConversionError:
            items = None
        if not isinstance(items, list):
            message = "request_batch expects an array of {method, url, opts?}"
            return None, error("Invalid", message, False)
        prepared = [one_of_batch(requests[i], item, i) for i, item in enumerate(items, 1)]
        todo = [p for p in prepared if isinstance(p, Prepared)]
        results: dict[int, Result | Failure] = {}
        for p in todo:
            try:
                clients.get(p.route)  # made here: a TLS setting that does not load is Invalid
            except Invalid as e:
                results[id(p)] = Failure("Invalid", str(e), False)
        todo = [p for p in todo if id(p) not in results]
        with ThreadPoolExecutor(max_workers=min(_BATCH_WORKERS, max(1, len(todo)))) as pool:
            sent = pool.map(lambda p: send(clients.get(p.route), p), todo)
            results.update(zip(map(id, todo), sent, strict=True))
        responses, errors = state.rt.table(), state.rt.table()
        for i, p in enumerate(prepared, 1):
            r, err = outcome(results[id(p)]) if isinstance(p, Prepared) else (None, p)
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
