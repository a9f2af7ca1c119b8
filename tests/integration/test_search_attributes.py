"""Search attributes at start and from workflow.attrs, found with a visibility query; globals
never leak between runs (issue 4 items 3 and 6)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from moonflow.client import list_workflows, start_workflow
from moonflow.errors import UsageError

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

FLOW = """\
local workflow = require("workflow")
local function main(input)
    local ok, err = workflow.attrs({search = {status = input.status, order_total = input.total}})
    local seen_before = rawget(_G, "counter")
    counter = (seen_before or 0) + 1   -- a global set by this run only
    local ch = process.listen("finish")
    ch:receive()
    return {ok = ok, seen_before = seen_before, counter = counter}
end
return { main = main }
"""


async def test_start_attributes_upserts_and_list_query(dev_env, make_app):
    app = make_app(workflow_entry("flow", "flow.lua", "[workflow]"), {"flow.lua": FLOW})
    client = dev_env.client
    tag = uuid.uuid4().hex[:8]
    async with app.workers(dev_env):
        ids = []
        for i, status in enumerate(["charging", "charging", "shipping"]):
            wid, _, _ = await start_workflow(
                client,
                app.app,
                "app:flow",
                {"status": f"{status}-{tag}", "total": 10.5 + i},
                workflow_id=f"sa-{tag}-{i}",
                search_attributes={"customer_id": f"c-{tag}", "priority": i},
                memo={"note": "from start"},
            )
            ids.append(wid)
        found: list = []
        for _ in range(40):  # visibility is eventually consistent
            found = await list_workflows(client, f'status = "charging-{tag}"')
            if len(found) == 2:
                break
            await asyncio.sleep(0.25)
        assert sorted(w["workflow_id"] for w in found) == ids[:2]
        by_customer = await list_workflows(client, f'customer_id = "c-{tag}" and priority >= 1')
        assert sorted(w["workflow_id"] for w in by_customer) == ids[1:]
        assert by_customer[0]["memo"] == {"note": "from start"}
        results = []
        for wid in ids:
            handle = client.get_workflow_handle(wid)
            await handle.signal("finish")
            results.append(await handle.result())
    # Each run saw a fresh global environment.
    assert results == [{"ok": True, "counter": 1}] * 3, results


async def test_start_attribute_of_wrong_type_is_refused(dev_env, make_app):
    app = make_app(workflow_entry("flow", "flow.lua", "[workflow]"), {"flow.lua": FLOW})
    with pytest.raises(UsageError, match="priority is declared Int"):
        await start_workflow(
            dev_env.client, app.app, "app:flow", {}, search_attributes={"priority": "high"}
        )
