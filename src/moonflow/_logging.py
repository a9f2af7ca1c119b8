"""Where the Temporal SDK's own log lines go.

The SDK core (Rust) prints its log lines to stdout unless told otherwise, which would corrupt a
command whose stdout is one JSON line (and a user's own program's output). Every client
moonflow connects uses :func:`sdk_runtime`, which forwards core logs into Python logging under
``temporalio.core`` (so they go wherever the application's logging goes, stderr by default).
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

CORE_LOGGER = "temporalio.core"

# A capability warning the bundled time-skipping test server triggers on every worker start;
# it concerns heartbeat details on servers older than 1.16 and means nothing for moonflow.
_NOISE = ("activity_failure_include_heartbeat",)

_runtime: Runtime | None = None


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in _NOISE)


def sdk_runtime() -> Runtime:
    """The process's Temporal runtime, with core logs (WARN and up) forwarded to Python logging."""
    global _runtime
    if _runtime is None:
        logger = logging.getLogger(CORE_LOGGER)
        logger.addFilter(_DropNoise())
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logger),
                )
            )
        )
    return _runtime


def configure(debug: bool = False) -> None:
    """Quiet set-up for tests and tools: logs to stderr, WARNING and up (DEBUG with ``debug``).

    Failed activity attempts are normal business results (the workflow receives the error), so
    the SDK's per-attempt traceback is shown only with ``debug``.
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(name)s: %(message)s"
    )
    # The SDK's own INFO lines (worker start/stop, ...) are noise on a command's stderr, even
    # with --debug. Set here, never on import: an application importing moonflow keeps its own.
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    # Lua print()/logger output and moonflow's own notices are part of the app's output.
    logging.getLogger("moonflow.lua").setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
        # Workflow-task failures are reported by moonflow in one line (moonflow.worker).
        logging.getLogger("temporalio.worker._workflow_instance").setLevel(logging.CRITICAL)
        logging.getLogger("temporalio.worker._workflow").setLevel(logging.CRITICAL)
        logging.getLogger(CORE_LOGGER).setLevel(logging.ERROR)
