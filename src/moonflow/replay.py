"""Replay recorded workflow histories against an app's current code (``moonflow replay``).

A replay re-runs a workflow's Lua code from the top with the Temporal SDK's ``Replayer``, the
same dynamic workflow class, runner and settings as the app's workers
(:func:`moonflow.worker.replayer_options`), and checks that the code issues the commands the
history recorded, in the same order. No server is needed. When it does not, the SDK's
non-determinism error is translated into one line saying what the code did, where in the Lua
code, and what the history holds instead::

    the code scheduled activity app:ship_order at order_workflow.lua:21 where the history has
    activity app:charge_payment (event 8)

The Lua location comes from the driver: while replaying, each command it issues carries the
``file:line`` of the Lua call that issued it (``DriverConfig.command_log``).

Histories are read from JSON (:func:`read_history`): a whole-history object ``{"events":
[...]}`` as ``temporal workflow show --output json``, the Web UI and
``WorkflowHistory.to_json()`` write it, a bare JSON array of events, or one JSON event per line
as ``moonflow history APP TARGET`` prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import WorkflowHistory

from .errors import UsageError
from .registry import App, load_app

if TYPE_CHECKING:
    import temporalio.client

    from .kinds import LuaCode
    from .worker import IssuedCommand

__all__ = [
    "ReplayResult",
    "fetch_histories",
    "read_history",
    "replay_histories",
    "replay_history",
]

#: ``ReplayResult.kind`` values.
OK = "ok"
NONDETERMINISM = "nondeterminism"
TASK_FAILURE = "task_failure"
NO_ENTRY = "no_entry"


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of replaying one history.

    Attributes:
        workflow_id: the recorded workflow's id (from the history's start event, else the file
            name without its extension).
        run_id: the recorded run's id ("" when the history does not say).
        workflow_type: the history's workflow type.
        entry_id: the ``workflow.lua`` entry replayed ("" when none serves the type).
        kind: ``"ok"``; ``"nondeterminism"`` (the code issued other commands than the history
            holds); ``"task_failure"`` (a workflow task failed while replaying, e.g.
            ``workflow.version`` below the code's minimum, or the instruction budget); or
            ``"no_entry"`` (no workflow entry of the app serves the history's type).
        message: "" when ok, else one line: for a mismatch what the code issued (with the Lua
            ``file:line`` when known) and what the history recorded (with its event id).
        detail: the SDK's own text of the failure, without its error-code prefix ("" when ok).
        event_id: the history event the code disagrees with, when known.
        where: the Lua ``file:line`` of the call that issued the mismatching command, when
            known.
    """

    workflow_id: str
    run_id: str
    workflow_type: str
    entry_id: str
    kind: str
    message: str = ""
    detail: str = ""
    event_id: int | None = None
    where: str | None = None

    @property
    def ok(self) -> bool:
        """True when the history replayed."""
        return self.kind == OK

    def line(self) -> str:
        """``ok  <workflow id>`` or ``FAIL <workflow id>: <message>`` (what the CLI prints)."""
        if self.ok:
            return f"ok  {self.workflow_id}"
        return f"FAIL {self.workflow_id}: {self.message}"


# --------------------------------------------------------------------------------------------
# Reading histories


def _events_of(text: str) -> Any:
    """Parse a history file's text: one JSON document, or JSON lines of events."""
    try:
        return json.loads(text)
    except ValueError as first:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise first from None
        events = []
        for number, line in enumerate(lines, 1):
            try:
                events.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"line {number}: {e}") from None
        return events


