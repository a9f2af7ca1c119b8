"""``yaml``, ``json.validate`` and ``env`` in a running app (lua-api.md §2.8, §2.12): a workflow
that reads YAML input, validates it against a JSON Schema and writes YAML, calling an activity
that reads the worker's environment; and a workflow listing ``env``, refused at load."""

from __future__ import annotations

import uuid

import pytest
import yaml

from moonflow.errors import AppError

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

WORKFLOW = """\
local funcs = require("funcs")
local yaml = require("yaml")
local json = require("json")

local SCHEMA = {
    type = "object",
    required = {"customer", "items"},
    properties = {
        customer = {type = "string", minLength = 1},
        items = {
            type = "array",
            minItems = 1,
            items = {
                type = "object",
                required = {"sku", "qty"},
                properties = {sku = {type = "string"}, qty = {type = "integer", minimum = 1}},
            },
        },
    },
}

local function main(input)
    local order, err = yaml.decode(input.order_yaml)
    if err then
        return {status = "bad_yaml", kind = err:kind(), error = err:message()}
    end
    local ok, verr = json.validate(SCHEMA, order)
    if not ok then
        return {status = "invalid", kind = verr:kind(), error = verr:message()}
    end
    local greeting, gerr = funcs.call("app:greeting", order.customer)
    if gerr then
        return {status = "failed", error = tostring(gerr)}
    end
    local total = 0
    for _, item in ipairs(order.items) do
        total = total + item.qty
    end
    local report = yaml.encode({greeting = greeting, customer = order.customer, units = total})
    return {status = "ok", report = report}
end

return {main = main}
"""

ACTIVITY = """\
local env = require("env")

local function greeting(customer)
    local prefix, err = env.get("MOONFLOW_IT_GREETING")
    if err then
        return nil, err
    end
    local _, missing = env.get("MOONFLOW_IT_SURELY_UNSET")
    return prefix .. ", " .. customer .. " (" .. missing:kind() .. ")"
end

return {greeting = greeting}
"""

ORDER = """\
customer: Zoë
items:
  - {sku: A-1, qty: 2}
  - sku: B-2
    qty: 3
"""


@pytest.fixture
def docs_app(make_app):
    return make_app(
        workflow_entry("orders", "orders.lua", "[funcs, yaml, json]")
        + activity_entry("greeting", "greeting.lua", "greeting", "[env]"),
        {"orders.lua": WORKFLOW, "greeting.lua": ACTIVITY},
    )


async def test_yaml_json_validate_and_env_end_to_end(ts_env, docs_app, monkeypatch):
    monkeypatch.setenv("MOONFLOW_IT_GREETING", "Grüß dich")
    monkeypatch.delenv("MOONFLOW_IT_SURELY_UNSET", raising=False)
    async with docs_app.workers(ts_env):
        run = ts_env.client.execute_workflow
        kw = {"task_queue": docs_app.task_queue}
        wf = docs_app.app.workflow_type("app:orders")

        result = await run(wf, {"order_yaml": ORDER}, id=f"docs-ok-{uuid.uuid4()}", **kw)
        assert result["status"] == "ok", result
        assert yaml.safe_load(result["report"]) == {
            "customer": "Zoë",
            "greeting": "Grüß dich, Zoë (NotFound)",
            "units": 5,
        }
        assert result["report"].startswith("customer: Zoë\n")  # sorted keys, raw UTF-8

        bad = ORDER.replace("qty: 3", "qty: 0")
        result = await run(wf, {"order_yaml": bad}, id=f"docs-invalid-{uuid.uuid4()}", **kw)
        assert result == {
            "status": "invalid",
            "kind": "Invalid",
            "error": "json.validate: $.items[1].qty: 0 is less than the minimum of 1",
        }

        result = await run(
            wf, {"order_yaml": "customer: [x\n"}, id=f"docs-bad-yaml-{uuid.uuid4()}", **kw
        )
        assert result["status"] == "bad_yaml" and result["kind"] == "Invalid"
        assert "line 2" in result["error"]


def test_a_workflow_listing_env_is_refused_at_load(make_app):
    with pytest.raises(AppError) as info:
        make_app(
            workflow_entry("orders", "orders.lua", "[funcs, env]"),
            {"orders.lua": "return {main = function() return 1 end}\n"},
        )
    message = str(info.value)
    assert "app:orders" in message
    assert "module 'env' is not supported in workflow context" in message
    assert "move the code that needs it into an activity" in message
