"""moonflow: durable Lua workflows on Temporal.

Public entry points: :func:`load_app` (read and validate an app folder), :func:`build_workers`
(Temporal workers for its ``temporal.worker`` entries), the :mod:`moonflow.client` functions, and
the error types. The ``moonflow`` command (``moonflow.cli``) is built on the same pieces.
"""

from __future__ import annotations

from .errors import AppError, ErrorInfo, MoonflowError, UsageError, WorkflowFailure
from .registry import App, Entry, load_app
from .worker import build_workers

__version__ = "0.1.0"

__all__ = [
    "App",
    "AppError",
    "Entry",
    "ErrorInfo",
    "MoonflowError",
    "UsageError",
    "WorkflowFailure",
    "build_workers",
    "load_app",
]
