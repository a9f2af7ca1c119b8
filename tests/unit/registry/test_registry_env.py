"""``${env:...}`` placeholders in entry data and meta."""

from __future__ import annotations

import pytest

from moonflow.registry._env import PlaceholderError, resolve

from .helpers import BASE_YAML, assert_error, dedent, line_of

CLIENT = """
namespace: app
entries:
  - name: client
    kind: temporal.client
    address: ${env:MF_ADDR|localhost:7233}
    namespace: "${env:MF_NS}"
    tq_prefix: "${MF_PREFIX|dev-}"
    auth:
      type: api_key
      api_key: "key-${env:MF_KEY}-$${env:LITERAL}"
    keep_alive_time: ${env:MF_KEEPALIVE|30}
    meta:
      comment: "from ${env:MF_NS}"
"""


def test_placeholders_resolve_from_the_environment(load_ok, monkeypatch) -> None:
    monkeypatch.setenv("MF_NS", "prod")
    monkeypatch.setenv("MF_KEY", "s3cret")
    monkeypatch.delenv("MF_ADDR", raising=False)
    monkeypatch.delenv("MF_PREFIX", raising=False)
    monkeypatch.setenv("MF_KEEPALIVE", "45")
    app = load_ok({"app.yaml": CLIENT})
    client = app.clients()[0]
    assert client.address == "localhost:7233"
    assert client.namespace == "prod"
    assert client.tq_prefix == "dev-"
    assert client.auth == {"type": "api_key", "api_key": "key-s3cret-${env:LITERAL}"}
    assert client.keep_alive_time == 45
    assert client.entry.meta == {"comment": "from prod"}


def test_set_variable_beats_default(load_ok, monkeypatch) -> None:
    monkeypatch.setenv("MF_NS", "x")
    monkeypatch.setenv("MF_KEY", "k")
    monkeypatch.setenv("MF_ADDR", "temporal.example:7233")
    monkeypatch.setenv("MF_PREFIX", "")
    app = load_ok({"app.yaml": CLIENT})
    assert app.clients()[0].address == "temporal.example:7233"
    assert app.clients()[0].tq_prefix == ""


def test_missing_variable_names_variable_entry_and_line(load_err, monkeypatch) -> None:
    monkeypatch.delenv("MF_NS", raising=False)
    monkeypatch.setenv("MF_KEY", "k")
    err = load_err({"app.yaml": CLIENT})
    assert_error(
        err,
        "app.yaml",
        line_of(dedent(CLIENT), 'namespace: "${env:MF_NS}"'),
        "app:client",
        "environment variable MF_NS is not set (used in namespace)",
        "${env:MF_NS|value}",
    )


def test_missing_variable_in_meta_and_nested_field(load_err, monkeypatch) -> None:
    yaml = BASE_YAML.replace(
        "task_queue: q", "task_queue: q\n    meta:\n      owner: ${env:MF_OWNER}"
    )
    monkeypatch.delenv("MF_OWNER", raising=False)
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", 11, "app:worker", "MF_OWNER is not set (used in meta.owner)")


def test_env_in_worker_task_queue_and_lists(load_ok, monkeypatch) -> None:
    monkeypatch.setenv("MF_QUEUE", "orders")
    yaml = BASE_YAML.replace("task_queue: q", "task_queue: ${env:MF_QUEUE}-v2")
    app = load_ok({"app.yaml": yaml})
    assert app.task_queue("app:worker") == "orders-v2"


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${env:PORT|7233}", {}, 7233),
        ("${env:PORT|7233}", {"PORT": "8000"}, 8000),
        ("${env:RATIO|0.5}", {}, 0.5),
        ("${env:RATIO|0.5}", {"RATIO": "2"}, 2),
        ("${env:ON|false}", {}, False),
        ("${env:ON|false}", {"ON": "true"}, True),
        ("${env:NAME|abc}", {}, "abc"),
        ("${env:NAME|123abc}", {}, "123abc"),
        ("${env:PORT}", {"PORT": "7233"}, "7233"),  # no typed default: stays a string
        ("port ${env:PORT|7233}", {}, "port 7233"),  # embedded: interpolated
        ("${env:A}${env:B}", {"A": "1", "B": "2"}, "12"),
        ("${env:EMPTY|}", {}, ""),
        ("${PORT|7233}", {}, 7233),  # shorthand with default
        ("${PORT}", {"PORT": "1"}, "${PORT}"),  # bare ${VAR} untouched
        ("${lower|x}", {}, "${lower|x}"),  # shorthand needs [A-Z0-9_]
        ("$${env:PORT}", {"PORT": "1"}, "${env:PORT}"),  # escape
        ("cost: $$5 and $${", {}, "cost: $$5 and ${"),
        ("no placeholder", {}, "no placeholder"),
    ],
)
def test_resolve_values(value, env, expected) -> None:
    got = resolve(value, env)
    assert got == expected
    assert type(got) is type(expected)


def test_resolve_nested_structures_and_errors() -> None:
    data = {"a": ["${env:X}", {"b": "${env:Y|y}"}], "n": 3, "t": True, "z": None}
    assert resolve(data, {"X": "x"}) == {"a": ["x", {"b": "y"}], "n": 3, "t": True, "z": None}
    with pytest.raises(PlaceholderError) as info:
        resolve(data, {})
    assert info.value.path == "a.0"
    with pytest.raises(PlaceholderError, match="malformed placeholder"):
        resolve({"k": "${env:bad-name}"}, {})
    with pytest.raises(PlaceholderError, match="malformed placeholder"):
        resolve({"k": "${env:UNCLOSED"}, {})


@pytest.mark.parametrize("value", ["abc", "", "1.5"])
def test_a_value_that_does_not_fit_the_typed_default_is_an_error(value):
    # the default 7233 says the field is an integer: "abc" there would fail later, far away
    with pytest.raises(PlaceholderError) as info:
        resolve({"port": "${env:PORT|7233}"}, {"PORT": value})
    assert info.value.message == (
        f"PORT is {value!r} but the default 7233 makes port an integer: set PORT to an integer"
    )
