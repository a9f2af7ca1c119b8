"""Lua modules. Modules written in Lua live beside this file as ``<name>.lua`` (loaded with the
sandbox's private ``sys`` table); modules written in Python register a builder here.

A builder is ``build(state: moonflow.lua.LuaRun) -> Lua table``; it may use ``state.host``,
``state.to_python`` / ``state.to_lua`` and ``state.new_error``. Builders are imported when a
state first needs the module, so a worker that never uses ``crypto`` never imports its library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: Module name -> the Python module (relative to this package) that holds its ``build``.
_BUILDERS: dict[str, str] = {
    "json": "._json",
    "uuid": "._uuid",
    "logger": "._logger",
    "http_client": "._http_client",
    "crypto": "._crypto",
    "hash": "._hash",
    "base64": "._base64",
    "yaml": "._yaml",
    "env": "._env",
    "ctx": "._ctx",
    "test": "._test",
    "activity": "._activity",
}


_LOADED: dict[str, Callable[[Any], Any]] = {}


def python_builder(name: str) -> Callable[[Any], Any] | None:
    """The ``build`` function of the Python-written module ``name``, or None when there is none."""
    build = _LOADED.get(name)
    if build is None and name in _BUILDERS:
        build = _LOADED[name] = importlib.import_module(_BUILDERS[name], __name__).build
    return build
