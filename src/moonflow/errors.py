"""Error kinds and the small exception hierarchy.

Errors are data that cross processes: a *kind* string, a message, a three-valued retryable flag
(True, False or None for "unspecified"), optional details (JSON-safe) and an optional cause chain.
The kind strings are the reference runtime's CamelCase values; on the wire the kind is the Temporal
``ApplicationError.type`` and the details carry the serialized chain (reference runtime §4.2).

Python exceptions:

* :class:`MoonflowError` - base of everything moonflow raises.
* :class:`AppError` - the app (YAML + Lua files) is invalid; ``str()`` is one line naming file,
  line and entry id. The CLI prints it and exits 2.
* :class:`WorkflowFailure` - a workflow ended in failure; carries kind/message/retryable.
* :class:`Error` - raised by a ``function.py`` activity: its caller gets the kind, message,
  retryable flag and details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kind constants (string values shared with Lua's ``errors.*`` constants).
UNKNOWN = "Unknown"
INVALID = "Invalid"
NOT_FOUND = "NotFound"
ALREADY_EXISTS = "AlreadyExists"
PERMISSION_DENIED = "PermissionDenied"
UNAVAILABLE = "Unavailable"
INTERNAL = "Internal"
CANCELED = "Canceled"
#: A workflow ended by termination (Temporal's TerminatedError); moonflow's own kind, so that
#: a caller can tell a terminated run from a cancelled one.
TERMINATED = "Terminated"
CONFLICT = "Conflict"
TIMEOUT = "Timeout"
#: A run stopped by its own limits (instruction budget, memory cap): activities, processes.
RESOURCE_EXHAUSTED = "ResourceExhausted"
RATE_LIMITED = "RateLimited"

#: Lua constant name -> kind string, exported to Lua as ``errors.NOT_FOUND`` etc.
#: ``errors.UNKNOWN`` is ``""`` in the reference runtime's Lua; an empty kind reads as Unknown.
LUA_KIND_CONSTANTS: dict[str, str] = {
    "UNKNOWN": "",
    "INVALID": INVALID,
    "NOT_FOUND": NOT_FOUND,
    "ALREADY_EXISTS": ALREADY_EXISTS,
    "PERMISSION_DENIED": PERMISSION_DENIED,
    "UNAVAILABLE": UNAVAILABLE,
    "INTERNAL": INTERNAL,
    "CANCELED": CANCELED,
    "TERMINATED": TERMINATED,
    "CONFLICT": CONFLICT,
    "TIMEOUT": TIMEOUT,
    "RATE_LIMITED": RATE_LIMITED,
}

KINDS: frozenset[str] = frozenset(v for v in LUA_KIND_CONSTANTS.values() if v) | {UNKNOWN}

# Temporal/SDK failure type names that mean "no such activity/workflow" (reference runtime §4.3).
_NOT_FOUND_TYPES = frozenset(
    {
        "NotFound",
        "NotFoundError",
        "ActivityNotRegistered",
        "ActivityNotRegisteredError",
        "WorkflowNotRegisteredError",
        "NamespaceNotFoundError",
    }
)


def kind_from_type(type_name: str | None) -> str:
    """Map a Temporal ``ApplicationError.type`` onto a moonflow kind.

    Known kinds map to themselves; SDK "not registered" types map to ``NotFound``; anything else
    (including empty) is ``Unknown``.
    """
    if not type_name:
        return UNKNOWN
    if type_name in KINDS:
        return type_name
    if type_name in _NOT_FOUND_TYPES:
        return NOT_FOUND
    return UNKNOWN


@dataclass
class ErrorInfo:
    """A structured error as data: what Lua error objects, activity failures and workflow
    failures all reduce to.

    Attributes:
        kind: a kind string (``"NotFound"``...), ``""``/``"Unknown"`` when unspecified.
        message: the human-readable message.
        retryable: True, False or None (unspecified).
        details: JSON-safe value or None.
    """

    kind: str
    message: str
    retryable: bool | None = None
    details: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``{"kind", "message", "retryable"}`` object the CLI prints for a failed run."""
        out: dict[str, Any] = {
            "kind": self.kind or UNKNOWN,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.details is not None:
            out["details"] = self.details
        return out


class MoonflowError(Exception):
    """Base class of every exception moonflow raises on purpose."""


class AppError(MoonflowError):
    """The app is invalid. ``str(err)`` is one line: ``file:line: entry id: what; how to fix``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        entry_id: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.entry_id = entry_id
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [p for p in (where, self.entry_id) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(MoonflowError):
    """Bad command-line arguments or an unusable server address (CLI exit code 2)."""


class Error(MoonflowError):
    """An error with a kind, raised by Python code moonflow runs (``function.py`` activities).

    The Lua caller's ``err`` gets its kind, message, retryable flag and details, exactly as
    from a Lua activity's ``return nil, errors.new{...}``::

        from moonflow import errors
        raise errors.Error("card declined", kind=errors.INVALID, retryable=False)

    Args:
        message: the error's message.
        kind: a kind string (the constants of this module: ``INVALID``, ``NOT_FOUND``...);
            default ``Unknown``.
        retryable: True, False, or None to let the kind decide (:func:`is_non_retryable`).
        details: a JSON value (str, int, float, bool, None, list, dict with string keys).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = UNKNOWN,
        retryable: bool | None = None,
        details: Any = None,
    ) -> None:
        self.info = ErrorInfo(kind or UNKNOWN, str(message), retryable, details)
        super().__init__(f"{self.info.kind}: {self.info.message}")


class WorkflowFailure(MoonflowError):
    """A workflow run failed; ``info`` holds kind, message and retryable."""

    def __init__(self, info: ErrorInfo) -> None:
        self.info = info
        super().__init__(f"{info.kind or UNKNOWN}: {info.message}")


#: Kinds that are not retried when the error leaves ``retryable`` unspecified (lua-api.md §2.5:
#: "usually not retryable"). Everything else is retried under the retry policy.
NON_RETRYABLE_KINDS: frozenset[str] = frozenset(
    {INVALID, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED}
)


def is_non_retryable(info: ErrorInfo) -> bool:
    """Whether Temporal should stop retrying a failure with this error.

    An explicit ``retryable`` wins; unspecified means: not retried for the kinds in
    :data:`NON_RETRYABLE_KINDS`, retried otherwise.
    """
    if info.retryable is not None:
        return not info.retryable
    return info.kind in NON_RETRYABLE_KINDS
