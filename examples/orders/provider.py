"""A tiny local payment + shipping provider for the orders example (stdlib only).

Run it on its own::

    python examples/orders/provider.py --port 8765 --log /tmp/provider.jsonl

or start it in-process with :func:`start`. Endpoints (JSON in, JSON out):

* ``POST /charges`` ``{"amount": 129.5, "customer_id": "cust-42"}`` -> 200
  ``{"id": "pay_...", "amount": ..., "customer_id": ...}``. Declines with 402
  ``{"error": "card_declined", "message": ...}`` when ``amount`` > 10000 or the customer id
  starts with ``declined``. A customer id starting with ``flaky`` gets one 503 first (to watch
  Temporal retry the activity). A missing or non-positive amount is a 400.
* ``POST /refunds`` ``{"payment_id": "pay_..."}`` -> 200 ``{"id": "re_...", "payment_id": ...}``;
  404 for an unknown payment.
* ``POST /shipments`` ``{"order_id": "...", "address": {...} | "..."}`` -> 200
  ``{"tracking_number": "TRK...", "carrier": "moonpost"}``; 422 ``{"error": "undeliverable"}``
  when the address is ``"FAIL"`` or mentions ``nowhere`` (any case).
* ``GET /health`` -> 200 ``{"ok": true}``.

With ``--log FILE`` every call is appended to FILE as one JSON line
``{"method", "path", "request", "status", "response"}``, which is handy to count calls.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8765
DECLINE_ABOVE = 10_000

Reply = tuple[int, dict[str, Any]]


class Provider:
    """The provider's state: payments taken, refunds made, flaky customers already failed."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, str] = {}
        self._flaked: set[str] = set()
        self._lock = threading.Lock()

    def charge(self, req: dict[str, Any]) -> Reply:
        amount, customer = req.get("amount"), str(req.get("customer_id") or "")
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
            return 400, {"error": "bad_request", "message": "amount must be a positive number"}
        if customer.startswith("flaky") and customer not in self._flaked:
            self._flaked.add(customer)
            return 503, {"error": "unavailable", "message": "try again"}
        if amount > DECLINE_ABOVE or customer.startswith("declined"):
            return 402, {"error": "card_declined", "message": f"card declined for {customer}"}
        payment = {"id": "pay_" + secrets.token_hex(6), "amount": amount, "customer_id": customer}
        self.payments[payment["id"]] = payment
        return 200, payment

    def refund(self, req: dict[str, Any]) -> Reply:
        payment_id = req.get("payment_id")
        if payment_id not in self.payments:
            return 404, {"error": "not_found", "message": f"no payment {payment_id!r}"}
        refund_id = self.refunds.setdefault(payment_id, "re_" + secrets.token_hex(6))
        return 200, {"id": refund_id, "payment_id": payment_id}

    def ship(self, req: dict[str, Any]) -> Reply:
        address = req.get("address")
        if isinstance(address, dict):
            text = ", ".join(str(v) for v in address.values())
        else:
            text = str(address)
        if not address or address == "FAIL" or "nowhere" in text.lower():
            return 422, {"error": "undeliverable", "message": f"cannot deliver to {text}"}
        tracking = "TRK" + secrets.token_hex(5).upper()
        return 200, {"tracking_number": tracking, "carrier": "moonpost"}

    def handle(self, method: str, path: str, req: Any) -> Reply:
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], Reply]] = {
            ("POST", "/charges"): self.charge,
            ("POST", "/refunds"): self.refund,
            ("POST", "/shipments"): self.ship,
        }
        if (method, path) == ("GET", "/health"):
            return 200, {"ok": True}
        route = routes.get((method, path))
        if route is None:
            return 404, {"error": "not_found", "message": f"no route {method} {path}"}
        if not isinstance(req, dict):
            return 400, {"error": "bad_request", "message": "body must be a JSON object"}
        with self._lock:
            status, body = route(req)
            self._log(method, path, req, status, body)
        return status, body

    def _log(self, method: str, path: str, req: Any, status: int, body: Any) -> None:
        if self.log_path is None:
            return
        line = {"method": method, "path": path, "request": req, "status": status, "response": body}
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: the JSON log is the record
            pass

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                req = json.loads(raw) if raw else {}
            except ValueError:
                status, body = 400, {"error": "bad_request", "message": "body is not JSON"}
            else:
                status, body = provider.handle(self.command, self.path.split("?")[0], req)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


def start(
    port: int = DEFAULT_PORT, host: str = "127.0.0.1", log_path: Path | None = None
) -> tuple[ThreadingHTTPServer, Provider]:
    """Start the provider in a daemon thread; returns the server (``.shutdown()`` stops it).

    Raises:
        OSError: the port is taken.
    """
    provider = Provider(log_path)
    server = ThreadingHTTPServer((host, port), _handler(provider))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="orders-provider", daemon=True).start()
    return server, provider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log", type=Path, help="append one JSON line per call to this file")
    args = parser.parse_args()
    provider = Provider(args.log)
    server = ThreadingHTTPServer((args.host, args.port), _handler(provider))
    print(f"provider listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
