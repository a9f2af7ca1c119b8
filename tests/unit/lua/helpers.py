"""Small helpers to run Lua snippets in a real sandboxed state (no Temporal)."""

from __future__ import annotations

from typing import Any

from moonflow.lua import LuaRun, MachineHost


class FakeWorkflowHost(MachineHost):
    """Deterministic host standing in for the workflow host in unit tests."""

    def __init__(self, now_ns: int = 1_700_000_000_000_000_000, seed: int = 42) -> None:
        self._now = now_ns
        self._seed = seed

    def now_ns(self) -> int:
        return self._now

    def random_seed(self) -> int:
        return self._seed


def new_state(context: str = "activity", host: Any = None, **kw: Any) -> LuaRun:
    host = host or (FakeWorkflowHost() if context == "workflow" else MachineHost())
    state = LuaRun(context, host, **kw)
    host.state = state
    return state


def run(state: LuaRun, src: str, *args: Any) -> list[Any]:
    """Run Lua source as a chunk with modules reachable through ``M`` (the module getter).

    Returns the chunk's results as Lua values; raises AssertionError with the Lua error.
    """
    env = state.new_env()  # what an entry's code gets (strict, lazy module globals)
    env["M"] = state.module
    fn = state.sys.raw.load(src, "=snippet", "t", env)
    if isinstance(fn, tuple):
        raise AssertionError(f"Lua syntax error: {fn[1]}")
    ok, res, tb = state.pcall(fn, *args)
    if not ok:
        raise AssertionError(f"Lua error: {state.error_text(res)}\n{tb}")
    return res


def run_error(state: LuaRun, src: str) -> str:
    """Run Lua source that must raise; returns the error text."""
    env = state.new_env()  # what an entry's code gets (strict, lazy module globals)
    env["M"] = state.module
    fn = state.sys.raw.load(src, "=snippet", "t", env)
    ok, res, _ = state.pcall(fn)
    assert not ok, "expected a Lua error"
    return state.error_text(res)


def runs_sharing_a_state(**kw: Any) -> tuple[LuaRun, LuaRun]:
    """Two workflow runs in the same (pooled) Lua state."""
    first = new_state("workflow", **kw)
    for _ in range(32):
        other = new_state("workflow", **kw)
        if other.vm is first.vm:
            return first, other
    raise AssertionError("the pool never gave two runs the same state")


def exec_in_run(state: LuaRun, src: str) -> list[Any]:
    """Run ``src`` in a fresh entry environment of ``state`` (``M(name)`` loads a module);
    returns its results, tables as Python values."""
    env = state.new_env()
    env["M"] = state.module
    fn = state.sys.raw.load(src, "=snippet", "t", env)
    assert not isinstance(fn, tuple), fn
    ok, res, tb = state.pcall(fn)
    assert ok, f"{state.error_text(res)}\n{tb}"
    return [state.to_python(v) if not isinstance(v, (str, int, float, bool)) else v for v in res]


def load_main(state: LuaRun, src: str, *, with_time: bool = True) -> Any:
    """Run the top level of ``src`` in a fresh entry environment of ``state`` and return its
    results (as lupa hands them: index 0 is the first). The chunk finds ``M(name)`` (a
    module getter) and, unless ``with_time`` is False, ``M_time`` (the run's time module, made
    now)."""
    env = state.new_env()
    env["M"] = state.module
    if with_time:
        env["M_time"] = state.module("time")
    fn = state.sys.raw.load(src, "=main", "t", env)
    assert not isinstance(fn, tuple), fn
    ok, res, _ = state.pcall(fn)
    assert ok, res
    return res
