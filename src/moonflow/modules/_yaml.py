"""The ``yaml`` Lua module (workflows and activities), lua-api.md §2.0 (listed as workflow-capable).

* ``yaml.encode(value)`` -> ``string, err``: a YAML document in block style (flow style only for
  empty ``{}`` / ``[]``), UTF-8 text as it is (no ``\\u`` escapes), ending in a newline (a lone
  scalar is followed by the ``...`` document end marker). The value is converted by moonflow's
  one rule set, exactly as for ``json.encode`` (:mod:`moonflow.lua._convert`): tables with keys
  ``1..n`` are sequences, tables with string keys are mappings, an empty table is ``[]``; Time
  values become RFC 3339 strings, Durations integer nanoseconds. Lua tables keep no insertion
  order, so mapping keys are **sorted** (stable output). A value the rules refuse (mixed or
  sparse table, function, NaN, invalid UTF-8, deeper than 128 levels...) -> ``nil, err`` kind
  ``Invalid`` naming the path (``value.items[3]``).
* ``yaml.decode(text)`` -> ``value, err``: one YAML document read with PyYAML's *safe* loader
  (YAML 1.1 rules: ``yes``/``no``/``on``/``off`` are booleans, ``0o17``/``017`` octal...). Only
  standard tags are known: a ``!!python/...`` or any custom tag is an error. An empty document
  is ``nil, nil``. Sequences become arrays; mappings become tables with string keys (a
  non-string key is turned into its text: ``1`` -> ``"1"``, ``true`` -> ``"true"``, ``null`` ->
  ``"null"``; two different keys with the same text, such as ``1`` and ``"1"``, are an error; a
  key repeated as written keeps its last value, as merge keys ``<<`` need; a sequence or
  mapping as a key is an error). Integers stay Lua integers (outside 64 bits is an error),
  floats stay floats (``.inf``/``.nan`` included), ``null``/``~`` is nil.
  Types Lua lacks:

  - timestamps and dates (``2024-05-01``, ``2024-05-01T10:00:00Z``, ``!!timestamp``) stay the
    **string as written** (give it to ``time.parse`` if a Time is needed);
  - ``!!binary`` is its base64 text with whitespace removed (``base64.decode`` gives the bytes);
  - ``!!set {a, b}`` is an array of its members in document order;
  - ``!!omap`` / ``!!pairs`` are arrays of ``{key, value}`` two-element arrays.

Errors of ``yaml.decode`` are all kind ``Invalid`` (not retryable): not a string (or not UTF-8);
text over 64 MB; invalid YAML, with the problem, line and column on one line (``yaml.decode:
mapping values are not allowed in this context at line 2, column 3``); an unknown tag; a
document that refers to itself (``&a [*a]``); more than 200,000 mappings and sequences, or more
than max(1,000,000, length of the text) values, counting what aliases expand to - the guard
against alias bombs ("billion laughs"), since decoded values are built outside the Lua memory
cap (:mod:`moonflow.modules._documents`); nesting deeper than 512 levels.

Both functions are pure and deterministic (sorted keys), so they are allowed in workflow code.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..lua._convert import ConversionError
from ._binary import describe
from ._documents import MAX_CONTAINERS, decoded_to_lua

#: Longest text ``yaml.decode`` reads, in UTF-8 bytes.
MAX_TEXT_BYTES = 64 * 1024 * 1024
#: Values (scalars, sequences and mappings, aliases expanded) a decoded document may have at
#: least; a longer text may have as many values as it has characters (it cannot have more
#: without aliases, so only alias expansion is refused).
MIN_MAX_VALUES = 1_000_000
#: Deepest nesting of sequences and mappings ``yaml.decode`` accepts.
MAX_DEPTH = 512

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's parser when available) with Lua-friendly standard tags
    and mapping keys made strings as they are read."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[str, Any]:
        """A mapping with text keys. Python would merge ``true`` and ``1`` (equal keys), so keys
        are made text here, before they meet in a dict. A key repeated as written keeps its
        last value (PyYAML's rule, which merge keys ``<<`` rely on); two different keys with
        the same text (``1`` and ``"1"``) are an error."""
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
        else:
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        mapping: dict[str, Any] = {}
        written: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                text = _key_text(key)
            except DocumentError as e:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, str(e), key_node.start_mark
                ) from None
            if text in written and (type(written[text]) is not type(key) or written[text] != key):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"two different keys are both {text!r} once made strings",
                    key_node.start_mark,
                )
            written[text] = key
            mapping[text] = self.construct_object(value_node, deep=deep)
        return mapping


def _as_written(loader: Any, node: Any) -> Any:
    return loader.construct_scalar(node)


def _binary(loader: Any, node: Any) -> Any:
    return "".join(loader.construct_scalar(node).split())


def _set(loader: Any, node: Any) -> Any:
    return [loader.construct_object(key, deep=True) for key, _ in node.value]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_written)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)
_Loader.add_constructor("tag:yaml.org,2002:set", _set)


class DocumentError(ValueError):
    """A decoded document cannot become a Lua value; the message says why and where."""


class _Bounds:
    """Counts of one conversion, and the containers on the current path (cycles)."""

    def __init__(self, max_values: int) -> None:
        self.values = 0
        self.containers = 0
        self.max_values = max_values
        self.path: set[int] = set()


def _child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _key_text(key: Any) -> str:
    """A mapping key as the text key of a Lua table."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return str(key)
    what = "a sequence" if isinstance(key, (list, tuple)) else f"a {type(key).__name__}"
    raise DocumentError(f"{what} cannot be a mapping key (a Lua table key is a string)")


def plain(data: Any, max_values: int = MIN_MAX_VALUES) -> Any:
    """``data`` as loaded by the safe loader -> JSON-like Python data (a fresh tree: aliases
    expanded), counting what it builds.

    Raises:
        DocumentError: a cycle, an unsupported key or value, too deep, or over a bound.
    """
    return _plain(data, _Bounds(max_values), 0, "value")


def _plain(v: Any, b: _Bounds, depth: int, path: str) -> Any:
    b.values += 1
    if b.values > b.max_values:
        raise DocumentError(
            f"the document expands to more than {b.max_values} values (aliases counted "
            "every time they are used)"
        )
    t = type(v)
    if v is None or t is bool or t is int or t is float or t is str:
        return v
    if t is not dict and t is not list and t is not tuple:
        raise DocumentError(f"{path}: a YAML value of type {t.__name__} is not supported")
    b.containers += 1
    if b.containers > MAX_CONTAINERS:
        raise DocumentError(
            f"the document has more than {MAX_CONTAINERS} mappings and sequences (aliases "
            "counted every time they are used)"
        )
    if depth >= MAX_DEPTH:
        raise DocumentError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if id(v) in b.path:
        raise DocumentError(f"{path}: the document refers to itself (a recursive alias)")
    b.path.add(id(v))
    try:
        if t is dict:
            out: dict[str, Any] = {}
            for k, item in v.items():  # keys are text already (_Loader.construct_mapping)
                key = _key_text(k)
                out[key] = _plain(item, b, depth + 1, _child(path, key))
            return out
        items = []
        for i, item in enumerate(v, 1):  # a loop, not a comprehension: one frame per level
            items.append(_plain(item, b, depth + 1, f"{path}[{i}]"))
        return items
    finally:
        b.path.discard(id(v))


def _yaml_error(e: yaml.YAMLError) -> str:
    """One line: the problem (and its context) with 1-based line and column."""
    if isinstance(e, yaml.MarkedYAMLError):
        parts = []
        if e.context:
            where = ""
            if e.context_mark is not None and (
                e.problem_mark is None or e.context_mark.line != e.problem_mark.line
            ):
                where = f" (line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
            parts.append(f"{e.context}{where}")
        if e.problem:
            problem = e.problem
            if e.problem_mark is not None:
                mark = e.problem_mark
                problem += f" at line {mark.line + 1}, column {mark.column + 1}"
            parts.append(problem)
        if parts:
            return ": ".join(parts)
    return " ".join(str(e).split())


def load(text: str) -> Any:
    """``text`` read as one YAML document by the module's safe loader, as JSON-like data.

    Raises:
        yaml.YAMLError: invalid YAML or an unknown tag.
        DocumentError: see :func:`plain`.
        RecursionError: nested too deeply for the loader.
    """
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    return plain(data, max(MIN_MAX_VALUES, len(text)))


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error("Invalid", message, False)

    def encode(value: Any = None, *_: Any) -> Any:
        try:
            data = state.to_python(value, "value")
        except ConversionError as e:
            return invalid(f"yaml.encode: {e}")
        try:
            text = yaml.dump(
                data,
                Dumper=yaml.SafeDumper,
                allow_unicode=True,
                sort_keys=True,
                default_flow_style=False,
            )
        except RecursionError:
            return invalid("yaml.encode: nested too deeply")
        return text, None

    def decode(text: Any = None, *_: Any) -> Any:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                return invalid("yaml.decode: the text is not valid UTF-8")
        if not isinstance(text, str):
            return invalid(f"yaml.decode: expected a string, got {describe(text)}")
        if len(text) > MAX_TEXT_BYTES // 4 and len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            return invalid(f"yaml.decode: the text is longer than {MAX_TEXT_BYTES} bytes")
        try:
            data = load(text)
        except yaml.YAMLError as e:
            return invalid(f"yaml.decode: {_yaml_error(e)}")
        except DocumentError as e:
            return invalid(f"yaml.decode: {e}")
        except RecursionError:
            return invalid("yaml.decode: nested too deeply")
        if data is None:
            return None, None
        return decoded_to_lua(state, data, "yaml.decode")

    return state.module_table("yaml", {"encode": encode, "decode": decode})
