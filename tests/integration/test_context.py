"""Context values (issue #13, item 4): process.with_context on a spawn is seen by the child
(ctx.get / ctx.all), by the activities it calls and by its own children; a per-call
funcs.new():with_context value reaches that one activity only. Workflow cache off.

Run with moonflow's pytest plugin: ``moonflow_app`` runs the app ``make_app`` writes on the
session's ``moonflow_env`` server (time-skipping unless ``--moonflow-server`` says otherwise)."""

from __future__ import annotations

import pytest

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

ROOT = """\
local ctx = require("ctx")
local function main()
  local _, none = ctx.get("tenant")
  return {
    before = none:kind(),
    child = process.with_context({tenant = "acme", level = 2}):exec("app:middle", nil),
  }
end
return { main = main }
"""

MIDDLE = """\
local ctx = require("ctx")
local funcs = require("funcs")
local workflow = require("workflow")
local function main()
  local tenant = ctx.get("tenant")
  local plain = funcs.call("app:probe")
  local extra = funcs.new():with_context({request = "r-1"}):call("app:probe")
  local again = funcs.call("app:probe")
  local grandchild = workflow.exec("app:leaf")
  local _, bad = ctx.get(5)
  return {tenant = tenant, all = ctx.all(), plain = plain, extra = extra, again = again,
    grandchild = grandchild, bad = bad:kind()}
end
return { main = main }
"""

LEAF = """\
local ctx = require("ctx")
local function main() return ctx.all() end
return { main = main }
"""

PROBE = """\
local ctx = require("ctx")
local function probe()
  local request = ctx.get("request")
  return {tenant = ctx.get("tenant"), request = request or "none"}
end
return { probe = probe }
"""


NO_CACHE = {"max_cached_workflows": 0}


async def test_context_reaches_children_activities_and_grandchildren(moonflow_app, make_app):
    written = make_app(
        workflow_entry("root", "root.lua", "[ctx]")
        + workflow_entry("middle", "middle.lua", "[ctx, funcs, workflow]")
        + workflow_entry("leaf", "leaf.lua", "[ctx]")
        + activity_entry("probe", "probe.lua", "probe", "[ctx]"),
        {"root.lua": ROOT, "middle.lua": MIDDLE, "leaf.lua": LEAF, "probe.lua": PROBE},
    )
    app = await moonflow_app(written.root, worker_options=NO_CACHE)
    result = await app.execute("app:root")
    assert result == {
        "before": "NotFound",
        "child": {
            "tenant": "acme",
            "all": {"level": 2, "tenant": "acme"},
            "plain": {"tenant": "acme", "request": "none"},
            "extra": {"tenant": "acme", "request": "r-1"},  # that one call only
            "again": {"tenant": "acme", "request": "none"},
            "grandchild": {"level": 2, "tenant": "acme"},
            "bad": "Invalid",
        },
    }


async def test_context_set_at_a_top_level_start(moonflow_app, make_app):
    # the Python API (and the CLI's --context): the same header process.with_context writes
    written = make_app(
        workflow_entry("middle", "middle.lua", "[ctx, funcs, workflow]")
        + workflow_entry("leaf", "leaf.lua", "[ctx]")
        + activity_entry("probe", "probe.lua", "probe", "[ctx]"),
        {"middle.lua": MIDDLE, "leaf.lua": LEAF, "probe.lua": PROBE},
    )
    app = await moonflow_app(written.root, worker_options=NO_CACHE)
    ref = await app.start("app:middle", context={"tenant": "globex", "level": 1})
    result = await ref.result()
    assert result["tenant"] == "globex"
    assert result["plain"] == {"tenant": "globex", "request": "none"}
    assert result["grandchild"] == {"level": 1, "tenant": "globex"}
