"""A ``tls.ca_file`` / ``auth.cert_file`` must hold a PEM certificate: anything else is named
before connecting (issue 17 review item 3)."""

from __future__ import annotations

import pytest

from moonflow.client._connect_errors import pem_problem

CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_a_certificate_passes():
    assert pem_problem(CERT, "tls.ca_file", "ca.pem") is None
    assert pem_problem(b"# bundle\n" + CERT + CERT, "tls.ca_file", "ca.pem") is None


@pytest.mark.parametrize(
    ("data", "holds"),
    [
        (b"-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----\n", "a private key"),
        (b"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n", "a private key"),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nMII\n-----END CERTIFICATE REQUEST-----\n",
            "a certificate request",
        ),
        (
            b"-----BEGIN PUBLIC KEY-----\nMFk\n-----END PUBLIC KEY-----\n",
            "PEM blocks of kind PUBLIC KEY",
        ),
        (b"\x30\x82\x01\x0a binary DER", "no PEM block"),
    ],
)
def test_anything_else_is_named(data: bytes, holds: str):
    assert pem_problem(data, "tls.ca_file", "certs/ca.key") == (
        f"tls.ca_file 'certs/ca.key' holds no certificate (it holds {holds}): give the PEM "
        "file of the CA's certificate (-----BEGIN CERTIFICATE-----)"
    )
    assert "the client certificate" in (pem_problem(data, "auth.cert_file", "c.pem") or "")
