"""temporal.client / temporal.worker fields, and the kind table itself."""

from __future__ import annotations

import pytest

from moonflow.kinds import (
    KINDS,
    SEARCH_ATTRIBUTE_TYPES,
    WORKER_OPTIONS,
    KindSpec,
    RefField,
    get_kind,
    known_kinds,
    register,
)

from .helpers import BASE_YAML, assert_error, line_of

FULL_CLIENT = """
namespace: app
entries:
  - name: client
    kind: temporal.client
    address: temporal.example.com:7233
    namespace: prod
    tq_prefix: "eu-"
    connection_timeout: 5s
    keep_alive_time: 30s
    keep_alive_timeout: 10s
    tls: {enabled: true, server_name: temporal.example.com}
    auth: {type: api_key, api_key: abc}
    health_check: {enabled: false, interval: 30s}
    search_attributes:
      status: keyword
      customer_id: Keyword
      order_total: DOUBLE
      priority: int
      vip: bool
      notes: text
      due: datetime
      tags: keyword_list
      more_tags: KeywordList
  - name: worker
    kind: temporal.worker
    client: client
    task_queue: orders
    worker_options:
      identity: w1
      max_concurrent_activity_execution_size: 10
      sticky_schedule_to_start_timeout: 5s
      default_versioning_behavior: pinned
      activity_task_poller_count: 2
"""


def test_full_client_and_worker(load_ok) -> None:
    app = load_ok({"app.yaml": FULL_CLIENT})
    client = app.spec("app:client")
    assert (client.address, client.namespace, client.tq_prefix) == (
        "temporal.example.com:7233",
        "prod",
        "eu-",
    )
    assert (client.connection_timeout, client.keep_alive_time, client.keep_alive_timeout) == (
        "5s",
        "30s",
        "10s",
    )
    assert client.tls == {"enabled": True, "server_name": "temporal.example.com"}
    assert client.auth == {"type": "api_key", "api_key": "abc"}
    assert client.health_check == {"enabled": False, "interval": "30s"}
    assert client.search_attributes == {
        "status": "Keyword",
        "customer_id": "Keyword",
        "order_total": "Double",
        "priority": "Int",
        "vip": "Bool",
        "notes": "Text",
        "due": "Datetime",
        "tags": "KeywordList",
        "more_tags": "KeywordList",
    }
    worker = app.spec("app:worker")
    assert worker.worker_options["max_concurrent_activity_execution_size"] == 10
    assert app.task_queue("app:worker") == "eu-orders"
    assert app.client_of("app:worker") is client


def test_unknown_search_attribute_type(load_err) -> None:
    yaml = BASE_YAML.replace(
        "address: localhost:7233", "address: x\n    search_attributes:\n      status: String"
    )
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        7,
        "app:client",
        "search attribute 'status' has unknown type 'String'",
        "use one of " + ", ".join(SEARCH_ATTRIBUTE_TYPES),
    )


def test_unknown_worker_option_lists_allowed_keys(load_err) -> None:
    yaml = BASE_YAML + "    worker_options:\n      identity: w\n      max_pollers: 3\n"
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "max_pollers"),
        "app:worker",
        "unknown worker_options key 'max_pollers'",
        "allowed keys are " + ", ".join(WORKER_OPTIONS),
    )


def test_worker_options_must_be_a_mapping(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + "    worker_options: [identity]\n"})
    assert_error(err, "app.yaml", 10, "app:worker", "worker_options must be a mapping")


def test_address_must_be_a_string(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML.replace("address: localhost:7233", "address: 7233")})
    assert_error(err, "app.yaml", 5, "app:client", "address must be a string, not int 7233")


def test_empty_task_queue(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML.replace("task_queue: q", 'task_queue: ""')})
    assert_error(err, "app.yaml", 9, "app:worker", "task_queue must be a non-empty string")


def test_unknown_auth_type(load_err) -> None:
    yaml = BASE_YAML.replace("address: localhost:7233", "address: x\n    auth:\n      type: oauth")
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", 7, "app:client", "auth.type 'oauth' is unknown", "api_key, mtls")


def test_kind_table() -> None:
    assert known_kinds() == sorted(KINDS)
    worker = get_kind("temporal.worker")
    assert isinstance(worker, KindSpec)
    assert worker.required == ("client", "task_queue")
    assert worker.references == (RefField("client", ("temporal.client",)),)
    assert get_kind("workflow.lua").required == ("source", "method")
    assert get_kind("library.lua").required == ("source",)
    assert get_kind("temporal.client").required == ("address",)
    assert get_kind("nope") is None
    with pytest.raises(ValueError, match="already registered"):
        register(worker)
