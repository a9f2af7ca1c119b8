"""``moonflow replay`` on histories recorded from ``examples/orders`` (issue 15, item 3).

A copy of the example, pointed at an in-process ``provider.py`` and at the session's dev
server, runs two orders with its workers in-process (the fulfillment window shortened to a
second: the dev server's time is real). Their histories are exported the two ways a user
would: ``moonflow history`` (JSON lines) and ``temporal workflow show --output json`` (one
object). Then, as a user would, with the CLI:

* the unchanged code replays both files and ``--from-server`` (exit 0, ``ok  <id>``);
* the workflow edited to call ``ship_order`` before ``charge_payment`` fails with a line naming
  both activities, the Lua line of the new call and the history event (exit 1);
* the same edit guarded by ``workflow.version`` replays cleanly;
* a file that is not JSON, or JSON that is not a history, exits 2 with one line naming it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from moonflow.registry import load_app
from moonflow.worker import build_workers

from .conftest import BIN
from .test_example_orders import DEFAULT_URL, EXAMPLE, free_port, provider_mod

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 120
CHARGE = "    -- Charge payment\n"
WAIT = "    -- Wait for fulfillment window\n"
SHIP = "    -- Ship order\n"
COMPLETED = '    workflow.attrs({search = {status = "completed"}})\n'


@dataclass
class Recorded:
    """The copy of the example and what was recorded from it."""

    root: Path
    address: str
    ids: list[str]
    files: list[Path]

    def replay(self, *args: str) -> subprocess.CompletedProcess[str]:
        return moonflow("replay", str(self.root), *args)


def moonflow(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        env=env,
    )


def ship_first(source: str) -> str:
    """order_workflow.lua with the ship step moved before the charge step."""
    for marker in (CHARGE, WAIT, SHIP, COMPLETED):
        assert source.count(marker) == 1, f"order_workflow.lua changed: {marker!r}"
    a, b = source.index(CHARGE), source.index(WAIT)
    c, d = source.index(SHIP), source.index(COMPLETED)
    ship = source[c:d].replace("local shipment, err", "local shipment, ship_err")
    ship = ship.replace(
        "    if err then\n        -- Refund", "    if ship_err then\n        -- Refund"
    )
    return source[:a] + ship + source[a:b] + source[b:c] + source[d:]


def guarded(source: str) -> str:
    """Both versions side by side, chosen by workflow.version: old runs keep the old order."""
    ret = "return { main = main }\n"
    assert source.count(ret) == 1 and source.count("local function main(order)") == 1

    def body(text: str, name: str) -> str:
        text = text.replace(ret, "").replace(
            "local function main(order)", f"local function {name}(order)"
        )
        return text if name == "main_v0" else text[text.index(f"local function {name}") :]

    return (
        body(source, "main_v0")
        + body(ship_first(source), "main_v1")
        + """
local function main(order)
    if workflow.version("ship-first", workflow.DEFAULT_VERSION, 1) == 1 then
        return main_v1(order)
    end
    return main_v0(order)
end

