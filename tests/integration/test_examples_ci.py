"""Every app under ``examples/`` in CI (issue #15, item 5): its Lua tests pass under
``moonflow test``, and its recorded histories (``histories/*.jsonl``, written by ``moonflow
history`` through ``tests/replay/record.py``) replay under ``moonflow replay``, as a user runs
them: the commands as subprocesses, no provider and no server started here (``moonflow test``
starts its own time-skipping server; ``moonflow replay`` of files needs none)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "_index.yaml").is_file())
MOONFLOW = [sys.executable, "-m", "moonflow"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOONFLOW, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


def test_the_examples_are_found() -> None:
    assert [p.name for p in EXAMPLES] == ["orders"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_lua_tests_pass(example: Path) -> None:
    run = _run("test", str(example.relative_to(REPO)))
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, 0 failed", last)
    assert m and int(m.group(1)) >= 3, run.stdout
    if example.name == "orders":
        for name in ("completed", "payment_failed", "shipping_failed"):
            assert re.search(rf"PASS  orders  app\.tests:{name}  \(", run.stdout), run.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_histories_replay(example: Path) -> None:
    histories = sorted((example / "histories").glob("*.jsonl"))
    if example.name == "orders":
        assert [p.stem for p in histories] == [
            "order-completed",
            "order-payment-failed",
            "order-shipping-failed",
        ]
    assert histories, f"{example} has no recorded histories (tests/replay/record.py)"
    run = _run("replay", str(example.relative_to(REPO)), *map(str, histories))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [f"ok  {p.stem}" for p in histories]
    n = len(histories)
    assert f"moonflow: {n} of {n} histories replayed" in run.stderr
