"""Unknown globals: reads of a global name that nothing defines (``moonflow check``).

A global that was never set reads ``nil`` at run time, as in stock Lua and the reference runtime
(apps rely on ``counter = (counter or 0) + 1``). The price is that a typo (``tx_idd`` for
``tx_id``) reads ``nil`` silently too, so ``moonflow check`` warns, the way luacheck does, about
every bare global name a file reads when:

* the file never assigns that global (``name = ...``, ``function name() end``, ``_G.name = ...``
  anywhere in the file counts, whatever the order: code may set it in one function and read it
  in another), and
* it is not a global moonflow's sandbox provides (the names are taken from a real sandboxed Lua
  state, so this list cannot drift from the runtime).

Reads through the global table (``_G.name``, ``_ENV["name"]``, ``rawget(_G, "name")``) are
deliberate lookups and never warned about. Each warning offers a did-you-mean from the file's
locals, its assigned globals and the sandbox's globals.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dialect import DialectError, erase
from ._lexer import LexError
from ._scan import ParseError, scan

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App


#: Globals of the reference runtime moonflow does not provide yet (a read is not a typo).
REFERENCE_GLOBALS: dict[str, str] = {
    "payload": "message payloads: payload.new, payload.format",
    "subscribe": "event bus subscriptions",
    "unsubscribe": "event bus subscriptions",
}


@dataclass(frozen=True, order=True)
class GlobalWarning:
    """A read of a global nothing defines.

    Attributes:
        file: the Lua file (relative to the app root).
        line: 1-based line of the first read in the file.
        entry: the entry whose code it is (the first entry using the file).
        name: the global's name.
        suggestion: a close name (a local, an assigned global or a sandbox global), or "".
    """

    file: str
    line: int
    entry: str
    name: str
    suggestion: str = ""

    def __str__(self) -> str:
        if self.name in REFERENCE_GLOBALS:
            return (
                f"warning: {self.file}:{self.line}: {self.entry}: global '{self.name}' "
                f"({REFERENCE_GLOBALS[self.name]}) is part of the reference runtime but moonflow "
                "does not provide it yet, so it reads nil"
            )
        hint = (
            f": did you mean '{self.suggestion}'?"
            if self.suggestion
            else (": define it (local " + self.name + " = ...) or check the spelling")
        )
        return (
            f"warning: {self.file}:{self.line}: {self.entry}: global '{self.name}' is never "
            f"assigned in this file, so it reads nil{hint}"
        )


@functools.cache
def sandbox_globals() -> frozenset[str]:
    """Global names every run of moonflow's sandbox provides (the same in workflows and
    activities): base functions, standard libraries, ``errors``/``process``/``channel``, the
    run-time forms ``integer``/``number``/``boolean``/``unpack``, ``_G`` and ``_ENV``."""
    from ..lua import LuaRun, MachineHost

    host = MachineHost()
    state = LuaRun("activity", host)
    host.state = state
    try:
        names = {str(n) for n in state.sys.global_names().values()}
    finally:
        state.close()
    return frozenset(names | {"_G", "_ENV"})


def unknown_globals(source: str, *, file: str, entry: str) -> list[GlobalWarning]:
    """Warnings for one Lua file (dialect already erased), one per name, in line order.

    A file the scanner cannot read gives no warnings (loading the app reports syntax errors).
    """
    try:
        result = scan(source)
    except (LexError, ParseError):
        return []
    known = sandbox_globals()
    defined = {a.name for a in result.assigns}
    defined.update(r.path[0] for r in result.refs if r.explicit and r.path)
    first: dict[str, int] = {}
    for ref in result.refs:
        name = ref.path[0] if ref.path else ""
        if not name or ref.explicit or name in known or name in defined:
            continue
        first.setdefault(name, ref.line)
    candidates = sorted(result.locals | defined | known - {"..."})
    return sorted(
        GlobalWarning(file, line, entry, name, _closest(name, candidates))
        for name, line in first.items()
    )


def _closest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, [c for c in candidates if c != name], n=1, cutoff=0.75)
    return close[0] if close else ""


def check_globals(app: App) -> list[GlobalWarning]:
    """Warnings for every Lua file of the app's ``workflow.lua``, ``function.lua``,
    ``process.lua`` and ``library.lua`` entries; a file shared by several entries is read once
    and labelled with the first entry (in id order)."""
    from ..kinds import LuaCode

    warnings: list[GlobalWarning] = []
    seen: set[object] = set()
    for entry_id in sorted(app.entries):
        code = app.spec(entry_id)
        if not isinstance(code, LuaCode) or code.source in seen:
            continue
        seen.add(code.source)
        warnings.extend(_file_warnings(code))
    return sorted(warnings)


def _file_warnings(code: LuaCode) -> list[GlobalWarning]:
    file = code.chunkname
    try:
        source = code.source.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []  # the app loader reports unreadable files
    with contextlib.suppress(DialectError):  # the app loader reports it
        source = erase(source, file)
    return unknown_globals(source, file=file, entry=code.entry.id)
