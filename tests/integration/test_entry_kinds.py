"""Entry kinds working together: library.lua imports, process.lua activities, custom workflow
type names, and the JSON conversion rules across a real activity round trip."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration


async def test_library_imports_and_process_activity(ts_env, make_app):
    entries = """
- name: fmt
  kind: library.lua
  source: file://lib/fmt.lua
  modules: [json]
- name: flow
  kind: workflow.lua
  source: file://flow.lua
  method: main
  modules: [funcs]
  imports: {fmt: app:fmt}
  meta:
    temporal:
      workflow:
        worker: app:worker
        name: custom-flow-type
- name: proc
  kind: process.lua
  source: file://proc.lua
  method: run
  imports: {fmt: fmt}
  meta:
    temporal:
      activity:
        worker: worker
"""
    files = {
        "lib/fmt.lua": """\
            local json = require("json")
            local M = {}
            function M.label(x) return "<" .. json.encode(x) .. ">" end
            return M
        """,
        "flow.lua": """\
            local funcs = require("funcs")
            local fmt = require("fmt")
            local function main(x)
                local r, err = funcs.call("app:proc", x, {n = 2})
                return {wf = fmt.label(x), act = r}
            end
            return { main = main }
        """,
        "proc.lua": """\
            local fmt = require("fmt")
            return { run = function(x, opts) return fmt.label({x = x, n = opts.n}) end }
        """,
    }
    app = make_app(entries, files)
    assert app.app.workflow_type("app:flow") == "custom-flow-type"
    got = await app.execute(ts_env, "app:flow", {"a": [1, 2]})
    assert got == {"wf": '<{"a":[1,2]}>', "act": '<{"n":2,"x":{"a":[1,2]}}>'}


async def test_values_round_trip_through_an_activity(ts_env, make_app):
    src = """\
    local funcs = require("funcs")
    local function main(input)
        local echoed = funcs.call("app:echo", input)
        local made = funcs.call("app:make")
        return {echoed = echoed, made = made}
    end
    return { main = main }
    """
    acts = """\
    return {
      echo = function(x) return x end,
      make = function() return {empty = {}, int = 3, float = 3.0, big = math.maxinteger, s = "ü", list = {1, 2}} end,
    }
    """
    app = make_app(
        workflow_entry("flow", "flow.lua")
        + activity_entry("echo", "acts.lua", "echo")
        + activity_entry("make", "acts.lua", "make"),
        {"flow.lua": src, "acts.lua": acts},
    )
    value = {"obj": {}, "arr": [], "nulls": [1, None, 3], "f": 1.0, "i": 1, "big": 2**62, "s": "x"}
    got = await app.execute(ts_env, "app:flow", value)
    assert got["echoed"] == value
    assert type(got["echoed"]["f"]) is float and type(got["echoed"]["i"]) is int
    assert got["made"] == {
        "empty": [],
        "int": 3,
        "float": 3.0,
        "big": 2**63 - 1,
        "s": "ü",
        "list": [1, 2],
    }
    assert type(got["made"]["float"]) is float


async def test_unencodable_activity_argument_is_invalid_at_call_site(ts_env, make_app):
    src = """\
    local funcs = require("funcs")
    local function main()
        local r, err = funcs.call("app:echo", {items = {1, 2, function() end}})
        local r2, err2 = funcs.call("app:echo", {1, 2, x = 3})
        return {kind = err:kind(), msg = err:message(), kind2 = err2:kind()}
    end
    return { main = main }
    """
    app = make_app(
        workflow_entry("flow", "flow.lua") + activity_entry("echo", "acts.lua", "echo"),
        {"flow.lua": src, "acts.lua": "return {echo = function(x) return x end}"},
    )
    got = await app.execute(ts_env, "app:flow")
    assert got["kind"] == "Invalid" and got["kind2"] == "Invalid"
    assert "argument 1.items[3]" in got["msg"] and "function" in got["msg"]


async def test_unencodable_workflow_result_fails_naming_path(ts_env, make_app):
    src = """\
    local function main() return {ok = true, bad = {1, nil, 3}} end
    return { main = main }
    """
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": src})
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:flow")
    assert "result.bad" in exc.value.cause.message and "sparse" in exc.value.cause.message
