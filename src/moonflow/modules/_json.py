"""The ``json`` Lua module (workflows and activities), lua-api.md §2.8.

Encoding and decoding use moonflow's one conversion rule set (:mod:`moonflow.lua._convert`):

* ``json.encode(value)`` -> ``string, err``: compact JSON, object keys sorted; NaN and
  infinities are written ``null`` (§2.8; only here - other crossings refuse them). A value the
  rules refuse (mixed or sparse table, function, invalid UTF-8, deeper than 128 levels...) ->
  ``nil, err`` kind ``Invalid`` naming the path (``value.items[3]``).
* ``json.decode(text)`` -> ``value, err``. Not a string -> ``Invalid``; invalid JSON text ->
  kind ``Internal`` (as in the reference runtime); more than 200,000 objects and arrays, nesting
  too deep, a lone UTF-16 surrogate or an integer outside 64 bits -> ``Invalid`` (the bound of
  :mod:`moonflow.modules._documents`: decoded values are built outside the Lua memory cap).

Validation against a JSON Schema (the ``jsonschema`` library):

* ``json.validate(schema, value)`` -> ``true, nil`` when ``value`` (any Lua value, converted by
  the rules above) is valid, else ``false, err`` with kind ``Invalid`` (not retryable) whose
  message lists the first 5 distinct errors with their JSON paths (an identical line once),
  separated by ``; `` and followed by ``; ...`` when there are more, e.g.
  ``json.validate: $.items[2].qty: -1 is less than the minimum of 0``. A value that cannot be
  converted at all is also ``false, err`` (``Invalid``). Paths are JSON paths: ``$`` is the
  value, and array indexes count from 0 as in JSON (``$.items[2]`` is Lua's ``items[3]``).
* ``json.validate_string(schema, json_text)`` -> the same for a JSON document given as text;
  text that is not a string or not valid JSON -> ``false, err`` (``Invalid``).
* ``schema`` is a Lua table or a JSON string. An invalid schema (not JSON, not a schema of its
  draft, an unknown ``$schema``, a ``$ref`` that cannot be resolved - found when validation
  reaches it) -> ``nil, err`` kind ``Invalid``, message ``json.validate: invalid schema: ...``.
* The draft is the one the schema names in ``$schema`` (draft 3, 4, 6, 7, 2019-09, 2020-12);
  without ``$schema`` it is Draft 2020-12. ``format`` is an annotation only (not asserted), as
  the 2020-12 default.
* ``$ref`` resolves inside the schema (``#/$defs/...``, ``$id``-relative) and to the standard
  meta-schemas; any other reference - a remote URL in particular - is never fetched (no network)
  and makes the schema invalid.
* Regular expressions (``pattern``, ``patternProperties`` and the ``additionalProperties`` /
  ``unevaluatedProperties`` that consult them) are searched (not fully matched, as jsonschema
  does) with the ``regex`` package, each search stopped after :data:`PATTERN_TIMEOUT` seconds:
  a pattern that backtracks catastrophically on the value -> ``nil, err`` kind ``Invalid``
  naming the pattern's JSON path in the schema, instead of holding the worker for minutes.
* Size: a schema with more than :data:`MAX_SCHEMA_CONTAINERS` objects and arrays, or more
  than :data:`MAX_SCHEMA_BYTES` bytes of canonical JSON, -> ``nil, err`` kind ``Invalid``
  naming the limit (checking a schema against its meta-schema, jsonschema's ``check_schema``,
  is ~0.1 ms per object and nearly all of a first validation's time; the bound keeps it near
  0.5 s). Each call is charged to the Lua instruction budget (:data:`SCHEMA_COST` per object
  or array of the schema, :data:`INSTANCE_COST` per one of the value, the same whether the
  validator was cached or not, so a workflow's budget does not depend on the worker).
* Compiled validators are cached per process, keyed by a SHA-256 of the schema's canonical JSON
  (sorted keys), least recently used first out past :data:`CACHE_SIZE` entries.
* Conversion notes: an empty Lua table is an array (``[]``) by the conversion rules, so it
  fails ``{"type": "object"}``; use ``json.decode("{}")`` (remembered as an object) or
  ``json.validate_string``. A whole schema given as an empty table is taken as ``{}`` (accept
  anything). Inside a schema written as a Lua table, write empty objects the same way, or give
  the schema as JSON text.

Validation is pure and deterministic, so it is allowed in workflow code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import types
from collections import OrderedDict
from typing import Any

import attrs
import jsonschema
import jsonschema._keywords
import jsonschema._legacy_keywords
import jsonschema._utils
import jsonschema.exceptions
import jsonschema.validators
import lupa.lua54 as lupa
import referencing
import referencing.exceptions
import regex

from ..lua._convert import ConversionError
from ._binary import describe
from ._documents import MAX_CONTAINERS, containers, decoded_to_lua

__all__ = ["MAX_CONTAINERS", "CACHE_SIZE", "ValidatorCache", "build"]

#: Kept for callers of the former name.
_containers = containers

#: Validation errors listed in one error message.
MAX_LISTED_ERRORS = 5
#: Errors examined for distinct lines (identical lines are listed once).
MAX_EXAMINED_ERRORS = 1_000
#: Compiled validators kept per process.
CACHE_SIZE = 256
#: Seconds one regular-expression search of a schema (``pattern``, ``patternProperties``, and
#: the ``additionalProperties``/``unevaluatedProperties`` that depend on them) may take.
PATTERN_TIMEOUT = 0.05
#: Objects and arrays a schema may hold. Checking a schema against its meta-schema (jsonschema's
#: check_schema, once per schema: compiled validators are cached) costs ~0.1 ms per object, the
#: bulk of a first validation; at this bound it stays near 0.5 s, within a workflow task.
MAX_SCHEMA_CONTAINERS = 5_000
#: Bytes of canonical JSON a schema may have.
MAX_SCHEMA_BYTES = 1024 * 1024
#: Lua instructions (~6 ns each) charged per object or array of the schema, and of the value,
#: by each ``json.validate``/``json.validate_string`` call (the JSON_LUA wrapper).
SCHEMA_COST = 2_000
INSTANCE_COST = 500

#: Lua half of the module: validate and validate_string are charged to the running instruction
#: budget (``sys.charge``, as the binary modules are) by what the Python side reports as their
#: cost, the way a C library loop is.
JSON_LUA = r"""
local sys, fns = ...
local function charged(f)
    return function(...)
        local ok, err, cost = f(...)
        local ch = sys.charge
        if ch ~= nil and cost >= 1024 then
            ch(cost)
        end
        return ok, err
    end
