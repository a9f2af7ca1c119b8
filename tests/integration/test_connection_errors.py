"""Connection errors name the real cause and the key to fix, in one line (issue 17 item 7).

A real dev server sits behind a TLS-terminating front end on loopback (tests/integration/
_tls_front.py, certificates from tests/_tls.py); each bad setting of the app's
``temporal.client`` entry is tried against it, in process and through the real CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from moonflow.client import ConnectionFailed, connect_entry
from moonflow.devserver import DevServer, open_server
from moonflow.registry import load_app
from tests._tls import Pki, make_pki
from tests.integration._tls_front import Front
from tests.integration.test_cli_basic import SRC, _one_json_line, write_tiny_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture(scope="module")
async def dev() -> AsyncIterator[DevServer]:
    async with DevServer(ui=False) as server:
        yield server


@pytest.fixture(scope="module")
def fronts(pki: Pki, dev: DevServer) -> Iterator[dict[str, int]]:
    """Ports: ``plain`` (the dev server itself), ``tls``, ``mtls`` (client certificate
    required), ``unauthorized`` (rejects every call as a wrong API key), ``http``,
    ``tls_close`` (TLS, then closes: not Temporal)."""
    backend = ("127.0.0.1", dev.port)
    with (
        Front("tls_proxy", pki, backend) as tls,
        Front("tls_proxy", pki, backend, require_client_cert=True) as mtls,
        Front("unauthorized", pki) as unauthorized,
        Front("http") as http,
        Front("tls_close", pki) as tls_close,
    ):
        yield {
            "plain": dev.port,
            "tls": tls.port,
            "mtls": mtls.port,
            "unauthorized": unauthorized.port,
            "http": http.port,
            "tls_close": tls_close.port,
        }


def _app(root: Path, port: int, block: str) -> Path:
    """The tiny app with its client at 127.0.0.1:PORT and ``block`` (YAML at entry level)."""
    write_tiny_app(root, port)
    yaml = root / "app.yaml"
    lines = "".join(f"    {line}\n" for line in block.strip("\n").splitlines())
    text = yaml.read_text().replace(
        '    namespace: "default"\n', '    namespace: "default"\n' + lines, 1
    )
    yaml.write_text(text)
    return root


def _mtls(pki: Pki, cert: Path, key: Path) -> str:
    return f"tls:\n  ca_file: {pki.ca}\nauth:\n  type: mtls\n  cert_file: {cert}\n  key_file: {key}"


def _cases(pki: Pki) -> dict[str, tuple[str, str, str]]:
    """name -> (front, block, expected fragment)."""
    return {
        "missing CA": (
            "tls",
            "tls:\n  enabled: true",
            "the server's certificate is not trusted (signed by an unknown CA): set tls.ca_file "
            "to the CA that signed it",
        ),
        "wrong CA": (
            "tls",
            f"tls:\n  ca_file: {pki.other_ca}",
            f"the server's certificate is not signed by the CA in tls.ca_file ({pki.other_ca}): "
            "set tls.ca_file to the CA that signed it",
        ),
        "wrong server_name": (
            "tls",
            f"tls:\n  ca_file: {pki.ca}\n  server_name: temporal.example.com",
            "the server's certificate is not valid for 'temporal.example.com' (it names "
            "localhost, 127.0.0.1): set tls.server_name to a name the certificate has",
        ),
        "TLS to a plaintext port": (
            "plain",
            f"tls:\n  ca_file: {pki.ca}",
            "the server does not speak TLS on this port (a plaintext port?): set tls.enabled: "
            "false, or use the server's TLS port",
        ),
        "plaintext to a TLS port": (
            "tls",
            "",
            "the server closed the connection at once: it probably expects TLS (set "
            "tls.enabled: true",
        ),
        "missing client certificate": (
            "mtls",
            f"tls:\n  ca_file: {pki.ca}",
            "the server requires a client certificate: set auth.type: mtls with auth.cert_file "
            "and auth.key_file",
        ),
        "foreign client certificate": (
            "mtls",
            _mtls(pki, pki.foreign_cert, pki.foreign_key),
            "the server did not accept the client certificate (",
        ),
        "certificate and key mismatch": (
            "mtls",
            _mtls(pki, pki.client_cert, pki.foreign_key),
            "the client certificate and key do not match: auth.key_file must be the private key "
            "of auth.cert_file",
        ),
        "wrong API key": (
            "unauthorized",
            f"tls:\n  ca_file: {pki.ca}\nauth:\n  type: api_key\n  api_key: not-the-key",
            "the server rejected the API key (Request unauthorized.): check auth.api_key",
        ),
        # the SDK sees the HTTP answer as a bad HTTP/2 frame, or (by timing) the connection
        # closing after it: either way moonflow asks the port and gets an HTTP/1.1 answer
        "not a Temporal server": (
            "http",
            "",
            "not a Temporal server (it answered HTTP/1.1): check the address and port",
        ),
        "a TLS port that is not Temporal": (
            "tls_close",
            f"tls:\n  ca_file: {pki.ca}",
            "not a Temporal server (the TLS handshake completed and the server asked for no "
            "client certificate; then it closed the connection): check the address and port",
        ),
    }


CASE_NAMES = [
    "missing CA",
    "wrong CA",
    "wrong server_name",
    "TLS to a plaintext port",
    "plaintext to a TLS port",
    "missing client certificate",
    "foreign client certificate",
    "certificate and key mismatch",
    "wrong API key",
    "not a Temporal server",
    "a TLS port that is not Temporal",
]


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_each_bad_setting_names_its_cause(
    name: str, pki: Pki, fronts: dict[str, int], tmp_path: Path
) -> None:
    front, block, expected = _cases(pki)[name]
    port = fronts[front]
    app = load_app(_app(tmp_path / "app", port, block))
    with pytest.raises(ConnectionFailed) as err:
        await connect_entry(app.spec("app:temporal_client"))
    message = str(err.value)
    assert err.value.reachable, message
    assert "\n" not in message
    assert message.startswith(
        f"app:temporal_client: cannot connect to Temporal at 127.0.0.1:{port}: "
    ), message
    assert expected in message, message
    assert "moonflow server" not in message  # not the "start a server" advice


async def test_good_settings_connect_through_the_front_end(
    pki: Pki, fronts: dict[str, int], tmp_path: Path
) -> None:
    # relative paths resolve against the YAML file's folder
    root = tmp_path / "app"
    root.mkdir()
    for src in (pki.ca, pki.client_cert, pki.client_key):
        shutil.copy(src, root / src.name)
    blocks = {
        "tls": f"tls:\n  ca_file: {pki.ca}\n  server_name: localhost",
        "mtls": "tls:\n  ca_file: ca.pem\nauth:\n  type: mtls\n  cert_file: client.pem\n"
        "  key_file: client.key\nconnection_timeout: 20s\nkeep_alive_time: 5s\n"
        "keep_alive_timeout: 3s",
    }
    for front, block in blocks.items():
        app = load_app(_app(root, fronts[front], block))
        client = await connect_entry(app.spec("app:temporal_client"))
        answer = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert answer.namespace_info.name == "default"


async def test_a_local_address_does_not_retry_a_certificate_error(
    pki: Pki, fronts: dict[str, int], tmp_path: Path
) -> None:
    # Embedded mode keeps trying a local address for 5 s while nothing answers (a server
    # still starting); a server that answered with a bad certificate is reported at once.
    app = load_app(_app(tmp_path / "app", fronts["tls"], f"tls:\n  ca_file: {pki.other_ca}"))
    began = time.monotonic()
    with pytest.raises(ConnectionFailed, match="not signed by the CA in tls.ca_file") as err:
        async with open_server("embedded", app, allow_start=False):
            pass
    assert time.monotonic() - began < 4.5  # the retry would take 5 s at least
    assert "moonflow server" not in str(err.value) and "--server" not in str(err.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MOONFLOW_SERVER", "TEMPORAL_ADDRESS")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_cli_runs_a_workflow_over_mtls_and_names_a_bad_ca(
    pki: Pki, fronts: dict[str, int], tmp_path: Path
) -> None:
    good = _app(
        tmp_path / "good",
        fronts["mtls"],
        _mtls(pki, pki.client_cert, pki.client_key) + "\nkeep_alive_time: 10s",
    )
    done = _cli("execute", str(good), "app:ok", "--input", '{"n": 1}')
    assert done.returncode == 0, done.stderr
    assert _one_json_line(done.stdout) == {"ok": True, "n": 2}

    bad = _app(tmp_path / "bad", fronts["tls"], f"tls:\n  ca_file: {pki.other_ca}")
    done = _cli("start", str(bad), "app:ok", "--input", '{"n": 1}')
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"moonflow: error: app:temporal_client: cannot connect to Temporal at "
        f"127.0.0.1:{fronts['tls']}: the server's certificate is not signed by the CA in "
        f"tls.ca_file ({pki.other_ca}): set tls.ca_file to the CA that signed it"
    ], done.stderr


def test_cli_a_private_key_as_ca_file_is_named_before_connecting(
    pki: Pki, fronts: dict[str, int], tmp_path: Path
) -> None:
    app = _app(tmp_path / "app", fronts["tls"], f"tls:\n  ca_file: {pki.server_key}")
    yaml_line = next(
        n
        for n, line in enumerate((app / "app.yaml").read_text().splitlines(), 1)
        if "ca_file:" in line
    )
    done = _cli("start", str(app), "app:ok", "--input", '{"n": 1}')
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("moonflow: error: "), lines[0]
    assert f"app.yaml:{yaml_line}: app:temporal_client: " in lines[0], lines[0]
    assert lines[0].endswith(
        f"tls.ca_file '{pki.server_key}' holds no certificate (it holds a private key): give "
        "the PEM file of the CA's certificate (-----BEGIN CERTIFICATE-----)"
    ), lines[0]
    assert "not signed by the CA" not in lines[0]


def test_cli_an_http_server_gets_the_same_diagnosis_by_entry_and_by_server_flag(
    fronts: dict[str, int], tmp_path: Path
) -> None:
    port = fronts["http"]
    app = _app(tmp_path / "app", port, "")
    expected = (
        f"cannot connect to Temporal at 127.0.0.1:{port}: not a Temporal server (it answered "
        "HTTP/1.1): check the address and port"
    )
    for extra in ([], ["--server", f"127.0.0.1:{port}"]):
        for _ in range(3):  # the SDK's own error text varies with timing; the answer does not
            done = _cli("start", str(app), "app:ok", "--input", '{"n": 1}', *extra)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip().endswith(expected), (extra, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
