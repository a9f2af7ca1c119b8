"""Messages, updates and workflow management from outside: the Python API and the CLI.

The workflow side here is a tiny **native Python** workflow (``Probe``) registered under a Lua
entry's workflow type, so the client/CLI wire contract is checked on its own: a signal per
message named after its topic, one payload per value, the sender's PID in the ``wippy-context``
header; updates answered or rejected; startup messages first and in order.

API and CLI tests run on the session's bundled dev server (``dev_env``) with the Probe worker in
this process; ``moonflow execute --signal`` runs the CLI in a subprocess whose in-process worker
is swapped for the Probe worker (``probe_cli_main``), on ``--server memory`` and
``--server time-skipping``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeKey
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    HandleSignalInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

import moonflow.cli
from moonflow.client import (
    WorkflowNotFound,
    cancel,
    connect,
    describe,
    get_workflow,
    history,
    list_workflows,
    signal,
    start,
    terminate,
    update,
)
from moonflow.errors import UsageError, WorkflowFailure
from moonflow.registry import App, load_app

pytestmark = pytest.mark.integration

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])
HERE = str(Path(__file__).resolve().parent)
STATUS = SearchAttributeKey.for_keyword("status")
OTHER = "{app:temporal_client@app:worker|sender-1}"

# --------------------------------------------------------------------------------------------
# The probe workflow


class _ReadSender(WorkflowInboundInterceptor):
    """Hands the sender PID from the ``wippy-context`` header to the signal handler."""

    async def handle_signal(self, input: HandleSignalInput) -> None:
        header = input.headers.get("wippy-context")
        sender = None
        if header is not None:
            sender = workflow.payload_converter().from_payload(header).get("temporal.signal.from")
        workflow.instance().sender = sender  # type: ignore[attr-defined]
        await super().handle_signal(input)


class SenderHeaders(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _ReadSender


def _decode(args: Sequence[RawValue]) -> list[Any]:
    return [workflow.payload_converter().from_payload(a.payload) for a in args]


@workflow.defn(name="app:probe")
class Probe:
    """Records every message as ``[topic, values, sender]`` until it gets ``finish``.

    Input (optional map): ``status`` upserts that search attribute, ``memo`` that memo,
    ``sleep`` sleeps that many seconds (a durable timer) before waiting for ``finish``.
    Updates: ``reject`` is rejected (kind Invalid), ``fail`` fails (kind Conflict), any other
    returns ``{"update", "args", "messages"}``. Query ``pid`` answers the PID.
    """

    def __init__(self) -> None:
        self.got: list[list[Any]] = []
        self.elapsed: list[float] = []
        self.finished = False
        self.sender: str | None = None

    @workflow.run
    async def run(self, input: Any = None) -> dict[str, Any]:
        options = input if isinstance(input, dict) else {}
        if options.get("status"):
            workflow.upsert_search_attributes([STATUS.value_set(options["status"])])
        if options.get("memo"):
            workflow.upsert_memo(options["memo"])
        if options.get("sleep"):
            await workflow.sleep(options["sleep"])
        await workflow.wait_condition(lambda: self.finished)
        return {"got": self.got, "elapsed": self.elapsed}

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.got.append([name, _decode(args), self.sender])
        started = workflow.info().workflow_start_time
        self.elapsed.append((workflow.now() - started).total_seconds())
        self.sender = None
        if name == "finish":
            self.finished = True

    @workflow.update(dynamic=True)
    def on_update(self, name: str, args: Sequence[RawValue]) -> Any:
        if name == "fail":
            raise ApplicationError("cannot do that now", type="Conflict", non_retryable=True)
        return {"update": name, "args": _decode(args), "messages": len(self.got)}

    @on_update.validator
    def check_update(self, name: str, args: Sequence[RawValue]) -> None:
        if name == "reject":
            raise ApplicationError("not now", type="Invalid", non_retryable=True)

    @workflow.query(name="pid")
    def pid(self) -> str:
        return "{app:temporal_client@app:worker|" + workflow.info().workflow_id + "}"


def probe_worker(client: Any, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Probe],
        interceptors=[SenderHeaders()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


def probe_cli_main() -> None:
    """``moonflow`` with the app's workers replaced by the Probe worker (for ``execute``)."""
    from moonflow.cli import _commands

    def build(app: Any, clients: dict[str, Any]) -> list[Any]:
        return [probe_worker(clients["app:temporal_client"], app.task_queue("app:worker"))]

    _commands._build_workers = build  # type: ignore[assignment]
    moonflow.cli.main(sys.argv[1:])


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


