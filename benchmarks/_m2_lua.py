"""What an idle workflow run holds in Lua, phase by phase: ``python -m benchmarks._m2_lua [N]``.

Makes N runs of M2's workflow (``time.sleep("1h")``) in one Lua state the way the driver does
(``LuaRun``, ``load_code``, ``kernel.start``, ``kernel.run`` until it waits on the timer), without
Temporal, and prints the growth of ``collectgarbage("count")`` per run after each phase (after
full collections), then the fields of one idle run's private tables. Lua heap only: what Python
holds per run is M2's ``rss_kb_per_wf`` minus this, roughly.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from moonflow.lua import LuaRun, MachineHost
from moonflow.lua._vm import LuaVM

from ._apps import write_lua_app


class _Host(MachineHost):
    """A fixed clock and seed, as a workflow host gives (no Temporal here)."""

    def now_ns(self) -> int:
        return 1_700_000_000_000_000_000

    def random_seed(self) -> int:
        return 42


def _keys(run: LuaRun, table: Any) -> list[str]:
    raw_next, out, k = run.sys.raw.next, [], None
    while True:
        r = raw_next(table, k)
        if r is None:
            return sorted(out)
        k = r[0] if isinstance(r, tuple) else r
        out.append(str(k))


def main(n: int) -> None:
    app, _ = write_lua_app("localhost:7233", Path(tempfile.mkdtemp()))
    code = app.spec("app:idle")
    vm = LuaVM("workflow", None)

    def heap_kb() -> float:
        vm.collectgarbage("collect")
        vm.collectgarbage("collect")
        return float(vm.collectgarbage("count"))

    def make() -> LuaRun:
        host = _Host()
        run = LuaRun("workflow", host, app, vm=vm)
        host.state = run
        return run

    warm = make()  # state-wide things made on first use (time's shared half, errors, ...)
    warm.kernel.start(warm.load_code(code), warm.pack([1]))
    warm.kernel.run()
    rows: list[tuple[str, float]] = []
    start = last = heap_kb()

    def phase(name: str) -> None:
        nonlocal last
        now = heap_kb()
        rows.append((name, (now - last) * 1024 / n))
        last = now

    runs = [make() for _ in range(n)]
    phase("LuaRun(): private sys, kernel instance, guard")
    for r in runs:
        r.module("time")
    phase('the run\'s "time" module instance')
    fns = [r.load_code(code) for r in runs]
    phase("load_code: entry environment, require, chunk, main closure")
    for r, fn in zip(runs, fns, strict=True):
        r.kernel.start(fn, r.pack([1]))
    del fns
    phase("kernel.start: main task and coroutine")
    for r in runs:
        status, _ = r.kernel.run()
        assert status == "blocked", status
    phase("kernel.run until it waits on the 1 h timer: stack, pending command")
    for name, b in rows:
        print(f"{b:8.0f} B  {name}")
    print(f"{(last - start) * 1024 / n:8.0f} B  per idle run (N={n})")
    one = runs[0]
    for name, table in (("run (private sys)", one.sys), ("kernel", one.kernel)):
        keys = _keys(one, table)
        print(f"{name}: {len(keys)} fields: {' '.join(keys)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
