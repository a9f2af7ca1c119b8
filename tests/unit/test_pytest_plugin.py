"""The pytest plugin's pieces that need no server: its registration, that importing it starts
nothing, the option's spellings, and the error shapes of activity stubs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from moonflow import testing
from moonflow.errors import ErrorInfo, UsageError


def test_registered_as_a_pytest11_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="pytest11") if e.name == "moonflow"]
    assert ep.value == "moonflow.pytest_plugin"


def test_importing_the_plugin_imports_nothing_more_of_moonflow() -> None:
    # pytest imports it in every session of this venv: beyond the package itself, nothing
    # (the fixtures import moonflow.testing, the servers, the workers when a test asks)
    code = (
        "import sys, moonflow; before = set(sys.modules); import moonflow.pytest_plugin; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('moonflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['moonflow.pytest_plugin']"


def test_the_plugin_is_loaded_here(pytestconfig: pytest.Config) -> None:
    from moonflow.pytest_plugin import DEFAULT_SERVER, server_spec

    assert pytestconfig.pluginmanager.has_plugin("moonflow")
    assert server_spec(pytestconfig) in (DEFAULT_SERVER, pytestconfig.getoption("moonflow_server"))


async def test_open_env_refuses_unknown_specs() -> None:
    with pytest.raises(UsageError, match="expected time-skipping, dev, memory or HOST:PORT"):
        async with testing.open_env("embedded"):
            pass


def test_error_stub_shapes() -> None:
    from moonflow.testing import StubError, _error_info

    assert _error_info("a", "boom") == ErrorInfo("Internal", "boom", False)
    assert _error_info("a", {"kind": "Invalid", "message": "no"}) == ErrorInfo(
        "Invalid", "no", False
    )
    assert _error_info("a", StubError("X", "y", retryable=True)) == ErrorInfo("X", "y", True)
    with pytest.raises(UsageError, match="stub of a: error= takes"):
        _error_info("a", {"kind": "Invalid", "mesage": "typo"})
