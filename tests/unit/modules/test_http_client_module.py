"""The ``http_client`` Lua module against a real local HTTP server (stdlib ``http.server``)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from moonflow.errors import AppError

from .helpers import call, load_entry, new_state, run, run_error


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = url.path
        if route == "/echo":
            data = {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8"),
            }
            self._send(200, json.dumps(data).encode(), [("Content-Type", "application/json")])
        elif route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode())
        elif route == "/sleep":
            time.sleep(float(parse_qs(url.query)["s"][0]))
            try:
                self._send(200, b"late")
            except OSError:  # the client gave up (timeout test)
                self.close_connection = True
        elif route == "/multi":
            self._send(
                200,
                b"",
                [
                    ("x-multi", "a"),
                    ("X-Multi", "b"),
                    ("x-request-id", "r1"),
                    ("Set-Cookie", "sid=abc; Path=/"),
                    ("Set-Cookie", "t=1"),
                ],
            )
        elif route == "/redirect":
            self._send(302, b"", [("Location", "/echo?from=redirect")])
        elif route == "/bytes":
            self._send(200, b"\xff\x00\xfe")
        elif route == "/notjson":
            self._send(200, b"{not json")
        elif route == "/big":
            self._send(200, b"x" * 10_000)
        else:
            self._send(404, b"no route")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def state():
    return new_state("activity")


def lua(state, base_url, src):
    return run(
        state,
        f"local http = M('http_client') local json = M('json') local BASE = {base_url!r}\n{src}",
    )


def echo(state, base_url, call_src):
    """Run ``call_src`` (an expression giving resp, err) and return the echoed request."""
    status, body, err = lua(
        state,
        base_url,
        f"local r, e = {call_src} "
        "if e then return nil, nil, tostring(e) end "
        "return r.status_code, r.body, nil",
    )
    assert err is None and status == 200, err
    return json.loads(body)


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_each_method(state, base_url, method):
    data = echo(state, base_url, f"http.{method}(BASE .. '/echo')")
    assert data["method"] == method.upper()


def test_head(state, base_url):
    assert lua(
        state,
        base_url,
        "local r = http.head(BASE .. '/echo') "
        "return r.status_code, r.body, r.headers['Content-Type']",
    ) == [200, "", "application/json"]


@pytest.mark.parametrize("method", ["OPTIONS", "post", "Put"])
def test_request_any_method(state, base_url, method):
    data = echo(state, base_url, f"http.request({method!r}, BASE .. '/echo')")
    assert data["method"] == method.upper()


def test_method_call_style_on_module(state, base_url):
    assert echo(state, base_url, "http:get(BASE .. '/echo')")["method"] == "GET"
    assert echo(state, base_url, "http:request('DELETE', BASE .. '/echo')")["method"] == "DELETE"


def test_query_merges_with_url_query(state, base_url):
    data = echo(
        state,
        base_url,
        "http.get(BASE .. '/echo?a=1', {query = "
        "{b = 'two words', n = 3, flag = true, tag = {'x', 'y'}}})",
    )
    assert data["query"] == {
        "a": ["1"],
        "b": ["two words"],
        "n": ["3"],
        "flag": ["true"],
        "tag": ["x", "y"],
    }


def test_headers_and_body(state, base_url):
    data = echo(
        state,
        base_url,
        "http.post(BASE .. '/echo', {headers = {['X-Api-Key'] = 'k1', "
        "['X-Count'] = 2, ['Content-Type'] = 'application/json'}, "
        "body = json.encode({amount = 10})})",
    )
    assert data["headers"]["x-api-key"] == "k1"
    assert data["headers"]["x-count"] == "2"
    assert data["headers"]["content-type"] == "application/json"
    assert json.loads(data["body"]) == {"amount": 10}


def test_form(state, base_url):
    data = echo(
        state,
        base_url,
        "http.post(BASE .. '/echo', {form = {name = 'a b', n = 1, many = {'1', '2'}}})",
    )
    assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(data["body"]) == {"name": ["a b"], "n": ["1"], "many": ["1", "2"]}


def test_basic_auth_and_cookies(state, base_url):
    data = echo(
        state,
        base_url,
        "http.get(BASE .. '/echo', {auth = {user = 'u', pass = 'p'}, cookies = {session = 's1'}})",
    )
    assert data["headers"]["authorization"] == "Basic dTpw"
    assert data["headers"]["cookie"] == "session=s1"


def test_response_fields_and_methods_agree(state, base_url):
    assert lua(
        state,
        base_url,
        """
        local r = http.get(BASE .. '/echo')
        return r.status_code, r:status(), type(r.body), r.body == r:body(), r:body() == r.body(r),
               r.body_size == #r.body, r.url, r.headers['Content-Type']
    """,
    ) == [200, 200, "string", True, True, True, f"{base_url}/echo", "application/json"]


def test_json_method(state, base_url):
    assert lua(
        state,
        base_url,
        "local r = http.post(BASE .. '/echo', {body = 'hi'}) "
        "local v, e = r:json() return v.method, v.body, e",
    ) == ["POST", "hi", None]
    assert lua(
        state, base_url, "local v, e = http.get(BASE .. '/notjson'):json() return v, e:kind()"
    ) == [None, "Internal"]


@pytest.mark.parametrize("code", [201, 400, 402, 404, 500, 503])
def test_http_error_statuses_are_responses(state, base_url, code):
    assert lua(
        state,
        base_url,
        f"local r, e = http.get(BASE .. '/status/{code}') return r:status(), r:body(), e",
    ) == [code, f"status {code}", None]


def test_multi_valued_and_canonical_headers_and_cookies(state, base_url):
    headers, cookies = lua(
        state, base_url, "local r = http.get(BASE .. '/multi') return r.headers, r.cookies"
    )
    assert headers["X-Multi"] == "a, b"
    assert headers["X-Request-Id"] == "r1"
    assert headers["Set-Cookie"] == "sid=abc; Path=/, t=1"
    assert cookies == {"sid": "abc", "t": "1"}


def test_redirects_are_followed(state, base_url):
    assert lua(
        state,
        base_url,
        "local r = http.get(BASE .. '/redirect') "
        "return r.status_code, r.url, r:json().query.from[1]",
    ) == [200, f"{base_url}/echo?from=redirect", "redirect"]


def test_binary_body_is_kept_byte_for_byte(state, base_url):
    assert lua(
        state,
        base_url,
        "local r = http.get(BASE .. '/bytes') "
        "return #r.body, r.body_size, r.body:byte(1), r.body:byte(3)",
    ) == [3, 3, 255, 254]


def test_json_of_binary_body_is_an_error_value(state, base_url):
    assert lua(
        state, base_url, "local v, e = http.get(BASE .. '/bytes'):json() return v, e:kind()"
    ) == [None, "Internal"]


def test_max_response_body(state, base_url):
    assert lua(
        state,
        base_url,
        "local r, e = http.get(BASE .. '/big', {max_response_body = 100}) return r, e:kind()",
    ) == [None, "Invalid"]
    assert lua(
        state, base_url, "return http.get(BASE .. '/big', {max_response_body = 10000}).body_size"
    ) == [10_000]


@pytest.mark.parametrize("timeout", ["0.3", "'300ms'"])
def test_timeout_is_internal_retryable(state, base_url, timeout):
    t0 = time.monotonic()
    r, kind, retryable, msg = lua(
        state,
        base_url,
        f"""
        local r, e = http.get(BASE .. '/sleep?s=2', {{timeout = {timeout}}})
        return r, e:kind(), e:retryable(), e:message()
    """,
    )
    assert time.monotonic() - t0 < 1.5
    assert (r, kind, retryable) == (None, "Internal", True)
    assert f"GET {base_url}/sleep?s=2" in msg and "timed out" in msg


def test_default_timeout_applies(state, base_url, monkeypatch):
    from moonflow.modules import _http_client

    monkeypatch.setattr(_http_client, "DEFAULT_TIMEOUT_S", 0.3)
    kind, msg = lua(
        state, base_url, "local r, e = http.get(BASE .. '/sleep?s=2') return e:kind(), e:message()"
    )
    assert kind == "Internal" and "timed out after 0.3s" in msg


def test_timeout_long_enough_succeeds(state, base_url):
    assert lua(state, base_url, "return http.get(BASE .. '/sleep?s=0.1', {timeout = 5}).body") == [
        "late"
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_internal_retryable(state, base_url):
    url = f"http://127.0.0.1:{free_port()}/x"
    r, kind, retryable, msg = lua(
        state,
        base_url,
        f"local r, e = http.post({url!r}) return r, e:kind(), e:retryable(), tostring(e)",
    )
    assert (r, kind, retryable) == (None, "Internal", True)
    assert url in msg and "connection refused" in msg


@pytest.mark.parametrize(
    "call_src",
    [
        "http.get('not a url')",
        "http.get('ftp://example.com/file')",
        "http.get('http://')",
        "http.get(nil)",
        "http.get(42)",
        "http.request('BAD METHOD', BASE)",
        "http.get(BASE, {timeout = 'soon'})",
        "http.get(BASE, {timeout = -1})",
        "http.get(BASE, {tls = {insecure_skip_verify = 1}})",
        "http.get(BASE, {tls = {cert = 'x.pem'}})",
        "http.get(BASE, {overlay_network = 'n'})",
        "http.get(BASE, {stream = 'yes'})",
        "http.get(BASE, {hedaers = {}})",
        "http.post(BASE, {body = {amount = 1}})",
        "http.post(BASE, {body = 'x', form = {a = 1}})",
        "http.get(BASE, {headers = {a = {b = 1}}})",
        "http.get(BASE, {auth = {pass = 'p'}})",
        "http.get(BASE, 'opts')",
        "http.get(BASE, {headers = 'x'})",
    ],
)
def test_bad_requests_are_invalid(state, base_url, call_src):
    r, kind, retryable, msg = lua(
        state, base_url, f"local r, e = {call_src} return r, e:kind(), e:retryable(), e:message()"
    )
    assert (r, kind, retryable) == (None, "Invalid", False)
    assert msg.startswith("http_client: ")


def test_string_call_only_works_for_responses(state, base_url):
    assert "attempt to call a string value" in run_error(state, "return ('x')(1)")
    assert "attempt to call a string value" in run_error(state, "return ('x')({})")
    assert "attempt to call a string value" in run_error(state, "local s = 'x' return s()")
    assert lua(state, base_url, "return getmetatable('')") == [False]


def test_methods_need_a_colon(state, base_url):
    err = run_error(
        state, f"local r = M('http_client').get({base_url + '/echo'!r}) return r.status()"
    )
    assert "resp:status()" in err


def test_response_converts_to_json_data(state, base_url):
    [resp] = lua(state, base_url, "return http.get(BASE .. '/status/204')")
    assert resp["status_code"] == 204 and resp["body"] == "" and resp["body_size"] == 0
    assert set(resp) == {"status_code", "body", "body_size", "headers", "cookies", "url"}


def test_encode_decode_uri(state, base_url):
    assert lua(
        state,
        base_url,
        "return http.encode_uri('a b&c=d/é'), http.decode_uri('a+b%26c%3Dd%2F%C3%A9')",
    ) == ["a+b%26c%3Dd%2F%C3%A9", "a b&c=d/é", None]
    assert lua(state, base_url, "local v, e = http.decode_uri('%zz') return v, e:kind()") == [
        None,
        "Invalid",
    ]
    assert lua(state, base_url, "local v, e = http.decode_uri('%ff') return v, e:kind()") == [
        None,
        "Invalid",
    ]


def test_request_batch(state, base_url):
    dead = f"http://127.0.0.1:{free_port()}/"
    statuses, kinds = lua(
        state,
        base_url,
        f"""
        local rs, errs = http.request_batch({{
            {{'GET', BASE .. '/status/201'}},
            {{'POST', BASE .. '/echo', {{body = 'b'}}}},
            {{'GET', {dead!r}}},
            {{'GET', 'nope'}},
        }})
        return {{rs[1]:status(), rs[2]:json().body, rs[3] == nil, rs[4] == nil}},
               {{errs[1] == nil, errs[2] == nil, errs[3]:kind(), errs[4]:kind()}}
    """,
    )
    assert statuses == [201, "b", True, True]
    assert kinds == [True, True, "Internal", "Invalid"]


def test_request_batch_runs_in_parallel(state, base_url):
    t0 = time.monotonic()
    [n] = lua(
        state,
        base_url,
        "local rs = http.request_batch({{'GET', BASE .. '/sleep?s=0.5'}, "
        "{'GET', BASE .. '/sleep?s=0.5'}, {'GET', BASE .. '/sleep?s=0.5'}})"
        " return #rs",
    )
    assert n == 3 and time.monotonic() - t0 < 1.4


def test_required_by_an_activity_entry(state, base_url, tmp_path):
    fn = load_entry(
        state,
        tmp_path,
        """
        local http_client = require("http_client")
        local json = require("json")
        local function main(url)
            local resp, err = http_client.post(url, {body = json.encode({n = 1})})
            if err then return nil, err end
            return {status = resp:status(), echoed = resp:json().body}
        end
        return { main = main }
    """,
        ("http_client", "json"),
    )
    assert call(state, fn, f"{base_url}/echo") == [{"status": 200, "echoed": '{"n":1}'}]


def test_not_available_in_workflow_code(tmp_path):
    from .helpers import FakeWorkflowHost

    state = new_state("workflow", FakeWorkflowHost(1, 1, []))
    with pytest.raises(AppError, match="http_client"):
        load_entry(
            state,
            tmp_path,
            "local h = require('http_client') return {main = print}",
            ("http_client",),
        )