"""
        + ret
    )


@pytest.fixture
def recorded(tmp_path: Path, dev_env: Any) -> Iterator[Recorded]:
    root = tmp_path / "orders"
    shutil.copytree(
        EXAMPLE, root, ignore=shutil.ignore_patterns(".moonflow", "__pycache__", "*.jsonl")
    )
    port = free_port()
    config = root / "config.lua"
    text = config.read_text()
    assert text.count(DEFAULT_URL) == 1
    config.write_text(text.replace(DEFAULT_URL, f'provider_url = "http://127.0.0.1:{port}"'))
    address = dev_env.client.service_client.config.target_host
    index = root / "_index.yaml"
    task_queue = f"orders-{uuid.uuid4().hex[:8]}"
    index.write_text(
        index.read_text()
        .replace('task_queue: "orders"', f'task_queue: "{task_queue}"')
        .replace('address: "localhost:7233"', f'address: "{address}"')
    )
    server, _ = provider_mod.start(port, log_path=tmp_path / "provider.jsonl")
    try:
        yield Recorded(root, address, [], [])
    finally:
        server.shutdown()
        server.server_close()


async def _record(rec: Recorded, dev_env: Any, tmp_path: Path) -> None:
    """Run a completed and a declined order; export their histories both ways."""
    app = load_app(rec.root)
    workers = build_workers(app, {c.entry.id: dev_env.client for c in app.clients()})
    task_queue = app.task_queue("app:worker")
    statuses = []
    async with workers[0]:
        for name in ("order.json", "order_declined.json"):
            order = json.loads((rec.root / name).read_text())
            order["fulfillment_window"] = "1s"
            workflow_id = f"replay-{name.removesuffix('.json')}-{uuid.uuid4().hex[:8]}"
            result = await dev_env.client.execute_workflow(
                "app:order_workflow", order, id=workflow_id, task_queue=task_queue
            )
            statuses.append(result["status"])
            rec.ids.append(workflow_id)
    assert statuses == ["completed", "payment_failed"]

    # `moonflow history` prints one JSON event per line
    done = moonflow("history", str(rec.root), rec.ids[0])
    assert done.returncode == 0, done.stderr
    lines = tmp_path / f"{rec.ids[0]}.jsonl"
    lines.write_text(done.stdout)
    # `temporal workflow show --output json` writes one object with "events"
    done = subprocess.run(
        [str(BIN / "temporal"), "workflow", "show", "-w", rec.ids[1], "--output", "json"]
        + ["--address", rec.address],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    whole = tmp_path / f"{rec.ids[1]}.json"
    whole.write_text(done.stdout)
    assert "events" in json.loads(whole.read_text())
    rec.files[:] = [lines, whole]


def _wait_listed(rec: Recorded) -> None:
    """Visibility is eventually consistent: wait until both runs are listed as closed."""
    query = " OR ".join(f"WorkflowId = '{i}'" for i in rec.ids)
    deadline = time.monotonic() + 30
    while True:
        done = moonflow("list", str(rec.root), "--query", query)
        closed = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
        if len([c for c in closed if c["status"] == "COMPLETED"]) == len(rec.ids):
            return
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(0.5)


async def test_replay_orders_unchanged_ship_first_and_guarded(
    recorded: Recorded, dev_env: Any, tmp_path: Path
) -> None:
    rec = recorded
    await _record(rec, dev_env, tmp_path)
    completed, declined = rec.ids
    files = [str(f) for f in rec.files]

    # unchanged code: both formats replay
    done = rec.replay(*files)
    print("$ moonflow replay orders", *(f.name for f in rec.files))
    print(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"ok  {completed}", f"ok  {declined}"]
    assert "2 of 2 histories replayed" in done.stderr

    # ... and from the server: by query, and the newest runs of the app's workflow types
    _wait_listed(rec)
    query = " OR ".join(f"WorkflowId = '{i}'" for i in rec.ids)
    done = rec.replay("--from-server", "--query", query)
    print(f'$ moonflow replay orders --from-server --query "{query}"')
    print(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == sorted([f"ok  {completed}", f"ok  {declined}"])
    done = rec.replay("--from-server", "--limit", "2", "--server", rec.address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 2

    # ship_order before charge_payment: both histories fail at the charge
    workflow = rec.root / "order_workflow.lua"
    original = workflow.read_text()
    workflow.write_text(ship_first(original))
    ship_line = next(
        n
        for n, line in enumerate(workflow.read_text().splitlines(), 1)
        if 'funcs.call("app:ship_order"' in line
    )
    done = rec.replay(*files)
    print("$ moonflow replay orders ...   # after moving ship_order before charge_payment")
    print(done.stdout + done.stderr)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for workflow_id, line in zip(rec.ids, lines, strict=True):
        match = re.fullmatch(
            rf"FAIL {workflow_id}: the code scheduled activity app:ship_order at "
            rf"order_workflow\.lua:{ship_line} where the history has activity "
            r"app:charge_payment \(event (\d+)\)",
            line,
        )
        assert match, line
    events = [json.loads(ln) for ln in rec.files[0].read_text().splitlines()]
    charge = next(
        e
        for e in events
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "app:charge_payment"
    )
    assert lines[0].endswith(f"(event {charge['eventId']})")
    done = rec.replay("--from-server", "--query", query)
    assert done.returncode == 1 and done.stdout.count("FAIL ") == 2, done.stdout + done.stderr

    # the same edit guarded by workflow.version replays cleanly
    workflow.write_text(guarded(original))
    done = rec.replay(*files)
    print("$ moonflow replay orders ...   # the same edit guarded by workflow.version")
    print(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"ok  {completed}", f"ok  {declined}"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a JSON history"),
        ('{"workflow": "order-1"}', "not a workflow history"),
        ('{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_TIMER_STARTED"}]}', "not a"),
        (None, "cannot read the history file"),
        # events missing in the middle: refused before the SDK's replayer (which panicked and
        # waited forever on some gaps)
        (
            "\n".join(
                [
                    '{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", '
                    '"workflowExecutionStartedEventAttributes": {"workflowType": '
                    '{"name": "app:order_workflow"}}}',
                    '{"eventId": "3", "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED", '
                    '"workflowTaskStartedEventAttributes": {"scheduledEventId": "2"}}',
                ]
            ),
            "not a complete workflow history: event 2 is missing (the next one is event 3)",
        ),
    ],
)
def test_bad_history_files_exit_2_with_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    done = moonflow("replay", str(EXAMPLE), str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"moonflow: error: {path}: ") and message in line, line


def test_replay_arguments() -> None:
    done = moonflow("replay", str(EXAMPLE))
    assert done.returncode == 2 and "give HISTORY files" in done.stderr
    done = moonflow("replay", str(EXAMPLE), "x.json", "--from-server")
    assert done.returncode == 2 and "not both" in done.stderr
    done = moonflow("replay", str(EXAMPLE), "x.json", "--limit", "3")
    assert done.returncode == 2 and "go with --from-server" in done.stderr


# ---------------------------------------------------------------------------------------------
# The Python API on a history recorded earlier (tests/replay/histories), no server: other forms
# of mismatch the SDK reports, translated.

RECORDED = Path(__file__).resolve().parents[1] / "replay" / "histories" / "orders-completed.json"


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    root = tmp_path / "orders"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".moonflow", "__pycache__"))
    workflow = root / "order_workflow.lua"
    source = workflow.read_text()
    assert source.count(old) == 1, old
    workflow.write_text(source.replace(old, new))
    return root


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # a timer where the history updates search attributes
        (
            CHARGE,
            CHARGE + '    time.sleep("5m")\n',
            r"the code started a timer at order_workflow\.lua:20 where the history has a search "
            r"attributes update \(workflow\.attrs\) \(event 7\)",
        ),
        # the charge call removed: the next command is the attrs update before the sleep
        (
            'local payment, err = funcs.call("app:charge_payment", {\n'
            "        amount = order.total,\n"
            "        customer = order.customer_id\n"
            "    })\n",
            'local payment, err = {id = "none"}, nil\n',
            r"the code updated search attributes \(workflow\.attrs\) where the history has "
            r"activity app:charge_payment \(event 8\)",
        ),
        # a timer before the local activity validate_order: the SDK says only "Missing
        # associated machine for LocalActivity(1)"
        (
            '    local valid, err = funcs.call("app:validate_order", order)\n',
            '    time.sleep("1s")\n    local valid, err = funcs.call("app:validate_order", order)\n',
            r"the code (started a timer|ran local activity app:validate_order) at "
            r"order_workflow\.lua:\d+ where the history has .*",
        ),
        # returning early: the code completes where the history goes on
        (
            WAIT,
            '    do return {status = "early"} end\n' + WAIT,
            r"the code completed the workflow where the history has a search attributes update "
            r"\(workflow\.attrs\) \(event 14\)",
        ),
    ],
)
async def test_replay_histories_translates_mismatches(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    from moonflow.replay import replay_histories

    [result] = await replay_histories(_edited(tmp_path, old, new), [RECORDED])
    assert result.kind == "nondeterminism" and not result.ok
    assert re.fullmatch(expected, result.message), result.message
    assert result.line() == f"FAIL orders-completed: {result.message}"
    assert result.detail  # the SDK's own text is kept
    assert result.entry_id == "app:order_workflow" and result.workflow_type == result.entry_id


async def test_replay_histories_ok_and_unknown_type(tmp_path: Path) -> None:
    from moonflow.replay import replay_histories

    versioning = RECORDED.parent / "versioning-checkout-v0.json"
    ok, other = await replay_histories(EXAMPLE, [RECORDED, versioning])
    assert ok.ok and ok.line() == "ok  orders-completed" and ok.message == ""
    assert other.kind == "no_entry" and "workflow type 'app:checkout'" in other.message
