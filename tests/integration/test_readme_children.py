"""The README's child-workflow, start-option and cancellation examples run as written
(``-- children/<file>.lua`` blocks), with the workflow cache off."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```lua\n-- children/([\w.]+)\n(.*?)```", re.S)


def _blocks() -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(README.read_text())}


def test_the_readme_has_the_examples():
    assert set(_blocks()) == {"parent.lua", "payment.lua", "label.lua", "cancellable.lua"}


def _app(make_app):
    files = _blocks()
    files["acts.lua"] = (
        "return { step = function() return 'step-1' end,\n"
        "  undo = function(what) return 'undid ' .. what end }\n"
    )
    app = make_app(
        workflow_entry("parent", "parent.lua", "[workflow]")
        + workflow_entry("payment", "payment.lua", "[]")
        + workflow_entry("label", "label.lua", "[]")
        + workflow_entry("cancellable", "cancellable.lua", "[funcs]")
        + activity_entry("step", "acts.lua", "step")
        + activity_entry("undo", "acts.lua", "undo"),
        files,
    )
    app.no_cache = True
    return app


async def test_the_children_and_options_example(ts_env, make_app):
    app = _app(make_app)
    order = {"id": "o-7", "total": 12}
    assert await app.execute(ts_env, "app:parent", order) == {
        "payment": {"charged": 12, "note": "rush"},
        "label": "LBL-o-7",
    }


async def test_the_cancellation_example(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:cancellable")
        for _ in range(200):
            history = await handle.fetch_history()
            if any(e.HasField("activity_task_completed_event_attributes") for e in history.events):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    history = await handle.fetch_history()
    names = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert names == ["app:step", "app:undo"]