def write_probe_app(root: Path, address: str) -> Path:
    tq = f"probe-{uuid.uuid4().hex[:10]}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "_index.yaml").write_text(
        textwrap.dedent(f"""\
        version: "1.0"
        namespace: app
        entries:
          - name: temporal_client
            kind: temporal.client
            address: "{address}"
            namespace: "default"
            search_attributes:
              status: Keyword
          - name: worker
            kind: temporal.worker
            client: app:temporal_client
            task_queue: "{tq}"
          - name: probe
            kind: workflow.lua
            source: file://probe.lua
            method: main
            meta: {{temporal: {{workflow: {{worker: app:worker}}}}}}
        """)
    )
    (root / "probe.lua").write_text("return { main = function() return nil end }\n")
    return root


@dataclass
class ProbeApp:
    root: Path
    app: App
    env: WorkflowEnvironment

    @property
    def client(self) -> Any:
        return self.env.client

    @property
    def task_queue(self) -> str:
        return self.app.task_queue("app:worker")


@pytest_asyncio.fixture
async def probe(tmp_path: Path, dev_env: WorkflowEnvironment) -> AsyncIterator[ProbeApp]:
    """The probe app on the session dev server, with the Probe worker running."""
    address = dev_env.client.service_client.config.target_host
    root = write_probe_app(tmp_path / "probe", address)
    app = ProbeApp(root, load_app(root), dev_env)
    async with probe_worker(dev_env.client, app.task_queue):
        yield app


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def moonflow_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``moonflow`` without blocking the event loop (the Probe worker runs on it)."""
    return await asyncio.to_thread(moonflow_cli, *args)


def probe_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; sys.path.insert(0, {HERE!r}); "
        "from test_cli_messaging import probe_cli_main; probe_cli_main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def one_json_line(out: str) -> Any:
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def one_error_line(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


async def eventually(
    fn: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 20
) -> Any:
    """Call ``fn`` until ``ok(result)`` (visibility is eventually consistent)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


def topics(result: dict[str, Any]) -> list[str]:
    return [item[0] for item in result["got"]]


