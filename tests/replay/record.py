"""Regenerate the recorded histories under ``tests/replay/histories/``.

Run from the repository root (takes a few seconds; needs no running server)::

    .venv/bin/python tests/replay/record.py            # every recording
    .venv/bin/python tests/replay/record.py orders-completed versioning-checkout-v2

It starts the bundled time-skipping server, runs each recorded workflow to completion on the
*current* code, and writes its history as JSON named after the workflow id (``<id>.json``; the
replay tests use the file name as the workflow id):

* ``examples/orders`` (a copy pointed at an in-process ``provider.py`` on a free port): a
  completed order, a declined payment, a failed shipment followed by a refund;
* ``tests/replay/apps/versioning``: ``app:checkout`` before any ``workflow.version`` call, the
  seed's guard ``app:checkout_v2`` (records version 2) and ``app:checkout_v3`` (records 3).

``orders-payment-declined.json`` is exported with the Temporal CLI
(``temporal workflow show --output json``), the others with the SDK's
``WorkflowHistory.to_json()``, so the replay tests read both formats.

``examples``-prefixed names (``order-completed``, ``order-payment-failed``,
``order-shipping-failed``) are the example's own recordings, written to
``examples/orders/histories/<id>.jsonl`` with ``moonflow history`` (one JSON event per line);
``make test`` replays them with ``moonflow replay`` (``tests/integration/test_examples_ci.py``).

Only re-record on purpose: the point of these files is to be histories of *older* code. After
re-recording, run ``.venv/bin/python -m pytest tests/replay`` and commit the files.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moonflow import testing
from moonflow.registry import load_app

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HISTORIES = HERE / "histories"
ORDERS = REPO / "examples" / "orders"
VERSIONING = HERE / "apps" / "versioning"
DEFAULT_URL = 'provider_url = "http://127.0.0.1:8765"'


@dataclass(frozen=True)
class Recording:
    """One workflow run to record.

    Attributes:
        workflow_id: the run's workflow id, also the file name (``<workflow_id>.json``).
        entry_id: the workflow entry to run.
        input: the workflow's input (a file of the app, ``"@order.json"``, or a JSON value).
        cli_export: export with ``temporal workflow show --output json`` instead of the SDK.
        moonflow_export: export with ``moonflow history`` (JSON lines, ``<id>.jsonl``).
    """

    workflow_id: str
    entry_id: str
    input: Any
    cli_export: bool = False
    moonflow_export: bool = False


ORDERS_RECORDINGS = [
    Recording("orders-completed", "app:order_workflow", "@order.json"),
    Recording("orders-payment-declined", "app:order_workflow", "@order_declined.json", True),
    Recording("orders-shipping-failed", "app:order_workflow", "@order_bad_address.json"),
]
#: The example's own histories (``examples/orders/histories``), replayed by ``make test``.
EXAMPLE_RECORDINGS = [
    Recording("order-completed", "app:order_workflow", "@order.json", moonflow_export=True),
    Recording(
        "order-payment-failed", "app:order_workflow", "@order_declined.json", moonflow_export=True
    ),
    Recording(
        "order-shipping-failed",
        "app:order_workflow",
        "@order_bad_address.json",
        moonflow_export=True,
    ),
]
EXAMPLE_HISTORIES = ORDERS / "histories"
VERSIONING_RECORDINGS = [
    Recording("versioning-checkout-v0", "app:checkout", {"id": "order-1"}),
    Recording("versioning-checkout-v2", "app:checkout_v2", {"id": "order-2"}),
    Recording("versioning-checkout-v3", "app:checkout_v3", {"id": "order-3"}),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_provider() -> Any:
    spec = importlib.util.spec_from_file_location("orders_provider", ORDERS / "provider.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _input(root: Path, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return json.loads((root / value[1:]).read_text())
    return value


async def _record(
    env: testing.ServerEnv, root: Path, recordings: list[Recording], out: Path
) -> list[Path]:
    written = []
    async with env.workers():
        for rec in recordings:
            await env.execute(rec.entry_id, _input(root, rec.input), workflow_id=rec.workflow_id)
    for rec in recordings:
        path = out / f"{rec.workflow_id}.json"
        if rec.moonflow_export:
            path = path.with_suffix(".jsonl")
            proc = subprocess.run(
                [sys.executable, "-m", "moonflow", "history", str(root), rec.workflow_id]
                + ["--server", env.server.address],
                capture_output=True,
                text=True,
                check=True,
            )
            text = proc.stdout
        elif rec.cli_export:
            proc = subprocess.run(
                [
                    str(Path(sys.executable).parent / "temporal"),
                    "workflow",
                    "show",
                    "--workflow-id",
                    rec.workflow_id,
                    "--address",
                    env.server.address,
                    "--output",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            text = proc.stdout
        else:
            text = (await env.history(rec.workflow_id)).to_json()
        path.write_text(text.rstrip("\n") + "\n")
        written.append(path)
    return written


async def record_orders(recordings: list[Recording], out: Path) -> list[Path]:
    """Record runs of a copy of ``examples/orders`` wired to a local provider on a free port."""
    if not recordings:
        return []
    provider = _load_provider()
    with tempfile.TemporaryDirectory(prefix="moonflow-record-") as tmp:
        root = Path(tmp) / "orders"
        shutil.copytree(
            ORDERS, root, ignore=shutil.ignore_patterns(".moonflow", "__pycache__", "*.jsonl")
        )
        port = _free_port()
        config = root / "config.lua"
        text = config.read_text()
        if text.count(DEFAULT_URL) != 1:
            raise SystemExit(f"{ORDERS / 'config.lua'} no longer holds {DEFAULT_URL!r}")
        config.write_text(text.replace(DEFAULT_URL, f'provider_url = "http://127.0.0.1:{port}"'))
        server, _ = provider.start(port)
        try:
            app = load_app(root)
            async with testing.time_skipping_env(app) as env:
                return await _record(env, root, recordings, out)
        finally:
            server.shutdown()
            server.server_close()


async def record_versioning(recordings: list[Recording], out: Path) -> list[Path]:
    """Record runs of the versioning app's stages."""
    if not recordings:
        return []
    app = load_app(VERSIONING)
    async with testing.time_skipping_env(app) as env:
        return await _record(env, VERSIONING, recordings, out)


async def main(argv: list[str]) -> int:
    """Record the recordings named in ``argv`` (all when empty); print each file written."""
    wanted = set(argv)
    known = {r.workflow_id for r in ORDERS_RECORDINGS + VERSIONING_RECORDINGS + EXAMPLE_RECORDINGS}
    unknown = sorted(wanted - known)
    if unknown:
        print(f"unknown recording(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return 2

    def pick(recs: list[Recording]) -> list[Recording]:
        return [r for r in recs if not wanted or r.workflow_id in wanted]

    HISTORIES.mkdir(exist_ok=True)
    EXAMPLE_HISTORIES.mkdir(exist_ok=True)
    steps: list[Callable[[], Awaitable[list[Path]]]] = [
        lambda: record_orders(pick(ORDERS_RECORDINGS), HISTORIES),
        lambda: record_versioning(pick(VERSIONING_RECORDINGS), HISTORIES),
        lambda: record_orders(pick(EXAMPLE_RECORDINGS), EXAMPLE_HISTORIES),
    ]
    for step in steps:
        for path in await step():
            events = len(testing.load_history(path).events)
            print(f"wrote {path.relative_to(REPO)} ({events} events)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
