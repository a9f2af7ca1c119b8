"""The seed's Complete Example loads as written, and the App API answers from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import moonflow.kinds as kinds
import moonflow.registry as registry
from moonflow.errors import AppError
from moonflow.kinds import LuaCode, TemporalClient, TemporalWorker
from moonflow.registry import App, Entry, load_app

from .helpers import APPS

SEED = APPS / "seed"


@pytest.fixture(scope="module")
def app() -> App:
    return load_app(SEED)


def test_public_names() -> None:
    assert registry.__all__ == ["App", "Entry", "load_app", "parse_id"]
    assert {"TemporalClient", "TemporalWorker", "LuaCode", "KindSpec", "KINDS"} <= set(
        kinds.__all__
    )
    assert {
        "Lifecycle",
        "RestartPolicy",
        "ProcessHostSpec",
        "TerminalHostSpec",
        "ProcessServiceSpec",
    } <= set(kinds.__all__)
    assert sorted(kinds.KINDS) == [
        "function.lua",
        "function.py",
        "library.lua",
        "process.host",
        "process.lua",
        "process.service",
        "temporal.client",
        "temporal.worker",
        "terminal.host",
        "workflow.lua",
    ]


def test_entries_in_start_order(app: App) -> None:
    assert list(app.entries) == [
        "app:temporal_client",
        "app:worker",
        "app:order_workflow",
        "app:validate_order",
        "app:charge_payment",
        "app:ship_order",
    ]
    assert app.root == SEED.resolve()


def test_entry_fields(app: App) -> None:
    worker = app.get("app:worker")
    assert isinstance(worker, Entry)
    assert dataclasses.is_dataclass(worker)
    with pytest.raises(dataclasses.FrozenInstanceError):
        worker.name = "x"  # type: ignore[misc]
    assert (worker.id, worker.namespace, worker.name, worker.kind) == (
        "app:worker",
        "app",
        "worker",
        "temporal.worker",
    )
    assert worker.meta == {}
    assert worker.data == {
        "client": "app:temporal_client",
        "task_queue": "orders",
        "lifecycle": {"auto_start": True, "depends_on": ["app:temporal_client"]},
    }
    assert worker.file == SEED.resolve() / "_index.yaml"
    assert worker.file.is_absolute()
    assert worker.line == 12
    assert worker.where() == "_index.yaml:12"
    assert app.get("app:temporal_client").where() == "_index.yaml:5"
    assert app.get("app:ship_order").where() == "_index.yaml:59"
    wf = app.get("app:order_workflow")
    assert wf.meta == {"temporal": {"workflow": {"worker": "app:worker"}}}
    assert "name" not in wf.data and "kind" not in wf.data and "meta" not in wf.data


def test_client_and_worker(app: App) -> None:
    [client] = app.clients()
    assert isinstance(client, TemporalClient)
    assert client.entry is app.get("app:temporal_client")
    assert (client.address, client.namespace, client.tq_prefix) == ("localhost:7233", "default", "")
    assert client.search_attributes == {}
    assert client.tls is None and client.auth is None
    [worker] = app.workers()
    assert isinstance(worker, TemporalWorker)
    assert (worker.client, worker.task_queue, worker.worker_options) == (
        "app:temporal_client",
        "orders",
        {},
    )
    assert app.task_queue("app:worker") == "orders"
    assert app.client_of("app:worker") is client
    assert app.spec("app:worker") is worker


def test_workflows(app: App) -> None:
    [wf] = app.workflows()
    assert app.workflows("app:worker") == [wf]
    assert app.workflows("app:other") == []
    assert isinstance(wf, LuaCode)
    assert wf.kind == "workflow.lua"
    assert wf.source == SEED.resolve() / "order_workflow.lua"
    assert wf.method == "main"
    assert wf.modules == ("funcs", "time", "workflow", "errors")
    assert wf.imports == {}
    assert wf.workflow_worker == "app:worker"
    assert wf.workflow_name is None
    assert wf.activity_worker is None
    assert wf.context == "workflow"
    assert wf.chunkname == "order_workflow.lua"
    assert wf.exports == ("main",)
    assert app.workflow_type("app:order_workflow") == "app:order_workflow"
    assert app.workflow_by_type("app:order_workflow") is wf
    assert app.workflow_by_type("app:nope") is None


def test_activities(app: App) -> None:
    acts = app.activities()
    assert [a.entry.id for a in acts] == [
        "app:validate_order",
        "app:charge_payment",
        "app:ship_order",
    ]
    assert app.activities("app:worker") == acts
    validate, charge, ship = acts
    assert (validate.method, validate.activity_worker, validate.activity_local) == (
        "validate",
        "app:worker",
        True,
    )
    assert (charge.method, charge.activity_local, charge.modules) == (
        "charge",
        False,
        ("http_client", "json"),
    )
    assert ship.source.name == "shipping.lua"
    assert all(a.context == "activity" for a in acts)
    assert app.libraries() == []


def test_dependencies_and_resolve(app: App) -> None:
    assert app.dependencies("app:worker") == ("app:temporal_client",)
    assert app.dependencies("app:order_workflow") == ("app:worker",)
    assert app.dependencies("app:temporal_client") == ()
    assert app.resolve("worker", "app") == "app:worker"
    assert app.resolve("other.ns:worker", "app") == "other.ns:worker"
    assert "app:worker" in app


def test_lookup_errors(app: App) -> None:
    with pytest.raises(AppError, match="did you mean app:worker"):
        app.get("app:wroker")
    with pytest.raises(AppError, match="not a temporal.worker"):
        app.task_queue("app:order_workflow")
    with pytest.raises(AppError, match="not a workflow.lua entry"):
        app.workflow_type("app:ship_order")


def test_load_accepts_str_and_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SEED.parent)
    assert list(load_app("seed").entries) == list(load_app(str(SEED)).entries)


def test_seed_fixture_is_verbatim() -> None:
    spec = Path(__file__).resolve().parents[3].parent / "shared" / "seed" / "workflows.md"
    assert spec.exists(), f"the seed spec is expected beside the repository at {spec}"
    text = spec.read_text()
    assert (SEED / "_index.yaml").read_text() in text
    assert (SEED / "order_workflow.lua").read_text() in text