def signaled(events: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """``(event id, signal name)`` of each WorkflowExecutionSignaled event."""
    return [
        (int(e["eventId"]), e["workflowExecutionSignaledEventAttributes"]["signalName"])
        for e in events
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]


# --------------------------------------------------------------------------------------------
# Python API


async def test_signal_with_and_without_sender(probe: ProbeApp) -> None:
    ref = await start(probe.client, probe.app, "app:probe")
    assert ref.pid == "{app:temporal_client@app:worker|" + ref.workflow_id + "}"
    await ref.signal("hello", {"n": 1}, sender=OTHER)
    await signal(probe.client, ref.pid, "bare")  # by PID; no values, no sender
    await signal(probe.client, ref.workflow_id, "two", 1, "x")  # by id; two payloads
    # A client from moonflow.client.connect carries the sender interceptor itself.
    own = await connect(probe.client.service_client.config.target_host)
    await signal(own, ref.workflow_id, "via-connect", None, sender="{update|u-1}")
    await get_workflow(probe.client, ref.pid).signal("finish")
    result = await ref.result()
    assert result["got"] == [
        ["hello", [{"n": 1}], OTHER],
        ["bare", [], None],
        ["two", [1, "x"], None],
        ["via-connect", [None], "{update|u-1}"],
        ["finish", [], None],
    ]
    handle = probe.client.get_workflow_handle(ref.workflow_id)
    assert await handle.query("pid") == ref.pid


async def test_concurrent_senders_each_get_their_own_header(probe: ProbeApp) -> None:
    ref = await start(probe.client, probe.app, "app:probe")
    n = 200

    def sender(i: int) -> str | None:
        return None if i % 3 == 0 else "{app:c@app:w|s" + str(i) + "}"

    await asyncio.gather(*(ref.signal("n", i, sender=sender(i)) for i in range(n)))
    await ref.signal("finish")
    got = (await ref.result())["got"]
    assert len(got) == n + 1
    assert sorted(item[1][0] for item in got[:-1]) == list(range(n))
    for _topic, (i,), from_pid in got[:-1]:
        assert from_pid == sender(i)


async def test_startup_signals_arrive_first_and_in_order(probe: ProbeApp) -> None:
    ref = await start(
        probe.client,
        probe.app,
        "app:probe",
        {"x": 1},
        signals=[("one", 1), ("two", {"k": 2}), ("three",)],
    )
    await ref.signal("four", 4)
    await ref.signal("finish")
    result = await ref.result()
    assert result["got"] == [
        ["one", [1], None],
        ["two", [{"k": 2}], None],
        ["three", [], None],
        ["four", [4], None],
        ["finish", [], None],
    ]
    events = await ref.history()
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    # Signal-with-start: the first message is recorded with the start, before any task.
    assert signaled(events)[0] == (2, "one")
    assert [name for _, name in signaled(events)] == ["one", "two", "three", "four", "finish"]


async def test_startup_signals_go_to_a_running_workflow(probe: ProbeApp) -> None:
    ref = await start(probe.client, probe.app, "app:probe", signals=[("a",)])
    again = await start(
        probe.client, probe.app, "app:probe", workflow_id=ref.workflow_id, signals=[("b", 2)]
    )
    assert again.run_id == ref.run_id
    with pytest.raises(UsageError, match="already running"):
        await start(probe.client, probe.app, "app:probe", workflow_id=ref.workflow_id)
    await ref.signal("finish")
    assert topics(await ref.result()) == ["a", "b", "finish"]


async def test_update_result_rejection_and_failure(probe: ProbeApp) -> None:
    ref = await start(probe.client, probe.app, "app:probe", signals=[("one", 1)])
    assert await ref.update("add", 1, {"two": 2}) == {
        "update": "add",
        "args": [1, {"two": 2}],
        "messages": 1,
    }
    assert await update(probe.client, ref.pid, "noargs") == {
        "update": "noargs",
        "args": [],
        "messages": 1,
    }
    with pytest.raises(WorkflowFailure) as rejected:
        await update(probe.client, ref.workflow_id, "reject", 1)
    assert (rejected.value.info.kind, rejected.value.info.message) == ("Invalid", "not now")
    assert rejected.value.info.retryable is False
    with pytest.raises(WorkflowFailure) as failed:
        await ref.update("fail")
    assert (failed.value.info.kind, failed.value.info.message) == ("Conflict", "cannot do that now")
    with pytest.raises(UsageError, match="reserved"):
        await ref.update("@pid/events")
    with pytest.raises(UsageError, match="reserved"):
        await ref.signal("@x")

    await ref.signal("finish")
    await ref.result()
    with pytest.raises(UsageError, match=r"is closed \(status COMPLETED\)"):
        await ref.update("add")
    with pytest.raises(UsageError, match=r"is closed \(status COMPLETED\): cannot send signal"):
        await ref.signal("late")


async def test_describe_list_cancel_terminate_history(probe: ProbeApp) -> None:
    client = probe.client
    status = f"s-{uuid.uuid4().hex[:10]}"
    ref = await start(
        client, probe.app, "app:probe", {"status": status, "memo": {"note": "hi", "n": 1}}
    )
    info = await eventually(ref.describe, lambda d: d["search_attributes"].get("status") == status)
    assert info["workflow_id"] == ref.workflow_id and info["run_id"] == ref.run_id
    assert info["workflow_type"] == "app:probe"
    assert info["status"] == "RUNNING"
    assert info["task_queue"] == probe.task_queue
    assert info["start_time"].endswith("Z") and info["execution_time"].endswith("Z")
    assert info["close_time"] is None and info["parent_workflow_id"] is None
    assert info["history_length"] >= 3
    assert info["search_attributes"]["status"] == status
    assert info["memo"] == {"n": 1, "note": "hi"}
    json.dumps(info)

    query = f"status = '{status}'"
    listed = await eventually(lambda: list_workflows(client, query), lambda rows: len(rows) == 1)
    assert [row["workflow_id"] for row in listed] == [ref.workflow_id]
    assert set(listed[0]) == set(info)
    assert listed[0]["memo"] == {"n": 1, "note": "hi"}
    assert "memo" not in (await list_workflows(client, query, memo=False))[0]
    with pytest.raises(UsageError, match="invalid visibility query"):
        await list_workflows(client, "status = = 'x'")

    await cancel(client, ref.pid, reason="user asked")
    with pytest.raises(WorkflowFailure) as canceled:
        await ref.result()
    assert canceled.value.info.kind == "Canceled"
    closed = await describe(client, ref.workflow_id)
    assert closed["status"] == "CANCELED" and closed["close_time"].endswith("Z")
    with pytest.raises(UsageError, match=r"is closed \(status CANCELED\): cannot cancel it"):
        await ref.cancel()

    other = await start(client, probe.app, "app:probe")
    await eventually(other.describe, lambda d: d["history_length"] >= 3)
    await terminate(client, other.workflow_id, reason="enough")
    with pytest.raises(WorkflowFailure) as terminated:
        await other.result()
    assert terminated.value.info.kind == "Terminated"
    assert "enough" in terminated.value.info.message
    assert (await other.describe())["status"] == "TERMINATED"
    with pytest.raises(UsageError, match="is closed"):
        await other.terminate()

    events = await history(client, other.pid or "")
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert [int(e["eventId"]) for e in events] == list(range(1, len(events) + 1))
    json.dumps(events)


async def test_unknown_workflow_is_one_usage_error(probe: ProbeApp) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: signal(probe.client, missing, "t"),
        lambda: signal(probe.client, missing, "t", sender=OTHER),
        lambda: update(probe.client, missing, "t"),
        lambda: describe(probe.client, "{app:temporal_client@app:worker|" + missing + "}"),
        lambda: cancel(probe.client, missing),
        lambda: terminate(probe.client, missing),
        lambda: history(probe.client, missing),
        lambda: get_workflow(probe.client, missing).result(),
    ]
    for call in calls:
        with pytest.raises(WorkflowNotFound) as err:
            await call()
        assert str(err.value) == (
            f"no workflow with id '{missing}': list them with `moonflow list APP_DIR`"
        )


