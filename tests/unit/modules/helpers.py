"""Helpers for the Python-written Lua module tests: states, snippets, fake entries."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from moonflow.lua import LuaRun, MachineHost


class RecordingHost(MachineHost):
    """Machine host that records ``log`` calls as ``(level, message, fields-as-Python)``."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, Any]] = []

    def log(self, level: str, message: str, fields: Any = None) -> None:
        py = self.state.to_python(fields, "fields") if fields is not None else None
        self.records.append((level, message, py))


class FakeWorkflowHost(RecordingHost):
    """Deterministic stand-in for the workflow host: fixed clock, seed and v4 sequence."""

    def __init__(self, now_ns: int, seed: int, uuids: list[str]) -> None:
        super().__init__()
        self.now = now_ns
        self.seed = seed
        self._uuids = list(uuids)

    def now_ns(self) -> int:
        return self.now

    def random_seed(self) -> int:
        return self.seed

    def uuid4(self) -> str:
        return self._uuids.pop(0)


def new_state(context: str = "activity", host: Any = None) -> LuaRun:
    """A fresh sandboxed state with ``host.state`` set."""
    host = host if host is not None else RecordingHost()
    state = LuaRun(context, host)
    host.state = state
    return state


def run(state: LuaRun, src: str) -> list[Any]:
    """Run a Lua snippet; ``M(name)`` gives a module. Returns its results converted to Python.

    Raises:
        AssertionError: the snippet raised (with the Lua error and traceback).
    """
    env = state.new_env()  # what an entry's code gets (strict, lazy module globals)
    env["M"] = state.module
    fn = state.sys.raw.load(textwrap.dedent(src), "=snippet", "t", env)
    if isinstance(fn, tuple):
        raise AssertionError(f"Lua syntax error: {fn[1]}")
    ok, res, tb = state.pcall(fn)
    if not ok:
        raise AssertionError(f"Lua error: {state.error_text(res)}\n{tb}")
    return [state.to_python(v, f"result[{i}]") for i, v in enumerate(res, 1)]


def run_error(state: LuaRun, src: str) -> str:
    """Run a Lua snippet that must raise; returns the error text."""
    env = state.new_env()  # what an entry's code gets (strict, lazy module globals)
    env["M"] = state.module
    fn = state.sys.raw.load(textwrap.dedent(src), "=snippet", "t", env)
    ok, res, _ = state.pcall(fn)
    assert not ok, "expected a Lua error"
    return state.error_text(res)


def load_entry(
    state: LuaRun, tmp_path: Path, src: str, modules: tuple[str, ...], method: str = "main"
) -> Any:
    """Load ``src`` as a Lua entry file (the way workers do) and return its ``method``."""
    path = tmp_path / "entry.lua"
    path.write_text(textwrap.dedent(src), encoding="utf-8")
    entry = SimpleNamespace(id="test:entry", where=lambda: f"{tmp_path}/_index.yaml:1")
    code = SimpleNamespace(entry=entry, source=path, method=method, modules=modules, imports={})
    return state.load_code(code)


def call(state: LuaRun, fn: Any, *args: Any) -> list[Any]:
    """Call a Lua function with Python arguments; results converted to Python."""
    ok, res, tb = state.pcall(fn, *(state.to_lua(a) for a in args))
    if not ok:
        raise AssertionError(f"Lua error: {state.error_text(res)}\n{tb}")
    return [state.to_python(v, f"result[{i}]") for i, v in enumerate(res, 1)]
