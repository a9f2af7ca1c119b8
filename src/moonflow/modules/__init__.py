"""Lua modules. Modules written in Lua live beside this file as ``<name>.lua`` (loaded with the
sandbox's private ``sys`` table); modules written in Python register a builder here.

A builder is ``build(state: moonflow.lua.LuaState) -> Lua table``; it may use ``state.host``,
``state.to_python`` / ``state.to_lua`` and ``state.new_error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _json

PYTHON_MODULES: dict[str, Callable[[Any], Any]] = {
    "json": _json.build,
}

for _name in ("uuid", "logger", "http_client"):
    try:
        _mod = __import__(f"{__name__}._{_name}", fromlist=["build"])
        PYTHON_MODULES[_name] = _mod.build
    except ImportError:  # pragma: no cover - module not written yet
        pass
