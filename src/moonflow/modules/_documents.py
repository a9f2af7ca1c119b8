"""Shared, bounded conversion of decoded documents (``json.decode``, ``yaml.decode``) into Lua.

Values a module builds are made outside the Lua memory cap (see ``LuaRun.to_lua``), so every
decoded document is bounded here instead: at most :data:`MAX_CONTAINERS` objects and arrays,
counted with shared parts (YAML aliases) counted once for every place that reaches them, since
that is how many Lua tables the conversion builds.
"""

from __future__ import annotations

from typing import Any

from ..lua._convert import ConversionError

#: Objects and arrays one decoded document may build (the same bound as values going out).
MAX_CONTAINERS = 200_000


def containers(data: Any) -> int:
    """How many dicts and lists ``data`` holds, a shared one once per path that reaches it
    (stops counting past :data:`MAX_CONTAINERS`, so a cyclic value ends too)."""
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


def too_many_containers(what: str) -> str:
    """The message for a document over :data:`MAX_CONTAINERS` (``what`` is ``json.decode``...)."""
    return f"{what}: the document has more than {MAX_CONTAINERS} objects and arrays"


def decoded_to_lua(state: Any, data: Any, what: str) -> tuple[Any, Any]:
    """``data`` (JSON-like Python values) as a Lua value: ``value, nil`` or ``nil, err``.

    Errors (kind ``Invalid``, message starting with ``what``): more than
    :data:`MAX_CONTAINERS` objects and arrays; a string holding a lone UTF-16 surrogate; a value
    the conversion rules refuse (an integer outside 64 bits), naming its path.
    """
    if containers(data) > MAX_CONTAINERS:
        return None, state.new_error("Invalid", too_many_containers(what), False)
    try:
        return state.to_lua(data), None
    except ConversionError as e:  # a lone surrogate too, by path
        return None, state.new_error("Invalid", f"{what}: {e}", False)
    except RecursionError:
        return None, state.new_error("Invalid", f"{what}: nested too deeply", False)
