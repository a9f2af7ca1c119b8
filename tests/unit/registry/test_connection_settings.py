"""The tls / auth / health_check blocks and connection durations of ``temporal.client`` (issue 17
item 7): every key does something or is refused with one line naming it, at load time (so
``moonflow check`` fails), and the same rules hold for the Python API's ``connect``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from moonflow.client import connect
from moonflow.client._connect import _tls_and_key
from moonflow.errors import UsageError
from moonflow.kinds._connection import connection_timings
from tests._tls import make_pki

from .helpers import BASE_YAML, assert_error, line_of

SRC = str(Path(__file__).resolve().parents[3] / "src")


def _client(block: str) -> str:
    """BASE_YAML with ``block`` (YAML lines at entry level) added to the client entry."""
    lines = "".join(f"    {line}\n" for line in block.strip("\n").splitlines())
    return BASE_YAML.replace(
        "    address: localhost:7233\n", "    address: localhost:7233\n" + lines
    )


@pytest.mark.parametrize(
    ("block", "key", "fragments"),
    [
        (
            "tls:\n  enabled: true\n  ca_path: ca.pem",
            "ca_path",
            ["unknown tls key 'ca_path': did you mean ca_file?", "tls keys are enabled, ca_file"],
        ),
        (
            "tls:\n  server_nmae: x",
            "server_nmae",
            ["unknown tls key 'server_nmae': did you mean server_name?"],
        ),
        (
            "auth:\n  type: mtls\n  cert_file: c.pem\n  keyfile: k.pem",
            "keyfile",
            ["unknown auth key 'keyfile': did you mean key_file?"],
        ),
        (
            "tls:\n  insecure_skip_verify: true",
            "insecure_skip_verify",
            ["tls.insecure_skip_verify is not supported", "set tls.ca_file to the CA"],
        ),
        (
            "auth:\n  type: mtls\n  cert_file: c.pem",
            "type: mtls",
            ["auth.type is mtls but no client key is given: set auth.key_file"],
        ),
        (
            "auth:\n  type: mtls\n  key_file: k.pem",
            "type: mtls",
            ["no client certificate is given: set auth.cert_file"],
        ),
        (
            "auth:\n  type: api_key\n  cert_file: c.pem",
            "cert_file",
            ["auth.cert_file is for auth.type mtls but auth.type is api_key"],
        ),
        (
            "auth:\n  api_key: k",
            "api_key: k",
            ["auth.api_key is for auth.type api_key but auth.type is none: set auth.type: api_key"],
        ),
        ("auth:\n  type: kerberos", "kerberos", ["auth.type 'kerberos' is unknown: use one of"]),
        (
            "tls:\n  enabled: false\n  ca_file: ca.pem",
            "enabled: false",
            ["tls.enabled is false but tls.ca_file needs TLS"],
        ),
        ("tls:\n  enabled: yes please", "enabled:", ["tls.enabled must be true or false"]),
        (
            "health_check:\n  enabled: true\n  interval: 30s",
            "enabled: true",
            ["health_check is not supported", "keep_alive_time"],
        ),
        (
            "health_check:\n  intervl: 30s",
            "intervl",
            ["unknown health_check key 'intervl': did you mean interval?"],
        ),
        (
            "connection_timeout: soon",
            "connection_timeout",
            ['connection_timeout must be a duration like "10s" or a number of seconds'],
        ),
        ("keep_alive_time: 0s", "keep_alive_time", ["keep_alive_time must be above zero"]),
    ],
)
def test_bad_connection_settings_fail_at_load(load_err, block, key, fragments) -> None:
    yaml = _client(block)
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", line_of(yaml, key), "app:client", *fragments)


def test_good_settings_load_and_durations_parse(load_ok) -> None:
    yaml = _client(
        "connection_timeout: 2s\nkeep_alive_time: 20\nkeep_alive_timeout: 1m30s\n"
        "tls:\n  enabled: true\n  ca_file: ca.pem\n  server_name: temporal.example\n"
        "  insecure_skip_verify: false\n"
        "auth:\n  type: mtls\n  cert_file: c.pem\n  key_file: k.pem\n"
        "health_check:\n  enabled: false\n  interval: 30s"
    )
    client = load_ok({"app.yaml": yaml}).spec("app:client")
    assert connection_timings(vars(client)) == {
        "connection_timeout": timedelta(seconds=2),
        "keep_alive_time": timedelta(seconds=20),  # a number is seconds
        "keep_alive_timeout": timedelta(seconds=90),
    }


def test_check_command_fails_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(_client("tls:\n  ca_path: ca.pem"))
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "app.yaml:7: app:client: unknown tls key 'ca_path': did you mean ca_file?" in lines[0]


def test_python_api_applies_the_same_rules(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown tls key 'ca_path': did you mean ca_file"):
        _tls_and_key({"ca_path": "x"}, None, tmp_path)
    with pytest.raises(UsageError, match="tls.insecure_skip_verify is not supported"):
        _tls_and_key({"insecure_skip_verify": True}, None, tmp_path)
    # a key_file that is missing says so (it used to read the folder: "Is a directory")
    with pytest.raises(UsageError, match=r"^auth.type is mtls but no client key is given"):
        _tls_and_key(None, {"type": "mtls", "cert_file": "c.pem"}, tmp_path)
    (tmp_path / "c.pem").write_text("CERT")
    with pytest.raises(UsageError, match=r"^cannot read auth.key_file '.*k.pem': No such file"):
        _tls_and_key(None, {"type": "mtls", "cert_file": "c.pem", "key_file": "k.pem"}, tmp_path)
    (tmp_path / "keys").mkdir()
    with pytest.raises(UsageError, match="is a directory: give the path of a PEM file"):
        _tls_and_key(None, {"type": "mtls", "cert_file": "c.pem", "key_file": "keys"}, tmp_path)


def test_deprecated_env_directives_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path)  # real PEM files: certificate files are checked before use
    key_pem = pki.client_key.read_text()
    monkeypatch.setenv("MF_TEST_KEY_PEM", key_pem)
    tls, _ = _tls_and_key(
        None,
        {"type": "mtls", "cert_file": "client.pem", "key_pem_env": "MF_TEST_KEY_PEM"},
        tmp_path,
    )
    assert tls.client_private_key == key_pem.encode()  # type: ignore[union-attr]
    monkeypatch.delenv("MF_TEST_KEY_PEM")
    with pytest.raises(UsageError, match="MF_TEST_KEY_PEM is not set"):
        _tls_and_key(
            None,
            {"type": "mtls", "cert_file": "client.pem", "key_pem_env": "MF_TEST_KEY_PEM"},
            tmp_path,
        )
    monkeypatch.setenv("MF_TEST_API_KEY", "secret")
    _, key = _tls_and_key(None, {"type": "api_key", "api_key_env": "MF_TEST_API_KEY"}, tmp_path)
    assert key == "secret"


def test_server_name_alone_turns_tls_on() -> None:
    tls, _ = _tls_and_key({"server_name": "t.example"}, None, None)
    assert tls is not None and tls is not False and tls.domain == "t.example"  # type: ignore[union-attr]


async def test_connect_refuses_before_dialing() -> None:
    # Port 1: nothing listens; the setting is refused before any connection is tried.
    with pytest.raises(UsageError, match="health|insecure_skip_verify") as err:
        await connect("127.0.0.1:1", tls={"insecure_skip_verify": True})
    assert "cannot reach" not in str(err.value)
    json.dumps(str(err.value))


def test_readme_connection_example_loads(load_ok) -> None:
    """The README's ``temporal.client`` example with tls/auth is a valid entry."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    example = next(b for b in blocks if "type: mtls" in b and "kind: temporal.client" in b)
    yaml = (
        "namespace: app\nentries:\n"
        + example
        + "  - name: worker\n    kind: temporal.worker\n    client: temporal_client\n"
        + "    task_queue: q\n"
    )
    client = load_ok({"app.yaml": yaml}).spec("app:temporal_client")
    assert client.tls["server_name"] == "temporal.example.com"
    assert connection_timings(vars(client))["connection_timeout"] == timedelta(seconds=10)
