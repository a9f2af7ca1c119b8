"""Static determinism pass over workflow code (``moonflow check APP --determinism``).

It reads every ``workflow.lua`` entry's Lua file and the ``library.lua`` files it imports, with
a real Lua tokenizer and a scope-aware parser (text in strings and comments never counts; a
local named ``io`` shadows the global), and reports, as ``file:line: entry: severity: message``:

* notes for calls the workflow sandbox replaces with deterministic versions (``os.time``,
  ``os.date``, ``os.clock``, ``math.random``, ``math.randomseed``) and for global functions;
* warnings for what it refuses at run time (``io.*``, ``os.execute`` and friends, ``load*``,
  ``dofile``, ``debug.*``, ``string.dump``, ``package.loadlib``, ``collectgarbage``,
  ``require`` of a module not available to that code in workflows) and for assignments to
  global variables (mutable global state);
* warnings for query handlers (``workflow.on_query``) that assign to the workflow's variables
  (upvalues), to their fields or to globals: queries are not in the history, so such a write
  changes the workflow without a trace and replay diverges (plain ``moonflow check`` prints
  these too).

The same parser gives the unknown-globals warnings plain ``moonflow check`` prints for every Lua
file (:mod:`._globals`).

Iteration order of ``pairs`` over tables keyed by tables or functions (the one order the sandbox
cannot make deterministic) cannot be known statically and is not checked.
"""

from __future__ import annotations

from ._check import (
    Finding,
    Report,
    check_app,
    check_source,
    query_handler_warnings,
    workflow_codes,
)
from ._globals import GlobalWarning, check_globals, sandbox_globals, unknown_globals
from ._lexer import LexError, Token, tokenize
from ._rules import NOTE, WARNING
from ._scan import ParseError, QueryWrite, ScanResult, scan

__all__ = [
    "NOTE",
    "WARNING",
    "Finding",
    "GlobalWarning",
    "LexError",
    "ParseError",
    "QueryWrite",
    "Report",
    "ScanResult",
    "Token",
    "check_app",
    "check_globals",
    "check_source",
    "query_handler_warnings",
    "sandbox_globals",
    "scan",
    "tokenize",
    "unknown_globals",
    "workflow_codes",
]
