"""Small statistics helpers and the machine-info line."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def summary(values: list[float]) -> dict[str, float]:
    vs = sorted(values)
    return {
        "median": round(statistics.median(vs), 4),
        "min": round(vs[0], 4),
        "max": round(vs[-1], 4),
    }


def pct(values: list[float], p: float) -> float:
    vs = sorted(values)
    k = (len(vs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (k - lo)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def machine_info(temporal_bin: str) -> dict[str, Any]:
    import lupa.lua54 as lupa
    import temporalio

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        server = subprocess.run(
            [temporal_bin, "--version"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except OSError as e:
        server = f"unavailable: {e}"
    lua_version = "?"
    try:
        rt = lupa.LuaRuntime()
        lua_version = str(rt.eval("_VERSION"))
        jit = rt.eval("jit and jit.version")
        if jit:
            lua_version += f" ({jit})"
    except Exception:  # noqa: BLE001
        pass
    import os

    return {
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "temporalio": temporalio.__version__ if hasattr(temporalio, "__version__") else "?",
            "lupa": _dist_version("lupa"),
            "lua": lua_version,
            "server": server,
        }
    }
