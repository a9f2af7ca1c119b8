"""The ``json`` Lua module (workflows and activities): ``json.encode(v) -> string, err`` and
``json.decode(s) -> value, err``, using moonflow's one conversion rule set
(:mod:`moonflow.lua._convert`). Errors: encode problems are kind ``Invalid`` naming the path;
invalid JSON text is kind ``Internal`` (as in the reference runtime).
"""

from __future__ import annotations

import json
from typing import Any

from ..lua._convert import ConversionError

#: Objects and arrays one ``json.decode`` may build (the same bound as values going out).
MAX_CONTAINERS = 200_000


def _containers(data: Any) -> int:
    """How many dicts and lists ``data`` holds (stops counting past the limit)."""
    count, todo = 0, [data]
    while todo and count <= MAX_CONTAINERS:
        v = todo.pop()
        if isinstance(v, dict):
            count += 1
            todo.extend(v.values())
        elif isinstance(v, list):
            count += 1
            todo.extend(v)
    return count


def build(state: Any) -> Any:
    """Build the module table for one Lua state."""

    def encode(value: Any = None, *_: Any) -> Any:
        try:
            data = state.to_python(value, "value")
        except ConversionError as e:
            return None, state.new_error("Invalid", f"json.encode: {e}", False)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")), None

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, str):
            return None, state.new_error("Invalid", "json.decode: expected a string", False)
        try:
            data = json.loads(text)
        except ValueError as e:
            return None, state.new_error("Internal", f"json.decode: {e}", False)
        except RecursionError:
            return None, state.new_error("Invalid", "json.decode: nested too deeply", False)
        if _containers(data) > MAX_CONTAINERS:
            # built without the memory cap (as every module value): bounded here instead
            message = f"json.decode: the document has more than {MAX_CONTAINERS} objects and arrays"
            return None, state.new_error("Invalid", message, False)
        try:
            value = state.to_lua(data)
            if isinstance(value, str):
                value.encode("utf-8")  # a lone surrogate fails here, not inside lupa
            return value, None
        except UnicodeEncodeError:
            message = "json.decode: invalid \\u escape (a lone UTF-16 surrogate)"
            return None, state.new_error("Invalid", message, False)
        except ConversionError as e:
            return None, state.new_error("Invalid", f"json.decode: {e}", False)

    return state.module_table("json", {"encode": encode, "decode": decode})
