"""The host Lua modules see inside a workflow: every answer comes from Temporal's deterministic
workflow state (workflow time, seeded randomness, patch markers, search-attribute upserts), so
a replay in a fresh Lua state gets the same answers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from ..lua._convert import ConversionError
from ..lua._host import WORKFLOW_API, BaseHost

_SA_FACTORIES = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Text": SearchAttributeKey.for_text,
    "Int": SearchAttributeKey.for_int,
    "Double": SearchAttributeKey.for_float,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
    "KeywordList": SearchAttributeKey.for_keyword_list,
}


class VersionOutOfRange(RuntimeError):
    """workflow.version found a version the call does not support: fails the workflow task."""


class VersionBelowMinimum(VersionOutOfRange):
    """History recorded a version older than the code still supports: fails the workflow task."""


def infer_search_type(value: Any) -> str | None:
    """Temporal type for a Lua value when the app did not declare one."""
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "Keyword"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "KeywordList"
    return None


def search_attribute_value(name: str, type_name: str, value: Any) -> Any:
    """Check/convert a JSON value for a search attribute of ``type_name``; raises ValueError."""
    if type_name in ("Keyword", "Text"):
        if isinstance(value, str):
            return value
    elif type_name == "Int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif type_name == "Double":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif type_name == "Bool":
        if isinstance(value, bool):
            return value
    elif type_name == "Datetime":
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
    elif type_name == "KeywordList":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    raise ValueError(
        f"search attribute {name} is declared {type_name} but got {type(value).__name__} {value!r}"
    )


class WorkflowHost(BaseHost):
    """Host for one workflow run.

    Args:
        declared: the app's declared search attributes (name -> Temporal type name).
        client_entry: id of the temporal.client entry (named in error messages).
    """

    LUA_API = WORKFLOW_API  # the methods of WorkflowHostAPI (moonflow.lua._host)

    def __init__(self, declared: dict[str, str], client_entry: str, mailbox: Any = None) -> None:
        self._mailbox = mailbox
        self._declared = declared
        self._client_entry = client_entry
        self._versions: dict[str, int] = {}
        self._random = workflow.random()
        #: Set when a call must fail the workflow *task* (not the workflow) even if Lua code
        #: catches the error with pcall; the driver raises it after the activation's Lua run.
        self.task_failure: BaseException | None = None

    # clock and randomness
    def now_ns(self) -> int:
        return workflow.time_ns()

    #: True while a query handler runs (the driver sets it): queries are read-only
    in_query = False

    def random_seed(self) -> int:
        self.refuse_in_query("random values (uuid, crypto.random)")
        return self._random.getrandbits(63)

    def uuid4(self) -> str:
        self.refuse_in_query("uuid.v4")
        return str(workflow.uuid4())

    def refuse_in_query(self, what: str) -> None:
        """Raise when a query handler runs: a draw from the workflow's randomness there would
        make the workflow's next draws differ from a replay's (queries are not in the
        history). Called by the Python modules that keep generators of their own."""
        if self.in_query:
            raise RuntimeError(
                f"query handlers are read-only: {what} would move the workflow's randomness "
                "(queries are not in the history)"
            )

    def log(self, level: str, message: str, fields: Any = None) -> None:
        # Replay-aware: a line printed by workflow code appears once, not on every replay.
        if workflow.unsafe.is_replaying():
            return
        super().log(level, f"[{workflow.info().workflow_id}] {message}", fields)

    def context(self) -> dict[str, Any]:
        """The run's context values (set at its start, ``wippy-context`` header)."""
        return self._mailbox.context if self._mailbox is not None else {}

    # process module
    def pid(self) -> str:
        return self._mailbox.pid if self._mailbox is not None else ""

    def update_reply(self, pid: str, topic: str, values: Any) -> Any:
        state = self.state
        try:
            value = state.to_python(values[1], "reply") if values["n"] >= 1 else None
        except ConversionError as e:
            return None, state.new_error("Invalid", f"process.send({pid}): {e}", False)
        problem = self._mailbox.reply(pid, topic, value)
        if problem is not None:
            return None, state.new_error(
                "Invalid", f"process.send({pid}, {topic}): {problem}", False
            )
        return True

    def all_handlers_finished(self) -> bool:
        mailbox = self._mailbox
        return mailbox is None or mailbox.all_handlers_finished()

    # workflow module
    def info(self) -> Any:
        i = workflow.info()
        start = i.start_time
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return self.state.to_lua(
            {
                "workflow_id": i.workflow_id,
                "run_id": i.run_id,
                "workflow_type": i.workflow_type,
                "task_queue": i.task_queue,
                "namespace": i.namespace,
                "attempt": i.attempt,
                "history_length": i.get_current_history_length(),
                "history_size": i.get_current_history_size(),
                "start_time_ns": int(start.timestamp() * 1_000_000) * 1000,
            }
        )

    def history_length(self) -> int:
        return workflow.info().get_current_history_length()

    def history_size(self) -> int:
        return workflow.info().get_current_history_size()

    def version(self, change_id: str, min_v: int, max_v: int) -> Any:
        """Go GetVersion on patch markers named ``change_id@version`` (architecture.md).

        A new run records ``max_v``; a replay finds the version its history recorded; a history
        from before the call gives -1. The same ``change_id`` asked again gives the same value.
        A value outside ``min_v..max_v`` fails the workflow task (not the workflow), even when
        Lua code catches the error, so the run resumes once the code supports it again.
        """
        v = self._versions.get(change_id)
        if v is None:
            if workflow.patched(f"{change_id}@{max_v}"):
                v = max_v
            else:
                v = -1
                for cand in range(max_v - 1, min_v - 1, -1):
                    if workflow.patched(f"{change_id}@{cand}"):
                        v = cand
                        break
            self._versions[change_id] = v
        if v < min_v:
            why = (
                f"version -1 for this run (its history records none of versions {min_v}..{max_v}"
                ": it started before this call existed, or ran newer code)"
                if v == -1
                else f"this run has version {v}"
            )
            self.task_failure = VersionBelowMinimum(
                f"workflow.version({change_id!r}, {min_v}, {max_v}): {why}, below the minimum "
                f"{min_v} this code supports; lower min to {v} and keep that branch until such "
                "runs have finished, or reset them"
            )
            raise self.task_failure
        if v > max_v:
            self.task_failure = VersionOutOfRange(
                f"workflow.version({change_id!r}, {min_v}, {max_v}): this run has version {v}, "
                f"above the maximum {max_v} this call supports"
            )
            raise self.task_failure
        return v

    def upsert_attrs(self, search: Any, memo: Any) -> Any:
        state = self.state
        try:
            s = state.to_python(search, "search") if search is not None else None
            m = state.to_python(memo, "memo") if memo is not None else None
        except ConversionError as e:
            return None, state.new_error("Invalid", f"workflow.attrs: {e}", False)
        if s is not None and not isinstance(s, dict):
            return None, state.new_error("Invalid", "workflow.attrs: search must be a map", False)
        if m is not None and not isinstance(m, dict):
            return None, state.new_error("Invalid", "workflow.attrs: memo must be a map", False)
        pairs: list[Any] = []
        for name, value in (s or {}).items():
            type_name = self._declared.get(name)
            if type_name is None:
                if not workflow.unsafe.is_replaying():
                    logging.getLogger("moonflow.worker").warning(
                        "workflow %s: workflow.attrs: search attribute %r is not declared in "
                        "%s; the upsert was refused (returned nil, err)",
                        workflow.info().workflow_id,
                        name,
                        self._client_entry,
                    )
                return None, state.new_error(
                    "Invalid",
                    f"workflow.attrs: search attribute {name!r} is not declared: add "
                    f"'{name}: {infer_search_type(value) or 'Keyword'}' under search_attributes "
                    f"of the temporal.client entry {self._client_entry}",
                    False,
                )
            key = _SA_FACTORIES[type_name](name)
            if value is None:
                pairs.append(key.value_unset())
                continue
            try:
                pairs.append(key.value_set(search_attribute_value(name, type_name, value)))
            except ValueError as e:
                return None, state.new_error("Invalid", f"workflow.attrs: {e}", False)
        if pairs:
            workflow.upsert_search_attributes(pairs)
        if m:
            workflow.upsert_memo(m)
        return True


def typed_search_attributes(
    declared: dict[str, str], values: dict[str, Any]
) -> TypedSearchAttributes:
    """Search attributes given at workflow start, typed by declaration or inference."""
    pairs = []
    for name, value in values.items():
        type_name = declared.get(name) or infer_search_type(value)
        if type_name is None:
            raise ValueError(f"search attribute {name}: cannot infer a type for {value!r}")
        key = _SA_FACTORIES[type_name](name)
        pairs.append(SearchAttributePair(key, search_attribute_value(name, type_name, value)))
    return TypedSearchAttributes(pairs)
