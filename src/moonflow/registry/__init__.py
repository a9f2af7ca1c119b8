"""Load an app (YAML registry entries + Lua files) and validate it before anything runs.

>>> from moonflow.registry import load_app
>>> app = load_app("examples/orders")          # doctest: +SKIP
>>> [w.task_queue for w in app.workers()]      # doctest: +SKIP
['orders']

Every problem is reported as one :class:`moonflow.errors.AppError` line naming the file, the line
and the entry id, with what is wrong and how to fix it.
"""

from __future__ import annotations

from ._app import App
from ._entry import Entry, parse_id
from ._loader import load_app

__all__ = ["App", "Entry", "load_app", "parse_id"]
