"""``examples/orders`` end to end: the CLI on the time-skipping server with the local provider.

Each test copies the example into a temp dir, starts ``provider.py`` in-process on a free port
(with its JSON-lines call log) and points the copy's ``config.lua`` at it, then runs
``moonflow execute ... --server time-skipping`` as a user would. The README's table of sample
orders is what these tests check.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from moonflow.registry import load_app
from moonflow.worker import build_workers

from .conftest import history_events

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "orders"
DEFAULT_URL = 'provider_url = "http://127.0.0.1:8765"'
CLI_TIMEOUT_S = 120


def _load_provider_module() -> Any:
    spec = importlib.util.spec_from_file_location("orders_provider", EXAMPLE / "provider.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


provider_mod = _load_provider_module()


@dataclass
class OrdersApp:
    """A copy of the example wired to a provider of its own."""

    root: Path
    log: Path

    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        """Provider calls so far (optionally only those to ``path``)."""
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if path is None or c["path"] == path]

    def execute(self, *input_args: str) -> tuple[int, Any, str]:
        """``moonflow execute`` the order workflow; returns (exit code, result JSON, stderr)."""
        cmd = [
            sys.executable,
            "-m",
            "moonflow",
            "execute",
            str(self.root),
            "app:order_workflow",
            *input_args,
            "--server",
            "time-skipping",
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
        )
        return proc.returncode, result_line(proc.stdout), proc.stderr

    def execute_file(self, name: str) -> tuple[int, Any, str]:
        return self.execute("--input-file", str(self.root / name))


def result_line(stdout: str) -> Any:
    """The JSON result line ``moonflow execute`` prints (the last JSON line of stdout)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise AssertionError(f"no JSON result on stdout: {stdout!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def orders(tmp_path: Path) -> Iterator[OrdersApp]:
    root = tmp_path / "orders"
    shutil.copytree(
        EXAMPLE, root, ignore=shutil.ignore_patterns(".moonflow", "__pycache__", "*.jsonl")
    )
    port = free_port()
    config = root / "config.lua"
    text = config.read_text()
    assert text.count(DEFAULT_URL) == 1, "config.lua no longer holds the default provider URL"
    config.write_text(text.replace(DEFAULT_URL, f'provider_url = "http://127.0.0.1:{port}"'))
    log = tmp_path / "provider.jsonl"
    server, _ = provider_mod.start(port, log_path=log)
    try:
        yield OrdersApp(root, log)
    finally:
        server.shutdown()
        server.server_close()


def test_completed_order(orders: OrdersApp) -> None:
    code, result, stderr = orders.execute_file("order.json")
    assert code == 0, stderr
    assert result["status"] == "completed"
    [charge] = orders.calls("/charges")
    [shipment] = orders.calls("/shipments")
    assert result == {
        "status": "completed",
        "payment_id": charge["response"]["id"],
        "tracking": shipment["response"]["tracking_number"],
    }
    assert result["payment_id"].startswith("pay_") and result["tracking"].startswith("TRK")
    assert charge["request"] == {"amount": 129.5, "customer_id": "cust-42"}
    assert shipment["request"]["order_id"] == "order-1001"
    assert shipment["request"]["address"]["street"] == "12 Crater Road"
    assert orders.calls("/refunds") == []


def test_declined_payment_is_not_retried(orders: OrdersApp) -> None:
    code, result, stderr = orders.execute_file("order_declined.json")
    assert code == 0, stderr
    assert result["status"] == "payment_failed"
    assert result["error"] == "payment declined: card declined for cust-43"
    assert [c["status"] for c in orders.calls()] == [402]  # one charge, no retry, no shipment


def test_shipping_failure_refunds_the_payment(orders: OrdersApp) -> None:
    code, result, stderr = orders.execute_file("order_bad_address.json")
    assert code == 0, stderr
    assert result["status"] == "shipping_failed"
    assert result["error"].startswith("shipping failed: cannot deliver to ")
    assert [(c["path"], c["status"]) for c in orders.calls()] == [
        ("/charges", 200),
        ("/shipments", 422),
        ("/refunds", 200),
    ]
    [charge] = orders.calls("/charges")
    [refund] = orders.calls("/refunds")
    assert refund["request"] == {"payment_id": charge["response"]["id"]}


def test_invalid_order_is_rejected_before_any_charge(orders: OrdersApp) -> None:
    bad = {"id": "order-9", "total": 0, "items": []}
    code, result, stderr = orders.execute("--input", json.dumps(bad))
    assert code == 0, stderr
    assert result == {
        "status": "rejected",
        "error": "invalid order: missing customer_id; total must be a positive number; "
        "order has no items",
    }
    assert orders.calls() == []


def test_provider_5xx_is_retried(orders: OrdersApp) -> None:
    order = json.loads((orders.root / "order.json").read_text())
    order["customer_id"] = "flaky-customer"
    code, result, stderr = orders.execute("--input", json.dumps(order))
    assert code == 0, stderr
    assert result["status"] == "completed"
    assert [c["status"] for c in orders.calls("/charges")] == [503, 200]


async def test_refund_activity_is_in_the_history(orders: OrdersApp, ts_env: Any) -> None:
    # The same copy run by the driver directly, to read the workflow history afterwards.
    index = orders.root / "_index.yaml"
    task_queue = f"orders-{uuid.uuid4().hex[:8]}"
    index.write_text(
        index.read_text().replace('task_queue: "orders"', f'task_queue: "{task_queue}"')
    )
    app = load_app(orders.root)
    order = json.loads((orders.root / "order_bad_address.json").read_text())
    workflow_id = f"orders-{uuid.uuid4()}"
    workers = build_workers(app, {c.entry.id: ts_env.client for c in app.clients()})
    async with workers[0]:
        result = await ts_env.client.execute_workflow(
            "app:order_workflow", order, id=workflow_id, task_queue=task_queue
        )
    assert result["status"] == "shipping_failed"
    events = await history_events(ts_env, workflow_id)
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled == ["app:charge_payment", "app:ship_order", "app:refund_payment"]
    markers = [e for e in events if "markerRecordedEventAttributes" in e]
    assert markers, "validate_order should run as a local activity (a marker in the history)"
    timers = [
        e["timerStartedEventAttributes"] for e in events if "timerStartedEventAttributes" in e
    ]
    assert [t["startToFireTimeout"] for t in timers] == ["3600s"]


def test_demo_script(tmp_path: Path) -> None:
    """``make demo`` as shipped: the unchanged example on the provider's default port."""
    with socket.socket() as s:
        # The demo runs the unchanged example, whose provider URL uses this fixed port.
        s.bind(("127.0.0.1", provider_mod.DEFAULT_PORT))
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py")],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"status": "completed"' in proc.stdout
    assert "POST /charges -> 200" in proc.stdout and "POST /shipments -> 200" in proc.stdout


def test_order_desk_process_drives_the_workflow(orders: OrdersApp) -> None:
    """README "An order desk process": the command runs a process on the terminal host that
    starts three orders (one declined) as workflows, monitored, and reports their EXITs."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "moonflow",
            "run",
            str(orders.root),
            "--server",
            "memory",
            "place-orders",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    started = [line for line in lines if line.startswith("started ")]
    assert [line.split()[1] for line in started] == ["desk-1", "desk-2", "desk-3"]
    assert all("|order_workflow-" in line for line in started)
    ends = sorted(line for line in lines if line.startswith("desk-"))
    assert ends == ["desk-1: completed", "desk-2: completed", "desk-3: payment_failed"]
    assert lines[-1] == "3 orders, 3 as expected"
    charged = sorted(c["request"]["customer_id"] for c in orders.calls("/charges"))
    assert charged == ["cust-1", "cust-2", "declined-3"]
    assert len(orders.calls("/shipments")) == 2
