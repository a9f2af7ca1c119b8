"""Test certificates made with ``cryptography``, for loopback TLS servers in tests.

:func:`make_pki` writes a CA, a server certificate (for ``localhost`` / ``127.0.0.1`` unless
asked otherwise), a client certificate signed by the same CA, and a "foreign" CA with its own
client certificate, as PEM files; :func:`server_context` makes a server's ``ssl`` context from
them. Used by the connection-error front ends (``tests/integration/_tls_front.py``), the
``http_client`` TLS tests and the unit tests that need real PEM files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
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
    server_names: tuple[str, ...] = (),
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
            x509.ExtendedKeyUsage([usage.SERVER_AUTH if server_names else usage.CLIENT_AUTH]),
            critical=False,
        )
        if server_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                critical=False,
            )
        assert issuer is not None
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_pki(
    directory: Path,
    *,
    server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    client_name: str = "moonflow client",
) -> Pki:
    """Write a CA, server and client certificates (and a foreign CA + client) under
    ``directory`` as PEM files; returns their paths.

    Args:
        server_names: the names (DNS names or IP addresses) the server certificate is valid
            for; its common name is the first.
        client_name: the common name of the client certificate the CA signs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_key = _key(), _key()
    ca = _cert("moonflow test CA", ca_key, None, ca_key, ca=True)
    other = _cert("some other CA", other_key, None, other_key, ca=True)
    server_key, client_key, foreign_key = _key(), _key(), _key()
    server = _cert(server_names[0], server_key, ca, ca_key, server_names=server_names)
    client = _cert(client_name, client_key, ca, ca_key)
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


def server_context(
    pki: Pki, *, client_cert: ssl.VerifyMode = ssl.CERT_NONE, alpn: tuple[str, ...] = ("h2",)
) -> ssl.SSLContext:
    """A TLS server context with the test server certificate.

    Args:
        client_cert: ``ssl.CERT_NONE`` (none asked for), ``CERT_OPTIONAL`` (checked against the
            CA when the client sends one) or ``CERT_REQUIRED``.
        alpn: the protocols offered in ALPN (``h2`` as gRPC expects; ``()`` for none).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if client_cert != ssl.CERT_NONE:
        ctx.verify_mode = client_cert
        ctx.load_verify_locations(pki.ca)
    return ctx
