"""What the determinism pass says about each global a workflow's code touches.

Mirrors the run-time sandbox (``lua/sandbox.lua``): calls it *replaces* with a deterministic
version give a note, calls it *refuses* (an error at run time) give a warning, and so do
``require`` calls the workflow's ``require`` loader refuses (`lua/_run.py`) and assignments
to global variables.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..modules._catalogue import MODULES, NOT_IMPLEMENTED, STD_LIBS, WORKFLOW, module_note

NOTE = "note"
WARNING = "warning"

MOVE = "move it into an activity"

#: Replaced at run time in workflow code: same name, deterministic behaviour.
REPLACED: dict[str, str] = {
    "os.time": "os.time() reads workflow time in workflow code (the same on replay), "
    "not the machine clock",
    "os.date": "os.date() formats workflow time (UTC) in workflow code, not the machine clock",
    "os.clock": "os.clock() is seconds of workflow time since the run's Lua state started, "
    "not CPU time",
    "math.random": "math.random is seeded from the workflow's deterministic randomness: the "
    "same numbers on replay (not for secrets)",
    "math.randomseed": "math.randomseed: the generator is already seeded deterministically "
    "per run; a fixed seed makes every run draw the same numbers",
}

#: Refused at run time in workflow code ("X is not supported in workflow context").
REFUSED_PREFIXES = ("io", "debug", "python")
REFUSED: frozenset[str] = frozenset(
    {
        "os.execute",
        "os.getenv",
        "os.remove",
        "os.rename",
        "os.exit",
        "os.tmpname",
        "os.setlocale",
        "load",
        "loadstring",
        "dofile",
        "loadfile",
        "string.dump",
        "package.loadlib",
        "collectgarbage",
    }
)


def classify_ref(path: tuple[str, ...]) -> tuple[str, str] | None:
    """``(severity, message)`` for a read of the global field path ``path``, or None."""
    if path[0] in REFUSED_PREFIXES:
        name = ".".join(path[:2])
        if path[0] == "python":
            return WARNING, f"{name}: the Python bridge does not exist in moonflow Lua code"
        return (
            WARNING,
            f"{name} is not supported in workflow context (an error at run time): {MOVE}",
        )
    for n in (2, 1):
        head = ".".join(path[:n])
        if len(path) >= n and head in REFUSED:
            return (
                WARNING,
                f"{head} is not supported in workflow context (an error at run time): {MOVE}",
            )
        if len(path) >= n and head in REPLACED:
            return NOTE, REPLACED[head]
    return None


def classify_require(
    name: str | None, modules: Collection[str], imports: Mapping[str, str], entry_id: str
) -> tuple[str, str] | None:
    """``(severity, message)`` for ``require(name)`` in code running in a workflow, or None.

    Args:
        name: the literal module name, or None when it is computed.
        modules: the ``modules:`` list of the entry whose file holds the call.
        imports: that entry's ``imports:`` (alias -> library entry id).
        entry_id: that entry's id (for the message).
    """
    if name is None:
        return NOTE, "require with a computed module name: cannot be checked statically"
    if name in imports or name in STD_LIBS:
        return None
    if name in NOT_IMPLEMENTED:
        return WARNING, f"{module_note(name)} (an error at run time)"
    info = MODULES.get(name)
    if info is None:
        return (
            WARNING,
            f'require("{name}"): no module {name} and no import alias {name} in {entry_id} '
            "(an error at run time)",
        )
    if WORKFLOW not in info.contexts:
        return (
            WARNING,
            f'require("{name}"): module {name} is not supported in workflow context '
            f"(an error at run time): {MOVE}",
        )
    if not info.always and name not in modules:
        return (
            WARNING,
            f'require("{name}"): module {name} is not in the modules list of {entry_id} '
            "(an error at run time): add it under modules:",
        )
    return None


def classify_assign(name: str, function: bool) -> tuple[str, str]:
    """``(severity, message)`` for an assignment to the global ``name``."""
    if function:
        return (
            NOTE,
            f"function {name} is a global: declare it local (local function {name})",
        )
    return (
        WARNING,
        f"assignment to global '{name}': mutable global state in workflow code; keep it in "
        f"a local (local {name} = ...) or in the workflow's input and results",
    )


#: The fix every query-handler write finding carries (also how plain ``check`` picks them out).
QUERY_FIX = "queries are not in the history: compute from state, do not change it"
QUERY_PREFIX = "query handler"


def classify_query_write(
    name: str, query: str | None, is_field: bool, upvalue: bool
) -> tuple[str, str]:
    """``(severity, message)`` for a write a query handler makes to state outside it.

    Args:
        name: the variable (root name for a field write).
        query: the query's name, when literal.
        is_field: a field write (``state.x = 1``).
        upvalue: a local of an enclosing function (else a global).
    """
    handler = f"{QUERY_PREFIX} '{query}'" if query else QUERY_PREFIX
    what = f"'{name}', a variable of the workflow" if upvalue else f"the global '{name}'"
    verb = "changes the contents of" if is_field else "assigns to"
    return WARNING, f"{handler} {verb} {what}: {QUERY_FIX}"
