"""``make demo``: run the orders example end to end, offline, in a few seconds.

1. Starts the local payment/shipping provider (``provider.py``) on 127.0.0.1:8765, the address
   ``config.lua`` points the activities at.
2. Runs ``moonflow execute examples/orders app:order_workflow --input-file <order>
   --server time-skipping``: moonflow starts the bundled time-skipping Temporal server and the
   app's worker, runs the workflow (its one-hour fulfillment wait takes no wall time) and prints
   the result as one line of JSON.
3. Prints the result and the provider calls, and exits with moonflow's exit code (0 completed,
   1 failed, 2 bad app or arguments).

Usage: ``python examples/orders/demo.py [ORDER_JSON] [--server SPEC]``; ORDER_JSON defaults to
``examples/orders/order.json`` (try ``order_declined.json`` and ``order_bad_address.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import provider  # noqa: E402 - the example's own module, next to this file


def moonflow_command() -> list[str]:
    """The ``moonflow`` CLI of the running interpreter's environment."""
    return [sys.executable, "-m", "moonflow"]


def last_json_line(text: str) -> object:
    """The result line of ``moonflow execute`` (the last line of stdout that is JSON)."""
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the orders example end to end.")
    parser.add_argument("order", nargs="?", type=Path, default=HERE / "order.json")
    parser.add_argument("--server", default="time-skipping", help="moonflow --server SPEC")
    args = parser.parse_args()

    log_path = Path(tempfile.mkdtemp(prefix="orders-demo-")) / "provider.jsonl"
    try:
        server, _ = provider.start(provider.DEFAULT_PORT, log_path=log_path)
    except OSError as e:
        print(
            f"demo: cannot start the provider on 127.0.0.1:{provider.DEFAULT_PORT} ({e}): "
            "stop whatever uses that port and run the demo again",
            file=sys.stderr,
        )
        return 2
    print(f"[demo] provider listening on http://127.0.0.1:{provider.DEFAULT_PORT}")
    order = json.loads(args.order.read_text(encoding="utf-8"))
    print(
        f"[demo] order {order.get('id')}: total {order.get('total')}, "
        f"fulfillment window {order.get('fulfillment_window', '1h')}"
    )
    cmd = [
        *moonflow_command(),
        "execute",
        _short(HERE),
        "app:order_workflow",
        "--input-file",
        _short(args.order),
        "--server",
        args.server,
    ]
    print("[demo] $ moonflow " + " ".join(cmd[3:]), flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    finally:
        server.shutdown()
        server.server_close()
    elapsed = time.monotonic() - t0
    result = last_json_line(proc.stdout)
    print(f"[demo] moonflow exited with {proc.returncode} after {elapsed:.1f}s; result:")
    print(json.dumps(result, indent=2) if result is not None else proc.stdout, flush=True)
    lines = log_path.read_text().splitlines() if log_path.exists() else []
    calls = [json.loads(line) for line in lines]
    print("[demo] provider calls:")
    for c in calls:
        print(f"  {c['method']} {c['path']} -> {c['status']} {json.dumps(c['response'])}")
    return proc.returncode


def _short(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (for readable output)."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


if __name__ == "__main__":
    sys.exit(main())