async def test_api_on_the_time_skipping_server(tmp_path: Path, ts_env: WorkflowEnvironment) -> None:
    root = write_probe_app(tmp_path / "probe", "localhost:7233")
    app = load_app(root)
    async with probe_worker(ts_env.client, app.task_queue("app:worker")):
        t0 = time.monotonic()
        ref = await start(
            ts_env.client,
            app,
            "app:probe",
            {"sleep": 3600},
            signals=[("one", 1), ("two",), ("finish",)],
        )
        await ref.signal("late", sender=OTHER)  # before the client waits: before time skips
        assert (await ref.describe())["status"] == "RUNNING"
        result = await ref.result()
        assert time.monotonic() - t0 < 30
        assert result["got"] == [
            ["one", [1], None],
            ["two", [], None],
            ["finish", [], None],
            ["late", [], OTHER],
        ]
        assert all(seconds < 3600 for seconds in result["elapsed"])
        assert (await ref.describe())["status"] == "COMPLETED"
        assert [name for _, name in signaled(await ref.history())][:3] == ["one", "two", "finish"]
        with pytest.raises(UsageError, match="cannot list workflows"):
            await list_workflows(ts_env.client)


# --------------------------------------------------------------------------------------------
# CLI


async def test_cli_start_signal_update_describe_list_history(probe: ProbeApp) -> None:
    app = str(probe.root)
    status = f"s-{uuid.uuid4().hex[:10]}"
    started = await cli(
        "start",
        app,
        "app:probe",
        "--input",
        json.dumps({"status": status}),
        "--signal",
        "one=1",
        "--signal",
        "two",
        "--signal",
        'three={"k": 3}',
    )
    assert started.returncode == 0, started.stderr
    info = one_json_line(started.stdout)
    wf_id, pid = info["workflow_id"], info["pid"]
    assert pid == "{app:temporal_client@app:worker|" + wf_id + "}"

    sent = await cli("signal", app, pid, "four", "--data", '{"n": 4}')
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == ""
    assert sent.stderr == f"moonflow: sent 'four' to workflow {wf_id}\n"

    answered = await cli("update", app, wf_id, "add", "--data", "5")
    assert answered.returncode == 0, answered.stderr
    assert one_json_line(answered.stdout) == {"update": "add", "args": [5], "messages": 4}

    rejected = await cli("update", app, pid, "reject")
    line = one_error_line(rejected, 1)
    assert one_json_line(rejected.stdout) == {
        "error": {"kind": "Invalid", "message": "not now", "retryable": False}
    }
    assert line == f"moonflow: update 'reject' of workflow {wf_id} failed: Invalid: not now"
    failed = await cli("update", app, wf_id, "fail")
    one_error_line(failed, 1)
    assert one_json_line(failed.stdout)["error"]["kind"] == "Conflict"

    described = await cli("describe", app, pid)
    assert described.returncode == 0, described.stderr
    desc = one_json_line(described.stdout)
    assert (desc["workflow_id"], desc["workflow_type"], desc["status"]) == (
        wf_id,
        "app:probe",
        "RUNNING",
    )
    assert desc["task_queue"] == probe.task_queue

    async def listed() -> subprocess.CompletedProcess[str]:
        return await cli("list", app, "--query", f"status = '{status}'", "--limit", "5")

    found = await eventually(listed, lambda done: done.stdout.count("\n") == 1)
    assert found.returncode == 0, found.stderr
    assert one_json_line(found.stdout)["workflow_id"] == wf_id
    everything = await cli("list", app, "--limit", "2")
    assert everything.returncode == 0 and everything.stdout.count("\n") <= 2

    finished = await cli("signal", app, wf_id, "finish")
    assert finished.returncode == 0, finished.stderr
    result = await cli("result", app, pid)
    assert result.returncode == 0, result.stderr
    assert one_json_line(result.stdout)["got"] == [
        ["one", [1], None],
        ["two", [], None],
        ["three", [{"k": 3}], None],
        ["four", [{"n": 4}], None],  # the CLI sends no sender header
        ["finish", [], None],
    ]

    shown = await cli("history", app, wf_id)
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines()]
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert signaled(events)[0] == (2, "one")
    assert [name for _, name in signaled(events)] == ["one", "two", "three", "four", "finish"]

    late = await cli("signal", app, wf_id, "late")
    assert "is closed (status COMPLETED)" in one_error_line(late)
    done = one_json_line((await cli("describe", app, wf_id)).stdout)
    assert done["status"] == "COMPLETED" and done["close_time"]


