"""Entry kinds: one spec per ``kind:`` and the typed objects they build.

Kinds registered: ``temporal.client``, ``temporal.worker``, ``workflow.lua``, ``function.lua``,
``process.lua``, ``library.lua``, ``function.py``, ``process.host``, ``terminal.host``,
``process.service``. The
registry loader validates every entry against :data:`KINDS` when the app loads; entries of the
reference runtime's other kinds (:data:`SKIPPED_KINDS`) are skipped.
"""

from __future__ import annotations

from ._lua import LuaCode
from ._process import (
    HOST_KEYS,
    LIFECYCLE_KEYS,
    RESTART_KEYS,
    Lifecycle,
    ProcessHostSpec,
    ProcessServiceSpec,
    RestartPolicy,
    TerminalHostSpec,
    parse_lifecycle,
)
from ._python import PythonCode, python_activities
from ._skipped import SKIPPED_KINDS, skip_reason
from ._spec import (
    COMMON_REFERENCES,
    KINDS,
    AppView,
    KindSpec,
    RefField,
    get_kind,
    known_kinds,
    register,
)
from ._temporal import SEARCH_ATTRIBUTE_TYPES, WORKER_OPTIONS, TemporalClient, TemporalWorker

__all__ = [
    "COMMON_REFERENCES",
    "HOST_KEYS",
    "KINDS",
    "LIFECYCLE_KEYS",
    "RESTART_KEYS",
    "SEARCH_ATTRIBUTE_TYPES",
    "SKIPPED_KINDS",
    "WORKER_OPTIONS",
    "AppView",
    "KindSpec",
    "Lifecycle",
    "LuaCode",
    "ProcessHostSpec",
    "ProcessServiceSpec",
    "PythonCode",
    "RefField",
    "RestartPolicy",
    "TemporalClient",
    "TemporalWorker",
    "TerminalHostSpec",
    "get_kind",
    "known_kinds",
    "parse_lifecycle",
    "python_activities",
    "register",
    "skip_reason",
]
