"""The ``moonflow`` command in a subprocess, as the CLI tests run it.

* :func:`cli_env`: the environment a user's shell would give it: this checkout's ``src`` first on
  ``PYTHONPATH``, and no ``$MOONFLOW_SERVER`` / ``$TEMPORAL_ADDRESS`` from the developer's shell
  (they would change which server a command reaches).
* :func:`moonflow`: one command run to its end, output captured as text.
* :func:`moonflow_run`: ``moonflow run ...`` in the background until it says ``Ctrl-C to stop``;
  on leaving, Ctrl-C (SIGINT) and the command must exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import moonflow.cli

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])
_FROM_SHELL = ("MOONFLOW_SERVER", "TEMPORAL_ADDRESS")


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without the server variables, ``SRC`` first on
    ``PYTHONPATH``, then ``extra`` (variable name -> value)."""
    env = {k: v for k, v in os.environ.items() if k not in _FROM_SHELL}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def moonflow(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``moonflow ARGS`` run to its end (``timeout`` in seconds) with :func:`cli_env` plus the
    ``env`` variables."""
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=timeout,
    )


@contextmanager
def moonflow_run(
    *args: str, log: Path, ready_s: float = 60, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``moonflow run ARGS`` in the background, its stdout and stderr in the file ``log``; yields
    the process once it printed ``Ctrl-C to stop`` (within ``ready_s`` seconds, or the test
    fails showing the log). On leaving: SIGINT, and it must exit 0 within 30 s (killed if not).
    ``env``: the environment (default :func:`cli_env`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", "run", *args],
        stdout=open(log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        env=cli_env() if env is None else env,
    )
    try:
        deadline = time.monotonic() + ready_s
        while "Ctrl-C to stop" not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=30) == 0, log.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
