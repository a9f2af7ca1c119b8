"""Process-wide logging set-up for the CLI and tests.

The Temporal SDK core (Rust) writes its own log lines to stdout unless told otherwise, and the
Python SDK logs every failed activity attempt with a traceback at WARNING. For a command whose
stdout is one JSON line, both must be routed to stderr and kept quiet unless ``--debug``.
"""

from __future__ import annotations

import logging
import sys

from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

_done = False


def configure(debug: bool = False) -> None:
    """Send all logs to stderr; WARNING and up (DEBUG with ``debug``); quiet SDK core."""
    global _done
    if _done:
        return
    _done = True
    level = logging.DEBUG if debug else logging.WARNING
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s"
    )
    if not debug:
        # Failed activity attempts are normal business results here (the workflow gets the
        # error); the SDK would print a traceback for each.
        logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
        logging.getLogger("temporalio.worker._activity").setLevel(logging.ERROR)
        logging.getLogger("temporalio.worker._workflow_instance").setLevel(logging.ERROR)
    core = "INFO" if debug else "ERROR"
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level=core, other_level=core))
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
