"""``run`` / ``execute`` choose the dev server's Web UI port or run it headless (issue 17
item 8), through the real command in a subprocess against the bundled dev server."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration._cli import moonflow, moonflow_run
from tests.integration.test_cli_basic import _free_port, write_tiny_app

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return moonflow(*args, timeout=180)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_execute_headless_starts_the_dev_server_without_ui(tmp_path: Path) -> None:
    port = _free_port()
    app = write_tiny_app(tmp_path / "tiny", port)
    done = _cli("execute", str(app), "app:ok", "--input", '{"n": 1}', "--headless")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "n": 2}
    assert f"started the Temporal dev server on 127.0.0.1:{port}" in done.stderr
    assert "no Web UI" in done.stderr, done.stderr


def test_run_serves_the_web_ui_on_the_port_asked_for(tmp_path: Path) -> None:
    port, ui_port = _free_port(), _free_port()
    app = write_tiny_app(tmp_path / "tiny", port)
    log = tmp_path / "run.log"
    # --ui-port after APP_DIR, where run reads its own options (cli/_exec.py)
    with moonflow_run(str(app), "--ui-port", str(ui_port), log=log, ready_s=90):
        text = log.read_text()
        assert f"Web UI http://localhost:{ui_port}" in text, text
        page = httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=30, follow_redirects=True)
        assert page.status_code == 200
        assert not _listening(port + 1000)  # not the default UI port


def test_ui_flags_refused_where_they_cannot_apply(tmp_path: Path) -> None:
    app = write_tiny_app(tmp_path / "tiny", _free_port())
    cases = {
        ("--server", "time-skipping", "--headless"): "--headless applies to a dev server "
        "moonflow starts (--server embedded or memory); the server of --server time-skipping "
        "has no Web UI: drop --headless",
        ("--server", "127.0.0.1:1", "--ui-port", "9000"): "--ui-port applies to a dev server "
        "moonflow starts",
        ("--ui-port", "70000"): "--ui-port must be a port number between 1 and 65535, got '70000'",
        ("--ui-port", "9000", "--headless"): "not allowed with argument",
    }
    for flags, message in cases.items():
        done = _cli("execute", str(app), "app:ok", *flags)
        assert done.returncode == 2, (flags, done.stderr)
        assert message in done.stderr, (flags, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # run reads them after APP_DIR too
    done = _cli("run", str(app), "--ui-port", "x")
    assert done.returncode == 2 and "--ui-port must be a port number" in done.stderr, done.stderr
