"""``moonflow list -o text`` on an 80-column terminal with a long workflow id (issue 17 review
item 4): the id folds onto a second line and STATUS and STARTED stay whole (no "RUNNI…").
Real dev server, real ``moonflow`` process on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest

from .conftest import workflow_entry
from .test_cli_conventions import ANSI, amoonflow, moonflow_on_terminal

pytestmark = pytest.mark.integration

WAITS = """\
local function main()
    process.listen("go"):receive()
    return "done"
end
return { main = main }
"""


async def test_a_long_id_folds_and_status_and_start_stay_whole(dev_env, make_app):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": WAITS})
    server = ["--server", dev_env.client.service_client.config.target_host]
    root = str(app.root)
    wf_id = f"order-processing-for-customer-account-{uuid.uuid4()}"  # 74 characters
    query = f"WorkflowId = '{wf_id}'"
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=wf_id)
        for _ in range(200):  # visibility is eventually consistent
            listed = await amoonflow("list", root, "--query", query, *server)
            if listed.stdout.strip():
                break
            await asyncio.sleep(0.1)
        started = json.loads(listed.stdout)["start_time"]
        text = await asyncio.to_thread(
            moonflow_on_terminal, "list", root, "--query", query, "-o", "text", *server, columns=80
        )
        await handle.signal("go")
        assert await asyncio.wait_for(handle.result(), 60) == "done"
    lines = [ANSI.sub("", line).rstrip() for line in text.splitlines()]
    assert all(len(line) <= 80 for line in lines), text
    assert "…" not in text, text
    row = next(line for line in lines if "RUNNING" in line)
    stamp = f"{started[:10]} {started[11:19]}"
    assert re.search(rf"\bRUNNING\s+{re.escape(stamp)}$", row), text
    # the id is all there, over two lines
    i = lines.index(row)
    assert (row.split()[0] + lines[i + 1].strip()) == wf_id, text