end
return {
    encode = fns.encode,
    decode = fns.decode,
    validate = charged(fns.validate),
    validate_string = charged(fns.validate_string),
}
"""


class SchemaInvalid(ValueError):
    """The schema cannot be used; the message says why (without the ``invalid schema:``)."""


class PatternTooSlow(Exception):
    """A schema's regular expression ran past :data:`PATTERN_TIMEOUT` on some string."""

    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self.pattern = pattern


# ---- Bounded regular expressions -----------------------------------------------------------
# jsonschema runs schema patterns with Python's ``re``, which backtracks without limit:
# ``^(a|aa)+$`` on 40 ``a``s and a ``!`` takes minutes, holding the worker (a workflow task
# past Temporal's deadlock detector, an activity past its timeout). The validator classes used
# here are extended (jsonschema.validators.extend) with copies of jsonschema's own keyword
# functions whose ``re`` is :data:`_BOUNDED_RE` - the ``regex`` package, each search stopped
# after PATTERN_TIMEOUT - so pattern, patternProperties, additionalProperties and
# unevaluatedProperties keep jsonschema's semantics (``search``, not a full match) exactly.


@functools.lru_cache(maxsize=1024)
def _compiled_pattern(pattern: str) -> Any:
    return regex.compile(pattern)


class _BoundedRe:
    """Stands for the ``re`` module inside the copied keyword functions."""

    def search(self, pattern: str, string: str, flags: int = 0) -> Any:
        try:
            compiled = _compiled_pattern(pattern)
        except regex.error:
            return re.search(pattern, string, flags)  # not seen: check_schema compiled it
        try:
            return compiled.search(string, timeout=PATTERN_TIMEOUT)
        except TimeoutError:
            raise PatternTooSlow(pattern) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


