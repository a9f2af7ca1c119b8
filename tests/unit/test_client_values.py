"""Values sent through the Python API are checked as JSON before any request (issue 17, item 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import moonflow.client
from moonflow.client._values import check_value
from moonflow.errors import UsageError
from moonflow.registry import load_app

ORDERS = Path(__file__).resolve().parents[2] / "examples" / "orders"


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**63), 2**63 - 1, 1.5, "x", [], (1, "a"), {"a": [1, {"b": None}]}],
)
def test_json_values_pass(value: Any) -> None:
    check_value(value, "input")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"d": {1: "a", "x": 1}}, "input.d: keys must be strings, got 1"),
        ({"a": [1, float("nan")]}, "input.a[1]: nan is not a finite number"),
        ([float("-inf")], "input[0]: -inf is not a finite number"),
        ({"s": {1, 2}}, "input.s: set is not a JSON value"),
        ({"b": b"raw"}, "input.b: bytes is not a JSON value"),
        ({"o": object()}, "input.o: object is not a JSON value"),
        ({"n": 2**63}, "input.n: integer 9223372036854775808 does not fit in 64 bits"),
        ({None: 1}, "input: keys must be strings, got None"),
    ],
)
def test_non_json_values_name_the_path(value: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_value(value, "input")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


class _NoServer:
    """A client that fails the test if anything reaches it: the check comes first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was used ({name}) before the values were checked")


async def test_public_api_refuses_before_any_request() -> None:
    app = load_app(ORDERS)
    client: Any = _NoServer()
    bad = {"d": {1: "a", "x": 1}}
    with pytest.raises(UsageError, match=r"^input\.d: keys must be strings, got 1$"):
        await moonflow.client.start(client, app, "app:order_workflow", bad)
    with pytest.raises(UsageError, match=r"^args\[1\]\.d: keys must be strings"):
        await moonflow.client.start_workflow(client, app, "app:order_workflow", args=[1, bad])
    with pytest.raises(UsageError, match=r"^signals\[0\]\[1\]\.d: keys must be strings"):
        await moonflow.client.start(client, app, "app:order_workflow", signals=[("go", bad)])
    with pytest.raises(UsageError, match=r"^memo\.d: keys must be strings"):
        await moonflow.client.start(client, app, "app:order_workflow", {}, memo=bad)
    with pytest.raises(UsageError, match=r"^values\[0\]: set is not a JSON value"):
        await moonflow.client.signal(client, "wf-1", "approve", {1, 2})
    with pytest.raises(UsageError, match=r"^values\[1\]: bytes is not a JSON value"):
        await moonflow.client.update(client, "wf-1", "change", 1, b"x")
    with pytest.raises(UsageError, match=r"^values\[0\]\.x: nan is not a finite number"):
        await moonflow.client.query(client, "wf-1", "status", {"x": float("nan")})
    ref = moonflow.client.get_workflow(client, "wf-1")
    with pytest.raises(UsageError, match=r"^values\[0\]\.d: keys must be strings"):
        await ref.signal("approve", bad)


async def test_values_sent_together_are_sized_together() -> None:
    # each of these is under Temporal's 2 MiB payload limit, together they are over it: the
    # server measures the payload list, so the client refuses the list before any request
    app = load_app(ORDERS)
    client: Any = _NoServer()
    half = "x" * (1200 * 1024)
    total = r"\(2 values in total\): 24\d{5} bytes encoded \(2\.3 MB\), over the 2097152-byte"
    with pytest.raises(UsageError, match=r"^args " + total):
        await moonflow.client.start_workflow(client, app, "app:order_workflow", args=[half, half])
    with pytest.raises(UsageError, match=r"^values " + total):
        await moonflow.client.signal(client, "wf-1", "approve", half, half)
    # one value over the limit is still named by its own path
    with pytest.raises(UsageError, match=r"^args\[1\]: \d+ bytes encoded"):
        await moonflow.client.start_workflow(
            client, app, "app:order_workflow", args=[1, half + half]
        )


async def test_lone_surrogates_and_too_deep_values_are_refused_before_any_request() -> None:
    app = load_app(ORDERS)
    client: Any = _NoServer()
    with pytest.raises(UsageError, match=r"^input\.a\[1\]: the string holds a lone UTF-16"):
        await moonflow.client.start(client, app, "app:order_workflow", {"a": ["ok", "\ud800"]})
    with pytest.raises(UsageError, match=r"^values\[0\]\[<key>\]: the string holds a lone"):
        await moonflow.client.signal(client, "wf-1", "approve", {"\udfff": 1})
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(UsageError, match=r"^input: the value contains itself or is nested too"):
        await moonflow.client.start(client, app, "app:order_workflow", deep)
