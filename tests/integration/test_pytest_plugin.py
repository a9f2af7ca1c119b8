"""moonflow's pytest plugin (``moonflow.pytest_plugin``, loaded through the ``pytest11`` entry
point): ``moonflow_env`` and ``moonflow_app`` run ``examples/orders`` with its activities
stubbed (no provider), replay recorded histories, and keep tests apart; the option and the
errors, checked in a pytest run of its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from moonflow.errors import WorkflowFailure
from moonflow.testing import ReplayError, StubError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ORDERS = REPO / "examples" / "orders"
ORDER = json.loads((ORDERS / "order.json").read_text())


async def test_completed_with_python_stubs(moonflow_env, moonflow_app) -> None:
    assert moonflow_env.time_skipping  # the default server
    app = await moonflow_app(ORDERS)
    assert app.prefix.startswith("t") and app.app.task_queue("app:worker") == app.prefix + "orders"
    charged = []

    def charge(request):
        charged.append(request)
        return {"id": "pay-1", "status": "charged"}

    app.stub_activity("app:charge_payment", charge)
    app.stub_activity("app:ship_order", result={"tracking_number": "MOON-TRK-1"})
    started = time.monotonic()
    result = await app.execute("app:order_workflow", ORDER)  # sleeps one (skipped) hour
    assert time.monotonic() - started < 10
    assert result == {"status": "completed", "payment_id": "pay-1", "tracking": "MOON-TRK-1"}
    assert charged == [{"amount": 129.5, "customer": "cust-42"}]
    assert (app.calls("app:charge_payment"), app.calls("app:ship_order")) == (1, 1)


async def test_payment_failed_and_shipping_failed(moonflow_app) -> None:
    app = await moonflow_app(ORDERS)
    app.stub_activity("app:charge_payment", error={"kind": "Invalid", "message": "card declined"})
    declined = await app.execute("app:order_workflow", ORDER)
    assert declined["status"] == "payment_failed" and "card declined" in declined["error"]
    assert app.calls("app:ship_order") == 0

    refunded = []

    async def refund(payment_id):  # an async stub runs on the test's loop
        refunded.append(payment_id)
        return {"id": payment_id, "status": "refunded"}

    def ship(request):
        raise StubError("Invalid", f"carrier refused {request['address']['city']}")

    app.stub_activity("app:charge_payment", result={"id": "pay-2", "status": "charged"})
    app.stub_activity("app:ship_order", ship)
    app.stub_activity("app:refund_payment", refund)
    result = await app.execute("app:order_workflow", ORDER)
    assert result["status"] == "shipping_failed"
    assert "carrier refused Tranquility" in result["error"]
    assert refunded == ["pay-2"]


async def test_failures_stubs_apart_and_replay(moonflow_app, tmp_path: Path) -> None:
    first = await moonflow_app(ORDERS)
    second = await moonflow_app(ORDERS)
    assert first.prefix != second.prefix
    first.stub_activity("app:charge_payment", result={"id": "pay-3", "status": "charged"})
    first.stub_activity("app:ship_order", result={"tracking_number": "T-3"})
    second.stub_activity("app:charge_payment", result={"id": "pay-4", "status": "charged"})
    second.stub_activity("app:ship_order", lambda request: 1 / 0)  # Internal, not retried
    second.stub_activity("app:refund_payment", result=None)
    ok = await first.execute("app:order_workflow", ORDER, workflow_id="plugin-ok")
    assert ok["payment_id"] == "pay-3"
    failed = await second.execute("app:order_workflow", ORDER)
    assert failed["status"] == "shipping_failed"
    assert "ZeroDivisionError" in failed["error"]

    first.stub_activity("app:charge_payment", result=None)  # then `payment.id` raises
    with pytest.raises(WorkflowFailure) as info:
        await first.execute("app:order_workflow", ORDER)
    assert "order_workflow.lua:50: attempt to index a nil value" in info.value.info.message
    assert first.unstub_activity("app:ship_order") and not first.unstub_activity("app:ship_order")

    # replay: a history of this run, recorded ones from examples/orders/histories
    history = await first.history("plugin-ok")
    (tmp_path / "plugin-ok.json").write_text(history.to_json())
    await first.replay(history, tmp_path / "plugin-ok.json", *sorted(ORDERS.glob("histories/*")))
    with pytest.raises(ReplayError):
        await first.replay(history, entry_id="app:place_orders")


def test_option_and_errors(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        textwrap.dedent(
            """
            import pytest

            async def test_server(moonflow_env):
                assert moonflow_env.server.kind == "memory"

            @pytest.mark.asyncio(loop_scope="function")
            async def test_other_loop(moonflow_app):
                await moonflow_app("APP")
            """
        ).replace("APP", str(ORDERS))
    )
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\n"
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"]
    run = subprocess.run(
        [*cmd, "--moonflow-server", "dev"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "another event loop" in run.stdout
    bad = subprocess.run(
        [*cmd, "--moonflow-server", "nowhere", "-k", "server"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "expected time-skipping, dev, memory or HOST:PORT, got 'nowhere'" in bad.stdout, (
        bad.stdout + bad.stderr
    )
    helptext = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "--moonflow-server=SPEC" in helptext.stdout


README = REPO / "README.md"
BLOCK = re.compile(r"```(?:toml|python)\n# (pyproject\.toml|test_orders\.py)\n(.*?)```", re.S)


def test_the_readme_example(tmp_path: Path) -> None:
    # The README's pytest example and configuration, run by pytest as a user would (from the
    # repository root, where its relative paths point).
    blocks = dict(BLOCK.findall(README.read_text()))
    assert set(blocks) == {"pyproject.toml", "test_orders.py"}
    for name, body in blocks.items():
        (tmp_path / name).write_text(body)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["-c", str(tmp_path / "pyproject.toml"), str(tmp_path / "test_orders.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
