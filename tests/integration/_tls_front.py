"""Loopback front ends for connection-error tests (issue 17 item 7).

Certificates come from ``tests/_tls.py`` (:func:`~tests._tls.make_pki`).

* :class:`Front`: a TCP listener on 127.0.0.1 run on a thread of its own (so blocking
  subprocess calls can use it), serving one of:

  - ``tls_proxy``: terminates TLS (optionally requiring a client certificate from the CA) and
    forwards the bytes to a real Temporal dev server: what a TLS-terminating load balancer does;
  - ``unauthorized``: TLS, then answers every gRPC call with status 16 ``Request
    unauthorized.``, as Temporal Cloud does for a wrong API key (the dev server has no auth);
  - ``http``: a plain HTTP/1.1 server (something that is not Temporal);
  - ``tls_close``: TLS (ALPN h2, no client certificate asked for), then it reads a little and
    closes the connection, as ``openssl s_server -alpn h2`` does: a TLS port that is not
    Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import threading

from tests._tls import Pki, server_context

# --------------------------------------------------------------------------------------------
# Minimal HTTP/2: enough to answer every gRPC call with a trailers-only error.

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _SETTINGS, _PING, _GOAWAY = 0x0, 0x1, 0x4, 0x6, 0x7


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _literal(name: str, value: str) -> bytes:
    """HPACK 'literal header field without indexing, new name', no Huffman (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def _grpc_error(status: int, message: str) -> bytes:
    return b"".join(
        _literal(k, v)
        for k, v in (
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", str(status)),
            ("grpc-message", message),
        )
    )


async def _answer_unauthorized(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if await reader.readexactly(len(_PREFACE)) != _PREFACE:
        return
    writer.write(_frame(_SETTINGS, 0, 0))
    block = _grpc_error(16, "Request unauthorized.")
    while True:
        head = await reader.readexactly(9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        payload = await reader.readexactly(length)
        if kind == _SETTINGS and not flags & 0x1:
            writer.write(_frame(_SETTINGS, 0x1, 0))
        elif kind == _PING and not flags & 0x1:
            writer.write(_frame(_PING, 0x1, 0, payload))
        elif kind == _HEADERS:
            # END_STREAM | END_HEADERS: a trailers-only response
            writer.write(_frame(_HEADERS, 0x5, stream, block))
        elif kind == _GOAWAY:
            return
        await writer.drain()


# --------------------------------------------------------------------------------------------
# The listener


class Front:
    """A loopback listener on its own thread; ``port`` is where it listens.

    Args:
        mode: ``"tls_proxy"`` (needs ``backend``), ``"unauthorized"``, ``"http"`` or
            ``"tls_close"``.
        pki: certificates for the TLS modes.
        backend: ``(host, port)`` a ``tls_proxy`` forwards to.
        require_client_cert: a ``tls_proxy`` that asks for a client certificate from the CA.
    """

    def __init__(
        self,
        mode: str,
        pki: Pki | None = None,
        backend: tuple[str, int] | None = None,
        *,
        require_client_cert: bool = False,
    ) -> None:
        self.mode = mode
        self.backend = backend
        self.ssl = (
            server_context(
                pki, client_cert=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
            )
            if mode != "http" and pki is not None
            else None
        )
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Front:
        self._thread.start()
        assert self._ready.wait(10), "front end did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        # TLS handshakes that fail on purpose are logged by asyncio: keep the test output quiet.
        self._loop.set_exception_handler(lambda _loop, _context: None)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.mode == "tls_proxy":
                assert self.backend is not None
                up_reader, up_writer = await asyncio.open_connection(*self.backend)
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            elif self.mode == "unauthorized":
                await _answer_unauthorized(reader, writer)
            elif self.mode == "tls_close":
                await reader.read(1)
            else:
                await reader.readuntil(b"\r\n\r\n")
                body = b"<html>not Temporal</html>"
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                await reader.read()  # keep-alive, as HTTP servers do: the client closes
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
