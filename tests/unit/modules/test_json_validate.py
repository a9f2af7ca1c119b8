"""``json.validate`` / ``json.validate_string`` (lua-api.md §2.8): results with JSON paths,
schemas as tables or JSON text, drafts, invalid schemas, the validator cache, and ``$ref``
resolution that never touches the network."""

from __future__ import annotations

import socket

import pytest

from moonflow.lua import LuaRun, RunStopped
from moonflow.modules import _json

from .helpers import FakeWorkflowHost, RecordingHost, new_state, run

ORDER_SCHEMA = """{
  "type": "object",
  "required": ["id", "items"],
  "properties": {
    "id": {"type": "string"},
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "qty"],
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}}
      }
    }
  }
}"""


@pytest.fixture(params=["activity", "workflow"])
def state(request):
    if request.param == "workflow":
        return new_state("workflow", FakeWorkflowHost(1_700_000_000_000_000_000, 7, []))
    return new_state("activity")


def lua(state, src):
    """Run ``src`` with ``json`` and ``SCHEMA`` (the order schema as text) in scope; a trailing
    error object is returned as ``(kind, message, retryable)``."""
    body = "local json = M('json')\nlocal SCHEMA = [==[" + ORDER_SCHEMA + "]==]\n" + src
    return run(state, body)


def check(state, call):
    """``ok, err = <call>`` -> ``[ok, kind, message]``."""
    return lua(
        state,
        f"local ok, err = {call}\n"
        "if err then return ok, err:kind(), err:message(), err:retryable() end\n"
        "return ok, nil, nil, nil",
    )


GOOD = "{id = 'o1', items = {{sku = 'a', qty = 1}, {sku = 'b', qty = 0}}}"


def test_a_valid_value_is_true_nil(state):
    assert check(state, f"json.validate(SCHEMA, {GOOD})") == [True, None, None, None]


def test_failures_are_false_invalid_with_json_paths(state):
    ok, kind, msg, retryable = check(
        state,
        "json.validate(SCHEMA, {id = 'o1', items = {{sku = 'a', qty = 1}, {sku = 'b', qty = 2}, {sku = 'c', qty = -1}}})",
    )
    assert ok is False and kind == "Invalid" and retryable is False
    assert msg == "json.validate: $.items[2].qty: -1 is less than the minimum of 0"


def test_several_failures_are_listed_and_capped(state):
    ok, kind, msg, _ = check(state, "json.validate(SCHEMA, {items = {{qty = 'x'}}})")
    assert ok is False and kind == "Invalid"
    assert "$: 'id' is a required property" in msg
    assert "$.items[0]: 'sku' is a required property" in msg
    assert "$.items[0].qty: 'x' is not of type 'integer'" in msg
    many = "{" + ", ".join(f"'s{i}'" for i in range(20)) + "}"
    ok, kind, msg, _ = check(
        state, f"json.validate({{type = 'array', items = {{type = 'integer'}}}}, {many})"
    )
    assert ok is False
    assert msg.count("is not of type 'integer'") == _json.MAX_LISTED_ERRORS
    assert msg.endswith("; ...")


def test_schema_as_a_lua_table(state):
    schema = "{type = 'object', required = {'name'}, properties = {name = {type = 'string', minLength = 2}}}"
    assert check(state, f"json.validate({schema}, {{name = 'ab'}})")[:2] == [True, None]
    ok, kind, msg, _ = check(state, f"json.validate({schema}, {{name = 'a'}})")
    assert ok is False and kind == "Invalid" and "$.name: 'a' is too short" in msg


def test_an_empty_table_schema_accepts_anything(state):
    assert check(state, "json.validate({}, {1, 2})")[:2] == [True, None]
    assert check(state, "json.validate({}, 'x')")[:2] == [True, None]


def test_validate_string(state):
    assert check(
        state, 'json.validate_string(SCHEMA, \'{"id": "o1", "items": [{"sku": "a", "qty": 3}]}\')'
    )[:2] == [True, None]
    ok, kind, msg, _ = check(state, 'json.validate_string(SCHEMA, \'{"id": 5, "items": []}\')')
    assert ok is False and kind == "Invalid"
    assert "$.id: 5 is not of type 'string'" in msg and "$.items: [] should be non-empty" in msg
    assert msg.startswith("json.validate_string: ")


