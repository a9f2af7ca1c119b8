"""Durability, as a user would see it (issue 2): ``moonflow run`` on the embedded dev server
(SQLite under the app), ``moonflow start`` an order with a 10 s fulfillment window, kill -9 the
``moonflow run`` process during the wait, start it again; ``moonflow result`` shows the order
completed once, each activity ran once, and ``temporal workflow show`` lists the history.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "orders"
BIN = Path(sys.executable).parent
MOONFLOW = [sys.executable, "-m", "moonflow"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import provider as provider_mod  # the example's own provider
    finally:
        sys.path.remove(str(EXAMPLE))
    port = _free_port()
    log = tmp_path / "provider.jsonl"
    server, _ = provider_mod.start(port, log_path=log)
    yield port, log
    server.shutdown()


def _calls(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["path"] for line in log.read_text().splitlines() if line.strip()]


def _start_run(app: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*MOONFLOW, "run", str(app)],
        stdout=open(out, "ab"),  # noqa: SIM115 - owned by the child
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_during_durable_sleep(tmp_path: Path, provider: tuple[int, Path]) -> None:
    provider_port, provider_log = provider
    temporal_port = _free_port()
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".moonflow", "__pycache__"))
    index = app / "_index.yaml"
    index.write_text(index.read_text().replace("localhost:7233", f"127.0.0.1:{temporal_port}"))
    config = app / "config.lua"
    config.write_text(config.read_text().replace("127.0.0.1:8765", f"127.0.0.1:{provider_port}"))
    order = json.loads((EXAMPLE / "order.json").read_text())
    # long enough that the worker is killed inside it (about 1 s after the charge), short
    # enough that the test does not wait long for it once the worker is back
    order["fulfillment_window"] = "10s"
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(order))
    run_log = tmp_path / "run.log"
    wid = f"order-{uuid.uuid4().hex[:8]}"

    first = _start_run(app, run_log)
    try:
        _wait(lambda: _port_open(temporal_port), 60, "the embedded server")
        started = subprocess.run(
            [
                *MOONFLOW,
                "start",
                str(app),
                "app:order_workflow",
                "--input-file",
                str(order_file),
                "--id",
                wid,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert wid in started.stdout and "{app:temporal_client@app:worker|" in started.stdout
        # Wait until the payment went through (the workflow is now in its 10 s timer).
        _wait(lambda: "/charges" in _calls(provider_log), 60, "the charge")
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # The embedded server dies with its parent: nothing is left listening.
        _wait(lambda: not _port_open(temporal_port), 15, "the embedded server to stop")
        assert (app / ".moonflow").is_dir()
        assert "/shipments" not in _calls(provider_log)
    finally:
        if first.poll() is None:
            first.kill()

    second = _start_run(app, run_log)
    try:
        _wait(lambda: _port_open(temporal_port), 60, "the restarted embedded server")
        result = subprocess.run(
            [*MOONFLOW, "result", str(app), wid],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stdout + result.stderr + run_log.read_text()
        value = json.loads(result.stdout.strip().splitlines()[-1])
        assert value["status"] == "completed"
        assert value["payment_id"].startswith("pay_") and value["tracking"]
        calls = _calls(provider_log)
        assert calls.count("/charges") == 1, calls
        assert calls.count("/shipments") == 1, calls
        assert calls.count("/refunds") == 0, calls
        show = subprocess.run(
            [
                str(BIN / "temporal"),
                "workflow",
                "show",
                "--workflow-id",
                wid,
                "--address",
                f"127.0.0.1:{temporal_port}",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert show.returncode == 0, show.stderr
        history = json.loads(show.stdout)
        types = [e["eventType"] for e in history["events"]]
        assert (
            types[0].endswith("WORKFLOW_EXECUTION_STARTED")
            or types[0] == "WorkflowExecutionStarted"
        )
        assert any("TIMER_FIRED" in t or t == "TimerFired" for t in types)
        assert (
            types[-1].endswith("WORKFLOW_EXECUTION_COMPLETED")
            or types[-1] == "WorkflowExecutionCompleted"
        )
        completed_activities = [
            t for t in types if "ACTIVITY_TASK_COMPLETED" in t or t == "ActivityTaskCompleted"
        ]
        assert len(completed_activities) == 2  # charge and ship (validate is a local activity)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            code = second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            raise
    assert code == 0, run_log.read_text()
    _wait(lambda: not _port_open(temporal_port), 15, "the server to stop after Ctrl-C")
