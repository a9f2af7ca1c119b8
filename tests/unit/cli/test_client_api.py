"""The Python API's pure parts: public names, the sender header, describe's JSON shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import temporalio.client
import temporalio.converter
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

import moonflow.client
from moonflow.client import (
    CONTEXT_HEADER,
    NO_INPUT,
    SENDER_KEY,
    WorkflowNotFound,
    sender_interceptor,
)
from moonflow.client._manage import execution_json, rfc3339
from moonflow.client._messages import _SENDER, with_sender_interceptor
from moonflow.client._run import signal_parts
from moonflow.errors import UsageError


def test_public_names() -> None:
    assert sorted(moonflow.client.__all__) == [
        "CONTEXT_HEADER",
        "ConnectionFailed",
        "DEFAULT_CONNECT_TIMEOUT",
        "DEFAULT_LIST_LIMIT",
        "NO_INPUT",
        "SENDER_KEY",
        "StartSignal",
        "WorkflowNotFound",
        "WorkflowRef",
        "cancel",
        "check_topic",
        "connect",
        "connect_entry",
        "describe",
        "failure_info",
        "format_pid",
        "get_result",
        "get_workflow",
        "history",
        "list_workflows",
        "parse_pid",
        "query",
        "resolve_workflow_entry",
        "sender_interceptor",
        "signal",
        "start",
        "start_workflow",
        "terminate",
        "update",
        "workflow_id_of",
    ]
    for name in moonflow.client.__all__:
        assert getattr(moonflow.client, name) is not None


class _Recorder(temporalio.client.OutboundInterceptor):
    def __init__(self) -> None:  # no next: the end of the chain
        self.inputs: list[temporalio.client.SignalWorkflowInput] = []

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        self.inputs.append(input)


def _signal_input() -> temporalio.client.SignalWorkflowInput:
    return temporalio.client.SignalWorkflowInput(
        id="w", run_id=None, signal="t", args=[1], headers={}, rpc_metadata={}, rpc_timeout=None
    )


async def test_sender_header_only_when_a_sender_is_set() -> None:
    recorder = _Recorder()
    outbound = sender_interceptor().intercept_client(recorder)
    await outbound.signal_workflow(_signal_input())
    assert recorder.inputs[-1].headers == {}

    pid = "{app:temporal_client@app:worker|other}"
    token = _SENDER.set(pid)
    try:
        await outbound.signal_workflow(_signal_input())
    finally:
        _SENDER.reset(token)
    headers = recorder.inputs[-1].headers
    assert list(headers) == [CONTEXT_HEADER] == ["wippy-context"]
    payload = headers[CONTEXT_HEADER]
    assert payload.metadata["encoding"] == b"json/plain"
    converter = temporalio.converter.PayloadConverter.default
    assert converter.from_payload(payload) == {SENDER_KEY: pid}
    assert SENDER_KEY == "temporal.signal.from"


def test_sender_interceptor_added_once() -> None:
    once = with_sender_interceptor([])
    assert len(once) == 1
    assert len(with_sender_interceptor(once)) == 1


def test_startup_signal_parts() -> None:
    assert signal_parts(("go",)) == ("go", [])
    assert signal_parts(("go", NO_INPUT)) == ("go", [])
    assert signal_parts(("go", None)) == ("go", [None])
    assert signal_parts(["a", {"x": 1}]) == ("a", [{"x": 1}])
    for bad in ("go", ("a", 1, 2), (), ("@x", 1), ("", 1)):
        with pytest.raises(UsageError):
            signal_parts(bad)  # type: ignore[arg-type]


def test_workflow_not_found_is_one_line() -> None:
    err = WorkflowNotFound("order-9", "default")
    assert str(err) == "no workflow with id 'order-9': list them with `moonflow list APP_DIR`"
    assert isinstance(err, UsageError)
    assert str(err.for_app("my app")) == (
        "no workflow with id 'order-9': list them with `moonflow list 'my app'`"
    )
    assert "in namespace 'shop'" in str(WorkflowNotFound("x", "shop"))


def test_rfc3339() -> None:
    assert rfc3339(None) is None
    assert rfc3339(datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)) == "2026-01-02T15:04:05Z"
    assert rfc3339(datetime(2026, 1, 2, 15, 4, 5, 120000, tzinfo=UTC)) == (
        "2026-01-02T15:04:05.120000Z"
    )
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 1, 2, 17, 0, tzinfo=plus_two)) == "2026-01-02T15:00:00Z"


async def test_execution_json_shape() -> None:
    start = datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)
    typed = TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword("status"), "waiting"),
            SearchAttributePair(SearchAttributeKey.for_int("priority"), 3),
            SearchAttributePair(SearchAttributeKey.for_datetime("due"), start),
            SearchAttributePair(SearchAttributeKey.for_keyword_list("tags"), ["a", "b"]),
        ]
    )

    async def memo() -> dict[str, Any]:
        return {"note": {"x": 1}}

    execution = SimpleNamespace(
        id="order-1",
        run_id="r-1",
        workflow_type="app:order",
        status=WorkflowExecutionStatus.RUNNING,
        task_queue="orders",
        start_time=start,
        execution_time=start,
        close_time=None,
        history_length=7,
        parent_id=None,
        typed_search_attributes=typed,
        search_attributes={
            "status": ["waiting"],
            "BuildIds": ["unversioned"],
            "TemporalChangeVersion": ["moonflow.cancel_abandoned_after-1"],
        },
        memo=memo,
    )
    assert await execution_json(execution) == {
        "workflow_id": "order-1",
        "run_id": "r-1",
        "workflow_type": "app:order",
        "status": "RUNNING",
        "task_queue": "orders",
        "start_time": "2026-01-02T15:04:05Z",
        "execution_time": "2026-01-02T15:04:05Z",
        "close_time": None,
        "history_length": 7,
        "parent_workflow_id": None,
        "search_attributes": {  # the server's own (BuildIds, Temporal*) are left out
            "due": "2026-01-02T15:04:05Z",
            "priority": 3,
            "status": "waiting",
            "tags": ["a", "b"],
        },
        "memo": {"note": {"x": 1}},
    }
    assert "memo" not in await execution_json(execution, memo=False)


def _app_with(tmp_path: Any, entries: str) -> Any:
    from moonflow.registry import load_app
    from tests._apps import app_index

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "_index.yaml").write_text(app_index("q", entries))
    (tmp_path / "app" / "w.lua").write_text("return { main = function() return 1 end }\n")
    return load_app(str(tmp_path / "app"))


WORKFLOWS = """\
- name: hello
  kind: workflow.lua
  source: file://w.lua
  method: main
  meta: {temporal: {workflow: {worker: app:worker}}}