def test_validate_string_with_invalid_json_is_false_invalid(state):
    ok, kind, msg, _ = check(state, "json.validate_string(SCHEMA, '{\"id\": ')")
    assert ok is False and kind == "Invalid" and "invalid JSON" in msg
    ok, kind, msg, _ = check(state, "json.validate_string(SCHEMA, {id = 'x'})")
    assert ok is False and kind == "Invalid" and "expected a JSON string" in msg


def test_a_value_that_cannot_be_converted_is_false_invalid(state):
    ok, kind, msg, _ = check(state, "json.validate({}, {f = function() end})")
    assert ok is False and kind == "Invalid" and "value.f" in msg


@pytest.mark.parametrize(
    "schema, fragment",
    [
        ("{type = 'nope'}", "invalid schema: $.type: 'nope' is not valid"),
        ("{minimum = 'zero'}", "invalid schema: $.minimum: 'zero' is not of type 'number'"),
        ("'{not json'", "invalid schema: not valid JSON"),
        ("'[1, 2]'", "invalid schema: a schema is an object or a boolean, not an array"),
        ("42", "invalid schema: expected a table or a JSON string"),
        ("nil", "invalid schema: expected a table or a JSON string, got nil"),
        (
            "{['$schema'] = 'https://example.com/my-meta'}",
            "unknown $schema 'https://example.com/my-meta'",
        ),
        ("{pattern = '('}", "invalid schema: $.pattern: '(' is not a 'regex'"),
    ],
)
def test_an_invalid_schema_is_nil_invalid(state, schema, fragment):
    ok, kind, msg, retryable = check(state, f"json.validate({schema}, 1)")
    assert ok is None and kind == "Invalid" and retryable is False
    assert fragment in msg, msg
    assert msg.startswith("json.validate: invalid schema: ")


def test_the_declared_draft_is_used(state):
    # Draft 4: exclusiveMinimum is a boolean modifying minimum; in 2020-12 it must be a number.
    draft4 = "{['$schema'] = 'http://json-schema.org/draft-04/schema#', minimum = 1, exclusiveMinimum = true}"
    ok, kind, msg, _ = check(state, f"json.validate({draft4}, 1)")
    assert ok is False and "less than or equal to the minimum of 1" in msg
    assert check(state, f"json.validate({draft4}, 2)")[:2] == [True, None]
    ok, kind, msg, _ = check(state, "json.validate({minimum = 1, exclusiveMinimum = true}, 2)")
    assert ok is None and "invalid schema" in msg  # 2020-12 by default
    # 2020-12 keywords work without $schema
    assert check(state, "json.validate({prefixItems = {{type = 'string'}}}, {'a', 1})")[:2] == [
        True,
        None,
    ]
    ok, *_ = check(state, "json.validate({prefixItems = {{type = 'string'}}}, {1})")
    assert ok is False


def test_local_refs_resolve(state):
    schema = (
        '\'{"$defs": {"qty": {"type": "integer", "minimum": 1}}, '
        '"type": "array", "items": {"$ref": "#/$defs/qty"}}\''
    )
    assert check(state, f"json.validate({schema}, {{1, 2}})")[:2] == [True, None]
    ok, kind, msg, _ = check(state, f"json.validate({schema}, {{1, 0}})")
    assert ok is False and "$[1]: 0 is less than the minimum of 1" in msg


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test (and is recorded)."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"network access to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(None, host))
    return attempts


@pytest.mark.parametrize(
    "ref",
    [
        "https://example.com/schemas/order.json",
        "http://127.0.0.1:9/schema.json",
        "file:///etc/passwd",
        "other.json#/x",
    ],
)
def test_remote_refs_are_never_fetched(state, no_network, ref):
    schema = '{"properties": {"a": {"$ref": "' + ref + '"}}}'
    ok, kind, msg, _ = check(state, f"json.validate('{schema}', {{a = 1}})")
    assert ok is None and kind == "Invalid"
    assert "invalid schema" in msg and ref.split("#")[0] in msg and "never fetched" in msg
    assert no_network == []


