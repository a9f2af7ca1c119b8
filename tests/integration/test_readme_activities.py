"""The README's activity-options example runs as written (``-- activities/<file>.lua``
blocks): a flaky charge is retried until its third attempt succeeds (attempts counted by the
activity on a loopback HTTP server), and an ``Invalid`` one stops after one attempt."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from ._hit_counter import ATTEMPT_LUA, hit_counter
from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```lua\n-- activities/([\w.]+)\n(.*?)```", re.S)

ACTS = (
    ATTEMPT_LUA
    + """\
local function charge_payment(order)
  local n = attempt(order.counter, order.id)
  if order.amount <= 0 then
    return nil, errors.new({kind = errors.INVALID, message = "amount must be positive",
      retryable = true})
  end
  if n < 3 then
    return nil, errors.new({kind = errors.UNAVAILABLE, message = "gateway busy"})
  end
  return {order = order.id, attempts = n}
end
return { charge_payment = charge_payment }
"""
)


def _blocks() -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(README.read_text())}


def test_the_readme_has_the_example():
    assert set(_blocks()) == {"checkout.lua"}


async def test_the_activity_options_example(dev_env, make_app):
    files = _blocks()
    files["acts.lua"] = ACTS
    app = make_app(
        workflow_entry("checkout", "checkout.lua", "[funcs]")
        + activity_entry("charge_payment", "acts.lua", "charge_payment", "[http_client, errors]"),
        files,
    )
    with hit_counter() as counter:

        async def checkout(order: str, amount: float) -> Any:
            return await asyncio.wait_for(
                dev_env.client.execute_workflow(
                    app.app.workflow_type("app:checkout"),
                    args=[{"id": order, "amount": amount, "counter": counter.url}],
                    id=f"checkout-{uuid.uuid4()}",
                    task_queue=app.task_queue,
                ),
                60,
            )

        async with app.workers(dev_env):
            ok = await checkout("o-1", 12.5)
            with pytest.raises(WorkflowFailureError) as failed:
                await checkout("o-2", 0)
        assert ok == {"order": "o-1", "attempts": 3}
        # retryable by itself, but its kind is in non_retryable_error_types: one attempt
        assert counter.hits == {"o-1": 3, "o-2": 1}
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == ("Invalid", "amount must be positive")
