"""Which Lua modules exist, where each may be used, and which need no ``modules:`` listing.

The registry validates every entry's ``modules:`` list against this table at load time, and the
Lua ``require`` loader enforces it again at run time (lua-api.md §1.3, §2.0).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

WORKFLOW = "workflow"
ACTIVITY = "activity"
#: A process (process.lua actor, function.lua called outside a workflow, test entry): the
#: modules of activity code, plus the kernel (coroutines, channels, timers) in real time.
PROCESS = "process"


def catalogue_context(context: str) -> str:
    """The column of :data:`MODULES` that code of ``context`` uses: workflow code its own,
    processes the activity one (the same function.lua runs as either)."""
    return WORKFLOW if context == WORKFLOW else ACTIVITY


@dataclass(frozen=True)
class ModuleInfo:
    """One Lua module.

    Attributes:
        name: the name given to ``require``.
        contexts: where it may be used: ``workflow`` (workflow.lua code), ``activity``
            (function.lua / process.lua / library.lua code run as an activity).
        always: available without a ``modules:`` listing (as a global and via ``require``).
    """

    name: str
    contexts: frozenset[str]
    always: bool = False


_BOTH = frozenset({WORKFLOW, ACTIVITY})
_WF = frozenset({WORKFLOW})
_ACT = frozenset({ACTIVITY})

MODULES: dict[str, ModuleInfo] = {
    m.name: m
    for m in (
        # Globals that need no listing (lua-api.md §1.3).
        ModuleInfo("errors", _BOTH, always=True),
        ModuleInfo("process", _BOTH, always=True),
        ModuleInfo("channel", _BOTH, always=True),
        # Listed modules.
        ModuleInfo("funcs", _BOTH),
        ModuleInfo("time", _BOTH),
        ModuleInfo("workflow", _WF),
        ModuleInfo("json", _BOTH),
        ModuleInfo("uuid", _BOTH),
        ModuleInfo("logger", _BOTH),
        ModuleInfo("http_client", _ACT),
        ModuleInfo("crypto", _BOTH),
        ModuleInfo("hash", _BOTH),
        ModuleInfo("base64", _BOTH),
        ModuleInfo("yaml", _BOTH),
        ModuleInfo("env", _ACT),
        ModuleInfo("ctx", _BOTH),
        # The attempt of activity code (heartbeat, info, is_cancelled; modules/_activity.py);
        # in processes info/heartbeat give NotFound.
        ModuleInfo("activity", _ACT),
        # The terminal host's console (lua-api.md §2.14b): processes run by `moonflow run -x`;
        # elsewhere its calls return nil, "no terminal context".
        ModuleInfo("io", _ACT),
        # Activity stubs of test entries run by `moonflow test` (modules/_test.py); elsewhere
        # its calls raise an error.
        ModuleInfo("test", _ACT),
    )
}

#: Standard Lua libraries that are globals everywhere; listing them in ``modules:`` is harmless.
STD_LIBS: frozenset[str] = frozenset({"os", "table", "math", "string", "coroutine", "utf8"})

#: Modules of the reference runtime that moonflow does not implement (yet), mapped to whether
#: that runtime lets workflow code list them (reference-runtime.md §3.1). An app listing one
#: still loads, so apps written there run here as far as they do not call it; ``require`` of
#: one fails at run time naming it, and ``moonflow check`` warns.
NOT_IMPLEMENTED: dict[str, bool] = {
    **dict.fromkeys(
        (
            "compress",
            "expr",
            "expression",
            "html",
            "template",
            "text",
            "treesitter",
            "contract",
            "payload",
        ),
        True,
    ),
    **dict.fromkeys(
        (
            "http",
            "fs",
            "sql",
            "store",
            "queue",
            "exec",
            "events",
            "system",
            "websocket",
            "security",
            "registry",
            "metrics",
            "pg",
            "stream",
            "tty",
            "cloudstorage",
            "excel",
            "hub",
            "cdc",
            "future",
        ),
        False,
    ),
}


def module_error(name: str, context: str) -> str | None:
    """Why ``name`` cannot be listed by code running in ``context``; None when it can."""
    if name in STD_LIBS:
        return None
    if name in NOT_IMPLEMENTED:
        if context == WORKFLOW and not NOT_IMPLEMENTED[name]:
            return (
                f"module {name!r} is not supported in workflow context: "
                "move the code that needs it into an activity (a function.lua activity the "
                "workflow calls with funcs.call)"
            )
        return None
    info = MODULES.get(name)
    if info is None:
        close = difflib.get_close_matches(name, [*MODULES, *NOT_IMPLEMENTED], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(sorted(MODULES))
        return f"unknown module {name!r}: {hint}available modules are {known}"
    if context not in info.contexts:
        if context == WORKFLOW:
            return (
                f"module {name!r} is not supported in workflow context: "
                "move the code that needs it into an activity (a function.lua activity the "
                "workflow calls with funcs.call)"
            )
        return f"module {name!r} is only available in workflow code"
    return None


def module_note(name: str) -> str | None:
    """A warning for listing ``name`` (a reference-runtime module moonflow lacks), or None."""
    if name in NOT_IMPLEMENTED:
        return (
            f"module {name!r} is part of the reference runtime but moonflow does not implement "
            f'it: the app loads, and require("{name}") fails when the code runs'
        )
    return None
