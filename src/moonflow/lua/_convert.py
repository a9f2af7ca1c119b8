"""Lua <-> Python (JSON) value conversion: the one rule set moonflow uses everywhere.

Rules (Lua -> Python, i.e. anything leaving Lua: activity arguments and results, workflow
results, signal payloads, search attributes, ``json.encode``):

* ``nil`` -> ``None`` (JSON ``null``); booleans and strings as they are (strings must be valid
  UTF-8); a Lua integer -> ``int`` (exact 64-bit); a Lua float -> ``float`` (``1.0`` stays a
  float, it does not become ``1``); NaN and infinities are an error (JSON has no such numbers).
* A table whose keys are exactly ``1..n`` -> list; a table whose keys are all strings -> dict
  (keys sorted, so the output does not depend on Lua's per-state hash order).
* An empty table made in Lua -> ``[]``. An empty object or array that came *in* (a JSON ``{}``
  or ``[]`` converted by :meth:`Converter.to_lua`) goes back out unchanged, because the table
  is remembered as an object; a JSON array containing ``null`` remembers its length, and an
  object with ``null`` members remembers those keys, so both round-trip too (Lua itself cannot
  store nil in a table).
* A Time value -> RFC 3339 string (UTC, fractional seconds when non-zero); a Duration ->
  integer nanoseconds; an error object -> its message string; a Payload (``msg:payload()``) ->
  the value it holds (the reference runtime passes a payload through as its data).
* Mixed or sparse tables, functions, coroutines, userdata, invalid UTF-8, non-finite floats,
  tables nested deeper than 128 levels (or recursive), and objects that are not data (channels,
  select cases, timers, tickers, messages: ``convert.lua`` ``not_data``) raise
  :class:`ConversionError` naming the path and what is there in Lua's words, e.g.
  ``result.items[3]: table key true is not a string or an index``. Nothing is ever dropped
  silently.

Python -> Lua is the reverse (dict -> table, list -> table, None -> nil); ints outside the
64-bit range are an error. A dict key that is not a string becomes its JSON text, as on the wire
(``1`` -> ``"1"``, ``True`` -> ``"true"``, ``None`` -> ``"null"``).

Both directions cross the Lua/Python boundary once per value, not once per element: a value
leaving Lua is written as JSON text by Lua and read by Python's ``json`` (first
``sys.encode_json_fast``, which writes strings unchecked and sorts keys itself, the text then
checked here at once; when a string needed an escape, ``sys.encode_json``, which checks each);
a dict or list entering Lua is written by Python's ``json``, turned into a Lua chunk by byte
replacements and read by Lua's own parser (``sys.load_json``); when that is declined (a bracket
inside a string, 19+ digit integers, nesting the parser refuses), Lua reads the JSON text
(``sys.decode_json``). Both build the very tables the element-by-element conversion builds.
Whatever either side declines goes the element-by-element way, which names the path of an error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import lupa.lua54 as lupa

_MAX_DEPTH = 128
#: Tables one conversion may visit: a table reached along many paths (``t = {t, t}`` twenty
#: times) is converted once per path, which took seconds and hundreds of MB outside every cap.
_MAX_TABLES = 200_000


#: Bytes of text one conversion may produce (Temporal payloads are a few MB; a string held by
#: many table slots was copied once per slot, gigabytes outside every cap).
_MAX_BYTES = 64 * 1024 * 1024


class _Walk(set[str]):
    """The tables on the current path (for cycles), and how many tables and string bytes
    were visited."""

    visited = 0
    size = 0
    #: Non-finite floats become ``None`` instead of an error (``json.encode`` only).
    nonfinite_null = False
    #: The path the walk started at (a too-deep message shortens what comes after it).
    base = ""


_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_NOT_UTF8 = "string is not valid UTF-8 (binary data must be encoded first, e.g. base64.encode)"


class ConversionError(ValueError):
    """A value cannot cross the Lua/JSON boundary; the message names the path."""


#: One level of a path as _child writes it: ``.name``, ``[3]`` or ``['a key']``.
_SEGMENT = re.compile(
    r"\.[A-Za-z_][A-Za-z0-9_]*|\[-?\d+\]|\[(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]"
)
#: Levels of a too-deep path that its message shows.
_DEEP_SHOWN = 4


def _too_deep(path: str, base: str) -> ConversionError:
    """The error for a table nested deeper than ``_MAX_DEPTH`` at ``path``: the path cut after
    its first few levels (``argument 1.n.n.n.n... (128 levels)``), not 128 levels in a line."""
    rest = path[len(base) :] if path.startswith(base) else path
    if not path.startswith(base):
        base = ""
    levels = _SEGMENT.findall(rest)
    if len(levels) > _DEEP_SHOWN and "".join(levels) == rest:
        path = f"{base}{''.join(levels[:_DEEP_SHOWN])}... ({len(levels)} levels)"
    elif len(path) > len(base) + 60:  # a path not written by _child: cut it by length
        path = f"{path[: len(base) + 60]}..."
    return ConversionError(f"{path}: tables nested deeper than {_MAX_DEPTH} levels")


def _child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


class Converter:
    """Converts values for one Lua state.

    Args:
        runtime: the state's ``LuaRuntime``.
        sys: the sandbox's private Lua table (provides ``describe``, ``objects`` and
            ``lengths``, see ``lua/convert.lua``).
    """

    def __init__(self, runtime: Any, sys: Any) -> None:
        self._rt = runtime
        self._describe = sys.describe
        self._objects = sys.objects
        self._lengths = sys.lengths
        self._nulls = sys.nulls
        self._bad_utf8 = sys.find_bad_utf8
        self._new_table = runtime.table
        self._encode_json = sys.encode_json
        self._encode_fast = sys.encode_json_fast
        self._careful_for = 0  # values that skip the quick way out (see to_python)
        self._decode_json = sys.decode_json
        self._load_json = sys.load_json
        self._aware_for = 0  # values rewritten around their strings first (see to_lua)

    # ---- Lua -> Python --------------------------------------------------------------
    def to_python(self, value: Any, path: str = "value", *, nonfinite_null: bool = False) -> Any:
        """Convert a Lua value (as lupa hands it over) to a JSON-safe Python value.

        ``nonfinite_null=True`` turns NaN and infinities into ``None`` instead of an error
        (``json.encode``'s rule; everything else keeps them an error).

        Raises:
            ConversionError: naming the path of the first value that cannot be converted.
        """
        if lupa.lua_type(value) != "table":
            return self.walk(value, path, nonfinite_null=nonfinite_null)
        if self._careful_for:
            self._careful_for -= 1
        else:
            # Quickest: Lua writes the value with its strings unchecked (encode_json_fast), and
            # the whole text is checked here at once (see _checked_loads).
            try:
                quick = self._encode_fast(value, _MAX_DEPTH)
            except (UnicodeDecodeError, lupa.LuaMemoryError):
                quick = None  # a string that is not UTF-8, or the state's cap: the careful way
            # A control character the quick writer leaves raw is six characters (\u0001) in the
            # careful writer's text, which the size limit is measured on: a quick text that
            # could be over it once escaped goes the careful way, so whether a value is refused
            # never depends on which writer ran (another run's values choose that).
            if quick is not None and len(quick[0]) <= _MAX_BYTES // 6:
                out = _checked_loads(*quick)
                if out is not _UNCHECKED:
                    return out
                # strings with quotes or backslashes: the next values of this state probably
                # have them too, so they go the careful way first for a while
                self._careful_for = _CAREFUL_CALLS
        # Lua writes the whole value as JSON in one call, each string checked. It declines (nil)
        # anything the rules reject, and the walk below then names the offending path.
        text = self._encode_json(value, _MAX_DEPTH)
        if text is not None:
            if len(text) > _MAX_BYTES:
                raise ConversionError(f"{path}: the value is larger than {_MAX_BYTES} bytes")
            return json.loads(text, object_pairs_hook=_sorted_object)
        return self.walk(value, path, nonfinite_null=nonfinite_null)

    def walk(self, value: Any, path: str = "value", *, nonfinite_null: bool = False) -> Any:
        """:meth:`to_python` without the fast path: the walk that names the offending path
        (the fallback, and what tests compare the fast path with)."""
        seen = _Walk()
        seen.nonfinite_null = nonfinite_null
        seen.base = path
        return self._py(value, path, 0, seen)

    def _py(self, v: Any, path: str, depth: int, seen: _Walk) -> Any:
        t = type(v)
        if t is str or t is bytes:
            seen.size += len(v)
            if seen.size > _MAX_BYTES:
                raise ConversionError(f"{path}: the value is larger than {_MAX_BYTES} bytes")
        if v is None or t is bool or t is str or t is int:
            return v
        if t is float:
            if math.isnan(v) or math.isinf(v):
                if seen.nonfinite_null:
                    return None
                raise ConversionError(f"{path}: {v} cannot be encoded as JSON")
            return v
        if t is bytes:
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                raise ConversionError(f"{path}: {_NOT_UTF8}") from None
        lt = lupa.lua_type(v)
        if lt != "table":
            raise ConversionError(f"{path}: {_not_data(v, lt)} cannot be converted to JSON")
        described = self._describe(v)
        tag, extra = described[0], described[1]
        key = described[2] if len(described) > 2 else None
        nulls = described[3] if len(described) > 3 else None
        if tag == "badutf8":
            raise ConversionError(f"{path}: {_NOT_UTF8}")
        if tag == "notdata":  # a channel, timer, message... (convert.lua `not_data`)
            raise ConversionError(f"{path}: {extra} cannot be converted to JSON ({key})")
        if tag == "payload":  # msg:payload(): the value it holds, at the same path
            if depth >= _MAX_DEPTH:
                raise _too_deep(path, seen.base)
            return self._py(extra, path, depth + 1, seen)
        if tag == "time" or tag == "error":
            return extra
        if tag == "duration":
            return extra
        if depth >= _MAX_DEPTH:
            raise _too_deep(path, seen.base)
        # lupa creates a new proxy per crossing, so cycles are detected on the Lua table's
        # identity (its address, from describe()).
        if key in seen:
            raise ConversionError(f"{path}: recursive table cannot be converted to JSON")
        seen.visited += 1
        if seen.visited > _MAX_TABLES:
            raise ConversionError(
                f"{path}: the value has more than {_MAX_TABLES} tables (counting a table once "
                "for every path that reaches it)"
            )
        seen.add(key)
        try:
            try:
                items = list(v.items())
            except UnicodeDecodeError:
                sub = self._bad_utf8(v)
                raise ConversionError(f"{path}{sub}: {_NOT_UTF8}") from None
            out = self._table(items, tag, extra, path, depth, seen)
            if nulls is not None and isinstance(out, (dict, list)):
                if isinstance(out, list) and not out:
                    out = {}
                if isinstance(out, dict):
                    for i in range(1, len(nulls) + 1):
                        out.setdefault(nulls[i], None)
                    out = dict(sorted(out.items()))
            return out
        finally:
            seen.discard(key)

    def _table(
        self,
        items: list[tuple[Any, Any]],
        tag: str,
        length: Any,
        path: str,
        depth: int,
        seen: _Walk,
    ) -> Any:
        if not items:
            if tag == "object":
                return {}
            if tag == "array":
                return [None] * int(length)
            return []
        first = items[0][0]
        if type(first) is str:
            out: dict[str, Any] = {}
            # Sorted keys: Lua's iteration order varies between states; output must not.
            try:
                items.sort(key=_first)
            except TypeError:
                pass  # mixed key types: reported below
            for k, val in items:
                if type(k) is not str:
                    raise ConversionError(
                        f"{path}: table mixes string keys and {_key_kind(k)} keys "
                        f"(key {_lua_key(k)}); use either an array or a map"
                    )
                out[k] = self._py(val, _child(path, k), depth + 1, seen)
            return out
        n = len(items)
        # An array that came in with nulls remembers its length: 1..declared may have holes
        # (the nulls); anything past it must be contiguous, as in any other array.
        declared = int(length) if tag == "array" else 0
        top = 0
        beyond = 0
        for k, _ in items:
            if type(k) is not int:
                if type(k) is str:
                    raise ConversionError(
                        f"{path}: table mixes integer keys and string keys "
                        f"(key {_lua_key(k)}); use either an array or a map"
                    )
                raise ConversionError(
                    f"{path}: table key {_lua_key(k)} is not a string or an index"
                )
            if k < 1:
                raise ConversionError(
                    f"{path}: sparse array (index {k} with {n} elements); arrays must use "
                    "keys 1..n with no holes"
                )
            if k > top:
                top = k
            if k > declared:
                beyond += 1
        size = max(top, declared)
        if beyond != size - declared:
            raise ConversionError(
                f"{path}: sparse array (index {top} with {n} elements); arrays must use "
                "keys 1..n with no holes"
            )
        arr: list[Any] = [None] * size
        for k, val in items:
            arr[k - 1] = self._py(val, f"{path}[{k}]", depth + 1, seen)
        return arr

    # ---- Python -> Lua --------------------------------------------------------------
    def to_lua(self, obj: Any, path: str = "value") -> Any:
        """Convert a JSON-like Python value into Lua values (tables for dicts and lists).

        Dicts and lists cross in one call: Python's JSON encoder (C) writes the value as text
        and Lua's parser reads it as a chunk (``sys.load_json``), or else Lua decodes the JSON
        (``sys.decode_json``), building the same tables as :meth:`build`.
        Anything that encoder or decoder does not take (an int outside 64 bits, NaN, a type JSON
        does not have) is converted by :meth:`build`, which names the path of an error.

        Raises:
            ConversionError: for ints outside 64 bits, types JSON does not have, a string
                holding a lone UTF-16 surrogate (JSON's "\ud800" decodes to one; it has no
                UTF-8 form), naming the path; a value that contains itself.
        """
        try:
            return self._to_lua(obj, path)
        except UnicodeEncodeError:
            raise ConversionError(_surrogate_message(obj, path)) from None
        except RecursionError:  # only a Python caller can make one (JSON has no cycles)
            raise ConversionError(
                f"{path}: the value contains itself or is nested too deeply to pass to Lua"
            ) from None

    def _to_lua(self, obj: Any, path: str) -> Any:
        """:meth:`to_lua`; a lone surrogate raises UnicodeEncodeError (lupa, or the encoder)."""
        t = type(obj)
        if t is str:
            obj.encode("utf-8")  # a lone surrogate fails here, not later where lupa crosses
            return obj
        if t is dict or t is list or t is tuple:
            try:
                text = _ENCODE_LUA(obj)
            except (TypeError, ValueError, RecursionError):
                return self.build(obj, path)  # it reports what JSON lacks, with the path
            data = text.encode("utf-8")
            if self._aware_for:
                self._aware_for -= 1
                value = self._load_source(data, strings_aware=True)
            else:
                value = self._load_source(data)
                if value is _BRACKETS_IN_STRINGS:
                    # the next values of this state probably have such strings too: they are
                    # rewritten around their strings first for a while (about 0.9 ms more per
                    # 100 KB than blind, much less than reading twice)
                    self._aware_for = _CAREFUL_CALLS
                    value = self._load_source(data, strings_aware=True)
            if value is not None and value is not _BRACKETS_IN_STRINGS:
                return value
            # decode_json reads JSON text itself ("key":value instead of "key",value)
            value = self._decode_json(_ENCODE(obj).encode("utf-8"))
            if value is not None:
                return value
        return self.build(obj, path)

    def _load_source(self, data: bytes, *, strings_aware: bool = False) -> Any:
        """The value of JSON text (from ``_ENCODE_LUA``) read by Lua's parser
        (``sys.load_json``), or None when declined, or ``_BRACKETS_IN_STRINGS`` when a string
        held a bracket the blind rewriting changed. The text is turned into a Lua chunk with
        C-level byte replacements only (see convert.lua for the form): over the whole text,
        or with ``strings_aware`` only between the strings (split at their quotes)."""
        if _LONG_DIGITS in data.translate(_DIGITS):
            return None  # 19+ digits: maybe beyond 64 bits, which Lua would read as a float
        if b"\\" in data:
            # "\\" -> "\092" first, so that the "\u00" left are escapes: JSON's \u00XX (the
            # only \u escape this encoder writes) is Lua's \xXX; other escapes mean the same
            data = data.replace(b"\\\\", b"\\092").replace(b"\\u00", b"\\x")
        if not strings_aware:
            objects, arrays = data.count(b"{"), data.count(b"[")
            if data.count(b"]") != arrays:
                return _BRACKETS_IN_STRINGS
            source = _rewrite(data)
        else:
            # with \" as \034, every '"' opens or closes a string: the even pieces are outside
            parts = data.replace(b'\\"', b"\\034").split(b'"')
            outside = b'"'.join(parts[0::2])
            objects, arrays = outside.count(b"{"), outside.count(b"[")
            parts[0::2] = _rewrite(outside).split(b'"')
            source = b'"'.join(parts)
        res = self._load_json(b"local O,A=...return " + source, objects, arrays)
        if type(res) is tuple:  # (nil, true): O and A ran fewer times than the text has brackets
            return _BRACKETS_IN_STRINGS
        return res

    def build(self, obj: Any, path: str = "value") -> Any:
        """:meth:`to_lua` without the fast path, one lupa call per element (the fallback that
        names the path of an error, and what tests compare the fast path with)."""
        t = type(obj)
        if obj is None or t is bool or t is str or t is float:
            return obj
        if t is int:
            if obj < _INT_MIN or obj > _INT_MAX:
                raise ConversionError(f"{path}: integer {obj} does not fit in 64 bits")
            return obj
        if t is dict:
            table = self._new_table()
            if not obj:
                self._objects[table] = True
                return table
            count = 0
            null_keys: list[str] = []
            for k, val in obj.items():
                if val is None:
                    null_keys.append(k if type(k) is str else _json_key(k))
                    continue
                if type(k) is not str:
                    k = _json_key(k)
                table[k] = self.build(val, _child(path, k))
                count += 1
            if count == 0:
                self._objects[table] = True
            if null_keys:
                self._nulls[table] = self._rt.table_from(null_keys)
            return table
        if t is list or t is tuple:
            table = self._new_table()
            holes = False
            for i, val in enumerate(obj, 1):
                if val is None:
                    holes = True
                    continue
                table[i] = self.build(val, f"{path}[{i}]")
            if holes:
                self._lengths[table] = len(obj)
            return table
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj).decode("utf-8", errors="replace")
        if isinstance(obj, int):  # bool subclasses handled above; IntEnum etc.
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, dict):
            return self.build(dict(obj), path)
        raise ConversionError(f"{path}: a Python {t.__name__} cannot be passed to Lua")


def _surrogate_message(obj: Any, path: str) -> str:
    """The error for the first string (or key) of ``obj`` that has no UTF-8 form, by path."""
    stack = [(obj, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                return (
                    f"{p}: string is not valid UTF-8: it holds a lone UTF-16 surrogate "
                    f"(U+{ord(v[e.start]):04X} at character {e.start}; a JSON \\u escape "
                    "without its pair decodes to one)"
                )
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                k = k if type(k) is str else _json_key(k)
                stack.append((x, _child(p, k)))
                stack.append((k, f"{p}[<key>]"))  # popped first: a key before its value
        elif isinstance(v, (list, tuple)):
            stack.extend((x, f"{p}[{i}]") for i, x in reversed(list(enumerate(v, 1))))
    return f"{path}: a string is not valid UTF-8: it holds a lone UTF-16 surrogate"


def _json_key(k: Any) -> str:
    """A dict key as Python's json writes it (``True`` -> ``"true"``, ``1.5`` -> ``"1.5"``);
    ``str(k)`` for keys json refuses (build() takes any key)."""
    if k is True or k is False or k is None or isinstance(k, (int, float)):
        return json.dumps(k)
    return str(k)


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", errors="replace")
    raise TypeError(type(obj).__name__)


#: The fast path's encoder: compact (sys.decode_json reads no whitespace), text as it is
#: (no \\u escapes except for control characters), bytes as UTF-8 with replacements (as build()).
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_encode_default, check_circular=False
).encode


_UNCHECKED = object()
#: Values that go out the careful way after one the quick way could not write (its strings
#: needed escapes): the quick attempt would cost about 70% on top of the careful one each time.
_CAREFUL_CALLS = 16


def _checked_loads(text: str, quotes: int) -> Any:
    """The value of a text ``sys.encode_json_fast`` wrote without escaping its strings, or
    ``_UNCHECKED`` when a string needed an escape JSON cannot do without: a backslash, or a '"'
    Lua did not write (``quotes`` counts those). Raw control characters (a newline in a string)
    read as their escapes would (``strict=False``)."""
    if "\\" in text or text.count('"') != quotes:
        return _UNCHECKED
    return _LOADS_RAW_CONTROLS(text)  # keys come sorted


#: json.loads taking raw control characters inside strings (what the quick writer leaves there).
_LOADS_RAW_CONTROLS = json.JSONDecoder(strict=False).decode


#: The quickest way in: as _ENCODE, with "," between key and value (Lua then reads an object as
#: the list of its keys and values) and NaN or infinities refused (build() takes those).
_ENCODE_LUA = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ","),
    default=_encode_default,
    check_circular=False,
    allow_nan=False,
).encode
#: Every digit as "0", to find a run of 19 or more (an integer Lua's parser may not read exactly).
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_BRACKETS_IN_STRINGS = object()


def _rewrite(data: bytes) -> bytes:
    """JSON text (objects as "k",v lists) as the body of sys.load_json's chunk."""
    return data.replace(b"{", b"O{").replace(b"[", b"A{").replace(b"]", b"}")


_LONG_DIGITS = b"0" * 19


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


def _sorted_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    pairs.sort()  # by key: the keys of one object are distinct, values are never compared
    return dict(pairs)


def _key_kind(k: Any) -> str:
    """What a table key is, in Lua's words (``math.type`` for numbers, ``type`` otherwise)."""
    if type(k) is int:
        return "integer"
    if type(k) is float:
        return "float"
    if type(k) is bool:
        return "boolean"
    return lupa.lua_type(k) or "userdata"


def _lua_key(k: Any) -> str:
    """A table key as Lua writes it: ``true``, ``1.5``, ``2.0``, ``"name"`` (not Python's
    ``True`` or ``'name'``); a table, function... as what it is."""
    if k is True or k is False:
        return "true" if k else "false"
    if type(k) is int:
        return str(k)
    if type(k) is float:
        if math.isinf(k):
            return "inf" if k > 0 else "-inf"
        text = f"{k:.14g}"  # Lua's LUAI_NUMFFORMAT; an integral float gets ".0" (as tostring)
        return text + ".0" if re.fullmatch(r"-?\d+", text) else text
    if type(k) is str:
        return json.dumps(k, ensure_ascii=False)
    if type(k) is bytes:
        return json.dumps(k.decode("utf-8", errors="replace"), ensure_ascii=False)
    return _not_data(k, lupa.lua_type(k))


#: The class lupa hands a Lua coroutine (a thread) over as; its ``lua_type`` says "function"
#: (lupa does not export the class).
_COROUTINE = "_LuaCoroutineFunction"


def _not_data(v: Any, lua_type: str | None) -> str:
    """What a Lua value that is not data is, in Lua's words: ``a function``, ``a coroutine
    (thread)``, ``a userdata value``; ``a table`` for a table (as a key)."""
    if lua_type == "thread" or type(v).__name__ == _COROUTINE:
        return "a coroutine (thread)"
    if lua_type is None:  # a Python object handed to Lua and back (lupa unwraps it)
        return f"a userdata value (a Python {type(v).__name__} object)"
    if lua_type == "userdata":
        return "a userdata value"
    return f"a {lua_type}"
