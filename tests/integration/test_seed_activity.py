"""The seed's activity example: ``charge_payment`` (and ``ship_order``), ``function.lua``
entries with ``modules: [http_client, json]`` as the seed's "Complete Example" defines them,
called by the seed's ``order_workflow.lua`` verbatim, against a payment/shipping provider
that is a real HTTP server on 127.0.0.1 (issue 16, done-when).

The seed gives the entries and the workflow, not the activities' Lua files: ``payment.lua``
and ``shipping.lua`` below are what a user would write with just those two modules. On the
dev server the workflow runs in real time, so the tests there follow it to its one-hour
timer (or to its end when the card is declined); the time-skipping server takes a run past
the timer to the end. ``test_example_orders.py`` covers the same workflow as the packaged
example app through the CLI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import history_events

pytestmark = pytest.mark.integration

# --- the seed, verbatim ------------------------------------------------------------------
# workflows.md, "Complete Example", the entries after the client and worker (make_app adds
# those: same names, a task queue of the test's own).
SEED_ENTRIES = """\
  - name: order_workflow
    kind: workflow.lua
    source: file://order_workflow.lua
    method: main
    modules:
      - funcs
      - time
      - workflow
      - errors
    meta:
      temporal:
        workflow:
          worker: app:worker

  - name: validate_order
    kind: function.lua
    source: file://order.lua
    method: validate
    modules:
      - errors
    meta:
      temporal:
        activity:
          worker: app:worker
          local: true

  - name: charge_payment
    kind: function.lua
    source: file://payment.lua
    method: charge
    modules:
      - http_client
      - json
    meta:
      temporal:
        activity:
          worker: app:worker

  - name: ship_order
    kind: function.lua
    source: file://shipping.lua
    method: ship
    modules:
      - http_client
      - json
    meta:
      temporal:
        activity:
          worker: app:worker
"""

# workflows.md, "Complete Example", order_workflow.lua.
ORDER_WORKFLOW = """\
local funcs = require("funcs")
local time = require("time")
local workflow = require("workflow")
local errors = require("errors")

local function main(order)
    -- Update search attributes
    workflow.attrs({
        search = {status = "validating", customer_id = order.customer_id}
    })

    -- Validate order (local activity)
    local valid, err = funcs.call("app:validate_order", order)
    if err then
        workflow.attrs({search = {status = "rejected"}})
        return {status = "rejected", error = tostring(err)}
    end

    -- Charge payment
    workflow.attrs({search = {status = "charging"}})
    local payment, err = funcs.call("app:charge_payment", {
        amount = order.total,
        customer = order.customer_id
    })
    if err then
        workflow.attrs({search = {status = "payment_failed"}})
        return {status = "payment_failed", error = tostring(err)}
    end

    -- Wait for fulfillment window
    workflow.attrs({search = {status = "awaiting_fulfillment"}})
    time.sleep("1h")

    -- Ship order
    workflow.attrs({search = {status = "shipping"}})
    local shipment, err = funcs.call("app:ship_order", {
        order_id = order.id,
        address = order.shipping_address
    })
    if err then
        -- Refund on shipping failure
        funcs.call("app:refund_payment", payment.id)
        workflow.attrs({search = {status = "shipping_failed"}})
        return {status = "shipping_failed", error = tostring(err)}
    end

    workflow.attrs({search = {status = "completed"}})
    return {
        status = "completed",
        payment_id = payment.id,
        tracking = shipment.tracking_number
    }
end

return { main = main }
"""

# --- what the seed leaves to the user ------------------------------------------------------
ORDER = """\
local function validate(order)
    if type(order.total) ~= "number" or order.total <= 0 then
        return nil, errors.new({kind = errors.INVALID, message = "order total must be positive", retryable = false})
    end
    return true
end
return { validate = validate }
"""

# The provider's URL is written in when the test starts its server.
PAYMENT = """\
-- charge_payment: charge the customer at the payment provider.
local http_client = require("http_client")
local json = require("json")

local PROVIDER = "{url}"

local function charge(req)
    local resp, err = http_client.post(PROVIDER .. "/charges", {
        headers = {["Content-Type"] = "application/json"},
        body = json.encode({amount = req.amount, customer = req.customer}),
        timeout = 10,
    })
    if err then
        return nil, err -- network failure or timeout: kind Internal, retryable
    end
    local body, derr = json.decode(resp.body)
    if derr then
        return nil, derr
    end
    if resp.status_code == 402 then
        return nil, errors.new({kind = errors.INVALID, message = "payment declined: " .. body.message, retryable = false})
    end
    if resp.status_code ~= 201 then
        return nil, errors.new({kind = errors.UNAVAILABLE, message = "provider answered HTTP " .. resp.status_code, retryable = true})
    end
    return {id = body.id, amount = body.amount}
end

return { charge = charge }
"""

SHIPPING = """\
-- ship_order: book the shipment at the provider.
local http_client = require("http_client")
local json = require("json")

