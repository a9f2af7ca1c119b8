"""`moonflow run APP -x ENTRY` starts the app's auto-start services first and lets them run
until every process waits, so a name a service registers in its first step is there when the
entry first sends to it (a newcomer's client failed with "could not resolve 'counter'" 3 times of
3); a service that never waits holds the entry up for at most a second, not forever.
App: tests/integration/apps/process_newcomer_services/ (no Temporal)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ._cli import moonflow

pytestmark = pytest.mark.integration

APP = Path(__file__).parent / "apps" / "process_newcomer_services"

#: A second auto-start service that never lets the node settle (busy.lua).
BUSY = """
  - name: busy_proc
    kind: process.lua
    source: file://busy.lua
    method: busy

  - name: busy
    kind: process.service
    process: svc:busy_proc
    host: svc:host
    lifecycle:
      auto_start: true
"""


def client(app: Path) -> dict[str, object]:
    """`moonflow run APP -x svc:client 4`: its JSON result (it must exit 0)."""
    proc = moonflow("run", str(app), "-x", "svc:client", "4", timeout=60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("attempt", range(3))
def test_a_name_a_service_registers_first_is_there_when_the_x_entry_starts(attempt: int) -> None:
    assert client(APP) == {"total": 10}  # 1 + 2 + 3 + 4, each answered by the service


def test_a_service_that_never_waits_does_not_hold_the_x_entry_up(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    index = app / "_index.yaml"
    index.write_text(index.read_text() + BUSY)
    assert client(app) == {"total": 10}
