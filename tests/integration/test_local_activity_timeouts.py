"""A local activity's timeout reads as a normal activity's, with no stray SDK warning (issue 16
review item 3).

The SDK's core times a local activity out itself and then asks the Python worker to cancel the
attempt; when moonflow's own deadline had already stopped and completed the attempt, the SDK
found nothing to cancel and printed ``UserWarning: Cannot find activity to cancel for token
b'local_act_...'``. And its failure said "Activity timed out" where a normal activity's says
"activity StartToClose timeout".
"""

from __future__ import annotations

import asyncio
import uuid
import warnings

import pytest

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

ACTS = """\
local time = require("time")
local function nap(ms) time.sleep(ms * 1000000) return "woke" end
return { nap = nap }
"""

WF = """\
local funcs = require("funcs")
local function main(n)
  local call = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "300ms",
    ["activity.retry_policy"] = {maximum_attempts = 1},
  })
  local out = {}
  for i = 1, n do
    local _, err = call:call("app:nap", 3000)
    out[i] = {kind = err:kind(), message = err:message(), details = err:details(),
      retryable = err:retryable()}
  end
  return out
end
return { main = main }
"""


def _app(make_app, local):
    return make_app(
        workflow_entry("wf", "wf.lua", "[funcs]")
        + activity_entry("nap", "acts.lua", "nap", "[time]", local=local),
        {"wf.lua": WF, "acts.lua": ACTS},
    )


async def _run(env, app, n):
    async with app.workers(env):
        return await asyncio.wait_for(
            env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[n],
                id=f"la-timeout-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            120,
        )


@pytest.mark.parametrize("local", [True, False])
async def test_activity_timeouts_read_alike_and_warn_nothing(dev_env, make_app, local):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = await _run(dev_env, _app(make_app, local), 6)
        await asyncio.sleep(1)  # a late cancel of the SDK's would come now
    for err in out:
        assert (err["kind"], err["retryable"]) == ("Timeout", False), err
        assert err["details"] == {"timeout_type": "start_to_close"}, err
        assert err["message"].startswith("activity StartToClose timeout"), err
    stray = [str(w.message) for w in caught if "Cannot find activity" in str(w.message)]
    assert not stray, stray