def test_validators_are_cached_by_schema_content(state, monkeypatch):
    cache = _json.ValidatorCache(size=3)
    monkeypatch.setattr(_json, "VALIDATORS", cache)
    for _ in range(5):
        assert check(state, f"json.validate(SCHEMA, {GOOD})")[0] is True
    assert cache.compiled == 1
    # the same schema as a Lua table (other key order, other source) is the same entry
    same = "json.decode(SCHEMA)"
    assert check(state, f"json.validate({same}, {GOOD})")[0] is True
    assert check(state, f"json.validate_string(SCHEMA, json.encode({GOOD}))")[0] is True
    assert cache.compiled == 1 and len(cache) == 1
    # a different schema compiles once more; the cache stays bounded (LRU)
    for i in range(5):
        assert check(state, f"json.validate({{maximum = {i}}}, 0)")[0] is True
    assert cache.compiled == 6 and len(cache) == 3
    assert check(state, "json.validate({maximum = 4}, 0)")[0] is True  # most recent: kept
    assert cache.compiled == 6
    assert check(state, f"json.validate(SCHEMA, {GOOD})")[0] is True  # evicted: compiled again
    assert cache.compiled == 7


def test_extra_arguments_are_ignored(state):
    assert check(state, "json.validate({type = 'integer'}, 1, 'extra', {})")[:2] == [True, None]


def test_validation_is_the_same_in_workflow_and_activity_code():
    bad = "{id = 'o1', items = {{sku = 'a', qty = -1}, {qty = 2}}}"
    results = []
    for st in (new_state("activity"), new_state("workflow", FakeWorkflowHost(0, 1, []))):
        results.append(check(st, f"json.validate(SCHEMA, {bad})"))
    assert results[0] == results[1]
    assert results[0][0] is False


# ---- bounded regular expressions, schema size, charge, deduplicated messages -------------

#: ``^(a|aa)+$`` backtracks exponentially on a run of ``a`` that ends badly, with Python's ``re``
#: and with the ``regex`` package alike (minutes for 40 characters); ``^(a+)+$`` too with ``re``.
SLOW = "'^(a|aa)+$'"
BAD_VALUE = "string.rep('a', 40) .. '!'"


def test_a_catastrophic_pattern_is_stopped_and_named(state):
    ok, kind, msg, retryable = check(
        state,
        f"json.validate({{properties = {{name = {{type = 'string', pattern = {SLOW}}}}}}}, {{name = {BAD_VALUE}}})",
    )
    assert ok is None and kind == "Invalid" and retryable is False
    assert "$.properties.name.pattern" in msg and "^(a|aa)+$" in msg, msg
    assert "takes too long on this value" in msg and "catastrophic backtracking" in msg


def test_the_reviewers_pattern_returns(state):
    # Python's re needs minutes for this; the bounded search answers at once (or times out).
    ok, kind, msg, _ = check(
        state, "json.validate({type = 'string', pattern = '^(a+)+$'}, string.rep('a', 30) .. '!')"
    )
    assert ok in (False, None) and kind == "Invalid" and "^(a+)+$" in msg


def test_a_catastrophic_pattern_property_is_stopped_and_named(state):
    schema = f"{{type = 'object', patternProperties = {{[{SLOW}] = {{type = 'integer'}}}}}}"
    ok, kind, msg, _ = check(state, f"json.validate({schema}, {{[{BAD_VALUE}] = 1}})")
    assert ok is None and kind == "Invalid"
    assert '$.patternProperties["^(a|aa)+$"]' in msg and "takes too long" in msg, msg
    # additionalProperties consults the same patterns
    schema = f"{{patternProperties = {{[{SLOW}] = true}}, additionalProperties = false}}"
    ok, kind, msg, _ = check(state, f"json.validate({schema}, {{[{BAD_VALUE}] = 1}})")
    assert ok is None and kind == "Invalid" and "takes too long" in msg, msg


