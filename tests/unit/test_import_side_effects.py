"""Importing moonflow leaves the application's logging configuration alone (issue 17, item 15)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = r"""
import json, logging, sys

def snapshot():
    names = ["temporalio", "temporalio.activity", "temporalio.worker._workflow", "temporalio.core"]
    return {
        "levels": {n: logging.getLogger(n).level for n in names},
        "root_level": logging.getLogger().level,
        "root_handlers": len(logging.getLogger().handlers),
    }

before = snapshot()
import moonflow, moonflow.worker, moonflow.client, moonflow.devserver, moonflow.testing  # noqa
after_import = snapshot()
from moonflow import _logging
_logging.configure()
configured = snapshot()
print(json.dumps({"before": before, "after": after_import, "configured": configured}))
"""


def _run_probe() -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_moonflow_changes_no_logger() -> None:
    seen = _run_probe()
    assert seen["after"] == seen["before"]
    assert seen["before"]["levels"]["temporalio"] == 0  # NOTSET: the application decides


def test_cli_configuration_still_quiets_the_sdk() -> None:
    seen = _run_probe()["configured"]
    assert seen["levels"]["temporalio"] == 30  # WARNING, as the CLI always had
    assert seen["levels"]["temporalio.activity"] == 40
    assert seen["root_handlers"] == 1
