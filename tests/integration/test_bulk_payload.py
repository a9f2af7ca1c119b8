"""A large input enters Lua in one crossing (issue 18 item 2).

A 1.8 MB input of 600,000 empty objects used to be converted one lupa call per table: that took
longer than the SDK's 2 s deadlock detector, so the first workflow task failed, and was
retried, forever. The run now starts and completes, and the objects are still objects (``{}``
goes back out as ``{}``).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from .conftest import history_events, workflow_entry

pytestmark = pytest.mark.integration

WF = """\
local function main(items, nested)
  local objects = 0
  for i = 1, #items do
    if next(items[i]) == nil then objects = objects + 1 end
  end
  return {count = #items, empty = objects, first = items[1], last = items[#items],
          nested = nested}
end
return { main = main }
"""


async def test_six_hundred_thousand_empty_tables_start_and_complete_a_run(dev_env, make_app):
    app = make_app(workflow_entry("size", "size.lua", "[]"), {"size.lua": WF})
    items = [{} for _ in range(600_000)]
    nested = {"n": None, "list": [1, None, 2.0], "big": 2**63 - 1, "e": [], "t": 'é\n"𝄞'}
    wid = f"bulk-{uuid.uuid4()}"
    async with app.workers(dev_env):
        out = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:size"),
                args=[items, nested],
                id=wid,
                task_queue=app.task_queue,
            ),
            300,
        )
    assert out == {"count": 600_000, "empty": 600_000, "first": {}, "last": {}, "nested": nested}
    events = await history_events(dev_env, wid)
    failed = [e for e in events if "workflowTaskFailedEventAttributes" in e]
    assert not failed, failed[0]