def test_a_catastrophic_pattern_is_stopped_everywhere(state):
    # under anyOf/not (whose errors are otherwise swallowed) and under a subschema that names
    # its own $schema (where jsonschema switches validator class)
    for schema in (
        f"{{anyOf = {{{{pattern = {SLOW}}}, {{type = 'integer'}}}}}}",
        f"{{['not'] = {{pattern = {SLOW}}}}}",
        f"{{['$defs'] = {{x = {{['$schema'] = 'http://json-schema.org/draft-07/schema#', pattern = {SLOW}}}}}, ['$ref'] = '#/$defs/x'}}",
        f"{{['$schema'] = 'http://json-schema.org/draft-04/schema#', pattern = {SLOW}}}",
    ):
        ok, kind, msg, _ = check(state, f"json.validate({schema}, {BAD_VALUE})")
        assert ok is None and kind == "Invalid" and "takes too long" in msg, (schema, msg)


def test_ordinary_patterns_still_search(state):
    assert check(state, "json.validate({pattern = 'b'}, 'abc')")[:2] == [True, None]  # search
    assert check(state, "json.validate({pattern = '^ab'}, 'abc')")[:2] == [True, None]
    ok, kind, msg, _ = check(state, "json.validate({pattern = '^b'}, 'abc')")
    assert ok is False and kind == "Invalid" and "$: 'abc' does not match '^b'" in msg
    schema = "{patternProperties = {['^x_'] = {type = 'integer'}}, additionalProperties = false}"
    assert check(state, f"json.validate({schema}, {{x_a = 1}})")[:2] == [True, None]
    ok, _, msg, _ = check(state, f"json.validate({schema}, {{x_a = 'no'}})")
    assert ok is False and "$.x_a: 'no' is not of type 'integer'" in msg
    ok, _, msg, _ = check(state, f"json.validate({schema}, {{y = 1}})")
    assert ok is False and "'y' does not match any of the regexes" in msg


def big_schema(n):
    return (
        f"(function() local p = {{}} for i = 1, {n} do p['p' .. i] = {{type = 'integer'}} end "
        "return {type = 'object', properties = p} end)()"
    )


def test_a_schema_over_the_size_limit_is_refused(state):
    n = _json.MAX_SCHEMA_CONTAINERS  # n properties + the properties object + the root
    ok, kind, msg, _ = check(state, f"json.validate({big_schema(n)}, {{}})")
    assert ok is None and kind == "Invalid"
    assert f"more than {_json.MAX_SCHEMA_CONTAINERS} objects and arrays" in msg, msg
    ok, kind, msg, _ = check(state, f"json.validate_string(json.encode({big_schema(n)}), '1')")
    assert ok is None and "the limit" in msg
    huge = "string.rep('x', 2 * 1024 * 1024)"
    ok, kind, msg, _ = check(state, f"json.validate({{description = {huge}}}, 1)")
    assert ok is None and kind == "Invalid" and f"larger than {_json.MAX_SCHEMA_BYTES}" in msg
    # just under the limit is fine
    assert check(state, f"json.validate({big_schema(100)}, {{p1 = 1}})")[:2] == [True, None]


def test_validation_is_charged_to_the_instruction_budget():
    # 100 validations against a cached 1,000-property schema run few Lua instructions but
    # ~1 s of Python: the charge stops them at the 50M-instruction budget.
    src = (
        f"local json = M('json') local s = {big_schema(1000)}\n"
        "for i = 1, 100 do json.validate(s, {}) end"
    )
    host = RecordingHost()
    st = LuaRun("activity", host, instruction_budget=50_000_000)
    host.state = st
    env = st.new_env()
    env["M"] = st.module
    fn = st.sys.raw.load(src, "=v.lua", "t", env)
    with pytest.raises(RunStopped) as stopped:
        st.guarded_pcall(fn)
    assert stopped.value.reason == "budget"


def test_identical_error_lines_are_listed_once(state):
    meta = "{['$ref'] = 'https://json-schema.org/draft/2020-12/schema'}"
    # jsonschema reports this one 8 times (once per meta-schema vocabulary reaching it)
    ok, kind, msg, _ = check(state, f"json.validate({meta}, {{items = 5}})")
    assert ok is False and kind == "Invalid"
    assert msg == "json.validate: $.items: 5 is not of type 'object', 'boolean'"
    ok, kind, msg, _ = check(state, f"json.validate({meta}, {{items = 5, minimum = 'x'}})")
    assert ok is False
    assert sorted(msg.removeprefix("json.validate: ").split("; ")) == [
        "$.items: 5 is not of type 'object', 'boolean'",
        "$.minimum: 'x' is not of type 'number'",
    ]
