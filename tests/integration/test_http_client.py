"""``http_client`` and the other activity-side modules (``time``, ``logger``, ``env``) from Lua
activities that a Lua workflow calls, on the dev server (issue 16 item 7).

The servers are real and on this machine only: a plain HTTP server on 127.0.0.1, an HTTPS one
with certificates made here (tests/_tls.py: a test CA, a server certificate for
``moonflow.test`` and a client certificate), and one on a unix socket. Each activity returns
what it saw as data, so one workflow run checks several things; errors that the workflow itself
should see are returned as ``nil, err`` and read there (kind, retryable flag).
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from moonflow.errors import AppError
from moonflow.modules._http.policy import address_problem
from tests._apps import app_index
from tests._tls import make_pki, server_context

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration


# --- servers ---------------------------------------------------------------------------
@dataclass
class Hits:
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str) -> None:
        with self.lock:
            self.paths.append(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: Hits  # set per server class

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _client_cn(self) -> str | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        cert = getpeercert() if getpeercert else None
        if not cert:
            return None
        return dict(x[0] for x in cert["subject"]).get("commonName")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        self.hits.add(url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = url.path
        if route == "/echo":
            data = {
                "method": self.command,
                "query": parse_qs(url.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "client_cert": self._client_cn(),
            }
            self._send(200, json.dumps(data).encode(), [("Content-Type", "application/json")])
        elif route == "/chunks":
            # a chunked body, written piece by piece
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(1, 6):
                piece = f"part{i};".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/sleep":
            time.sleep(float(parse_qs(url.query)["s"][0]))
            try:
                self._send(200, b"late")
            except OSError:
                self.close_connection = True
        elif route == "/redirect":
            self._send(302, b"", [("Location", parse_qs(url.query)["to"][0])])
        else:
            self._send(404, b"no route")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def _serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def _handler(hits: Hits) -> type[Handler]:
    return type("BoundHandler", (Handler,), {"hits": hits})


@dataclass
class Servers:
    base: str  # http://127.0.0.1:PORT
    port: int
    hits: Hits
    tls_base: str  # https://127.0.0.1:PORT (certificate for moonflow.test)
    ca_pem: str
    client_cert_pem: str
    client_key_pem: str
    ca_file: str
    uds: str
    uds_hits: Hits


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("http")
    hits = Hits()
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hits))
    plain.daemon_threads = True
    _serve(plain)

    pki = make_pki(tmp / "pki", server_names=("moonflow.test",), client_name="activity-client")
    # a client certificate is echoed when given; HTTP/1.1, so no ALPN
    ctx = server_context(pki, client_cert=ssl.CERT_OPTIONAL, alpn=())

    class TlsServer(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> Any:
            sock, addr = super().get_request()
            sock.settimeout(10)
            try:
                return ctx.wrap_socket(sock, server_side=True), addr
            except (ssl.SSLError, OSError):
                sock.close()
                raise

    tls = TlsServer(("127.0.0.1", 0), _handler(hits))
    _serve(tls)

    uds_hits = Hits()
    uds_path = str(tmp / "api.sock")

    class UnixHandler(_handler(uds_hits)):  # type: ignore[misc]
        def address_string(self) -> str:
            return "unix"

    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    unix = UnixServer(uds_path, UnixHandler)
    unix.client_address = ("unix", 0)  # type: ignore[attr-defined]
    _serve(unix)
    try:
        yield Servers(
            base=f"http://127.0.0.1:{plain.server_address[1]}",
            port=plain.server_address[1],
            hits=hits,
            tls_base=f"https://127.0.0.1:{tls.server_address[1]}",
            ca_pem=pki.ca.read_text(),
            client_cert_pem=pki.client_cert.read_text(),
            client_key_pem=pki.client_key.read_text(),
            ca_file=str(pki.ca),
            uds=uds_path,
            uds_hits=uds_hits,
        )
    finally:
        for s in (plain, tls, unix):
            s.shutdown()
            s.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the app ---------------------------------------------------------------------------
# The workflow calls each activity named in its input once (no retries) and collects what it
# returned, or the kind / retryable flag / message of the error it failed with.
WF = """\
local funcs = require("funcs")
local function main(calls)
  local once = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 1}})
  local out = {}
  for _, c in ipairs(calls) do
    local r, err = once:call("app:" .. c.fn, c.arg)
    if err then
      out[c.fn] = {error = {kind = err:kind(), retryable = err:retryable(), message = err:message()}}
    else
      out[c.fn] = r
    end
  end
  return out
