"""Every server moonflow starts listens on loopback only, unless the user asks otherwise
(``moonflow server --ip``). Real servers, real sockets: each server process's listening
sockets are read from /proc (``moonflow._loopback.listening_addresses``, itself checked
against known sockets in tests/unit/test_loopback_shim.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

import moonflow.cli
from moonflow._loopback import is_loopback, listening_addresses
from moonflow.devserver import TestServer, free_port, is_listening, open_server

from .conftest import workflow_entry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
]

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])


def _assert_loopback_only(pid: int, *ports: int) -> list[tuple[str, int]]:
    """Every socket ``pid`` listens on is loopback, and ``ports`` are among them."""
    listening = listening_addresses(pid)
    assert listening, f"process {pid} listens on nothing"
    exposed = [(h, p) for h, p in listening if not is_loopback(h)]
    assert not exposed, f"listening beyond loopback: {exposed} (all: {listening})"
    assert set(ports) <= {p for _, p in listening}, (ports, listening)
    return listening


def _pid_listening_on(port: int) -> int:
    """The pid of the process (of this user) listening on TCP ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    assert inodes, f"nothing listens on port {port}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no process of ours listens on port {port}")


def _fake_app(root: Path, address: str) -> Any:
    """Just what open_server reads from an App: clients() and root."""
    client = SimpleNamespace(
        entry=SimpleNamespace(id="app:temporal_client", file=None),
        address=address,
        namespace="default",
        tq_prefix="",
        search_attributes={},
        tls=None,
        auth=None,
    )
    return SimpleNamespace(clients=lambda: [client], root=root)


# -- time-skipping server ---------------------------------------------------------------------


async def test_time_skipping_server_listens_on_loopback_only() -> None:
    async with TestServer() as server:
        assert server.pid is not None
        listening = _assert_loopback_only(server.pid, server.port)
        assert listening == [("::ffff:127.0.0.1", server.port)] or listening == [
            ("127.0.0.1", server.port)
        ]
        assert is_listening("127.0.0.1", server.port)


async def test_time_skipping_server_of_open_server_is_loopback_only() -> None:
    async with open_server("time-skipping", log=lambda _line: None) as server:
        child = server.started[0]
        assert child.pid is not None
        _assert_loopback_only(child.pid, int(server.address.rsplit(":", 1)[1]))


async def test_ts_env_fixture_is_loopback_only_and_still_skips_time(
    ts_env: WorkflowEnvironment, make_app: Any
) -> None:
    server = ts_env.server  # type: ignore[attr-defined]
    _assert_loopback_only(server.pid, server.port)
    assert ts_env.supports_time_skipping
    # A manual skip, then a workflow's one-hour timer while result() waits (unlock/lock).
    before = await ts_env.get_current_time()
    await ts_env.sleep(3600)
    assert (await ts_env.get_current_time() - before).total_seconds() >= 3600
    app = make_app(
        workflow_entry("nap", "nap.lua"),
        {
            "nap.lua": """
            local time = require("time")
            local function main()
                time.sleep("1h")
                return "rested"
            end
            return { main = main }
            """
        },
    )
    t0 = time.monotonic()
    assert await app.execute(ts_env, "app:nap") == "rested"
    assert time.monotonic() - t0 < 30


# -- dev server -------------------------------------------------------------------------------


async def test_memory_dev_server_and_its_web_ui_are_loopback_only() -> None:
    async with open_server("memory", log=lambda _line: None) as server:
        child = server.started[0]
        port = int(server.address.rsplit(":", 1)[1])
        assert server.ui_url == f"http://localhost:{port + 1000}"
        assert child.pid is not None
        # gRPC, Web UI, and the ports it picks itself (HTTP API, metrics, internal services).
        listening = _assert_loopback_only(child.pid, port, port + 1000)
        assert len(listening) > 2


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "0.0.0.0"])
async def test_embedded_dev_server_is_loopback_only(tmp_path: Path, host: str) -> None:
    port = free_port(with_ui=True)
    app = _fake_app(tmp_path, f"{host}:{port}")
    async with open_server("embedded", app, log=lambda _line: None) as server:
        assert server.kind == "dev"
        child = server.started[0]
        assert child.pid is not None
        _assert_loopback_only(child.pid, port, port + 1000)


async def test_dev_env_fixture_is_loopback_only(dev_env: WorkflowEnvironment) -> None:
    port = int(dev_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    _assert_loopback_only(_pid_listening_on(port), port)


# -- moonflow server --------------------------------------------------------------------------


def _run_server_cli(tmp_path: Path, port: int, *extra: str) -> list[tuple[str, int]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "moonflow", "server", "--memory", "--port", str(port), *extra]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server answers
        assert f":{port}" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        return listening_addresses(_pid_listening_on(port))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_moonflow_server_is_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    listening = _run_server_cli(tmp_path, port)
    assert ("127.0.0.1", port) in listening and ("127.0.0.1", port + 1000) in listening
    assert all(is_loopback(h) for h, _ in listening), listening


def test_moonflow_server_ip_exposes_what_the_user_asked_for(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    listening = _run_server_cli(tmp_path, port, "--ip", "0.0.0.0", "--headless")
    # Go listens on the dual-stack wildcard "::" for 0.0.0.0: all interfaces, as asked.
    assert {h for h, p in listening if p == port} & {"0.0.0.0", "::"}, listening