async def test_cli_cancel_and_terminate(probe: ProbeApp) -> None:
    app = str(probe.root)
    ref = await start(probe.client, probe.app, "app:probe")
    canceled = await cli("cancel", app, ref.pid or "", "--reason", "user asked")
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.stdout == ""
    assert canceled.stderr == f"moonflow: requested cancellation of workflow {ref.workflow_id}\n"
    result = await cli("result", app, ref.workflow_id)
    assert result.returncode == 1
    assert one_json_line(result.stdout)["error"]["kind"] == "Canceled"
    assert "is closed (status CANCELED)" in one_error_line(await cli("cancel", app, ref.pid or ""))

    other = await start(probe.client, probe.app, "app:probe")
    ended = await cli("terminate", app, other.workflow_id, "--reason", "enough")
    assert ended.returncode == 0, ended.stderr
    assert ended.stderr == f"moonflow: terminated workflow {other.workflow_id}\n"
    status = one_json_line((await cli("describe", app, other.workflow_id)).stdout)["status"]
    assert status == "TERMINATED"
    again = await cli("terminate", app, other.workflow_id)
    assert "is closed (status TERMINATED)" in one_error_line(again)


async def test_cli_errors_are_exit_2_and_one_line(probe: ProbeApp) -> None:
    app = str(probe.root)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    not_found = [
        ["signal", app, missing, "t"],
        ["update", app, missing, "t"],
        ["describe", app, missing],
        ["history", app, missing],
        ["cancel", app, missing],
        ["terminate", app, missing],
        ["result", app, missing],
    ]
    bad = [
        (["signal", app, "w", "t", "--data", "{x"], "--data: invalid JSON"),
        (["signal", app, "w", "@t"], "topic '@t' is invalid"),
        (["update", app, "w", "@t"], "topic '@t' is invalid"),
        (["start", app, "app:probe", "--signal", "a={"], "--signal a={: invalid JSON"),
        (["list", app, "--query", "status = = 1"], "invalid visibility query"),
        (["signal", app, "{app:nope@app:worker|x}", "t"], "no temporal.client entry"),
    ]
    # independent commands: run side by side (each is a process of its own)
    done_all = await asyncio.gather(*(cli(*argv) for argv in [*not_found, *(a for a, _ in bad)]))
    for argv, done in zip(not_found, done_all[: len(not_found)], strict=True):
        line = one_error_line(done)
        assert line == (
            f"moonflow: error: no workflow with id '{missing}': list them with "
            f"`moonflow list {app}`"
        ), argv
    for (argv, needle), done in zip(bad, done_all[len(not_found) :], strict=True):
        assert needle in one_error_line(done), (argv, done.stderr)
        assert done.stdout == ""


