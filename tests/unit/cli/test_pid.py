"""Workflow PIDs: ``{client@worker|workflow id}``."""

from __future__ import annotations

import pytest

from moonflow.client import format_pid, parse_pid


def test_format() -> None:
    assert format_pid("app:temporal_client", "app:worker", "order-1") == (
        "{app:temporal_client@app:worker|order-1}"
    )


@pytest.mark.parametrize(
    "client, worker, wid",
    [
        ("app:temporal_client", "app:worker", "order-1"),
        ("shop.flows:c", "shop.flows:w", "id|with|pipes"),
        ("a:c", "a:w", "ends-with}brace}"),
        ("a:c", "a:w", "with spaces and @ and {"),
        ("a:c", "orders-queue", "x"),  # a child's host may be a literal task queue
    ],
)
def test_round_trip(client: str, worker: str, wid: str) -> None:
    assert parse_pid(format_pid(client, worker, wid)) == (client, worker, wid)


def test_surrounding_space_is_ignored() -> None:
    assert parse_pid("  {a:c@a:w|x}\n") == ("a:c", "a:w", "x")


@pytest.mark.parametrize(
    "text",
    [
        "order-1",  # a bare workflow id
        "",
        "{}",
        "{a:c@a:w}",  # no workflow id
        "{a:c@a:w|}",  # empty workflow id
        "{update|abc}",  # not a workflow PID
        "{|topology}",
        "{@a:w|x}",  # empty client
        "{a:c@|x}",  # empty worker
        "a:c@a:w|x",  # no braces
        "{a:c@a:w|x",
    ],
)
def test_not_a_workflow_pid(text: str) -> None:
    assert parse_pid(text) is None
