"""Recorded histories replayed against the current code, on every test run (no server needed).

The histories under ``histories/`` were recorded by ``record.py`` (see its docstring) from
``examples/orders`` and from the stages of the small versioning app in ``apps/versioning/``.
A history that stops replaying means a change broke runs already in flight: guard the change
with ``workflow.version`` instead (README, "Versioning"), or re-record on purpose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from moonflow.errors import UsageError
from moonflow.registry import load_app
from moonflow.testing import ReplayError, load_history, replay, replay_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HISTORIES = HERE / "histories"
ORDERS = REPO / "examples" / "orders"
VERSIONING = HERE / "apps" / "versioning"

#: Every recorded history and the app whose current code must replay it.
RECORDED = {
    "orders-completed": ORDERS,
    "orders-payment-declined": ORDERS,
    "orders-shipping-failed": ORDERS,
    "versioning-checkout-v0": VERSIONING,
    "versioning-checkout-v2": VERSIONING,
    "versioning-checkout-v3": VERSIONING,
}
ORDER_HISTORIES = sorted(n for n in RECORDED if n.startswith("orders-"))


def history_path(name: str) -> Path:
    return HISTORIES / f"{name}.json"


def test_every_recorded_history_is_replayed() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays_on_current_code(name: str) -> None:
    await replay_file(RECORDED[name], history_path(name))


# ---------------------------------------------------------------------------------------------
# The versioning app: each history against each stage of the checkout code.

OLD_VS_NEW = (
    "Activity type of scheduled event 'app:old_payment' does not match activity type of "
    "activity command 'app:new_payment'"
)


@pytest.mark.parametrize(
    "history, entry_id",
    [
        # (b) the change guarded with min = -1 replays the run from before the guard ...
        ("versioning-checkout-v0", "app:checkout_compat"),
        # ... and the run recorded with the guard (version 2, new branch).
        ("versioning-checkout-v2", "app:checkout_compat"),
        ("versioning-checkout-v2", "app:checkout_v2"),
        # (c) a history recorded with max = 2 replays under max = 3: version() returns 2 there,
        # so the code takes new_payment as recorded (3 would schedule third_payment).
        ("versioning-checkout-v2", "app:checkout_v3"),
        ("versioning-checkout-v3", "app:checkout_v3"),
    ],
)
async def test_guarded_change_replays(history: str, entry_id: str) -> None:
    await replay(VERSIONING, history_path(history), entry_id=entry_id)


async def test_change_without_version_fails_replay_naming_entry_and_command() -> None:
    # (a) the payment step changed in place: the old run scheduled app:old_payment.
    with pytest.raises(ReplayError) as info:
        await replay(
            VERSIONING,
            history_path("versioning-checkout-v0"),
            entry_id="app:checkout_unguarded",
        )
    err = info.value
    assert str(err).startswith(
        "app:checkout_unguarded does not replay the history of workflow 'versioning-checkout-v0'"
    )
    assert str(err).endswith(": " + OLD_VS_NEW)
    assert err.nondeterminism is True
    assert err.entry_id == "app:checkout_unguarded"
    assert err.workflow_id == "versioning-checkout-v0"
    assert err.run_id and err.run_id in str(err)
    assert err.detail == OLD_VS_NEW
    assert "\n" not in str(err)


async def test_seed_guard_on_history_from_before_the_call_fails_the_task() -> None:
    # The seed's workflow.version("payment-v2", 1, 2): a run from before the call gets -1,
    # below min = 1: not a non-determinism error but a failed workflow task naming the change.
    with pytest.raises(ReplayError) as info:
        await replay(VERSIONING, history_path("versioning-checkout-v0"), entry_id="app:checkout_v2")
    err = info.value
    assert err.nondeterminism is False
    assert str(err).startswith(
        "app:checkout_v2 fails a workflow task replaying the history of workflow "
        "'versioning-checkout-v0'"
    )
    assert err.detail.startswith(
        "workflow.version('payment-v2', 1, 2): version -1 for this run (its history records "
        "none of versions 1..2: it started before this call existed, or ran newer code), below "
        "the minimum 1 this code supports; lower min to -1"
    )


async def test_removing_the_version_call_fails_replay() -> None:
    # The v2 run recorded a marker for payment-v2@2 that code without the call never asks for.
    with pytest.raises(ReplayError, match=r"payment-v2@2") as info:
        await replay(VERSIONING, history_path("versioning-checkout-v2"), entry_id="app:checkout")
    assert info.value.nondeterminism is True


async def test_newer_history_fails_on_older_code() -> None:
    # A run recorded version 3; code that supports at most 2 cannot run it.
    with pytest.raises(ReplayError, match=r"payment-v2', 1, 2\): version -1") as info:
        await replay(VERSIONING, history_path("versioning-checkout-v3"), entry_id="app:checkout_v2")
    assert info.value.nondeterminism is False


def test_recorded_versions_are_max_at_the_time() -> None:
    # (f) new runs record max: one patch marker per run, named change_id@max.
    def patch_ids(name: str) -> list[str]:
        history = load_history(history_path(name))
        ids = []
        for event in history.events:
            if event.HasField("marker_recorded_event_attributes"):
                attrs = event.marker_recorded_event_attributes
                if attrs.marker_name == "core_patch":
                    payload = attrs.details["patch-data"].payloads[0]
                    ids.append(json.loads(payload.data)["id"])
        return ids

    assert patch_ids("versioning-checkout-v0") == []
    assert patch_ids("versioning-checkout-v2") == ["payment-v2@2"]
    assert patch_ids("versioning-checkout-v3") == ["payment-v2@3"]


# ---------------------------------------------------------------------------------------------
# The orders example changed in a copy: unguarded, then guarded with workflow.version.

CHARGE_CALL = 'local payment, err = funcs.call("app:charge_payment", {'
CHARGE_CARD_ENTRY = """
  # A new implementation of the charge step.
  - name: charge_card
    kind: function.lua
    source: file://payment.lua
    method: charge
    modules: [http_client, json]
    imports:
      config: app:config
    meta:
      temporal:
        activity:
          worker: app:worker
