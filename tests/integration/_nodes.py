"""Running a process entry on a fresh process node, for the process tests."""

from __future__ import annotations

import asyncio
from typing import Any

from moonflow.process import ProcessNode


async def run_entry(
    app: Any, entry: str, *args: Any, timeout: float = 60.0, **node_options: Any
) -> Any:
    """Run ``entry`` as a process on a fresh node (``node_options``: ProcessNode's keyword
    arguments) and return its value; the test fails when the entry fails, does not end within
    ``timeout`` seconds, or leaves processes running."""
    async with ProcessNode(app, **node_options) as node:
        outcome = await asyncio.wait_for(node.run(entry, list(args)), timeout)
        assert node.processes == {}, f"processes left running: {list(node.processes)}"
    assert outcome.ok, f"{entry} failed: {outcome.error}"
    return outcome.value
