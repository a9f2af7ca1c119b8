"""Values Python hands to Lua are built without the memory cap (``LuaVM.uncapped``): lupa
builds tables through unprotected Lua API calls, where a refused allocation is a Lua panic that
aborts the whole worker process. The cap still stops the Lua code that runs afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from moonflow.errors import ErrorInfo
from moonflow.lua import LuaRun, MachineHost
from moonflow.worker._driver import DriverConfig, WorkflowDriver

# Runs in a child process: before the fix, the conversion aborted the interpreter (exit 134).
_CHILD = textwrap.dedent(
    """
    import sys
    from moonflow.lua import LuaRun, MachineHost

    context = sys.argv[1]
    host = MachineHost()
    state = LuaRun(context, host, None, max_memory=1 << 20)
    host.state = state
    with state.lock:
        state.arm_memory()
        value = state.to_lua([{"i": i} for i in range(40_000)], "activity result")
        print("converted", len(value), state.memory_used() > (1 << 20), flush=True)
        state.arm_memory()
        fn, err = state.vm.load_text(
            "local t = {} for i = 1, 1e6 do t[i] = {} end return #t", "=grow", state.new_env()
        )
        ok, _, _ = state.pcall(fn)
        print("grow", "ok" if ok else "refused", flush=True)
    """
)


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_a_value_larger_than_the_cap_enters_lua_and_the_cap_still_holds(context):
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, context], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["converted 40000 True", "grow refused"], proc.stdout


class _Code:
    workflow_worker = None


def test_error_details_lua_cannot_hold_are_dropped_not_raised():
    driver = WorkflowDriver(object(), _Code(), DriverConfig(None, 10**6))  # type: ignore[arg-type]
    host = MachineHost()
    state = LuaRun("workflow", host, None)
    host.state = state
    driver.state = state
    with state.lock:
        result = driver.error_table(ErrorInfo("Internal", "boom", False, details={"big": 2**70}))
        info = state.error_info(result["err"])
    assert result["ok"] is False
    assert info.kind == "Internal"
    assert info.message.startswith("boom (details dropped: ")
    assert "does not fit" in info.message
    assert info.details is None
