"""Sending ``http_client`` requests: the run's clients, one request, a streamed body.

Nothing here touches the Lua state, so :func:`send` may run on the batch's pool threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import httpx

from .options import Prepared, Route, ssl_context
from .policy import AddressDenied, GuardedTransport


@dataclass
class Failure:
    kind: str
    message: str
    retryable: bool


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    cookies: dict[str, str]
    url: str
    content: bytes | None  # None: the body is read through ``stream``
    stream: Stream | None = None


class Clients:
    """The httpx clients of one run, one per :class:`~._options.Route` (TLS settings, unix
    socket, address policy), made on first use and closed with the run."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self._clients: dict[Route, httpx.Client] = {}
        self._lock = threading.Lock()  # request_batch asks from several threads

    def get(self, route: Route) -> httpx.Client:
        with self._lock:
            client = self._clients.get(route)
            if client is None:
                client = self._clients[route] = self._make(route)
            return client

    def _make(self, route: Route) -> httpx.Client:
        ctx = ssl_context(route.tls)
        common: dict[str, Any] = {"follow_redirects": True, "timeout": self.default_timeout}
        if route.deny_private:
            guarded = GuardedTransport(ctx, route.allow_private)
            return httpx.Client(transport=guarded, trust_env=False, **common)
        if route.unix_socket is not None:
            uds = httpx.HTTPTransport(verify=ctx, uds=route.unix_socket)
            return httpx.Client(transport=uds, **common)
        return httpx.Client(verify=ctx, **common)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()


class Stream:
    """A response body read piece by piece (``opts.stream = true``).

    ``read(n)`` -> up to ``n`` bytes (``b""`` at the end); raises :class:`StreamError` on a
    network failure or when ``max_body`` is passed. Not thread-safe (one activity's thread).
    """

    def __init__(self, resp: httpx.Response, label: str, max_body: int | None) -> None:
        self._resp = resp
        self._chunks = resp.iter_bytes()
        self._buffer = b""
        self._read = 0
        self.label = label
        self.max_body = max_body
        self.closed = False

    def read(self, n: int) -> bytes:
        if self.closed:
            return b""
        try:
            while len(self._buffer) < n:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._read += len(chunk)
                if self.max_body is not None and self._read > self.max_body:
                    self.close()
                    raise StreamError(
                        Failure(
                            "Invalid",
                            f"{self.label}: response body larger than max_response_body "
                            f"({self.max_body} bytes)",
                            False,
                        )
                    )
                self._buffer += chunk
        except httpx.TimeoutException:
            self.close()
            raise StreamError(
                Failure("Internal", f"{self.label}: timed out reading the body", True)
            ) from None
        except httpx.TransportError as e:
            self.close()
            raise StreamError(
                Failure("Internal", f"{self.label}: network error: {_reason(e)}", True)
            ) from None
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        if not out:
            self.close()
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._resp.close()


class StreamError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def send(client: httpx.Client, p: Prepared) -> Result | Failure:
    """Perform one request; with ``p.stream`` the body is left open in ``Result.stream``."""
    try:
        kwargs = dict(p.kwargs)
        auth = kwargs.pop("auth", None)  # send() takes it, build_request() does not
        request = client.build_request(p.method, p.url, timeout=p.timeout, **kwargs)
        resp = client.send(request, stream=True, auth=auth)
    except httpx.TimeoutException:
        return Failure("Internal", f"{p.label}: timed out after {p.timeout:g}s", True)
    except httpx.TooManyRedirects as e:
        return Failure("Internal", f"{p.label}: {e}", False)
    except AddressDenied as e:
        hop = "" if e.host == p.url.host.lower() else "after a redirect, "
        return Failure("PermissionDenied", f"{p.label}: {hop}{e}", False)
    except httpx.TransportError as e:
        # a unix socket's errors (ENOENT, ECONNREFUSED) do not name the path: say which
        via = "" if p.route.unix_socket is None else f" (unix socket {p.route.unix_socket})"
        return Failure("Internal", f"{p.label}: network error{via}: {_reason(e)}", True)
    except Exception as e:  # noqa: BLE001 - anything else still becomes nil, err
        return Failure("Internal", f"{p.label}: {type(e).__name__}: {e}", False)
    head = (resp.status_code, resp.headers.multi_items(), dict(resp.cookies.items()), str(resp.url))
    if p.stream:
        return Result(*head, content=None, stream=Stream(resp, p.label, p.max_body))
    body = Stream(resp, p.label, p.max_body)
    try:
        chunks = []
        while piece := body.read(1 << 16):
            chunks.append(piece)
    except StreamError as e:
        return e.failure
    finally:
        body.close()
    return Result(*head, content=b"".join(chunks))


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text