_BOUNDED_RE = _BoundedRe()


def _rebound(module: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The globals of ``module`` with ``re`` bounded, ``overrides`` applied, and every
    function defined in ``module`` copied to use these globals."""
    g = dict(vars(module))
    g["re"] = _BOUNDED_RE
    g.update(overrides)
    for name, obj in list(g.items()):
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            copy = types.FunctionType(
                obj.__code__, g, obj.__name__, obj.__defaults__, obj.__closure__
            )
            copy.__kwdefaults__ = obj.__kwdefaults__
            copy.__qualname__ = obj.__qualname__
            g[name] = copy
    return g


def _bounded_keywords() -> dict[str, dict[str, Any]]:
    utils = _rebound(jsonschema._utils, {})
    from_utils = {
        k: utils[k]
        for k, v in vars(jsonschema._keywords).items()
        if getattr(v, "__module__", None) == "jsonschema._utils" and k in utils
    }
    keywords = _rebound(jsonschema._keywords, from_utils)
    legacy = _rebound(jsonschema._legacy_keywords, {"_utils": types.SimpleNamespace(**utils)})
    return {"jsonschema._keywords": keywords, "jsonschema._legacy_keywords": legacy}


_KEYWORDS = _bounded_keywords()


def _sticky(ext: Any, same: Any) -> Any:
    """Make ``ext`` (an extended validator class) stay extended where jsonschema switches
    class (a subschema with its own ``$schema``): ``same(cls)`` is the extension of ``cls``."""
    original = ext.evolve
    fields = [(f.name, f.alias) for f in attrs.fields(ext) if f.init]

    def evolve(self: Any, **changes: Any) -> Any:
        new = original(self, **changes)
        if getattr(type(new), "_moonflow_extended", False):
            return new
        return same(type(new))(**{alias: getattr(new, name) for name, alias in fields})

    ext.evolve = evolve
    ext._moonflow_extended = True
    return ext


@functools.cache
def _bounded(cls: Any) -> Any:
    """``cls`` extended so that every regular expression it runs is bounded."""
    replaced = {}
    for keyword, fn in cls.VALIDATORS.items():
        copies = _KEYWORDS.get(getattr(fn, "__module__", ""))
        name = getattr(fn, "__name__", "")
        if copies is not None and copies.get(name) is not None and copies[name] is not fn:
            replaced[keyword] = copies[name]
    return _sticky(jsonschema.validators.extend(cls, validators=replaced), _bounded)


def _pattern_path(schema: Any, pattern: str, path: str = "$") -> str | None:
    """The JSON path, in ``schema``, of the first ``pattern`` or ``patternProperties`` key
    equal to ``pattern``."""
    todo: list[tuple[Any, str]] = [(schema, path)]
    while todo:
        node, where = todo.pop(0)
        if isinstance(node, dict):
            if node.get("pattern") == pattern:
                return f"{where}.pattern"
            pp = node.get("patternProperties")
            if isinstance(pp, dict) and pattern in pp:
                return f"{where}.patternProperties[{json.dumps(pattern, ensure_ascii=False)}]"
            todo.extend((v, _member(where, k)) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return None


def _member(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _refuse_retrieval(uri: str) -> Any:
    """The ``referencing`` retrieve hook: never fetch anything (no network, no files)."""
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


#: References resolve inside the schema and to the bundled meta-schemas only.
_REGISTRY: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


class ValidatorCache:
    """Compiled validators by schema hash, least recently used out first.

    Attributes:
        compiled: how many schemas were compiled (checked and built) so far.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.compiled = 0
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, schema: Any) -> Any:
        """The validator of ``schema`` (JSON-like Python data).

        Raises:
            SchemaInvalid: the schema is not a valid schema of its draft, or names an unknown
                ``$schema``.
        """
        if containers(schema) > MAX_SCHEMA_CONTAINERS:
            raise SchemaInvalid(
                f"the schema has more than {MAX_SCHEMA_CONTAINERS} objects and arrays (the limit)"
            )
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = canonical.encode("utf-8", "surrogatepass")
        if len(data) > MAX_SCHEMA_BYTES:
            raise SchemaInvalid(
                f"the schema is larger than {MAX_SCHEMA_BYTES} bytes of JSON (the limit)"
            )
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            validator = self._items.get(key)
            if validator is not None:
                self._items.move_to_end(key)
                return validator
        validator = _compile(schema)
        with self._lock:
            self.compiled += 1
            self._items[key] = validator
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return validator


