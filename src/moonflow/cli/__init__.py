"""The ``moonflow`` command line: execute, run, start, result, signal, update, describe, list,
cancel, terminate, history, check and server.

``main()`` is the console script (it ends the process with the command's exit code);
``run(argv)`` runs a command line and returns the exit code, for embedding and tests.
"""

from __future__ import annotations

from moonflow.cli._main import main, run
from moonflow.cli._parser import build_parser

__all__ = ["build_parser", "main", "run"]
