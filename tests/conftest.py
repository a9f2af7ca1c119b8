"""Test-session plumbing shared by every test directory."""

from __future__ import annotations

import os
import sys

import pytest

_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The Temporal SDK core can abort the interpreter during finalization (PyGILState_Release,
    # exit 134) after all output is written; end the process with pytest's own exit status so
    # CI sees the real result (architecture.md, verified pitfalls).
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