def read_history(path: str | Path, *, workflow_id: str | None = None) -> WorkflowHistory:
    """Read a workflow history exported as JSON.

    Accepts ``{"events": [...]}`` (``temporal workflow show --output json``, the Web UI's
    download, ``WorkflowHistory.to_json()``; enum spellings of either form), a bare JSON array
    of events, and one JSON event per line (``moonflow history APP TARGET > run.jsonl``).

    Args:
        path: the file.
        workflow_id: the recorded workflow's id; default the id in the history's start event
            (recent servers record it), else the file name without its extension.

    Returns:
        The history, ready for :func:`replay_histories`.

    Raises:
        UsageError: the file cannot be read, is not JSON, or holds no workflow history (one
            line naming the file).
    """
    file = Path(path)
    try:
        data = _events_of(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{file}: cannot read the history file: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{file}: not a JSON history: {e}") from None
    if isinstance(data, list):
        data = {"events": data}
    if not isinstance(data, dict) or not isinstance(data.get("events"), list) or not data["events"]:
        raise UsageError(
            f"{file}: not a workflow history: expected a JSON object with a non-empty "
            '"events" list (temporal workflow show --output json) or JSON lines of events '
            "(moonflow history)"
        )
    try:
        history = WorkflowHistory.from_json(workflow_id or file.stem, data)
    except Exception as e:  # noqa: BLE001 - protobuf parse errors have many types
        raise UsageError(f"{file}: not a workflow history: {_one_line(str(e))}") from None
    if not history.events[0].HasField("workflow_execution_started_event_attributes"):
        raise UsageError(f"{file}: not a workflow history: the first event is not the start")
    # Event ids run 1, 2, 3, ... with no gap: a history with events missing is refused here
    # (the SDK's replayer panics on some gaps and then waits forever).
    for expected, event in enumerate(history.events, 1):
        if event.event_id != expected:
            raise UsageError(
                f"{file}: not a complete workflow history: event {expected} is missing "
                f"(the next one is event {event.event_id}); export it again with moonflow "
                "history or temporal workflow show"
            )
    recorded = history.events[0].workflow_execution_started_event_attributes.workflow_id
    if workflow_id is None and recorded:
        history = WorkflowHistory(recorded, history.events)
    return history


async def fetch_histories(
    client: temporalio.client.Client,
    app: App,
    *,
    query: str | None = None,
    limit: int = 20,
) -> list[WorkflowHistory]:
    """Fetch the histories of recent runs of the app's workflows from a server.

    Args:
        client: a client of the namespace to read.
        app: the app; by default only runs of its workflow types are fetched.
        query: a visibility query (``"ExecutionStatus = 'Running'"``, ``"WorkflowId =
            'order-1'"``, a declared search attribute...), applied to the runs of the app's
            workflow types; default every run of them, closed or running.
        limit: at most this many runs, newest first.

    Returns:
        The histories, newest run first (each the run the listing names, not only the latest
        run of its workflow id).

    Raises:
        UsageError: the server rejected the query or cannot list workflows (the time-skipping
            test server has no visibility store), or ``limit`` is not positive.
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    if limit < 1:
        raise UsageError(f"limit: expected a positive number, got {limit}")
    types = sorted({app.workflow_type(c.entry.id) for c in app.workflows()})
    if not types:
        return []
    # Only runs of the app's own workflow types: a query narrows them further (another app's
    # runs on a shared namespace would never replay here).
    of_app = " OR ".join(f"WorkflowType = '{t}'" for t in types)
    query = f"({of_app}) AND ({query})" if query else of_app
    codes = temporalio.service.RPCStatusCode
    out: list[WorkflowHistory] = []
    try:
        async for execution in client.list_workflows(query, limit=limit):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            out.append(await handle.fetch_history())
    except temporalio.service.RPCError as exc:
        if exc.status == codes.INVALID_ARGUMENT:
            raise UsageError(f"invalid visibility query {query!r}: {exc.message}") from None
        if exc.status == codes.UNIMPLEMENTED:
            raise UsageError(
                "this server cannot list workflows (the time-skipping test server has no "
                "visibility store): replay history files instead"
            ) from None
        raise
    return out


# --------------------------------------------------------------------------------------------
# Replaying


def _one_line(text: str) -> str:
    return " ".join(text.split())


# Core reports a failed activation as a Rust Debug dump: ``... Failure { message: "<text>", ...``.
_CORE_MESSAGE = re.compile(r'message: "(?P<text>(?:[^"\\]|\\.)*)"')
# The text may start with an error code and a category: "[TMPRL1100] Nondeterminism error: ".
_PREFIX = re.compile(r"^\s*(?:\[TMPRL\d+\]\s*)?(?:Nondeterminism error:\s*)?")


def sdk_detail(text: str) -> str:
    """The meaningful part of the SDK's replay failure: one line, without the core's wrapping
    and error-code prefix."""
    match = _CORE_MESSAGE.search(text)
    if match:
        text = re.sub(
            r"\\(.)", lambda m: {"n": " ", "t": " "}.get(m.group(1), m.group(1)), match["text"]
        )
    return _one_line(_PREFIX.sub("", text))


def _entry_for(app: App, workflow_type: str, entry_id: str | None) -> tuple[LuaCode | None, str]:
    """The workflow.lua entry to replay ``workflow_type`` with, or (None, why not)."""
    from .kinds import LuaCode

    if entry_id is None:
        code = app.workflow_by_type(workflow_type)
        if code is None or code.workflow_worker is None:
            known = ", ".join(sorted(app.workflow_type(c.entry.id) for c in app.workflows()))
            return None, (
                f"the history is of workflow type {workflow_type!r}, which no workflow.lua "
                f"entry of the app at {app.root} serves (types: {known or 'none'})"
            )
        return code, ""
    spec = app.spec(entry_id)
    if not isinstance(spec, LuaCode) or spec.kind != "workflow.lua":
        return None, f"{entry_id} is a {app.get(entry_id).kind}, not a workflow.lua entry"
    if spec.workflow_worker is None:
        return None, f"{entry_id} has no meta.temporal.workflow.worker: no worker would run it"
    return spec, ""


async def replay_history(
    app: App, history: WorkflowHistory, *, entry_id: str | None = None
) -> ReplayResult:
    """Replay one history against the app's current code (no server needed).

    Args:
        app: the loaded app.
        history: the recorded history (:func:`read_history`, ``handle.fetch_history()``).
        entry_id: the ``workflow.lua`` entry to replay it with (a renamed entry, or a changed
            copy kept next to the original); default the entry serving the history's type.

    Returns:
        The :class:`ReplayResult`; a failure to replay is a result, not an exception.

    Raises:
        AppError: ``entry_id`` is not an entry of the app.
    """
    from temporalio.worker import Replayer
    from temporalio.workflow import NondeterminismError

    from .worker import replayer_options

    started = history.events[0].workflow_execution_started_event_attributes
    workflow_type = started.workflow_type.name
    run_id = started.original_execution_run_id
    base = ReplayResult(history.workflow_id, run_id, workflow_type, entry_id or "", OK)
    code, why = _entry_for(app, workflow_type, entry_id)
    if code is None:
        return replace(base, kind=NO_ENTRY, message=why)
    assert code.workflow_worker is not None
    log: list[IssuedCommand] = []
    with replayer_options(
        app, code.workflow_worker, by_type={workflow_type: code}, command_log=log
    ) as kwargs:
        outcome = await Replayer(**kwargs).replay_workflow(history, raise_on_replay_failure=False)
    failure = outcome.replay_failure
    if failure is None:
        return replace(base, entry_id=code.entry.id)
    detail = sdk_detail(str(failure))
    if not (isinstance(failure, NondeterminismError) or "Nondeterminism" in str(failure)):
        return replace(
            base,
            entry_id=code.entry.id,
            kind=TASK_FAILURE,
            message=f"a workflow task fails replaying: {detail}",
            detail=detail,
        )
    message, event_id, where = explain_mismatch(detail, history, log)
    return replace(
        base,
        entry_id=code.entry.id,
        kind=NONDETERMINISM,
        message=message,
        detail=detail,
        event_id=event_id,
        where=where,
    )


async def replay_histories(
    app: App | str | Path,
    histories: Iterable[WorkflowHistory | str | Path],
    *,
    entry_id: str | None = None,
) -> list[ReplayResult]:
    """Replay histories against the app's current code, one after the other (no server needed).

    Every history is read before the first replay, so a bad file fails the call before any
    work is done.

    Args:
        app: the loaded app, or its directory.
        histories: :class:`temporalio.client.WorkflowHistory` objects or paths of JSON
            exports (see :func:`read_history`).
        entry_id: replay every history with this ``workflow.lua`` entry; default the entry
            serving each history's workflow type.

    Returns:
        One :class:`ReplayResult` per history, in order.

    Raises:
        UsageError: a path holds no readable history (one line naming the file).
        AppError: ``app`` is a directory that does not load, or ``entry_id`` is unknown.
    """
    loaded = app if isinstance(app, App) else load_app(app)
    read = [h if isinstance(h, WorkflowHistory) else read_history(h) for h in histories]
    return [await replay_history(loaded, h, entry_id=entry_id) for h in read]


# --------------------------------------------------------------------------------------------
# Translating the SDK's non-determinism errors

# "Activity type of scheduled event 'a' does not match activity type of activity command 'b'",
# "... of local activity command 'b'", "Child workflow type of ... does not match child
# workflow type of command 'b'".
_FIELD_MISMATCH = re.compile(
    r"^(?P<field>[\w ]+?) of [\w ]+? '(?P<hist>.*?)' does not match [\w ]+? of "
    r"(?:(?P<cmd>[\w ]+?) )?command '(?P<code>.*?)'"
)
# "Timer machine does not handle this event: HistoryEvent(id: 9, ActivityTaskScheduled)",
# "UpsertWorkflowSearchAttributesMachine does not handle HistoryEvent(id: 8, ...)"
_MACHINE = re.compile(
    r"^(?P<machine>[\w ]+?) ?[Mm]achine (?:does not|cannot) handle (?:this event: )?"
    r"HistoryEvent\(id: (?P<id>\d+)"
)
# "Missing associated machine for LocalActivity(1)": the code's first local activity has no
# marker in the history to match
_MISSING_LOCAL = re.compile(r"Missing associated machine for LocalActivity\((?P<seq>\d+)\)")
# "No command scheduled for event HistoryEvent(id: 9, ActivityTaskScheduled)"
_NO_COMMAND = re.compile(r"^No command scheduled for event HistoryEvent\(id: (?P<id>\d+)")

_MACHINE_KINDS = {
    "activity": "activity",
    "local activity": "local activity",
    "timer": "timer",
    "child workflow": "child",
    "signal external wf": "signal",
    "cancel external wf": "cancel_external",
    "complete workflow": "complete",
    "fail workflow": "fail",
    "cancel workflow": "cancel",
    "continue as new workflow": "continue_as_new",
    "change": "version",
    "upsertworkflowsearchattributes": "search attributes",
    "modifyworkflowproperties": "memo",
}

# what the code did, by command kind
_DID = {
    "activity": "scheduled activity {name}",
    "local activity": "ran local activity {name}",
    "timer": "started a timer",
    "child": "started child workflow {name}",
    "signal": "sent message {name}",
    "cancel_external": "cancelled another workflow",
    "complete": "completed the workflow",
    "fail": "failed the workflow",
    "cancel": "ended the workflow as cancelled",
    "continue_as_new": "continued as new",
    "version": "recorded a workflow.version marker",
    "search attributes": "updated search attributes (workflow.attrs)",
    "memo": "updated the memo (workflow.attrs)",
}


def _family(event: Any) -> tuple[str, str] | None:
    """``(command kind, name)`` of a history event made by a workflow command, else None."""
    if event.HasField("activity_task_scheduled_event_attributes"):
        return "activity", event.activity_task_scheduled_event_attributes.activity_type.name
    if event.HasField("marker_recorded_event_attributes"):
        attrs = event.marker_recorded_event_attributes
        if attrs.marker_name == "core_local_activity":
            try:
                data = json.loads(attrs.details["data"].payloads[0].data)
                return "local activity", str(data.get("activity_type", ""))
            except (KeyError, IndexError, ValueError):
                return "local activity", ""
        if attrs.marker_name == "core_patch":
            try:
                data = json.loads(attrs.details["patch-data"].payloads[0].data)
                return "version", str(data.get("id", ""))
            except (KeyError, IndexError, ValueError):
                return "version", ""
        return "marker", attrs.marker_name
    if event.HasField("timer_started_event_attributes"):
        timeout = event.timer_started_event_attributes.start_to_fire_timeout
        return "timer", str(timeout.ToTimedelta())
    if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
        attrs = event.start_child_workflow_execution_initiated_event_attributes
        return "child", attrs.workflow_type.name
    if event.HasField("signal_external_workflow_execution_initiated_event_attributes"):
        attrs = event.signal_external_workflow_execution_initiated_event_attributes
        return "signal", attrs.signal_name
    if event.HasField("request_cancel_external_workflow_execution_initiated_event_attributes"):
        attrs = event.request_cancel_external_workflow_execution_initiated_event_attributes
        return "cancel_external", attrs.workflow_execution.workflow_id
    for field, kind in (
        ("workflow_execution_completed_event_attributes", "complete"),
        ("workflow_execution_failed_event_attributes", "fail"),
        ("workflow_execution_canceled_event_attributes", "cancel"),
        ("workflow_execution_continued_as_new_event_attributes", "continue_as_new"),
        ("upsert_workflow_search_attributes_event_attributes", "search attributes"),
        ("workflow_properties_modified_event_attributes", "memo"),
        ("timer_canceled_event_attributes", "timer cancel"),
        ("activity_task_cancel_requested_event_attributes", "activity cancel"),
    ):
        if event.HasField(field):
            return kind, ""
    return None


def _event_text(event: Any) -> str:
    """What a history event records, for a message: "activity app:charge_payment"."""
    family = _family(event)
    if family is None:
        from temporalio.api.enums.v1 import EventType

        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        return name.lower().replace("_", " ")
    kind, name = family
    texts = {
        "activity": f"activity {name}",
        "local activity": f"local activity {name}",
        "version": f"workflow.version marker {name}",
        "marker": f"marker {name}",
        "timer": f"a timer of {name}",
        "child": f"child workflow {name}",
        "signal": f"message {name} to another workflow",
        "cancel_external": f"a cancel of workflow {name}",
        "complete": "the workflow's completion",
        "fail": "the workflow's failure",
        "cancel": "the workflow's cancellation",
        "continue_as_new": "continue-as-new",
        "search attributes": "a search attributes update (workflow.attrs)",
        "memo": "a memo update (workflow.attrs)",
        "timer cancel": "a timer cancel",
        "activity cancel": "an activity cancel",
    }
    return texts.get(kind, kind)


def _history_of(history: WorkflowHistory, kind: str) -> list[Any]:
    return [e for e in history.events if (_family(e) or ("", ""))[0] == kind]


def _did(command: IssuedCommand | None, kind: str, name: str = "") -> str:
    text = _DID.get(kind, f"issued a {kind} command").format(name=name or "?")
    if command is not None and command.where:
        text += f" at {command.where}"
    return text


def explain_mismatch(
    detail: str, history: WorkflowHistory, log: Sequence[IssuedCommand]
) -> tuple[str, int | None, str | None]:
    """Translate the SDK's non-determinism text into one line.

    Args:
        detail: the SDK's text (:func:`sdk_detail`).
        history: the replayed history.
        log: the commands the replayed code issued, in order, with their Lua locations.

    Returns:
        ``(message, event id or None, Lua file:line or None)``; the message is ``detail``
        itself when its form is not known.
    """
    match = _FIELD_MISMATCH.match(detail)
    if match:
        field = match["field"].lower()
        if match["cmd"] and "local" in match["cmd"]:
            kind = "local activity"
        elif "child" in field:
            kind = "child"
        else:
            kind = "activity"
        events = _history_of(history, kind)
        commands = [c for c in log if c.kind == kind]
        at = _first_difference(events, commands, match["hist"], match["code"])
        event = events[at] if at is not None and at < len(events) else None
        command = commands[at] if at is not None and at < len(commands) else None
        code_name = command.name if command is not None else match["code"]
        hist_text = _event_text(event) if event is not None else f"{kind} {match['hist']}"
        if "id" in field.split():  # ids differ, types agree: name both ids
            hist_text += f" with id {match['hist']}"
            did = _did(command, kind, code_name) + f" with id {match['code']}"
        else:
            did = _did(command, kind, code_name)
        where = command.where if command is not None else None
        event_id = event.event_id if event is not None else None
        suffix = f" (event {event_id})" if event_id is not None else ""
        return f"the code {did} where the history has {hist_text}{suffix}", event_id, where
    match = _MISSING_LOCAL.search(detail)
    if match:
        # the code's n-th local activity has no marker to match: the history's local
        # activities differ (one added, moved or removed before this point)
        n = int(match["seq"])
        commands = [c for c in log if c.kind == "local activity"]
        events = _history_of(history, "local activity")
        command = commands[n - 1] if 0 < n <= len(commands) else None
        event = events[n - 1] if 0 < n <= len(events) else None
        if command is not None:
            did = _did(command, "local activity", command.name)
        elif log:  # the code had not got there: its last command is what it did instead
            command = log[-1]
            did = _did(command, command.kind, command.name)
        else:
            did = "issued no command"
        hist_text = (
            f"{_event_text(event)} (event {event.event_id})"
            if event is not None
            else "no local activity at that point"
        )
        where = command.where if command is not None else None
        event_id = event.event_id if event is not None else None
        return f"the code {did} where the history has {hist_text}", event_id, where
    match = _MACHINE.match(detail)
    if match:
        kind = _MACHINE_KINDS.get(match["machine"].lower(), match["machine"].lower())
        event_id = int(match["id"])
        event = next((e for e in history.events if e.event_id == event_id), None)
        # the commands before this one matched the history, in order: the code's n-th
        # command of its kind is at the position of the history's n-th one
        before = sum(1 for e in _history_of(history, kind) if e.event_id < event_id)
        commands = [c for c in log if c.kind == kind]
        command = commands[before] if before < len(commands) else None
        hist_text = _event_text(event) if event is not None else "another event"
        did = _did(command, kind, command.name if command is not None else "")
        where = command.where if command is not None else None
        return (
            f"the code {did} where the history has {hist_text} (event {event_id})",
            (event_id),
            where,
        )
    match = _NO_COMMAND.match(detail)
    if match:
        event_id = int(match["id"])
        event = next((e for e in history.events if e.event_id == event_id), None)
        hist_text = _event_text(event) if event is not None else "a command"
        text = (
            f"the code issued no command where the history has {hist_text} (event {event_id}): "
            "it waits for something else, or that call was removed"
        )
        return text, event_id, None
    return detail, None, None


def _first_difference(
    events: Sequence[Any], commands: Sequence[IssuedCommand], hist: str, code: str
) -> int | None:
    """The position where the code's commands of one kind stop matching the history's events
    of that kind: the first where the history has ``hist`` and the code ``code``."""
    for i, command in enumerate(commands):
        if i >= len(events):
            return None
        family = _family(events[i])
        name = family[1] if family else ""
        if command.name != name and (name == hist or command.name == code):
            return i
    # ids differ (names agree): the first position whose event carries the recorded id
    for i, event in enumerate(events):
        attrs = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and attrs.activity_id == hist:
            return i if i < len(commands) else None
    return None
