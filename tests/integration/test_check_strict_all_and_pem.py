"""``moonflow check`` through the real command (issue 17 review items 2 and 3): ``--strict``
prints every warning as an error (one line each, exit 2), and a ``tls.ca_file`` holding a
private key fails ``check`` with the line ``list``/``execute`` give when connecting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MOONFLOW = [sys.executable, "-m", "moonflow"]

APP = """\
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
    search_atributes: {status: Keyword}
    tls:
      {tls}
  - name: worker
    kind: temporal.worker
    client: temporal_client
    task_queue: x
    tq_prefx: a
"""

KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n"


def _app(root: Path, tls: str) -> None:
    (root / "app").mkdir(parents=True)
    (root / "app" / "_index.yaml").write_text(APP.replace("{tls}", tls))
    (root / "tls").mkdir()
    (root / "tls" / "key.pem").write_text(KEY)


def _moonflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOONFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


def test_strict_prints_every_warning_as_an_error(tmp_path: Path) -> None:
    _app(tmp_path, "enabled: true")
    plain = _moonflow(tmp_path, "check", "app")
    assert plain.returncode == 0, plain.stderr
    warnings = [line for line in plain.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, plain.stdout
    strict = _moonflow(tmp_path, "check", "app", "--strict")
    assert strict.returncode == 2, strict.stderr
    assert strict.stdout == ""
    assert strict.stderr.splitlines() == [
        "moonflow: error: " + w.removeprefix("warning: ").replace(": ignoring unknown", ": unknown")
        for w in warnings
    ]
    assert "tq_prefx" in strict.stderr and "search_atributes" in strict.stderr


def test_check_names_a_private_key_given_as_ca_file(tmp_path: Path) -> None:
    _app(tmp_path, "ca_file: ../tls/key.pem")
    done = _moonflow(tmp_path, "check", "app")
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "moonflow: error: app/_index.yaml:8: app:temporal_client: tls.ca_file '../tls/key.pem' "
        "holds no certificate (it holds a private key): give the PEM file of the CA's "
        "certificate (-----BEGIN CERTIFICATE-----)"
    ]
    # a missing file is named as connecting names it, not passed as ok
    (tmp_path / "tls" / "key.pem").unlink()
    gone = _moonflow(tmp_path, "check", "app")
    assert gone.returncode == 2
    assert "cannot read tls.ca_file '../tls/key.pem'" in gone.stderr, gone.stderr
