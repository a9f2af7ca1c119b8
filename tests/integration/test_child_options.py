"""Spawn builders and start options for child workflows (issue #13, item 3): explicit ids and
the id-conflict default, startup messages, bad options as nil, err, parent-close policies.
Time-skipping server, workflow cache off."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

COLLECTOR = """\
local function main(input)
  local inbox = process.inbox()
  local got = {input.tag}
  while true do
    local msg = inbox:receive()
    if msg:topic() == "stop" then break end
    got[#got + 1] = msg:topic() .. "=" .. tostring(msg:payload():data())
  end
  return got
end
return { main = main }
"""

SLEEPER = """\
local function main()
  local msg = process.inbox():receive()
  return "woke by " .. msg:topic()
end
return { main = main }
"""

PARENT = """\
local function main(input)
  local id = input.child_id
  local base = process.with_options({["workflow.id"] = id})
  local pid1, e1 = base:with_message("hello", 1):spawn("app:collector", nil, {tag = "first"})
  local again = input.policy and base:with_options({["temporal.workflow.id_conflict_policy"] = input.policy}) or base
  local pid2, e2 = again:with_message("again", 2):spawn("app:collector", nil, {tag = "second"})
  local _, bad = process.with_options({["workflow.execution_timeout"] = "soon"}):spawn("app:collector")
  local _, typo = process.with_options({["workflow.idd"] = "x"}):exec("app:collector")
  process.send(pid1, "stop")
  local ev = process.events():receive()
  return {
    same = pid1 == pid2, pid1 = pid1, e2 = e2 and e2:kind() or nil,
    e2_message = e2 and e2:message() or nil,
    result = ev.result, from = ev.from,
    bad = bad:kind() .. ": " .. bad:message(), typo = typo:message(),
  }
end
return { main = main }
"""

EARLY = """\
local function main(input)
  local pid = process.with_options({["workflow.id"] = input.child_id,
    ["workflow.parent_close_policy"] = input.policy}):spawn("app:sleeper")
  return pid
end
return { main = main }
"""


def _app(make_app, parent: str):
    app = make_app(
        workflow_entry("parent", "parent.lua", "[]")
        + workflow_entry("collector", "collector.lua", "[]")
        + workflow_entry("sleeper", "sleeper.lua", "[time]"),
        {"parent.lua": parent, "collector.lua": COLLECTOR, "sleeper.lua": SLEEPER},
    )
    app.no_cache = True
    return app


async def test_an_explicit_id_spawned_twice_is_the_same_child_and_gets_both_messages(
    ts_env, make_app
):
    app = _app(make_app, PARENT)
    child_id = f"child-{uuid.uuid4().hex[:8]}"
    result = await app.execute(ts_env, "app:parent", {"child_id": child_id})
    assert result["same"] is True and result["pid1"].endswith(f"|{child_id}}}")
    # the input of the second spawn is unused; its startup message reached the running child
    assert result["result"] == ["first", "hello=1", "again=2"]
    assert result["from"] == result["pid1"]
    assert result["bad"].startswith(
        "Invalid: process.spawn(app:collector): workflow.execution_timeout"
    )
    assert "unknown workflow option 'workflow.idd'" in result["typo"]


async def test_with_fail_a_running_id_is_an_error(ts_env, make_app):
    app = _app(make_app, PARENT)
    child_id = f"child-{uuid.uuid4().hex[:8]}"
    result = await app.execute(ts_env, "app:parent", {"child_id": child_id, "policy": "fail"})
    assert result["same"] is False and result["e2"] == "AlreadyExists"
    assert child_id in result["e2_message"]
    assert result["result"] == ["first", "hello=1"]


@pytest.mark.parametrize(
    "policy, status",
    [
        ("terminate", WorkflowExecutionStatus.TERMINATED),
        ("abandon", WorkflowExecutionStatus.RUNNING),
    ],
)
async def test_parent_close_policy(dev_env, make_app, policy, status):
    # the real dev server: the time-skipping test server does not apply parent-close policies
    app = _app(make_app, EARLY)
    child_id = f"child-{uuid.uuid4().hex[:8]}"
    async with app.workers(dev_env):
        parent = await app.start(dev_env, "app:parent", {"child_id": child_id, "policy": policy})
        pid = await parent.result()
        assert pid.endswith(f"|{child_id}}}")
        child = dev_env.client.get_workflow_handle(child_id)
        for _ in range(100):
            desc = await child.describe()
            if desc.status == status:
                break
            await asyncio.sleep(0.1)
        assert desc.status == status
        if policy == "abandon":
            await child.signal("go")
            assert await child.result() == "woke by go"  # it finishes on its own


CHECKS = """\
local function main(input)
  local out = {}
  for i, opts in ipairs(input.bad) do
    local _, err = process.with_options(opts):spawn("app:sleeper")
    out[i] = err:kind() .. ": " .. err:message()
  end
  local _, host = process.spawn("app:sleeper", "app:wroker")
  out[#out + 1] = host:kind() .. ": " .. host:message()
  local named = process.with_options({}):with_name(input.name)
  local pid1 = named:with_message("a", 1):spawn("app:collector", nil, {tag = "n"})
  local pid2, e2 = named:with_message("d", 4):spawn("app:collector", nil, {tag = "ignored"})
  process.send(pid1, "stop")
  local ev = process.events():receive()
  return {errors = out, same = pid1 == pid2 and e2 == nil, result = ev.result}
end
return { main = main }
"""


async def test_options_the_server_would_refuse_are_errors_of_the_spawn(ts_env, make_app):
    # a bad child start would fail the parent's workflow task forever: refused up front
    app = _app(make_app, CHECKS)
    name = f"named-{uuid.uuid4().hex[:8]}"
    bad = [
        {"workflow.execution_timeout": -5},
        {"workflow.cron_schedule": "xx"},
        {"workflow.search_attributes": {"nosuch": 1}},
    ]
    result = await app.execute(ts_env, "app:parent", {"bad": bad, "name": name})
    errors = result["errors"]
    assert errors[0] == (
        "Invalid: process.spawn(app:sleeper): workflow.execution_timeout must not be negative, "
        "got -0.005s"
    )
    assert errors[1].startswith("Invalid: process.spawn(app:sleeper): workflow.cron_schedule: ")
    assert "nosuch not declared in the temporal.client entry" in errors[2]
    assert errors[3].startswith(
        "NotFound: process.spawn(app:sleeper): host 'app:wroker' is not a temporal.worker entry"
    )
    # :with_name is an explicit id: use_existing by default, the second message reaches it
    assert result["same"] is True
    assert result["result"] == ["n", "a=1", "d=4"]


EXEC_TABLE_PARENT = """\
local workflow = require("workflow")
local function main(input)
  local id = input.id
  local value = workflow.exec({workflow = "app:whoami", ["workflow.id"] = id})
  local _, bad = workflow.exec({workflow = "app:whoami", ["workfow.id"] = "typo"})
  local _, odd = workflow.exec({workflow = "app:whoami", timeout = 5})
  return {value = value, bad = bad:kind(), bad_msg = bad:message(), odd = odd:kind()}
end
return { main = main }
"""

WHOAMI = """\
local workflow = require("workflow")
local function main() return workflow.info().workflow_id end
return { main = main }
"""


async def test_workflow_exec_table_form_takes_start_options_and_refuses_other_keys(
    ts_env, make_app
):
    app = make_app(
        workflow_entry("parent", "parent.lua", "[workflow]")
        + workflow_entry("whoami", "whoami.lua", "[workflow]"),
        {"parent.lua": EXEC_TABLE_PARENT, "whoami.lua": WHOAMI},
    )
    app.no_cache = True
    child_id = f"whoami-{uuid.uuid4().hex[:8]}"
    result = await app.execute(ts_env, "app:parent", {"id": child_id})
    assert result["value"] == child_id
    assert result["bad"] == "Invalid" and result["odd"] == "Invalid"
    assert "workflow.exec: unknown key 'workfow.id'" in result["bad_msg"]
