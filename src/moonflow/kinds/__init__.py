"""Entry kinds: one spec per ``kind:`` and the typed objects they build.

Kinds registered: ``temporal.client``, ``temporal.worker``, ``workflow.lua``, ``function.lua``,
``process.lua``, ``library.lua``. The registry loader validates every entry against
:data:`KINDS` when the app loads; entries of the reference runtime's other kinds
(:data:`SKIPPED_KINDS`) are skipped.
"""

from __future__ import annotations

from ._lua import LuaCode
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
    "KINDS",
    "SEARCH_ATTRIBUTE_TYPES",
    "SKIPPED_KINDS",
    "WORKER_OPTIONS",
    "AppView",
    "KindSpec",
    "LuaCode",
    "RefField",
    "TemporalClient",
    "TemporalWorker",
    "get_kind",
    "known_kinds",
    "register",
    "skip_reason",
]
