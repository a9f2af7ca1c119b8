"""``moonflow.testing``'s server helpers, and ``record.py`` producing histories that replay.

These start the bundled servers (about a second each), unlike ``test_replay.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import moonflow.testing
from moonflow.errors import WorkflowFailure
from moonflow.testing import dev_env, load_history, replay_file, time_skipping_env

from . import record

pytestmark = pytest.mark.integration


def test_public_names() -> None:
    assert sorted(moonflow.testing.__all__) == [
        "ReplayError",
        "RunningApp",
        "ServerEnv",
        "StubError",
        "dev_env",
        "load_history",
        "open_env",
        "replay",
        "replay_file",
        "running_app",
        "time_skipping_env",
    ]


async def test_record_script_output_replays(tmp_path: Path) -> None:
    # What record.py writes (orders against a local provider, with a one-hour durable sleep
    # on the time-skipping server; the versioning stages) replays on the current code.
    orders = await record.record_orders(record.ORDERS_RECORDINGS, tmp_path)
    stages = await record.record_versioning(record.VERSIONING_RECORDINGS, tmp_path)
    assert sorted(p.name for p in orders + stages) == sorted(
        p.name for p in record.HISTORIES.glob("*.json")
    )
    for path in orders:
        await replay_file(record.ORDERS, path)
    for path in stages:
        await replay_file(record.VERSIONING, path)
    declined = load_history(tmp_path / "orders-payment-declined.json")  # via the Temporal CLI
    assert declined.events[-1].HasField("workflow_execution_completed_event_attributes")


async def test_time_skipping_env_runs_the_app() -> None:
    async with time_skipping_env(record.VERSIONING) as env:
        assert env.time_skipping and env.app is not None
        async with env.workers():
            result = await env.execute("app:checkout_v2", {"id": "o1"}, workflow_id="ts-1")
            ref = await env.start("app:checkout", {"id": "o2"})
            assert await ref.result() == {
                "version": "none",
                "receipt": {"via": "old", "order": "o2"},
            }
        assert result == {"version": 2, "receipt": {"via": "new", "order": "o1"}}
        history = await env.history("ts-1")
        assert history.workflow_id == "ts-1"
        await moonflow.testing.replay(record.VERSIONING, history, entry_id="app:checkout_v3")


FAILING_APP = """\
version: "1.0"
namespace: app
entries:
  - name: client
    kind: temporal.client
    address: "localhost:7233"
  - name: worker
    kind: temporal.worker
    client: app:client
    task_queue: "helpers"
  - name: flow
    kind: workflow.lua
    source: file://flow.lua
    method: main
    modules: [errors]
    meta:
      temporal:
        workflow:
          worker: app:worker
"""
FAILING_FLOW = """\
local errors = require("errors")
local function main(input)
    return nil, errors.new({kind = errors.INVALID, message = "bad " .. input.id, retryable = false})
end
return { main = main }
"""


async def test_dev_env_runs_an_app_given_later(tmp_path: Path) -> None:
    (tmp_path / "_index.yaml").write_text(FAILING_APP)
    (tmp_path / "flow.lua").write_text(FAILING_FLOW)
    async with dev_env() as env:
        assert not env.time_skipping and env.app is None
        async with env.workers(tmp_path):
            with pytest.raises(WorkflowFailure) as info:
                await env.execute("app:flow", {"id": "x"}, app=tmp_path)
    assert info.value.info.kind == "Invalid" and info.value.info.message == "bad x"
