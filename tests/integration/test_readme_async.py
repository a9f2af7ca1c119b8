"""The README's funcs.async example runs as written (``-- async/<file>.lua`` blocks), with the
workflow cache off."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```lua\n-- async/([\w.]+)\n(.*?)```", re.S)

ACTS = """\
local time = require("time")
local function price(sku)
  time.sleep("300ms")
  return 12.5
end
local function stock(sku)
  time.sleep("100ms")
  if sku == "gone" then
    return nil, errors.new({kind = "NotFound", message = "no such sku: " .. sku, retryable = false})
  end
  return 7
end
return { price = price, stock = stock }
"""


def _blocks() -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(README.read_text())}


def test_the_readme_has_the_example():
    assert set(_blocks()) == {"quote.lua"}


def _app(make_app):
    files = _blocks()
    files["acts.lua"] = ACTS
    app = make_app(
        workflow_entry("quote", "quote.lua", "[funcs, time]")
        + activity_entry("price", "acts.lua", "price", "[time]")
        + activity_entry("stock", "acts.lua", "stock", "[time]"),
        files,
    )
    app.no_cache = True
    return app


async def test_the_async_example(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:quote", "A-1")
        assert await asyncio.wait_for(handle.result(), 30) == {"price": 12.5, "stock": 7}
        failing = await app.start(dev_env, "app:quote", "gone")
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(failing.result(), 30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == ("NotFound", "no such sku: gone")