local PROVIDER = "{url}"

local function ship(req)
    local resp, err = http_client.post(PROVIDER .. "/shipments", {
        headers = {["Content-Type"] = "application/json"},
        body = json.encode(req),
        timeout = "10s",
    })
    if err then
        return nil, err
    end
    if resp.status_code ~= 201 then
        return nil, errors.new({kind = errors.INVALID, message = "shipment refused: " .. resp.body, retryable = false})
    end
    return json.decode(resp.body)
end

return { ship = ship }
"""


# --- the provider --------------------------------------------------------------------------
@dataclass
class Provider:
    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    unavailable_once: set[str] = field(default_factory=set)  # customers whose 1st charge 503s
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, content_type: str, data: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            self.calls.append({"path": path, "content_type": content_type, "body": data})
            n = len(self.calls)
            if path == "/charges":
                customer = data.get("customer")
                if customer in self.unavailable_once:
                    self.unavailable_once.discard(customer)
                    return 503, {"message": "try again"}
                if data.get("amount", 0) > 1000:
                    return 402, {"error": "card_declined", "message": "insufficient funds"}
                return 201, {"id": f"ch_{n}", "amount": data["amount"]}
            if path == "/shipments":
                return 201, {"tracking_number": f"TRK-{data['order_id']}"}
            return 404, {"message": "no route"}

    def charges(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"] == "/charges"]


@pytest.fixture
def provider() -> Iterator[Provider]:
    state: dict[str, Provider] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = state["p"].answer(
                self.path, self.headers.get("Content-Type", ""), json.loads(raw or b"{}")
            )
            out = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["p"] = Provider(f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state["p"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def seed_app(make_app, provider):
    return make_app(
        SEED_ENTRIES,
        {
            "order_workflow.lua": ORDER_WORKFLOW,
            "order.lua": ORDER,
            "payment.lua": PAYMENT.replace("{url}", provider.url),
            "shipping.lua": SHIPPING.replace("{url}", provider.url),
        },
    )


def order(n: int, total: float, customer: str) -> dict[str, Any]:
    return {"id": f"o{n}", "total": total, "customer_id": customer, "shipping_address": "1 Main"}


async def wait_for_event(env: Any, wid: str, key: str, timeout: float = 60) -> list[Any]:
    """The run's history once it holds an event with attributes ``key``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        events = await history_events(env, wid)
        if any(key in e for e in events):
            return events
        assert loop.time() < deadline, f"no {key} in {wid} within {timeout} s"
        await asyncio.sleep(0.2)


# --- tests ---------------------------------------------------------------------------------
async def test_declined_card_ends_the_workflow_on_the_dev_server(dev_env, seed_app, provider):
    result = await seed_app.execute(dev_env, "app:order_workflow", order(1, 5000, "c-declined"))
    assert result == {"status": "payment_failed", "error": "payment declined: insufficient funds"}
    [charge] = provider.charges()
    assert charge["body"] == {"amount": 5000, "customer": "c-declined"}
    assert charge["content_type"] == "application/json"


async def test_charge_reaches_the_fulfillment_timer_on_the_dev_server(dev_env, seed_app, provider):
    # the provider is down for this customer's first charge: the retryable error makes
    # Temporal run the activity again, and the second charge goes through
    provider.unavailable_once.add("c-ok")
    async with seed_app.workers(dev_env):
        handle = await seed_app.start(dev_env, "app:order_workflow", order(2, 42.5, "c-ok"))
        events = await wait_for_event(dev_env, handle.id, "timerStartedEventAttributes")
        desc = await handle.describe()
    charges = provider.charges()
    assert [c["body"] for c in charges] == [{"amount": 42.5, "customer": "c-ok"}] * 2
    completed = [
        e["activityTaskCompletedEventAttributes"]
        for e in events
        if "activityTaskCompletedEventAttributes" in e
    ]
    [charged] = completed
    payload = charged["result"]["payloads"][0]
    assert json.loads(base64.b64decode(payload["data"])) == {"id": "ch_2", "amount": 42.5}
    started = [e for e in events if "activityTaskStartedEventAttributes" in e]
    assert started[0]["activityTaskStartedEventAttributes"]["attempt"] == 2
    [timer] = [
        e["timerStartedEventAttributes"] for e in events if "timerStartedEventAttributes" in e
    ]
    assert timer["startToFireTimeout"] == "3600s"
    assert desc.search_attributes.get("status") == ["awaiting_fulfillment"]


async def test_whole_order_past_the_timer_on_the_time_skipping_server(ts_env, seed_app, provider):
    result = await seed_app.execute(ts_env, "app:order_workflow", order(3, 99, "c-full"))
    assert result == {"status": "completed", "payment_id": "ch_1", "tracking": "TRK-o3"}
    assert [c["path"] for c in provider.calls] == ["/charges", "/shipments"]
    assert provider.calls[1]["body"] == {"order_id": "o3", "address": "1 Main"}