end
return { main = main }
"""

WEB = r"""
local http_client = require("http_client")
local json = require("json")

local function e(err)
  return {kind = err:kind(), retryable = err:retryable(), message = err:message()}
end

local function methods(c)
  local seen = {}
  for _, m in ipairs({"get", "post", "put", "delete", "patch"}) do
    local r, err = http_client[m](c.base .. "/echo")
    if err then return nil, err end
    seen[#seen + 1] = r:json().method
  end
  seen[#seen + 1] = http_client.request("PUT", c.base .. "/echo"):json().method
  return seen
end

local function requests(c)
  local r1 = http_client.post(c.base .. "/echo", {
    headers = {["X-Trace"] = "t-1"},
    query = {q = "a b"},
    auth = {user = "ada", pass = "s3cret"},
    body = json.encode({amount = 5}),
    timeout = "5s",
  }):json()
  local r2 = http_client.post(c.base .. "/echo", {form = {name = "Ada L", n = 2}, timeout = 5}):json()
  local r3 = http_client.post(c.base .. "/echo", {
    form = {note = "hi"},
    files = {{name = "doc", filename = "a.txt", content = "hello file", content_type = "text/plain"}},
  }):json()
  return {
    trace = r1.headers["x-trace"], auth = r1.headers.authorization, q = r1.query.q[1],
    body = r1.body, form = r2.body, form_type = r2.headers["content-type"],
    multipart_type = r3.headers["content-type"], multipart = r3.body,
    enc = http_client.encode_uri("a b&c=d/é"), dec = http_client.decode_uri("a+b%26c%3Dd"),
  }
end

local function stream(c)
  local r, err = http_client.get(c.base .. "/chunks", {stream = true})
  if err then return nil, err end
  local parts, reads = {}, 0
  while true do
    local piece, rerr = r.stream:read(4)
    if rerr then return nil, rerr end
    if piece == nil then break end
    reads = reads + 1
    parts[#parts + 1] = piece
  end
  local again = r.stream:read(4)
  -- a stream over max_response_body fails when the limit is passed
  local big = http_client.get(c.base .. "/chunks", {stream = true, max_response_body = 12})
  local first = big.stream:read(6)
  local _, over = big.stream:read(100)
  return {
    data = table.concat(parts), reads = reads, body_nil = r.body == nil,
    body_size = r.body_size, status = r.status_code, after_end = again == nil,
    closed = r.stream:close(), first = first, over = e(over),
  }
end

local function timeouts(c)
  local _, e1 = http_client.get(c.base .. "/sleep?s=3", {timeout = "300ms"})
  local _, e2 = http_client.get(c.base .. "/sleep?s=3", {timeout = 0.3})
  local _, e3 = http_client.get(c.dead)
  return {ms = e(e1), seconds = e(e2), refused = e(e3)}
end

local function refused(c)
  local r, err = http_client.get(c.dead)
  if err then return nil, err end
  return r.status_code
end

local function tls(c)
  local out = {}
  local _, e1 = http_client.get(c.tls .. "/echo")
  out.default = e(e1)
  local r2, e2 = http_client.get(c.tls .. "/echo", {tls = {ca = c.ca, server_name = "moonflow.test"}})
  out.ca_pem = e2 and e(e2) or {status = r2.status_code, client = r2:json().client_cert}
  local r3, e3 = http_client.get(c.tls .. "/echo", {tls = {ca = c.ca_file, server_name = "moonflow.test"}})
  out.ca_file = e3 and e(e3) or r3.status_code
  local _, e4 = http_client.get(c.tls .. "/echo", {tls = {ca = c.ca}})
  out.wrong_name = e(e4)
  local r5, e5 = http_client.get(c.tls .. "/echo", {tls = {insecure_skip_verify = true}})
  out.insecure = e5 and e(e5) or r5.status_code
  local r6, e6 = http_client.get(c.tls .. "/echo", {tls = {
    ca = c.ca, server_name = "moonflow.test", cert = c.cert, key = c.key}})
  out.client_cert = e6 and e(e6) or r6:json().client_cert
  local _, e7 = http_client.get(c.tls .. "/echo", {tls = {ca = "/nonexistent/ca.pem"}})
  out.bad_ca = e(e7)
  return out
end

local function unix_socket(c)
  local r, err = http_client.get("http://api.local/echo?via=uds", {unix_socket = c.uds})
  if err then return nil, err end
  local _, denied = http_client.get("http://api.local/echo", {unix_socket = c.uds, deny_private = true})
  local _, missing = http_client.get("http://api.local/echo", {unix_socket = c.uds .. ".missing"})
  return {status = r.status_code, via = r:json().query.via[1], host = r:json().headers.host, denied = e(denied),
    missing = e(missing)}
end

local function deny(c)
  local out = {}
  for i, url in ipairs({c.base .. "/echo", c.localhost .. "/echo", c.v6 .. "/echo"}) do
    local _, err = http_client.get(url, {deny_private = true})
    out["u" .. i] = e(err)
  end
  -- an allowed host works; its redirect to a host that is not allowed is refused
  local ok = http_client.get(c.base .. "/echo", {deny_private = true, allow_private = {c.hostport}})
  out.allowed = ok.status_code
  local _, redirected = http_client.get(c.base .. "/redirect?to=" .. http_client.encode_uri(c.localhost .. "/echo?hop=2"),
    {deny_private = true, allow_private = {c.hostport}})
  out.redirect = e(redirected)
  -- without the policy the same redirect is followed
  out.followed = http_client.get(c.base .. "/redirect?to=" .. http_client.encode_uri(c.localhost .. "/echo?hop=3")).status_code
  local rs, errs = http_client.request_batch({
    {"GET", c.base .. "/echo", {deny_private = true}},
    {"GET", c.base .. "/echo"},
  })
  out.batch = {denied = errs[1] and errs[1]:kind(), ok = rs[2] and rs[2].status_code}
  return out
end

local function denied_plain(c)
  local r, err = http_client.get(c.base .. "/echo?plain=1", {deny_private = true})
  if err then return nil, err end
  return r.status_code
end

local function batch(c)
  local rs, errs = http_client.request_batch({
    {"GET", c.base .. "/echo"},
    {"POST", c.base .. "/echo", {body = "b"}},
    {"GET", c.dead},
    {"GET", c.base .. "/chunks", {stream = true}},
  })
  return {rs[1].status_code, rs[2]:json().body, errs[3]:kind(), errs[3]:retryable(), errs[4]:kind()}
end

return {
  methods = methods, requests = requests, stream = stream, timeouts = timeouts,
  refused = refused, tls = tls, unix_socket = unix_socket, deny = deny,
  denied_plain = denied_plain, batch = batch,
}
"""

SIDE = r"""
local time = require("time")
local logger = require("logger")
local env = require("env")

local function sleep(ms)
  local t0 = time.now()
  time.sleep(ms .. "ms")
  return time.now():sub(t0):milliseconds()
end

local function log(order)
  local lg = logger:named("payments"):with({order = order})
  lg:info("charged", {amount = 5})
  lg:warn("slow provider")
  return true
end

local function env_get(name)
  local v, err = env.get(name)
  local _, missing = env.get(name .. "_MISSING_X")
  return {value = v, err = err, missing = missing:kind()}
end

return {sleep = sleep, log = log, env_get = env_get}
"""

ACTIVITIES = [
    ("methods", "web.lua"),
    ("requests", "web.lua"),
    ("stream", "web.lua"),
    ("timeouts", "web.lua"),
    ("refused", "web.lua"),
    ("tls", "web.lua"),
    ("unix_socket", "web.lua"),
    ("deny", "web.lua"),
    ("denied_plain", "web.lua"),
    ("batch", "web.lua"),
]


@pytest.fixture
def app(make_app):
    entries = workflow_entry("wf", "wf.lua", "[funcs]")
    for name, source in ACTIVITIES:
        entries += activity_entry(name, source, name, "[http_client, json]")
    return make_app(entries, {"wf.lua": WF, "web.lua": WEB})


def _config(s: Servers) -> dict[str, Any]:
    return {
        "base": s.base,
        "localhost": f"http://localhost:{s.port}",
        "v6": f"http://[::1]:{s.port}",
        "hostport": f"127.0.0.1:{s.port}",
        "dead": f"http://127.0.0.1:{free_port()}/x",
        "tls": s.tls_base,
        "ca": s.ca_pem,
        "ca_file": s.ca_file,
        "cert": s.client_cert_pem,
        "key": s.client_key_pem,
        "uds": s.uds,
    }


async def run(app: Any, env: Any, *calls: tuple[str, Any]) -> dict[str, Any]:
    return await app.execute(
        env,
        "app:wf",
        [{"fn": fn, "arg": arg} for fn, arg in calls],
        id=f"http-{uuid.uuid4()}",
    )


# --- tests -----------------------------------------------------------------------------
async def test_methods_options_and_uri_helpers(dev_env, app, servers):
    c = _config(servers)
    out = await run(app, dev_env, ("methods", c), ("requests", c))
    assert out["methods"] == ["GET", "POST", "PUT", "DELETE", "PATCH", "PUT"]
    r = out["requests"]
    assert r["trace"] == "t-1" and r["q"] == "a b"
    assert r["auth"] == "Basic YWRhOnMzY3JldA=="  # ada:s3cret
    assert json.loads(r["body"]) == {"amount": 5}
    assert parse_qs(r["form"]) == {"name": ["Ada L"], "n": ["2"]}
    assert r["form_type"] == "application/x-www-form-urlencoded"
    assert r["multipart_type"].startswith("multipart/form-data; boundary=")
    assert 'name="doc"; filename="a.txt"' in r["multipart"]
    assert "Content-Type: text/plain" in r["multipart"] and "hello file" in r["multipart"]
    assert 'name="note"' in r["multipart"]
    assert r["enc"] == "a+b%26c%3Dd%2F%C3%A9" and r["dec"] == "a b&c=d"


async def test_streamed_body(dev_env, app, servers):
    out = (await run(app, dev_env, ("stream", _config(servers))))["stream"]
    assert out["data"] == "part1;part2;part3;part4;part5;"
    assert out["reads"] == 8  # 30 bytes, 4 at a time
    assert out["body_nil"] is True and out["body_size"] == -1 and out["status"] == 200
    assert out["after_end"] is True and out["closed"] is True
    assert out["first"] == "part1;"
    assert (
        out["over"]["kind"] == "Invalid"
        and "max_response_body (12 bytes)" in out["over"]["message"]
    )


async def test_timeouts_and_network_failures_are_internal_and_retryable(dev_env, app, servers):
    c = _config(servers)
    t0 = time.monotonic()
    out = await run(app, dev_env, ("timeouts", c), ("refused", c))
    for key in ("ms", "seconds"):
        e = out["timeouts"][key]
        assert (e["kind"], e["retryable"]) == ("Internal", True), e
        assert "timed out after 0.3s" in e["message"]
    refused = out["timeouts"]["refused"]
    assert (refused["kind"], refused["retryable"]) == ("Internal", True)
    assert "connection refused" in refused["message"] and c["dead"] in refused["message"]
    # returned as nil, err by the activity: the workflow sees the same kind and flag
    wf_err = out["refused"]["error"]
    assert (wf_err["kind"], wf_err["retryable"]) == ("Internal", True), wf_err
    assert "connection refused" in wf_err["message"]
    assert time.monotonic() - t0 < 60  # the two 3 s requests were cut at 0.3 s each


async def test_tls_options(dev_env, app, servers):
    out = (await run(app, dev_env, ("tls", _config(servers))))["tls"]
    assert (
        out["default"]["kind"] == "Internal"
        and "CERTIFICATE_VERIFY_FAILED" in (out["default"]["message"])
    )
    assert out["ca_pem"] == {"status": 200}  # no client certificate sent: client is nil
    assert out["ca_file"] == 200
    assert "CERTIFICATE_VERIFY_FAILED" in out["wrong_name"]["message"]
    assert out["insecure"] == 200
    assert out["client_cert"] == "activity-client"
    assert out["bad_ca"]["kind"] == "Invalid" and "opts.tls.ca" in out["bad_ca"]["message"]


async def test_unix_socket(dev_env, app, servers):
    out = (await run(app, dev_env, ("unix_socket", _config(servers))))["unix_socket"]
    assert out["status"] == 200 and out["via"] == "uds" and out["host"] == "api.local"
    assert out["denied"]["kind"] == "PermissionDenied"
    assert servers.uds_hits.paths.count("/echo") == 1  # the refused request never left
    # a socket that is not there: the message names its path (the OS error does not)
    missing = out["missing"]
    assert (missing["kind"], missing["retryable"]) == ("Internal", True), missing
    assert f"network error (unix socket {servers.uds}.missing): " in missing["message"], missing


async def test_deny_private_refuses_loopback_also_after_a_redirect(dev_env, app, servers):
    c = _config(servers)
    before = list(servers.hits.paths)
    out = await run(app, dev_env, ("deny", c), ("denied_plain", c))
    d = out["deny"]
    for i in ("u1", "u2", "u3"):  # 127.0.0.1, localhost, [::1]
        assert (d[i]["kind"], d[i]["retryable"]) == ("PermissionDenied", False), d[i]
        assert "loopback address" in d[i]["message"] and "deny_private" in d[i]["message"]
    assert d["allowed"] == 200
    assert d["redirect"]["kind"] == "PermissionDenied"
    assert (
        f"after a redirect, refused to connect to localhost:{servers.port}"
        in (d["redirect"]["message"])
    )
    assert d["followed"] == 200
    assert d["batch"] == {"denied": "PermissionDenied", "ok": 200}
    wf_err = out["denied_plain"]["error"]
    assert (wf_err["kind"], wf_err["retryable"]) == ("PermissionDenied", False)
    # what reached the server: the allowed request, the redirect hop (not its target), the
    # unguarded redirect and its target, the batch's unguarded request; nothing refused
    new = servers.hits.paths[len(before) :]
    assert sorted(new) == sorted(["/echo", "/redirect", "/redirect", "/echo", "/echo"]), new


def test_address_classes():
    # the classification alone (no connection is made to any of these)
    assert address_problem("127.0.0.1") == "loopback"
    assert address_problem("::1") == "loopback"
    assert address_problem("::ffff:127.0.0.1") == "loopback"
    assert address_problem("10.1.2.3") == "private"
    assert address_problem("172.16.0.1") == "private"
    assert address_problem("192.168.1.1") == "private"
    assert address_problem("fd00::1") == "private"
    assert address_problem("169.254.169.254") == "link-local"
    assert address_problem("fe80::1%eth0") == "link-local"
    assert address_problem("0.0.0.0") == "unspecified"
    assert address_problem("224.0.0.1") == "multicast"
    assert address_problem("100.64.0.1") == "non-public"
    assert address_problem("8.8.8.8") is None
    assert address_problem("2001:4860:4860::8888") is None


async def test_batch(dev_env, app, servers):
    out = (await run(app, dev_env, ("batch", _config(servers))))["batch"]
    assert out == [200, "b", "Internal", True, "Invalid"]


async def test_time_logger_and_env_in_activities(dev_env, make_app, servers, monkeypatch, caplog):
    monkeypatch.setenv("MOONFLOW_HTTP_TEST_VAR", "v-42")
    entries = workflow_entry("wf", "wf.lua", "[funcs]")
    for name in ("sleep", "log", "env_get"):
        entries += activity_entry(name, "side.lua", name, "[time, logger, env]")
    side_app = make_app(entries, {"wf.lua": WF, "side.lua": SIDE})
    with caplog.at_level(logging.INFO, logger="moonflow.lua"):
        out = await run(
            side_app,
            dev_env,
            ("sleep", 300),
            ("log", "o-7"),
            ("env_get", "MOONFLOW_HTTP_TEST_VAR"),
        )
    assert 290 <= out["sleep"] < 10_000, out["sleep"]  # a real sleep on the activity's thread
    assert out["log"] is True
    lines = [r.getMessage() for r in caplog.records if r.name == "moonflow.lua"]
    charged = [line for line in lines if "charged" in line]
    assert len(charged) == 1, lines
    assert "[app:log]" in charged[0]
    assert charged[0].endswith("charged amount=5 logger=payments order=o-7"), charged[0]  # logfmt
    assert any("slow provider" in line and "order=o-7" in line for line in lines)
    assert out["env_get"] == {"value": "v-42", "missing": "NotFound"}


# --- modules that workflows may not use ------------------------------------------------
@pytest.mark.parametrize("module", ["http_client", "env"])
def test_a_workflow_listing_an_activity_module_is_refused_at_load(make_app, module):
    with pytest.raises(AppError) as info:
        make_app(
            workflow_entry("orders", "orders.lua", f"[funcs, {module}]"),
            {"orders.lua": "return {main = function() return 1 end}\n"},
        )
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert "app:orders" in message and f"module {module!r}" in message
    assert "function.lua activity" in message and "funcs.call" in message


async def test_a_workflow_requiring_http_client_fails_with_one_clear_line(dev_env, make_app):
    src = 'local http_client = require("http_client")\nreturn {main = function() return 1 end}\n'
    app = make_app(workflow_entry("orders", "orders.lua", "[funcs]"), {"orders.lua": src})
    from temporalio.client import WorkflowFailureError

    with pytest.raises(WorkflowFailureError) as info:
        await app.execute(dev_env, "app:orders", id=f"req-{uuid.uuid4()}")
    message = str(info.value.cause)
    assert len(message.splitlines()) == 1, message
    assert 'require("http_client")' in message and "app:orders" in message
    assert "function.lua activity" in message and "funcs.call" in message


def test_check_names_the_module_entry_and_fix(tmp_path: Path):
    import subprocess
    import sys

    (tmp_path / "_index.yaml").write_text(
        app_index(
            "q",
            "- name: fetch\n  kind: workflow.lua\n  source: file://fetch.lua\n"
            "  method: main\n  modules: [funcs]\n"
            "  meta: {temporal: {workflow: {worker: app:worker}}}\n",
        )
    )
    (tmp_path / "fetch.lua").write_text(
        'local http_client = require("http_client")\nreturn {main = function() return 1 end}\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    warning = [
        line
        for line in proc.stderr.splitlines() + proc.stdout.splitlines()
        if "http_client" in line
    ]
    assert len(warning) == 1, proc.stdout + proc.stderr
    assert "fetch.lua:1" in warning[0] and "app:fetch" in warning[0]
    assert "function.lua activity" in warning[0]
