"""A loopback HTTP server that counts requests per path: Lua activities report each attempt to it
(``http_client.get(url .. "/" .. key)``; the body of the answer is the attempt number), so a
test sees exactly how many times Temporal ran an activity.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
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

    def __init__(self, server: ThreadingHTTPServer, hits: Counter[str]) -> None:
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.hits = hits


@contextlib.contextmanager
def hit_counter() -> Iterator[HitCounter]:
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            with lock:
                hits[self.path.lstrip("/")] += 1
                n = hits[self.path.lstrip("/")]
            body = str(n).encode()
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
        yield HitCounter(server, hits)
    finally:
        server.shutdown()
        server.server_close()
