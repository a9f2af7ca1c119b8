"""What went wrong when connecting to a Temporal server, in one line with the key to fix.

The SDK reports a failed ``Client.connect`` as a ``RuntimeError`` whose text is a Rust debug
dump (``tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error:
InvalidCertificate(UnknownIssuer) }))``). :func:`diagnose` reads it, together with what the
client was set up with (TLS or not, a CA file, a server name, a client certificate, an API key),
and says what failed: the server's certificate is not trusted or not valid for the name, the
port does not speak TLS or expects it, the server wants a client certificate or rejected it,
the certificate and key do not match, the API key was refused, or what answers is not Temporal.

Only "nothing answers" failures (refused, unknown host, timed out) are *unreachable*: those may
be retried (a server still starting) and get the "start a server" advice. The others come from
a server that answered, so retrying or starting another one would not help.

The texts were collected against a real dev server behind a TLS front end on loopback
(tests/integration/test_connection_errors.py); temporalio 1.x with rustls.

Some texts do not tell the cause apart: a connection closed at once (a TLS port reached
without TLS, a server wanting a client certificate, or something that is not Temporal), or a
bad HTTP/2 frame (which, by timing, the same HTTP/1.1 server gives instead of a closed
connection). For those :func:`refine` asks the port itself once (:func:`probe`): a TLS
handshake with the client's own settings, then an HTTP/1.1 request, and reads what comes back
(a TLS alert asking for a client certificate, an HTTP/2 frame, an ``HTTP/1.x`` status line,
nothing). :func:`pem_problem` checks a ``tls.ca_file`` or ``auth.cert_file`` holds a
certificate before connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setup:
    """How the client tried to connect (what the advice may refer to).

    Attributes:
        tls: TLS was on.
        ca_file: the ``tls.ca_file`` given, or None (the system's roots were used).
        server_name: the ``tls.server_name`` given, or None.
        client_cert: where the client certificate came from (``"auth.cert_file"``,
            ``"auth.cert_pem"``), or None without one.
        api_key: an API key was sent.
        namespace: the namespace asked for.
    """

    tls: bool
    ca_file: str | None = None
    server_name: str | None = None
    client_cert: str | None = None
    api_key: bool = False
    namespace: str = "default"


@dataclass(frozen=True)
class Diagnosis:
    """``reason``: one line, what failed and how to fix it; ``reachable``: a server answered."""

    reason: str
    reachable: bool
    #: the text fits several causes: :func:`refine` asks the port
    ambiguous: bool = False


_OS_MESSAGE = re.compile(r'message: "([^"]+)"')
_STATUS = re.compile(r'Status \{ code: (\w+), message: "((?:[^"\\]|\\.)*)"')
_CERT_ERROR = re.compile(r"InvalidCertificate\((\w+)")
_ALERT = re.compile(r"AlertReceived\((\w+)\)")
_EXPECTED = re.compile(r'expected: (?:DnsName|IpAddress)\("?([^")]+?)"?\)')
_PRESENTED = re.compile(r'(?:DnsName|IpAddress)\(\\*"?([^"\\)]+)')

_UNREACHABLE_STATUS = {"Unavailable"}

#: How a connection the server dropped right after accepting it shows (which one depends on
#: timing: the same server gives any of them).
_CLOSED_SIGNS = (
    "BrokenPipe",
    "UnexpectedEof",
    "ConnectionReset",
    "close_notify",
    '"connection closed"',
    "Canceled, ",
)


def short_text(text: str) -> str:
    """An SDK error text reduced to something short (the OS message when there is one)."""
    m = _OS_MESSAGE.search(text)
    if m:
        return m.group(1)
    text = " ".join(text.removeprefix("Failed client connect: ").split())
    return text if len(text) <= 200 else text[:197] + "..."


def _certificate_problem(kind: str, text: str, setup: Setup) -> str:
    if kind == "UnknownIssuer":
        if setup.ca_file:
            return (
                "the server's certificate is not signed by the CA in tls.ca_file "
                f"({setup.ca_file}): set tls.ca_file to the CA that signed it"
            )
        return (
            "the server's certificate is not trusted (signed by an unknown CA): set "
            "tls.ca_file to the CA that signed it"
        )
    if kind.startswith("NotValidForName"):
        expected = _EXPECTED.search(text)
        presented_part = text.partition("presented:")[2]
        names = list(dict.fromkeys(_PRESENTED.findall(presented_part)))
        wanted = expected.group(1) if expected else setup.server_name or "the address"
        listed = f" (it names {', '.join(names)})" if names else ""
        fix = (
            "set tls.server_name to a name the certificate has"
            if setup.server_name
            else "connect by a name the certificate has, or set tls.server_name to one"
        )
        return f"the server's certificate is not valid for {wanted!r}{listed}: {fix}"
    if kind == "Expired":
        return "the server's certificate has expired: the server needs a renewed certificate"
    if kind == "NotValidYet":
        return "the server's certificate is not valid yet: check the clocks of both machines"
    return (
        f"the server's certificate was rejected ({kind}): check the server's certificate and "
        "tls.ca_file"
    )


def _closed(setup: Setup) -> str:
    """The server dropped the connection right after it was made."""
    if not setup.tls:
        return (
            "the server closed the connection at once: it probably expects TLS (set "
            "tls.enabled: true, and tls.ca_file to its CA) or is not a Temporal server (check "
            "the address and port)"
        )
    if setup.client_cert:
        return (
            "the server closed the TLS connection at once: it did not accept the client "
            f"certificate ({setup.client_cert} is probably not signed by a CA the server trusts)"
        )
    return (
        "the server closed the TLS connection at once: it probably requires a client "
        "certificate; set auth.type: mtls with auth.cert_file and auth.key_file"
    )


def _alert(alert: str, setup: Setup) -> str:
    if alert in ("CertificateRequired",) or (alert == "HandshakeFailure" and not setup.client_cert):
        return (
            "the server requires a client certificate: set auth.type: mtls with auth.cert_file "
            "and auth.key_file"
        )
    if alert in ("UnknownCA", "BadCertificate", "CertificateUnknown", "DecryptError"):
        source = setup.client_cert or "the client certificate"
        return (
            f"the server did not accept the client certificate ({alert}): {source} must be "
            "signed by a CA the server trusts, with auth.key_file its own key"
        )
    return f"the server ended the TLS handshake ({alert}): check the tls and auth settings"


def _status(code: str, message: str, setup: Setup) -> Diagnosis | None:
    message = message.replace('\\"', '"')
    if code == "Unauthenticated":
        if setup.api_key:
            reason = (
                f"the server rejected the API key ({message}): check auth.api_key (the key of "
                "this namespace, not expired or revoked)"
            )
        elif setup.client_cert:
            reason = f"the server rejected the client certificate ({message}): check auth"
        else:
            reason = (
                f"the server requires authentication ({message}): set auth.type api_key (with "
                "auth.api_key) or mtls"
            )
        return Diagnosis(reason, True)
    if code == "PermissionDenied":
        return Diagnosis(
            f"the server refused access ({message}): the credentials in auth have no access to "
            f"namespace {setup.namespace!r}",
            True,
        )
    if code == "Unimplemented":
        return Diagnosis(
            f"what answers there is a gRPC server but not Temporal ({message}): check the "
            "address and port",
            True,
        )
    if code == "Internal" and ("h2 protocol error" in message or "http2" in message.lower()):
        return Diagnosis(_not_temporal(message, setup), True, ambiguous=True)
    return None


def _not_temporal(detail: str, setup: Setup) -> str:
    return f"what answers there is not a Temporal server ({detail}): check the address and port" + (
        "" if setup.tls else " (or set tls.enabled: true if it is a TLS port)"
    )


def diagnose(text: str, setup: Setup) -> Diagnosis:
    """Say what a failed connect's error ``text`` means for a client set up as ``setup``."""
    cert = _CERT_ERROR.search(text)
    if cert:
        kind = cert.group(1)
        if kind == "NotValidForNameContext" or kind == "NotValidForName":
            kind = "NotValidForName"
        return Diagnosis(_certificate_problem(kind, text, setup), True)
    if "InconsistentKeys" in text or "KeyMismatch" in text:
        source = "auth.key_pem" if setup.client_cert == "auth.cert_pem" else "auth.key_file"
        return Diagnosis(
            f"the client certificate and key do not match: {source} must be the private key "
            f"of {setup.client_cert or 'auth.cert_file'}",
            True,
        )
    if "InvalidContentType" in text or "CorruptMessage" in text or "InvalidMessage" in text:
        return Diagnosis(
            "the server does not speak TLS on this port (a plaintext port?): set tls.enabled: "
            "false, or use the server's TLS port",
            True,
        )
    alert = _ALERT.search(text)
    if alert:
        return Diagnosis(_alert(alert.group(1), setup), True)
    status = _STATUS.search(text)
    after_connect = "call error after connection" in text
    if after_connect and any(sign in text for sign in _CLOSED_SIGNS):
        return Diagnosis(_closed(setup), True, ambiguous=True)
    if status:
        found = _status(status.group(1), status.group(2), setup)
        if found is not None:
            return found
        if status.group(1) not in _UNREACHABLE_STATUS and after_connect:
            return Diagnosis(
                f"the server answered {status.group(1)} ({status.group(2)}): check the address, "
                "tls and auth settings",
                True,
            )
    if "failed to lookup address" in text or "Name or service not known" in text:
        return Diagnosis("unknown host (the name does not resolve)", False)
    return Diagnosis(short_text(text), False)


# --------------------------------------------------------------------------------------------
# Before connecting: does a PEM file hold what its key needs?

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def pem_problem(data: bytes, what: str, shown: str) -> str | None:
    """One line saying that ``data`` (the content of ``what``, e.g. ``tls.ca_file``, shown as
    ``shown``) holds no PEM certificate, or None when it holds one.

    The SDK takes certificates as PEM only; without this check a private key given as
    ``tls.ca_file`` reaches the TLS handshake and is reported as an untrusted server.
    """
    labels = [m.decode() for m in _PEM_LABEL.findall(data)]
    if "CERTIFICATE" in labels or "TRUSTED CERTIFICATE" in labels:
        return None
    if any(label.endswith("PRIVATE KEY") for label in labels):
        holds = "a private key"
    elif "CERTIFICATE REQUEST" in labels or "NEW CERTIFICATE REQUEST" in labels:
        holds = "a certificate request"
    elif labels:
        holds = "PEM blocks of kind " + ", ".join(dict.fromkeys(labels))
    else:
        holds = "no PEM block"
    return (
        f"{what} {shown!r} holds no certificate (it holds {holds}): give the PEM file of "
        + ("the CA's certificate" if what == "tls.ca_file" else "the client certificate")
        + " (-----BEGIN CERTIFICATE-----)"
    )


# --------------------------------------------------------------------------------------------
# After an ambiguous failure: ask the port once.

#: What :func:`probe` found.
CERT_REQUIRED = "client certificate required"
CERT_REJECTED = "client certificate rejected"
SPEAKS_TLS = "speaks TLS"  # a TLS record (an alert) answered the plaintext preface
HTTP2 = "HTTP/2"
CLOSED = "closed"
SILENT = "silent"
OTHER = "other"
HANDSHAKE_FAILED = "handshake failed"

#: An HTTP/1.1 request: an HTTP/1 server answers with a status line (an HTTP/2-only server
#: with a GOAWAY frame, or by closing; gRPC servers are HTTP/2 only).
_HTTP1_REQUEST = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
_HTTP1 = re.compile(rb"^HTTP/(1\.[01])")
_REQUIRED_ALERTS = ("CERTIFICATE_REQUIRED", "certificate required", "HANDSHAKE_FAILURE")
_REJECTED_ALERTS = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR")


def _client_context(tls: Any, folder: Path, seen: list[str]) -> ssl.SSLContext:
    """A Python TLS context set up as the SDK's ``TLSConfig`` ``tls`` (CA, client cert);
    the handshake messages the server sends are appended to ``seen`` by name."""
    ca = getattr(tls, "server_root_ca_cert", None)
    ctx = ssl.create_default_context(cadata=ca.decode("utf-8", "replace") if ca else None)
    ctx.set_alpn_protocols(["h2"])

    def note(_conn: Any, direction: str, _version: Any, _kind: Any, msg: Any, _data: Any) -> None:
        if direction == "read":
            seen.append(getattr(msg, "name", str(msg)))

    # CPython's message hook (the one way to see whether the server sent a
    # CertificateRequest: some servers close without the alert that would say so)
    with contextlib.suppress(AttributeError, TypeError):
        ctx._msg_callback = note  # type: ignore[attr-defined]  # noqa: SLF001
    cert, key = getattr(tls, "client_cert", None), getattr(tls, "client_private_key", None)
    if cert and key:
        (folder / "cert.pem").write_bytes(cert)
        (folder / "key.pem").write_bytes(key)
        ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return ctx


def _ssl_verdict(exc: ssl.SSLError) -> str:
    text = f"{exc.reason} {exc}"
    if any(a in text for a in _REQUIRED_ALERTS):
        return CERT_REQUIRED
    if any(a in text for a in _REJECTED_ALERTS):
        return CERT_REJECTED
    return HANDSHAKE_FAILED


def _closed_after(asked: bool, tls: Any) -> tuple[str, str] | None:
    """A server that asked for a client certificate in the handshake and then closed the
    connection without a word wanted one (none sent) or refused the one it got."""
    if not asked:
        return None
    if getattr(tls, "client_cert", None):
        return CERT_REJECTED, "it closed the connection after the handshake that sent it"
    return CERT_REQUIRED, "it asked for one"


async def probe(address: str, tls: Any, *, timeout: float = 3.0) -> tuple[str, str]:
    """Ask ``address`` once what it speaks: a TLS handshake set up as ``tls`` (an SDK
    ``TLSConfig``, or None/False for plaintext), then an HTTP/1.1 request.

    Args:
        address: ``host:port``.
        tls: the SDK TLS settings the connect used (CA, server name, client certificate), or
            a falsy value for plaintext.
        timeout: seconds for each step (connect, handshake, first answer).

    Returns:
        ``(verdict, detail)``: verdict is one of :data:`CERT_REQUIRED`, :data:`CERT_REJECTED`,
        :data:`HANDSHAKE_FAILED` (TLS), :data:`SPEAKS_TLS` (plaintext answered by a TLS alert),
        :data:`HTTP2` (an HTTP/2 frame came back), ``"HTTP/1.x"`` (an HTTP/1 status line),
        :data:`CLOSED`, :data:`SILENT` (nothing within ``timeout``) or :data:`OTHER`; detail is
        a few words (the TLS error). Never raises: a failure to connect is :data:`CLOSED`.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    seen: list[str] = []
    with tempfile.TemporaryDirectory(prefix="moonflow-probe-") as folder:
        ctx = _client_context(tls, Path(folder), seen) if tls else None
        name = (getattr(tls, "domain", None) or host) if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=name), timeout
            )
        except ssl.SSLError as exc:
            return _ssl_verdict(exc), str(exc.reason or exc)
        except (OSError, TimeoutError, ValueError) as exc:
            return CLOSED, str(exc)
    asked = "CERTIFICATE_REQUEST" in seen
    try:
        writer.write(_HTTP1_REQUEST % host.encode("ascii", "replace"))
        await writer.drain()
        first = await asyncio.wait_for(reader.read(64), timeout)
    except ssl.SSLError as exc:
        # TLS 1.3: a missing or refused client certificate is an alert after the handshake
        return _ssl_verdict(exc), str(exc.reason or exc)
    except TimeoutError:
        return SILENT, ""
    except OSError as exc:
        return _closed_after(asked, tls) or (CLOSED, str(exc))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    if not first:
        return _closed_after(asked, tls) or (CLOSED, "")
    http1 = _HTTP1.match(first)
    if http1:
        return f"HTTP/{http1.group(1).decode()}", ""
    if len(first) >= 9 and first[3] in (0x4, 0x7):  # an HTTP/2 SETTINGS or GOAWAY frame
        return HTTP2, ""
    if not tls and first[:1] == b"\x15" and first[1:2] == b"\x03":  # a TLS alert record
        return SPEAKS_TLS, ""
    return OTHER, ""


async def refine(found: Diagnosis, address: str, tls: Any, setup: Setup) -> Diagnosis:
    """An :attr:`Diagnosis.ambiguous` diagnosis made precise by :func:`probe`; others as
    they are. The same server gives the same answer however the connect failed."""
    if not found.ambiguous:
        return found
    try:
        verdict, detail = await probe(address, tls if setup.tls else None)
    except Exception:  # noqa: BLE001 - the probe only adds precision: keep what the SDK said
        return replace(found, ambiguous=False)
    if verdict.startswith("HTTP/1"):
        reason = f"not a Temporal server (it answered {verdict}): check the address and port"
    elif setup.tls and verdict == CERT_REQUIRED and not setup.client_cert:
        reason = (
            "the server requires a client certificate: set auth.type: mtls with "
            "auth.cert_file and auth.key_file"
        )
    elif setup.tls and verdict in (CERT_REQUIRED, CERT_REJECTED):
        reason = (
            f"the server did not accept the client certificate ({detail}): "
            f"{setup.client_cert or 'auth.cert_file'} must be signed by a CA the server trusts"
        )
    elif setup.tls and verdict in (HTTP2, CLOSED, SILENT, OTHER):
        what = {
            HTTP2: "it speaks HTTP/2, but not as Temporal does",
            CLOSED: "then it closed the connection",
            SILENT: "then it did not answer",
            OTHER: "then it answered something that is not HTTP",
        }[verdict]
        asked = (
            "accepted the client certificate"
            if setup.client_cert
            else "asked for no client certificate"
        )
        reason = (
            f"not a Temporal server (the TLS handshake completed and the server {asked}; "
            f"{what}): check the address and port"
        )
    elif not setup.tls and verdict == SPEAKS_TLS:
        reason = (
            "the server speaks TLS on this port: set tls.enabled: true (and tls.ca_file to its CA)"
        )
    else:
        return replace(found, ambiguous=False)
    return Diagnosis(reason, True)
