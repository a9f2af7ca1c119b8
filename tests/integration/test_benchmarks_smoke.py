"""The benchmark harness works: ``python -m benchmarks --smoke`` exits 0 and prints only JSON
lines with the expected keys. No timing assertions (CI machines vary)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = {"W1", "W1x2", "W2", "W3", "W4", "W5", "W6", "W7", "M1", "M2", "P1", "P2", "P3", "P4"}


def test_benchmarks_smoke_prints_json_lines():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, proc.stderr[-4000:]
    docs = [json.loads(ln) for ln in lines]  # every line is JSON
    machine = docs[0]["machine"]
    for key in ("cpu", "cores", "python", "temporalio", "lupa", "lua", "server"):
        assert key in machine
    seen = set()
    for doc in docs[1:]:
        for key in ("workload", "n", "reps", "lua", "native", "ratio", "elapsed_s"):
            assert key in doc, (key, doc)
        seen.add(doc["workload"])
        if doc["workload"].startswith("P"):  # process benchmarks: Lua processes vs asyncio
            assert {"met"} <= set(doc["target"]), doc
        if doc["native"] is not None:  # paired workloads: same figures on both sides
            assert set(doc["lua"]) >= set(doc["native"])
            for name, figures in doc["native"].items():
                if name == "all_runs":  # W6: percentiles over every run, not a summary
                    continue
                assert {"median", "min", "max"} <= set(figures)
    assert seen == WORKLOADS
