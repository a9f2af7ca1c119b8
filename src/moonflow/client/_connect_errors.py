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
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
        return Diagnosis(_not_temporal(message, setup), True)
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
        return Diagnosis(_closed(setup), True)
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