"""
UNGUARDED = 'local payment, err = funcs.call("app:charge_card", {'
GUARDED = """local charge = "app:charge_payment"
    if workflow.version("charge-card", workflow.DEFAULT_VERSION, 1) == 1 then
        charge = "app:charge_card"
    end
    local payment, err = funcs.call(charge, {"""


def changed_orders(tmp_path: Path, new_call: str) -> Path:
    """A copy of examples/orders whose charge step is replaced by ``new_call``."""
    root = tmp_path / "orders"
    shutil.copytree(ORDERS, root, ignore=shutil.ignore_patterns(".moonflow", "__pycache__"))
    workflow = root / "order_workflow.lua"
    source = workflow.read_text()
    assert source.count(CHARGE_CALL) == 1, "order_workflow.lua no longer calls charge_payment"
    workflow.write_text(source.replace(CHARGE_CALL, new_call))
    index = root / "_index.yaml"
    index.write_text(index.read_text() + CHARGE_CARD_ENTRY)
    return root


async def test_orders_changed_without_version_fail_replay(tmp_path: Path) -> None:
    app = load_app(changed_orders(tmp_path, UNGUARDED))
    for name in ORDER_HISTORIES:
        with pytest.raises(ReplayError) as info:
            await replay_file(app, history_path(name))
        assert str(info.value).startswith(
            f"app:order_workflow does not replay the history of workflow {name!r}"
        )
        assert info.value.detail == (
            "Activity type of scheduled event 'app:charge_payment' does not match activity "
            "type of activity command 'app:charge_card'"
        )


async def test_orders_changed_with_version_replay(tmp_path: Path) -> None:
    app = load_app(changed_orders(tmp_path, GUARDED))
    for name in ORDER_HISTORIES:
        await replay_file(app, history_path(name))


# ---------------------------------------------------------------------------------------------
# moonflow.testing details


def test_load_history_reads_cli_and_sdk_exports() -> None:
    cli = load_history(history_path("orders-payment-declined"))  # temporal workflow show
    sdk = load_history(history_path("orders-completed"))  # WorkflowHistory.to_json()
    assert cli.workflow_id == "orders-payment-declined"
    assert cli.events[0].workflow_execution_started_event_attributes.workflow_type.name == (
        "app:order_workflow"
    )
    assert len(sdk.events) > len(cli.events)
    assert load_history(history_path("orders-completed"), workflow_id="x").workflow_id == "x"


def _pascal(enum_value: str, prefix: str) -> str:
    return "".join(w.capitalize() for w in enum_value.removeprefix(prefix).split("_"))


async def test_load_history_reads_web_ui_style_and_bare_lists(tmp_path: Path) -> None:
    # Older Web UI / CLI exports spell enums "WorkflowExecutionStarted" and may be bare lists.
    data = json.loads(history_path("versioning-checkout-v0").read_text())
    for event in data["events"]:
        event["eventType"] = _pascal(event["eventType"], "EVENT_TYPE_")
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps(data["events"]))
    history = load_history(ui)
    assert history.workflow_id == "ui"
    await replay(VERSIONING, history)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read the history file"),
        ("{not json", "not a JSON history"),
        ("{}", "not a workflow history"),
        ('{"events": []}', "not a workflow history"),
    ],
)
def test_load_history_errors_name_the_file(tmp_path: Path, content: str | None, message: str):
    path = tmp_path / "h.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_history(path)
    assert str(info.value).startswith(str(path))


async def test_replay_accepts_a_history_object_and_an_app_dir() -> None:
    history = load_history(history_path("versioning-checkout-v2"))
    assert isinstance(history, WorkflowHistory)
    await replay(str(VERSIONING), history)  # by workflow type: app:checkout_v2


async def test_replay_of_an_unknown_workflow_type_says_so() -> None:
    with pytest.raises(
        ReplayError, match=r"workflow type 'app:checkout'.*types: app:order_workflow"
    ):
        await replay(ORDERS, history_path("versioning-checkout-v0"))


async def test_replay_with_an_entry_that_is_not_a_workflow() -> None:
    with pytest.raises(ReplayError, match="app:old_payment is a function.lua"):
        await replay(VERSIONING, history_path("versioning-checkout-v0"), entry_id="app:old_payment")


async def test_version_below_minimum_fails_the_task_even_under_pcall(tmp_path: Path) -> None:
    # Lua code cannot swallow the failure and carry on down a branch the run never took.
    root = tmp_path / "versioning"
    shutil.copytree(VERSIONING, root)
    source = (root / "checkout_v2.lua").read_text()
    guarded = 'local v = workflow.version("payment-v2", 1, 2)'
    assert source.count(guarded) == 1
    (root / "checkout_v2.lua").write_text(
        source.replace(
            guarded,
            'local ok, v = pcall(workflow.version, "payment-v2", 1, 2)\n'
            "    if not ok then v = 1 end",
        )
    )
    with pytest.raises(ReplayError, match=r"payment-v2', 1, 2\): version -1") as info:
        await replay(root, history_path("versioning-checkout-v0"), entry_id="app:checkout_v2")
    assert info.value.nondeterminism is False
