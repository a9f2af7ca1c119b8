"""Loopback front ends for connection-error tests (issue 17 item 7).

* :func:`make_pki`: a CA, a server certificate for ``localhost`` / ``127.0.0.1``, a client
  certificate signed by the same CA, and a "foreign" CA with its own client certificate, made
  with ``cryptography`` and written as PEM files.
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
import datetime as dt
import ipaddress
import ssl
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Pki:
    """PEM file paths."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    foreign_cert: Path
    foreign_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        usage = x509.oid.ExtendedKeyUsageOID
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([usage.SERVER_AUTH if server else usage.CLIENT_AUTH]),
            critical=False,
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        assert issuer is not None
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """Write a CA, server and client certificates (and a foreign CA + client) under
    ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_key = _key(), _key()
    ca = _cert("moonflow test CA", ca_key, None, ca_key, ca=True)
    other = _cert("some other CA", other_key, None, other_key, ca=True)
    server_key, client_key, foreign_key = _key(), _key(), _key()
    server = _cert("localhost", server_key, ca, ca_key, server=True)
    client = _cert("moonflow client", client_key, ca, ca_key)
    foreign = _cert("foreign client", foreign_key, other, other_key)
    d = directory
    return Pki(
        ca=_write_cert(d / "ca.pem", ca),
        server_cert=_write_cert(d / "server.pem", server),
        server_key=_write_key(d / "server.key", server_key),
        client_cert=_write_cert(d / "client.pem", client),
        client_key=_write_key(d / "client.key", client_key),
        other_ca=_write_cert(d / "other-ca.pem", other),
        foreign_cert=_write_cert(d / "foreign.pem", foreign),
        foreign_key=_write_key(d / "foreign.key", foreign_key),
    )


def server_context(pki: Pki, *, require_client_cert: bool = False) -> ssl.SSLContext:
    """A TLS server context with the test server certificate (ALPN h2, as gRPC expects)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.set_alpn_protocols(["h2"])
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.ca)
    return ctx


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
            server_context(pki, require_client_cert=require_client_cert)
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
