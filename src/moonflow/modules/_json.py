"""The ``json`` Lua module (workflows and activities): ``json.encode(v) -> string, err`` and
``json.decode(s) -> value, err``, using moonflow's one conversion rule set
(:mod:`moonflow.lua._convert`). Errors: encode problems are kind ``Invalid`` naming the path;
invalid JSON text is kind ``Internal`` (as in the reference runtime).
"""

from __future__ import annotations

import json
from typing import Any

from ..lua._convert import ConversionError


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
        try:
            return state.to_lua(data), None
        except ConversionError as e:
            return None, state.new_error("Invalid", f"json.decode: {e}", False)

    return state.module_table("json", {"encode": encode, "decode": decode})
