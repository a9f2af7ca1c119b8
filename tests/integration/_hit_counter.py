"""Loopback HTTP servers for tests: ``loopback_http`` answers each GET as a test function says;
``hit_counter`` counts requests per path: Lua activities report each attempt to it
(``http_client.get(url .. "/" .. key)``; the body of the answer is the attempt number), so a
test sees exactly how many times Temporal ran an activity.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Lua for an activity file: ``attempt(url, key)`` -> this attempt's number (1, 2, ...).
ATTEMPT_LUA = """\
local http_client = require("http_client")
local function attempt(url, key)
  local resp, err = http_client.get(url .. "/" .. key)
  if not resp then error("hit counter unreachable: " .. tostring(err)) end
  return tonumber(resp.body)
end
"""


class HitCounter:
    """``hits[path]``: requests seen per path (without the leading ``/``); ``url`` to give Lua."""

    def __init__(self, url: str, hits: Counter[str]) -> None:
        self.url = url
        self.hits = hits


@contextlib.contextmanager
def loopback_http(answer: Callable[[BaseHTTPRequestHandler], bytes | None]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 (a free port) for the ``with`` block; yields its URL.

    Each GET is handed to ``answer(request)`` (in the server's threads): bytes are sent as a 200
    answer's body; ``None`` sends nothing (``answer`` dealt with the connection itself, e.g.
    dropped it).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = answer(self)
            if body is None:
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def hit_counter() -> Iterator[HitCounter]:
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    def count(request: BaseHTTPRequestHandler) -> bytes:
        with lock:
            hits[request.path.lstrip("/")] += 1
            return str(hits[request.path.lstrip("/")]).encode()

    with loopback_http(count) as url:
        yield HitCounter(url, hits)
