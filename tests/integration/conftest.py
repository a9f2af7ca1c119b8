"""Integration fixtures: one real Temporal server of each kind per test session, and helpers
that write a small app into a temp dir (with a random task queue) and run a workflow on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf.empty_pb2 import Empty
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from moonflow import _logging
from moonflow.devserver import Server, TestServer, time_skipping_unlocked
from moonflow.registry import App, load_app
from moonflow.worker import build_workers

BIN = Path(sys.executable).parent
_SA_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

#: Search attributes every test app may use (registered once per server).
TEST_SEARCH_ATTRIBUTES = {
    "status": "Keyword",
    "customer_id": "Keyword",
    "order_total": "Double",
    "priority": "Int",
}


async def _register(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={k: _SA_TYPES[v] for k, v in TEST_SEARCH_ATTRIBUTES.items()},
        )
    )


_logging.configure()


#: The year past which the session's time-skipping server is replaced (see renew_if_old).
RENEW_AFTER_YEAR = 2150


class TimeSkippingEnv(WorkflowEnvironment):
    """A ``WorkflowEnvironment`` on moonflow's own :class:`TestServer` (loopback only, as
    ``--server time-skipping`` starts it), not ``WorkflowEnvironment.start_time_skipping``,
    which would run the bundled binary listening on every interface.

    Its client comes from :meth:`moonflow.devserver.Server.connect`: handles it starts unlock
    time skipping while ``result()`` waits, as the SDK's time-skipping environment does.
    """

    def __init__(self, client: Client, server: TestServer) -> None:
        super().__init__(client)
        self.server = server

    @classmethod
    async def start(cls) -> TimeSkippingEnv:
        server = TestServer(binary=BIN / "temporal-test-server")
        await server.start()
        try:
            client = await Server("time-skipping", server.address, time_skipping=True).connect()
        except BaseException:
            await server.stop()
            raise
        return cls(client, server)

    async def shutdown(self) -> None:
        await self.server.stop()

    async def renew_if_old(self) -> None:
        """Start a fresh server once this one's clock is past :data:`RENEW_AFTER_YEAR`.

        The test server's clock only goes forward, and a client waiting on a result lets it
        skip to the next pending timer: for most workflows with an activity that is their
        10-year default run timeout, so the shared clock gains ~10 years per such test. Past
        2262 nanosecond timestamps overflow 64 bits and workflow tasks stop completing (seen:
        task timeouts over and over at year 2266). Tests that hold ``ts_env.client`` get the
        new one from the next test on.
        """
        if (await self.get_current_time()).year < RENEW_AFTER_YEAR:
            return
        await self.server.stop()
        server = TestServer(binary=BIN / "temporal-test-server")
        await server.start()
        self.server = server
        self._client = await Server("time-skipping", server.address, time_skipping=True).connect()
        await _register(self._client)

    @property
    def supports_time_skipping(self) -> bool:
        return True

    @property
    def supports_time_skipping_v1(self) -> bool:
        return True

    async def sleep(self, duration: timedelta | float) -> None:
        req = SleepRequest()
        req.duration.FromTimedelta(
            duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        )
        await self.client.test_service.unlock_time_skipping_with_sleep(req)

    async def get_current_time(self, handle: Any = None) -> datetime:
        resp = await self.client.test_service.get_current_time(Empty())
        return resp.time.ToDatetime().replace(tzinfo=UTC)

    @contextlib.asynccontextmanager
    async def time_skipping_unlocked(self) -> AsyncIterator[None]:
        async with time_skipping_unlocked(self.client):
            yield


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The bundled time-skipping test server (on 127.0.0.1 only, see TimeSkippingEnv)."""
    env = await TimeSkippingEnv.start()
    await _register(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(autouse=True)
async def _fresh_time_skipping_clock(request: pytest.FixtureRequest) -> None:
    """Before a test that uses ``ts_env``: a new server if the shared clock ran far ahead."""
    if "ts_env" in request.fixturenames:
        renew = getattr(request.getfixturevalue("ts_env"), "renew_if_old", None)
        if renew is not None:  # a module may give ts_env a server of its own
            await renew()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The bundled Temporal CLI dev server, in memory."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), dev_server_log_level="error"
    )
    await _register(env.client)
    yield env
    await env.shutdown()


