"""The ``json`` Lua module (workflows and activities), lua-api.md §2.8.

Encoding and decoding use moonflow's one conversion rule set (:mod:`moonflow.lua._convert`):

* ``json.encode(value)`` -> ``string, err``: compact JSON, object keys sorted. A value the rules
  refuse (mixed or sparse table, function, NaN, invalid UTF-8, deeper than 128 levels...) ->
  ``nil, err`` kind ``Invalid`` naming the path (``value.items[3]``).
* ``json.decode(text)`` -> ``value, err``. Not a string -> ``Invalid``; invalid JSON text ->
  kind ``Internal`` (as in the reference runtime); more than 200,000 objects and arrays, nesting
  too deep, a lone UTF-16 surrogate or an integer outside 64 bits -> ``Invalid`` (the bound of
  :mod:`moonflow.modules._documents`: decoded values are built outside the Lua memory cap).

Validation against a JSON Schema (the ``jsonschema`` library):

* ``json.validate(schema, value)`` -> ``true, nil`` when ``value`` (any Lua value, converted by
  the rules above) is valid, else ``false, err`` with kind ``Invalid`` (not retryable) whose
  message lists the first 5 errors with their JSON paths, separated by ``; `` and followed by
  ``; ...`` when there are more, e.g.
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

import hashlib
import itertools
import json
import threading
from collections import OrderedDict
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import lupa.lua54 as lupa
import referencing
import referencing.exceptions

from ..lua._convert import ConversionError
from ._binary import describe
from ._documents import MAX_CONTAINERS, containers, decoded_to_lua

__all__ = ["MAX_CONTAINERS", "CACHE_SIZE", "ValidatorCache", "build"]

#: Kept for callers of the former name.
_containers = containers

#: Validation errors listed in one error message.
MAX_LISTED_ERRORS = 5
#: Compiled validators kept per process.
CACHE_SIZE = 256


class SchemaInvalid(ValueError):
    """The schema cannot be used; the message says why (without the ``invalid schema:``)."""


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
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        key = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
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
    return cls(schema, registry=_REGISTRY)


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
    errors = itertools.islice(validator.iter_errors(instance), MAX_LISTED_ERRORS + 1)
    return [f"{e.json_path}: {e.message}" for e in errors]


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def invalid(message: str) -> Any:
        return state.new_error("Invalid", message, False)

    def encode(value: Any = None, *_: Any) -> Any:
        try:
            data = state.to_python(value, "value")
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
        try:
            validator = VALIDATORS.get(schema_of(schema))
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

    return state.module_table(
        "json",
        {
            "encode": encode,
            "decode": decode,
            "validate": validate,
            "validate_string": validate_string,
        },
    )
