"""The typed Lua dialect end to end: a workflow and an activity written with annotations run on
the time-skipping server and return what their plain twins return (lua-dialect.md)."""

from __future__ import annotations

import pytest

from moonflow.errors import AppError

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

TYPED_WORKFLOW = """\
local funcs = require("funcs")

type Order = {id: string, items: {{sku: string, qty: integer}}, note?: string}
type Totals<T> = {count: T, skus: {string}}

local function summarise<T>(order: Order): Totals<integer>
  local count: integer, skus: {string} = 0, {}
  for _, item: {sku: string, qty: integer} in ipairs(order.items) do
    count = count + item.qty
    skus[#skus + 1] = item.sku :: string
  end
  return {count = count, skus = skus}
end

local function main(order: Order): ({[string]: any}?, string?)
  local totals = summarise(order) as Totals<integer>
  local priced, err = funcs.call("app:price", {count = totals.count})
  if err then
    return nil, tostring(err)
  end
  local result: {[string]: any} = {
    id = order.id,
    count = totals.count,
    skus = table.concat(totals.skus, ","),
    price = (priced as {total: number}).total,
    kind = type(order.note),
  }
  return result
end

return { main = main }
"""

PLAIN_WORKFLOW = """\
local funcs = require("funcs")

local function summarise(order)
  local count, skus = 0, {}
  for _, item in ipairs(order.items) do
    count = count + item.qty
    skus[#skus + 1] = item.sku
  end
  return {count = count, skus = skus}
end

local function main(order)
  local totals = summarise(order)
  local priced, err = funcs.call("app:price", {count = totals.count})
  if err then
    return nil, tostring(err)
  end
  local result = {
    id = order.id,
    count = totals.count,
    skus = table.concat(totals.skus, ","),
    price = priced.total,
    kind = type(order.note),
  }
  return result
end

return { main = main }
"""

TYPED_ACTIVITY = """\
type Request = {count: integer}
interface Priced
  total: number
end

local function price(req: Request): Priced
  local unit: number = 2.5
  return {total = (req.count as number) * unit}
end

return { price = price }
"""

PLAIN_ACTIVITY = """\
local function price(req)
  local unit = 2.5
  return {total = req.count * unit}
end

return { price = price }
"""

ORDER = {"id": "o-1", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}]}


def _app(make_app, workflow: str, activity: str):
    return make_app(
        workflow_entry("orders", "orders.lua", "[funcs]")
        + activity_entry("price", "price.lua", "price"),
        {"orders.lua": workflow, "price.lua": activity},
    )


async def test_annotated_app_returns_what_its_plain_twin_returns(ts_env, make_app):
    typed = await _app(make_app, TYPED_WORKFLOW, TYPED_ACTIVITY).execute(
        ts_env, "app:orders", ORDER
    )
    plain = await _app(make_app, PLAIN_WORKFLOW, PLAIN_ACTIVITY).execute(
        ts_env, "app:orders", ORDER
    )
    assert typed == plain == {"id": "o-1", "count": 5, "skus": "a,b", "price": 12.5, "kind": "nil"}


def test_syntax_error_in_annotated_code_names_the_line(make_app):
    broken = TYPED_ACTIVITY.replace("local unit: number = 2.5", "local unit: {number = 2.5")
    with pytest.raises(AppError) as info:
        _app(make_app, PLAIN_WORKFLOW, broken)
    assert info.value.line == 7
    assert str(info.value).startswith("price.lua:7: ")