@pytest.mark.parametrize("server", ["memory", "time-skipping"])
def test_cli_execute_with_startup_signals(tmp_path: Path, server: str) -> None:
    root = write_probe_app(tmp_path / "probe", "localhost:7233")
    t0 = time.monotonic()
    done = probe_cli(
        "execute",
        str(root),
        "app:probe",
        "--input",
        json.dumps({"sleep": 3600 if server == "time-skipping" else 0}),
        "--signal",
        "one=1",
        "--signal",
        "two",
        "--signal",
        'three={"k": [3]}',
        "--signal",
        "finish",
        "--server",
        server,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    result = one_json_line(done.stdout)
    assert result["got"] == [
        ["one", [1], None],
        ["two", [], None],
        ["three", [{"k": [3]}], None],
        ["finish", [], None],
    ]
    # All delivered before the one-hour timer fired: time skipped only after they arrived.
    assert all(seconds < 3600 for seconds in result["elapsed"]), result["elapsed"]
    assert time.monotonic() - t0 < 60
    assert not (root / ".moonflow").exists()


# --------------------------------------------------------------------------------------------
# The README's example


def test_readme_manage_example(tmp_path: Path) -> None:
    """The README's ``manage_hello.py`` runs as written on the README's first app."""
    import re

    readme = (Path(SRC).parent / "README.md").read_text()
    fence = re.compile(r"```(\w+)\n(.*?)```", re.S)
    path_comment = re.compile(r"^(?:#|--) (app/[\w./]+|manage_hello\.py)\n")
    files = {}
    for _lang, body in fence.findall(readme):
        m = path_comment.match(body)
        if m:
            files[m.group(1)] = body
    assert "manage_hello.py" in files and "app/_index.yaml" in files
    for name, body in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    done = subprocess.run(
        [sys.executable, "manage_hello.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "RUNNING app:hello",
        "Terminated workflow terminated: demo over",
    ]
