"""The bundled servers for real: dev server (in memory and embedded with SQLite), time-skipping
server, search-attribute registration, ``moonflow server`` and orphan-free shutdown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import moonflow.cli
from moonflow.client import ConnectionFailed, get_result
from moonflow.devserver import (
    Server,
    free_port,
    is_listening,
    open_server,
    register_search_attributes,
)
from moonflow.errors import UsageError

pytestmark = pytest.mark.integration

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])
STATUS = SearchAttributeKey.for_keyword("mf_status")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _fake_app(
    root: Path, address: str, namespace: str = "default", attrs: dict[str, str] | None = None
) -> Any:
    """Just what open_server reads from an App: clients() and root."""
    client = SimpleNamespace(
        entry=SimpleNamespace(id="app:temporal_client", file=None),
        address=address,
        namespace=namespace,
        tq_prefix="",
        search_attributes=attrs or {},
        tls=None,
        auth=None,
    )
    return SimpleNamespace(clients=lambda: [client], root=root)


@workflow.defn(name="mf-devserver-sleep")
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slept"


@workflow.defn(name="mf-devserver-upsert")
class UpsertWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        workflow.upsert_search_attributes(
            TypedSearchAttributes([SearchAttributePair(STATUS, value)])
        )
        return value


@pytest_asyncio.fixture(scope="module")
async def memory_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    app = _fake_app(
        tmp_path_factory.mktemp("mem"), "localhost:7233", "mf-other", {"mf_status": "Keyword"}
    )
    async with open_server("memory", app) as server:
        yield server


async def test_memory_server(memory_server: Server) -> None:
    server = memory_server
    assert server.kind == "memory" and not server.time_skipping
    host, port = server.address.rsplit(":", 1)
    assert server.ui_url == f"http://localhost:{int(port) + 1000}"
    assert is_listening(host, int(port))
    client = server.clients["app:temporal_client"]
    assert client.namespace == "mf-other"
    resp = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="mf-other")
    )
    assert resp.namespace_info.name == "mf-other"


async def test_search_attributes_registered_and_idempotent(memory_server: Server) -> None:
    client = memory_server.clients["app:temporal_client"]
    # open_server registered mf_status already: registering again adds nothing.
    assert await register_search_attributes(client, "mf-other", {"mf_status": "keyword"}) == []
    added = await register_search_attributes(client, "mf-other", {"mf_n": "Int", "mf_t": "Text"})
    assert added == ["mf_n", "mf_t"]
    assert await register_search_attributes(client, "mf-other", {"mf_n": "Int"}) == []
    with pytest.raises(UsageError, match="declared as Double but the custom attribute"):
        await register_search_attributes(client, "mf-other", {"mf_n": "Double"})
    with pytest.raises(UsageError, match="unknown type"):
        await register_search_attributes(client, "mf-other", {"x": "Float"})


async def test_registered_attribute_is_usable_at_once(memory_server: Server) -> None:
    client = memory_server.clients["app:temporal_client"]
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=tq,
        workflows=[UpsertWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            UpsertWorkflow.run,
            "shipped",
            id=f"up-{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(seconds=30),
        )
        assert await asyncio.wait_for(get_result(client, handle.id), 30) == "shipped"


async def test_time_skipping_server(tmp_path: Path) -> None:
    app = _fake_app(tmp_path, "localhost:7233", attrs={"mf_status": "Keyword"})
    async with open_server("time-skipping", app) as server:
        assert server.kind == "time-skipping" and server.time_skipping and server.ui_url is None
        child = server.started[0]
        client = server.clients["app:temporal_client"]
        # Registration works on the test server too, and is idempotent.
        assert await register_search_attributes(client, "default", {"mf_status": "Keyword"}) == []
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=tq,
            workflows=[SleepWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            t0 = time.monotonic()
            # A one-hour durable sleep, waited on through get_result ...
            handle = await client.start_workflow(
                SleepWorkflow.run, 3600.0, id=f"s-{uuid.uuid4()}", task_queue=tq
            )
            assert await get_result(client, handle.id) == "slept"
            # ... and through the handle start_workflow returned.
            handle = await client.start_workflow(
                SleepWorkflow.run, 3600.0, id=f"s-{uuid.uuid4()}", task_queue=tq
            )
            assert await handle.result() == "slept"
            assert time.monotonic() - t0 < 20
    assert child.process is not None and child.process.poll() is not None


async def test_embedded_starts_then_reuses_a_server(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    address = f"localhost:{port}"
    app = _fake_app(tmp_path, address, attrs={"mf_status": "Keyword"})
    notes: list[str] = []
    async with open_server("embedded", app, log=notes.append) as server:
        assert server.kind == "dev" and server.address == address
        assert server.ui_url == f"http://localhost:{port + 1000}"
        assert (tmp_path / ".moonflow" / "temporal.db").is_file()
        assert len(notes) == 1 and address in notes[0] and server.ui_url in notes[0]
        # A second embedded user of the same address connects instead of starting one.
        async with open_server("embedded", app, allow_start=False, log=notes.append) as again:
            assert again.kind == "external" and not again.started
        child = server.started[0]
    assert child.process is not None and child.process.poll() is not None
    assert not is_listening("127.0.0.1", port)


async def test_connect_only_and_unreachable_addresses(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    app = _fake_app(tmp_path, f"127.0.0.1:{port}")
    with pytest.raises(ConnectionFailed, match="moonflow run APP_DIR"):
        async with open_server("embedded", app, allow_start=False):
            pass
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        async with open_server(f"127.0.0.1:{port}", app):
            pass
    assert time.monotonic() - t0 < 10
    message = str(err.value)
    assert message.startswith(f"cannot reach Temporal at 127.0.0.1:{port}: ")
    assert "moonflow server" in message and "--server embedded" in message
    assert "\n" not in message
    with pytest.raises(UsageError, match="fresh server that no worker polls"):
        async with open_server("memory", app, allow_start=False):
            pass


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _start_server_cli(port: int, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", "server", "--memory", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once the server answers
    return proc, line


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_server_command_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    proc, line = _start_server_cli(port, tmp_path)
    try:
        assert f"127.0.0.1:{port}" in line and f"http://localhost:{port + 1000}" in line, line
        assert "in memory" in line
        assert is_listening("127.0.0.1", port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_for(lambda: not is_listening("127.0.0.1", port), 10)
    assert not (tmp_path / ".moonflow").exists()  # --memory writes nothing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_dev_server_dies_with_its_parent_on_sigkill(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    proc, line = _start_server_cli(port, tmp_path)
    try:
        assert f"127.0.0.1:{port}" in line, line + (proc.stderr.read() if proc.stderr else "")
        children = _children(proc.pid)
        assert len(children) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _alive(children[0]), 15), "the dev server outlived moonflow"
        assert _wait_for(lambda: not is_listening("127.0.0.1", port), 10), "port still taken"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_unreachable_host_port_is_exit_2_and_one_line(tmp_path: Path) -> None:
    port = free_port(with_ui=True)
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: temporal_client\n    kind: temporal.client\n    address: localhost:7233\n"
        "  - name: worker\n    kind: temporal.worker\n    client: app:temporal_client\n"
        "    task_queue: q\n"
        "  - name: wf\n    kind: workflow.lua\n    source: file://wf.lua\n    method: main\n"
        "    meta: {temporal: {workflow: {worker: app:worker}}}\n"
    )
    (app / "wf.lua").write_text("return { main = function() return 1 end }\n")
    for command in (
        ["execute", str(app), "app:wf"],
        ["start", str(app), "app:wf"],
        ["result", str(app), "some-id"],
        ["run", str(app)],
    ):
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "moonflow", *command, "--server", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"moonflow: error: cannot reach Temporal at 127.0.0.1:{port}")
        assert time.monotonic() - t0 < 15