_CLIENT_YAML = """\
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
    namespace: "default"
    search_attributes:
      status: Keyword
      customer_id: Keyword
      order_total: Double
      priority: Int
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "{tq}"
"""


@dataclass
class TestApp:
    """An app written to disk for one test."""

    __test__ = False  # not a test class, whatever its name

    root: Path
    task_queue: str
    app: App

    async def execute(self, env: WorkflowEnvironment, entry_id: str, *args: Any, **kw: Any) -> Any:
        """Start workers, run the workflow to completion, return its result (raises on failure)."""
        async with self.workers(env):
            return await env.client.execute_workflow(
                self.app.workflow_type(entry_id),
                args=list(args),
                id=kw.pop("id", f"test-{uuid.uuid4()}"),
                task_queue=self.task_queue,
                **kw,
            )

    no_cache: bool = False

    def workers(self, env: WorkflowEnvironment, **_: Any) -> Any:
        opts = {"max_cached_workflows": 0} if self.no_cache else None
        clients = {c.entry.id: env.client for c in self.app.clients()}
        return _Workers(build_workers(self.app, clients, worker_options=opts))

    async def _track(self, handle: Any) -> Any:
        _STARTED.append(handle)
        return handle

    async def start(
        self, env: WorkflowEnvironment, entry_id: str, *args: Any, **kw: Any
    ) -> WorkflowHandle:
        handle = await env.client.start_workflow(
            self.app.workflow_type(entry_id),
            args=list(args),
            id=kw.pop("id", f"test-{uuid.uuid4()}"),
            task_queue=self.task_queue,
            **kw,
        )
        return await self._track(handle)


# Workflows started by a test; terminated after it, so that no run left waiting (with the test
# server's 10-year default run timeout) drags the shared time-skipping clock forward.
_STARTED: list[Any] = []


@pytest_asyncio.fixture(autouse=True)
async def _terminate_leftovers() -> AsyncIterator[None]:
    yield
    while _STARTED:
        handle = _STARTED.pop()
        try:
            await handle.terminate("test finished")
        except Exception:  # noqa: BLE001 - already closed, or its server is gone
            pass


class _Workers:
    def __init__(self, workers: list[Any]) -> None:
        self._workers = workers

    async def __aenter__(self) -> None:
        for w in self._workers:
            await w.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        for w in reversed(self._workers):
            await w.__aexit__(*exc)


@pytest.fixture
def make_app(tmp_path: Path):
    """``make_app(entries_yaml, files={"x.lua": src})`` -> TestApp.

    ``entries_yaml`` lists entries after the standard client (``app:temporal_client``) and
    worker (``app:worker``, random task queue); it is dedented.
    """

    def factory(entries_yaml: str, files: dict[str, str] | None = None) -> TestApp:
        tq = f"tq-{uuid.uuid4().hex[:12]}"
        root = tmp_path / f"app-{tq}"
        root.mkdir()
        body = textwrap.dedent(entries_yaml)
        body = textwrap.indent(body, "  ")
        (root / "_index.yaml").write_text(
            'version: "1.0"\nnamespace: app\nentries:\n' + _CLIENT_YAML.format(tq=tq) + body
        )
        for name, src in (files or {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))
        return TestApp(root=root, task_queue=tq, app=load_app(root))

    return factory


def workflow_entry(name: str, source: str, modules: str = "[funcs, time, workflow, errors]") -> str:
    """YAML for a workflow.lua entry on app:worker."""
    return f"""
- name: {name}
  kind: workflow.lua
  source: file://{source}
  method: main
  modules: {modules}
  meta:
    temporal:
      workflow:
        worker: app:worker
"""


def activity_entry(
    name: str, source: str, method: str, modules: str = "[]", local: bool = False
) -> str:
    """YAML for a function.lua entry run as an activity on app:worker."""
    return f"""
- name: {name}
  kind: function.lua
  source: file://{source}
  method: {method}
  modules: {modules}
  meta:
    temporal:
      activity:
        worker: app:worker
        local: {json.dumps(local)}
"""


async def history_events(env: WorkflowEnvironment, workflow_id: str) -> list[dict[str, Any]]:
    """The workflow's history as dicts (event_type names without the EVENT_TYPE_ prefix)."""
    from google.protobuf.json_format import MessageToDict

    handle = env.client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    return [MessageToDict(e) for e in history.events]


os.environ.setdefault("PYTHONUNBUFFERED", "1")
