"""The reference runtime's typed Lua dialect, erased to plain Lua 5.4 line for line.

Every Lua file moonflow loads goes through :func:`erase` before Lua sees it (see
``moonflow.lua._vm.read_source`` and the app loader's checks). The specification is
``lua-dialect.md``: annotations on declarations, parameters and returns, generic parameter
lists, ``type`` aliases and ``interface`` declarations are blanked; casts (``e as T``,
``e :: T``, ``e!``) keep one value, ``(e)``; explicit type arguments ``f::<T>(x)`` are dropped.
"""

from __future__ import annotations

from ._erase import DialectError, erase

__all__ = ["DialectError", "erase"]