def _compile(schema: Any) -> Any:
    if not isinstance(schema, (dict, bool)):
        raise SchemaInvalid(f"a schema is an object or a boolean, not {_json_type(schema)}")
    cls: Any = jsonschema.Draft202012Validator
    if isinstance(schema, dict) and "$schema" in schema:
        cls = jsonschema.validators.validator_for(schema, default=None)
        if cls is None:
            raise SchemaInvalid(
                f"unknown $schema {schema['$schema']!r}: use a JSON Schema draft URI "
                "(e.g. https://json-schema.org/draft/2020-12/schema) or leave it out for 2020-12"
            )
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        raise SchemaInvalid(f"{e.json_path}: {e.message}") from None
    except referencing.exceptions.Unresolvable as e:
        raise SchemaInvalid(_unresolvable(e)) from None
    return _bounded(cls)(schema, registry=_REGISTRY)


def _unresolvable(e: Exception) -> str:
    ref = getattr(e, "ref", None)
    return (
        f"$ref {ref!r} cannot be resolved: only references inside the schema are followed "
        "(remote schemas are never fetched); copy the definition under $defs"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


#: The process-wide cache (validators are immutable and shared by all Lua states).
VALIDATORS = ValidatorCache()


def validation_errors(validator: Any, instance: Any) -> list[str]:
    """``path: message`` of the first errors of ``instance`` (at most one more than listed,
    so callers can tell there were more)."""
    seen: dict[str, None] = {}  # identical lines once (a $ref to a meta-schema repeats them)
    for examined, e in enumerate(validator.iter_errors(instance), 1):
        seen.setdefault(f"{e.json_path}: {e.message}")
        if len(seen) > MAX_LISTED_ERRORS:
            break
        if examined >= MAX_EXAMINED_ERRORS:
            seen.setdefault("...")  # more errors than examined, all repeating those listed
            break
    return list(seen)


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def invalid(message: str) -> Any:
        return state.new_error("Invalid", message, False)

    def encode(value: Any = None, *_: Any) -> Any:
        try:
            data = state.convert.to_python(value, "value", nonfinite_null=True)
        except ConversionError as e:
            return None, invalid(f"json.encode: {e}")
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")), None

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, str):
            return None, invalid("json.decode: expected a string")
        try:
            data = json.loads(text)
        except ValueError as e:
            return None, state.new_error("Internal", f"json.decode: {e}", False)
        except RecursionError:
            return None, invalid("json.decode: nested too deeply")
        return decoded_to_lua(state, data, "json.decode")

    def schema_of(schema: Any) -> Any:
        """The schema as Python data. Raises SchemaInvalid."""
        if isinstance(schema, str):
            if len(schema) > 4 * MAX_SCHEMA_BYTES:
                raise SchemaInvalid(
                    f"the schema is larger than {MAX_SCHEMA_BYTES} bytes of JSON (the limit)"
                )
            try:
                return json.loads(schema)
            except ValueError as e:
                raise SchemaInvalid(f"not valid JSON: {e}") from None
            except RecursionError:
                raise SchemaInvalid("nested too deeply") from None
        if isinstance(schema, bool) or lupa.lua_type(schema) == "table":
            try:
                data = state.to_python(schema, "schema")
            except ConversionError as e:
                raise SchemaInvalid(str(e)) from None
            return {} if data == [] else data  # an empty Lua table is the empty schema
        raise SchemaInvalid(f"expected a table or a JSON string, got {describe(schema)}")

    def check(name: str, schema: Any, instance: Any, problem: str | None) -> Any:
        """``ok, err, cost``: the Lua wrapper charges ``cost`` instructions (JSON_LUA)."""
        data: Any = None
        try:
            data = schema_of(schema)
            ok, err = verdict(name, data, instance, problem)
        except SchemaInvalid as e:
            ok, err = None, invalid(f"{name}: invalid schema: {e}")
        except RecursionError:
            ok, err = None, invalid(f"{name}: invalid schema: nested too deeply")
        # The same charge whether the validator was cached or not (a workflow's budget must
        # not depend on the worker's cache); sizes past the schema bound count as the bound.
        schema_size = min(containers(data), MAX_SCHEMA_CONTAINERS + 1)
        instance_size = min(containers(instance), MAX_CONTAINERS)
        return ok, err, SCHEMA_COST * schema_size + INSTANCE_COST * instance_size

    def verdict(name: str, data: Any, instance: Any, problem: str | None) -> Any:
        try:
            validator = VALIDATORS.get(data)
        except SchemaInvalid as e:
            return None, invalid(f"{name}: invalid schema: {e}")
        except RecursionError:
            return None, invalid(f"{name}: invalid schema: nested too deeply")
        if problem is not None:
            return False, invalid(f"{name}: {problem}")
        try:
            errors = validation_errors(validator, instance)
        except referencing.exceptions.Unresolvable as e:
            return None, invalid(f"{name}: invalid schema: {_unresolvable(e)}")
        except PatternTooSlow as e:
            where = _pattern_path(validator.schema, e.pattern) or "a pattern"
            return None, invalid(
                f"{name}: schema {where}: the pattern {e.pattern!r} takes too long on this "
                f"value (over {PATTERN_TIMEOUT} s: catastrophic backtracking); rewrite it "
                "without nested or overlapping repetition"
            )
        except RecursionError:
            return False, invalid(f"{name}: the value is nested too deeply to validate")
        if not errors:
            return True, None
        more = len(errors) > MAX_LISTED_ERRORS
        listed = "; ".join(errors[:MAX_LISTED_ERRORS]) + ("; ..." if more else "")
        return False, invalid(f"{name}: {listed}")

    def validate(schema: Any = None, value: Any = None, *_: Any) -> Any:
        try:
            instance, problem = state.to_python(value, "value"), None
        except ConversionError as e:
            instance, problem = None, f"cannot be validated: {e}"
        return check("json.validate", schema, instance, problem)

    def validate_string(schema: Any = None, text: Any = None, *_: Any) -> Any:
        instance, problem = None, None
        if not isinstance(text, str):
            problem = f"expected a JSON string, got {describe(text)}"
        else:
            try:
                instance = json.loads(text)
            except ValueError as e:
                problem = f"invalid JSON: {e}"
            except RecursionError:
                problem = "invalid JSON: nested too deeply"
        return check("json.validate_string", schema, instance, problem)

    table = state.module_table(
        "json",
        {
            "encode": encode,
            "decode": decode,
            "validate": validate,
            "validate_string": validate_string,
        },
    )
    return state.load_lua_module(JSON_LUA, "=moonflow/json", state.sys, table)