- name: orphan
  kind: workflow.lua
  source: file://w.lua
  method: main
- name: helper
  kind: function.lua
  source: file://w.lua
  method: main
"""


def test_resolve_workflow_entry_says_what_is_wrong(tmp_path: Any) -> None:
    from moonflow.client import resolve_workflow_entry
    from moonflow.errors import AppError

    app = _app_with(tmp_path, WORKFLOWS)
    assert resolve_workflow_entry(app, "hello") == (
        "app:hello",
        "app:worker",
        "app:temporal_client",
    )
    assert resolve_workflow_entry(app, "app:hello")[0] == "app:hello"
    # a workflow no worker runs: that, where, and the fix (it said "not a workflow
    # (workflows: none)" through the Python API, the CLI alone said it right)
    with pytest.raises(
        AppError,
        match=r"_index\.yaml:\d+.*no worker runs this workflow.*"
        r"workers: app:worker",
    ):
        resolve_workflow_entry(app, "orphan")
    with pytest.raises(
        UsageError,
        match=r"app:helper is a function\.lua entry, not a workflow "
        r"\(workflows: app:hello, app:orphan\)",
    ):
        resolve_workflow_entry(app, "app:helper")
    with pytest.raises(
        UsageError, match=r"no workflow entry 'app:helo' in .*did you mean app:hello\?"
    ):
        resolve_workflow_entry(app, "app:helo")
    # a bare name of another kind, a case slip, no suggestion at all, not a string
    with pytest.raises(UsageError, match=r"^app:helper is a function\.lua entry, not a workflow"):
        resolve_workflow_entry(app, "helper")
    with pytest.raises(UsageError, match=r"did you mean app:hello\?"):
        resolve_workflow_entry(app, "APP:HELLO")
    with pytest.raises(UsageError, match=r"^no workflow entry 'zzz:qqq' in \S+ \(workflows: "):
        resolve_workflow_entry(app, "zzz:qqq")
    with pytest.raises(UsageError, match=r"^entry_id must be a string like 'ns:name', got None"):
        resolve_workflow_entry(app, None)  # type: ignore[arg-type]
